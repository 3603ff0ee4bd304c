//! IncrementalAlterConfigs for topics.

use std::collections::HashMap;
use std::ptr;
use std::time::Duration;

use rdkafka_sys as sys;
use rdkafka_sys::types::*;

use super::owned::{ConfigResource, check, cstring};
use super::queue::call;
use super::results::{array, err_string, text};
use super::types::ConfigOp;
use crate::kafka::client_context::Admin;
use crate::kafka::error::KafkaError;

/// One topic's config resource with its operations, owned until the caller drops it.
fn topic_resource(topic: &str, ops: &[ConfigOp]) -> Result<ConfigResource, KafkaError> {
    let name = cstring(topic)?;
    // SAFETY: `name` is a NUL-terminated string that librdkafka copies. The result is the caller's, freed with
    // `rd_kafka_ConfigResource_destroy`, or null when the name is empty.
    let resource = unsafe {
        ConfigResource::from_raw(sys::rd_kafka_ConfigResource_new(
            RDKafkaResourceType::RD_KAFKA_RESOURCE_TOPIC,
            name.as_ptr(),
        ))
    }
    .ok_or_else(|| KafkaError::Invalid(format!("{topic:?} is not a topic name")))?;
    for op in ops {
        let (key, op_type, value) = match op {
            ConfigOp::Set(k, v) => (k, sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET, Some(v)),
            ConfigOp::Delete(k) => (k, sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE, None),
        };
        let key = cstring(key)?;
        let value = value.map(|v| cstring(v)).transpose()?;
        // SAFETY: `resource` is live; `key` and `value` (or null, for a delete) are NUL-terminated strings that
        // librdkafka copies. The error object returned on invalid input is ours, and `check` frees it.
        unsafe {
            check(sys::rd_kafka_ConfigResource_add_incremental_config(
                resource.as_ptr(),
                key.as_ptr(),
                op_type,
                value.as_ref().map_or(ptr::null(), |v| v.as_ptr()),
            ))
        }?;
    }
    Ok(resource)
}

/// The config resources of a request, each owned: an invalid input frees those built before it.
fn topic_resources(changes: &[(String, Vec<ConfigOp>)]) -> Result<Vec<ConfigResource>, KafkaError> {
    changes.iter().map(|(topic, ops)| topic_resource(topic, ops)).collect()
}

/// IncrementalAlterConfigs for many topics in one request. Returns one result per topic, in input order.
pub fn incremental_alter_topic_configs(
    admin: &Admin,
    changes: &[(String, Vec<ConfigOp>)],
    timeout: Duration,
) -> Result<Vec<Result<(), String>>, KafkaError> {
    if changes.is_empty() {
        return Ok(vec![]);
    }
    let resources = topic_resources(changes)?;
    let mut ptrs: Vec<*mut RDKafkaConfigResource> = resources.iter().map(|r| r.as_ptr()).collect();
    let ev = call(admin, timeout, false, |req| {
        // SAFETY: the request's handles are live (`call`'s contract); `ptrs` holds `ptrs.len()` live resources,
        // owned by `resources`, which outlives the call. librdkafka copies the resources and does not keep the
        // array; `resources` frees the originals when it is dropped.
        unsafe { sys::rd_kafka_IncrementalAlterConfigs(req.rk, ptrs.as_mut_ptr(), ptrs.len(), req.options, req.queue) }
    })?;
    // SAFETY: `ev` is live; it holds the result of the IncrementalAlterConfigs we issued on this private queue (null
    // if it were another type).
    let res = unsafe { sys::rd_kafka_event_IncrementalAlterConfigs_result(ev.as_ptr()) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for IncrementalAlterConfigs".into()));
    }
    let mut n = 0usize;
    // SAFETY: `res` belongs to `ev`; the array it returns, with `n` entries, lives as long as `ev`.
    let arr = unsafe { array(&ev, sys::rd_kafka_IncrementalAlterConfigs_result_resources(res, &mut n), n) };
    let mut by_name = HashMap::new();
    for &r in arr {
        // SAFETY: `r` is a live resource result owned by `ev`; its name and error string are copied at once.
        let (name, err, msg) = unsafe {
            (
                text(sys::rd_kafka_ConfigResource_name(r)),
                sys::rd_kafka_ConfigResource_error(r),
                text(sys::rd_kafka_ConfigResource_error_string(r)),
            )
        };
        let outcome = if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else if msg.is_empty() {
            Err(err_string(err).unwrap_or_default())
        } else {
            Err(msg)
        };
        by_name.insert(name, outcome);
    }
    Ok(changes
        .iter()
        .map(|(t, _)| by_name.remove(t).unwrap_or_else(|| Err("no result for this topic".into())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &str, v: &str) -> ConfigOp {
        ConfigOp::Set(k.into(), v.into())
    }

    #[test]
    fn resources_carry_the_topic_and_its_operations() {
        let changes = vec![
            ("a".to_string(), vec![set("retention.ms", "1000"), ConfigOp::Delete("cleanup.policy".into())]),
            ("b".to_string(), vec![]),
        ];
        let resources = topic_resources(&changes).unwrap();
        let read: Vec<(String, usize)> = resources
            .iter()
            .map(|r| {
                let mut n = 0usize;
                // SAFETY: `r` is a live resource we own; its name is copied at once; counting its entries only
                // writes `n`.
                unsafe {
                    sys::rd_kafka_ConfigResource_configs(r.as_ptr(), &mut n);
                    (text(sys::rd_kafka_ConfigResource_name(r.as_ptr())), n)
                }
            })
            .collect();
        assert_eq!(read, vec![("a".to_string(), 2), ("b".to_string(), 0)]);
    }

    // Each case builds at least one resource before the invalid input, so the early return has something to free
    // (the owners do it; `valgrind --leak-check=full` on this test shows no ConfigResource lost).
    #[test]
    fn invalid_input_after_some_resources_is_an_error() {
        let ok = ("fine".to_string(), vec![set("retention.ms", "1000")]);
        let cases = [
            (("".to_string(), vec![]), "is not a topic name"),
            (("bad\0topic".to_string(), vec![]), "NUL"),
            (("t".to_string(), vec![set("", "1")]), "mustn't be empty"),
            (("t".to_string(), vec![set("retention.ms", "1"), set("bad\0key", "1")]), "NUL"),
            (("t".to_string(), vec![set("retention.ms", "1\0")]), "NUL"),
        ];
        for (bad, expected) in cases {
            let changes = vec![ok.clone(), bad.clone()];
            match topic_resources(&changes) {
                Err(KafkaError::Invalid(m)) => assert!(m.contains(expected), "{bad:?}: {m}"),
                other => panic!("{bad:?}: {:?}", other.map(|r| r.len())),
            }
        }
    }

    #[test]
    fn the_public_call_returns_early_without_asking_the_broker() {
        let admin = super::super::testing::offline_admin();
        let changes = vec![("fine".to_string(), vec![set("retention.ms", "1")]), (String::new(), vec![])];
        let got = incremental_alter_topic_configs(&admin, &changes, Duration::from_secs(1));
        assert!(matches!(got, Err(KafkaError::Invalid(_))), "{got:?}");
    }

    #[test]
    fn librdkafka_refuses_duplicate_topics_locally() {
        // The whole request fails at once (the result event carries INVALID_ARG): issued, polled and freed.
        let admin = super::super::testing::offline_admin();
        let changes = vec![("t".to_string(), vec![set("retention.ms", "1")]), ("t".to_string(), vec![])];
        let got = incremental_alter_topic_configs(&admin, &changes, Duration::from_secs(10));
        assert!(matches!(&got, Err(KafkaError::Invalid(message)) if message.contains("Duplicate")), "{got:?}");
    }
}

//! DescribeCluster, DescribeTopics and DescribeConsumerGroups.

use std::collections::HashMap;
use std::os::raw::c_char;
use std::time::Duration;

use rdkafka_sys as sys;
use rdkafka_sys::types::*;

use super::owned::{Event, TopicCollection, cstring};
use super::queue::call;
use super::results::{array, error_parts, kafka_uuid, text};
use super::types::ClusterDescription;
use super::types::GroupAnswer;
use super::types::GroupDescription;
use super::types::PartitionDescription;
use super::types::TopicAnswer;
use super::types::TopicDescription;
use crate::kafka::client_context::Admin;
use crate::kafka::error::KafkaError;

/// The broker ids of an array of nodes owned by `event`.
///
/// # Safety
///
/// `nodes` must be null or point to `n` live nodes owned by `event`.
unsafe fn node_ids(event: &Event, nodes: *const *const sys::rd_kafka_Node_t, n: usize) -> Vec<i32> {
    // SAFETY: the caller's guarantee: null, or `n` nodes owned by `event`.
    let nodes = unsafe { array(event, nodes, n) };
    // SAFETY: each node is live while `event` is.
    nodes.iter().map(|&node| unsafe { sys::rd_kafka_Node_id(node) }).collect()
}

/// DescribeCluster: cluster id, controller and brokers.
pub fn describe_cluster(admin: &Admin, timeout: Duration) -> Result<ClusterDescription, KafkaError> {
    let ev = call(admin, timeout, false, |req| {
        // SAFETY: the request's handles are live (`call`'s contract); the call has no other input.
        unsafe { sys::rd_kafka_DescribeCluster(req.rk, req.options, req.queue) }
    })?;
    // SAFETY: `ev` is live; it holds the result of the DescribeCluster we issued on this private queue (null if
    // not).
    let res = unsafe { sys::rd_kafka_event_DescribeCluster_result(ev.as_ptr()) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for DescribeCluster".into()));
    }
    let mut n = 0usize;
    // SAFETY: `res` belongs to `ev`, and so do the controller node (or null), the node array with `n` entries and
    // the cluster id string, which is copied at once.
    unsafe {
        let controller = sys::rd_kafka_DescribeCluster_result_controller(res);
        Ok(ClusterDescription {
            cluster_id: text(sys::rd_kafka_DescribeCluster_result_cluster_id(res)),
            controller: (!controller.is_null()).then(|| sys::rd_kafka_Node_id(controller)),
            brokers: node_ids(&ev, sys::rd_kafka_DescribeCluster_result_nodes(res, &mut n), n),
        })
    }
}

/// One partition of a described topic.
///
/// # Safety
///
/// `p` must be a live partition description owned by `event`.
unsafe fn partition_description(event: &Event, p: *const sys::rd_kafka_TopicPartitionInfo_t) -> PartitionDescription {
    let (mut replicas, mut isr) = (0usize, 0usize);
    // SAFETY: `p` is live and owned by `event`, and so are its leader (or null) and its node arrays, with
    // `replicas` and `isr` entries.
    unsafe {
        let leader = sys::rd_kafka_TopicPartitionInfo_leader(p);
        PartitionDescription {
            partition: sys::rd_kafka_TopicPartitionInfo_partition(p),
            leader: (!leader.is_null()).then(|| sys::rd_kafka_Node_id(leader)),
            replicas: node_ids(event, sys::rd_kafka_TopicPartitionInfo_replicas(p, &mut replicas), replicas),
            isr: node_ids(event, sys::rd_kafka_TopicPartitionInfo_isr(p, &mut isr), isr),
        }
    }
}

/// DescribeTopics for many topics in one Metadata request, answers in input order.
pub fn describe_topics(admin: &Admin, names: &[String], timeout: Duration) -> Result<Vec<TopicAnswer>, KafkaError> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let cnames = names.iter().map(|n| cstring(n)).collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const c_char> = cnames.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: `ptrs` holds `ptrs.len()` NUL-terminated strings (owned by `cnames`), which librdkafka copies into
    // the new collection; the collection is ours, freed with `rd_kafka_TopicCollection_destroy`.
    let collection = unsafe {
        TopicCollection::from_raw(sys::rd_kafka_TopicCollection_of_topic_names(ptrs.as_mut_ptr(), ptrs.len()))
    }
    .ok_or_else(|| KafkaError::Protocol("librdkafka returned no topic collection".into()))?;
    let ev = call(admin, timeout, false, |req| {
        // SAFETY: the request's handles are live (`call`'s contract) and so is `collection`, which librdkafka copies
        // (it stays ours and is freed when dropped).
        unsafe { sys::rd_kafka_DescribeTopics(req.rk, collection.as_ptr(), req.options, req.queue) }
    })?;
    // SAFETY: `ev` is live; it holds the result of the DescribeTopics we issued on this private queue (null if
    // not).
    let res = unsafe { sys::rd_kafka_event_DescribeTopics_result(ev.as_ptr()) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for DescribeTopics".into()));
    }
    let mut n = 0usize;
    // SAFETY: `res` belongs to `ev`; the array it returns, with `n` entries, lives as long as `ev`.
    let topics = unsafe { array(&ev, sys::rd_kafka_DescribeTopics_result_topics(res, &mut n), n) };
    let mut by_name = HashMap::new();
    for &t in topics {
        // SAFETY: `t` is a live topic description owned by `ev`; its name is copied at once, and its error object
        // (null for none) belongs to it.
        let (name, error) = unsafe {
            (text(sys::rd_kafka_TopicDescription_name(t)), error_parts(sys::rd_kafka_TopicDescription_error(t)))
        };
        if let Some((code, message)) = error {
            let outcome = if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART {
                Ok(None)
            } else {
                Err(KafkaError::from_code(code, message))
            };
            by_name.insert(name, outcome);
            continue;
        }
        let mut np = 0usize;
        // SAFETY: `t` is live and owned by `ev`, and so are its topic id (or null) and its partition array with
        // `np` entries.
        let (topic_id, parts) = unsafe {
            let id = sys::rd_kafka_TopicDescription_topic_id(t);
            let topic_id = if id.is_null() {
                String::new()
            } else {
                kafka_uuid(sys::rd_kafka_Uuid_most_significant_bits(id), sys::rd_kafka_Uuid_least_significant_bits(id))
            };
            (topic_id, array(&ev, sys::rd_kafka_TopicDescription_partitions(t, &mut np), np))
        };
        // SAFETY: each partition description is live and owned by `ev`.
        let mut partitions: Vec<_> = parts.iter().map(|&p| unsafe { partition_description(&ev, p) }).collect();
        partitions.sort_by_key(|p| p.partition);
        by_name.insert(name.clone(), Ok(Some(TopicDescription { name, topic_id, partitions })));
    }
    Ok(names.iter().map(|n| by_name.remove(n).unwrap_or(Ok(None))).collect())
}

/// Reads one group's answer from its state, member count and error code. A group Kafka does not know is "Dead"
/// to DescribeGroups and GROUP_ID_NOT_FOUND to ConsumerGroupDescribe: both are "no such group".
fn group_answer(group_id: String, state: String, members: i32, error: Option<(RDKafkaRespErr, String)>) -> GroupAnswer {
    match error {
        Some((RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, _)) => Ok(None),
        Some((code, message)) => Err(KafkaError::from_code(code, message)),
        None if state == "Dead" => Ok(None),
        None => Ok(Some(GroupDescription { group_id, state, members })),
    }
}

/// DescribeConsumerGroups for many groups in one call, answers in input order. librdkafka sends one request per
/// group to its coordinator (no ListGroups to every broker). The ids must be distinct (librdkafka refuses
/// duplicates); an empty list asks nothing.
pub fn describe_groups(admin: &Admin, groups: &[String], timeout: Duration) -> Result<Vec<GroupAnswer>, KafkaError> {
    if groups.is_empty() {
        return Ok(vec![]);
    }
    let cgroups = groups.iter().map(|g| cstring(g)).collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const c_char> = cgroups.iter().map(|c| c.as_ptr()).collect();
    let ev = call(admin, timeout, false, |req| {
        // SAFETY: the request's handles are live (`call`'s contract); `ptrs` holds `ptrs.len()` NUL-terminated
        // strings (owned by `cgroups`), which librdkafka copies; it does not keep the array.
        unsafe { sys::rd_kafka_DescribeConsumerGroups(req.rk, ptrs.as_mut_ptr(), ptrs.len(), req.options, req.queue) }
    })?;
    // SAFETY: `ev` is live; it holds the result of the DescribeConsumerGroups we issued on this private queue (null
    // if not).
    let res = unsafe { sys::rd_kafka_event_DescribeConsumerGroups_result(ev.as_ptr()) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for DescribeConsumerGroups".into()));
    }
    let mut n = 0usize;
    // SAFETY: `res` belongs to `ev`; the array it returns, with `n` entries, lives as long as `ev`.
    let descriptions = unsafe { array(&ev, sys::rd_kafka_DescribeConsumerGroups_result_groups(res, &mut n), n) };
    let mut by_id = HashMap::new();
    for &g in descriptions {
        // SAFETY: `g` is a live group description owned by `ev`; its strings (including the static state name) are
        // copied at once and its error object (null for none) belongs to it.
        let (group_id, error, state, members) = unsafe {
            (
                text(sys::rd_kafka_ConsumerGroupDescription_group_id(g)),
                error_parts(sys::rd_kafka_ConsumerGroupDescription_error(g)),
                text(sys::rd_kafka_consumer_group_state_name(sys::rd_kafka_ConsumerGroupDescription_state(g))),
                sys::rd_kafka_ConsumerGroupDescription_member_count(g),
            )
        };
        let members = i32::try_from(members).unwrap_or(i32::MAX);
        by_id.insert(group_id.clone(), group_answer(group_id, state, members, error));
    }
    Ok(groups
        .iter()
        .map(|g| by_id.remove(g).unwrap_or_else(|| Err(KafkaError::Protocol(format!("no result for group {g}")))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_kafka_does_not_know_is_none() {
        let answer = |state: &str, error| group_answer("g".into(), state.into(), 0, error);
        // DescribeGroups (classic protocol) says "Dead"; ConsumerGroupDescribe says GROUP_ID_NOT_FOUND.
        assert!(matches!(answer("Dead", None), Ok(None)));
        let not_found = Some((RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, String::new()));
        assert!(matches!(answer("Unknown", not_found), Ok(None)));
    }

    #[test]
    fn a_known_group_keeps_its_state_and_members() {
        let got = group_answer("g".into(), "Stable".into(), 3, None).unwrap();
        assert_eq!(got, Some(GroupDescription { group_id: "g".into(), state: "Stable".into(), members: 3 }));
        let empty = group_answer("g".into(), "Empty".into(), 0, None).unwrap().unwrap();
        assert_eq!((empty.state.as_str(), empty.members), ("Empty", 0));
    }

    #[test]
    fn a_per_group_error_is_that_groups_error() {
        let denied = Some((RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, "denied".into()));
        assert!(matches!(group_answer("g".into(), "Unknown".into(), 0, denied), Err(KafkaError::Authorization(_))));
        let busy = Some((RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, String::new()));
        assert!(matches!(group_answer("g".into(), "Unknown".into(), 0, busy), Err(KafkaError::Broker { .. })));
    }

    #[test]
    fn invalid_names_return_before_any_request() {
        let admin = super::super::testing::offline_admin();
        let names = vec!["ok".to_string(), "bad\0name".to_string()];
        assert!(matches!(describe_topics(&admin, &names, Duration::from_secs(1)), Err(KafkaError::Invalid(_))));
        assert!(matches!(describe_groups(&admin, &names, Duration::from_secs(1)), Err(KafkaError::Invalid(_))));
    }

    #[test]
    fn librdkafka_refuses_duplicate_groups_locally() {
        let admin = super::super::testing::offline_admin();
        let groups = vec!["g".to_string(), "g".to_string()];
        let got = describe_groups(&admin, &groups, Duration::from_secs(10));
        assert!(matches!(&got, Err(KafkaError::Invalid(message)) if message.contains("Duplicate")), "{got:?}");
    }

    #[test]
    fn a_request_nobody_answers_times_out_with_its_event() {
        // No broker listens: librdkafka's own request time-out fails the request, and the event says so.
        let admin = super::super::testing::offline_admin();
        let got = describe_cluster(&admin, Duration::from_millis(200));
        assert!(matches!(got, Err(KafkaError::Timeout)), "{got:?}");
    }
}

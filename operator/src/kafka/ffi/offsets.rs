//! ListOffsets, and a consumer group's committed offsets: ListConsumerGroupOffsets and AlterConsumerGroupOffsets.

use std::ptr;
use std::time::Duration;

use rdkafka_sys as sys;

use super::owned::{AlterGroupOffsetsRequest, ListGroupOffsetsRequest, PartitionList, cstring};
use super::queue::call;
use super::results::{array, err_string, group_partitions, text};
use super::types::OffsetSpec;
use super::types::PartitionOffset;
use crate::kafka::client_context::Admin;
use crate::kafka::error::KafkaError;

/// ListOffsets for many partitions in one call (librdkafka sends one request per partition leader).
pub fn list_offsets(
    admin: &Admin,
    partitions: &[(String, i32)],
    spec: OffsetSpec,
    read_committed: bool,
    timeout: Duration,
) -> Result<Vec<PartitionOffset>, KafkaError> {
    if partitions.is_empty() {
        return Ok(vec![]);
    }
    let code = match spec {
        OffsetSpec::Earliest => -2,
        OffsetSpec::Latest => -1,
        OffsetSpec::Timestamp(ms) => ms,
    };
    let items: Vec<_> = partitions.iter().map(|(t, p)| (t.clone(), *p, code)).collect();
    let list = PartitionList::new(&items)?;
    let ev = call(admin, timeout, read_committed, |req| {
        // SAFETY: the request's handles are live (`call`'s contract) and so is `list`, which librdkafka copies
        // (it stays ours and is freed when dropped).
        unsafe { sys::rd_kafka_ListOffsets(req.rk, list.as_ptr(), req.options, req.queue) }
    })?;
    // SAFETY: `ev` is live; it holds the result of the ListOffsets we issued on this private queue (null if not).
    let res = unsafe { sys::rd_kafka_event_ListOffsets_result(ev.as_ptr()) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for ListOffsets".into()));
    }
    let mut n = 0usize;
    // SAFETY: `res` belongs to `ev`; the array it returns, with `n` entries, lives as long as `ev`.
    let infos = unsafe { array(&ev, sys::rd_kafka_ListOffsets_result_infos(res, &mut n), n) };
    let mut out = Vec::with_capacity(infos.len());
    for &info in infos {
        // SAFETY: `info` is a live result info owned by `ev`, and so is its topic-partition (never null: librdkafka
        // returns a field of `info`); the topic name is copied at once.
        let answer = unsafe {
            let tp = sys::rd_kafka_ListOffsetsResultInfo_topic_partition(info);
            PartitionOffset {
                topic: text((*tp).topic),
                partition: (*tp).partition,
                offset: (*tp).offset,
                error: err_string((*tp).err),
            }
        };
        out.push(answer);
    }
    Ok(out)
}

/// The committed offsets of one group, all its partitions. librdkafka takes one group per call.
pub fn list_group_offsets(admin: &Admin, group: &str, timeout: Duration) -> Result<Vec<PartitionOffset>, KafkaError> {
    let gid = cstring(group)?;
    // SAFETY: `gid` is a NUL-terminated string and a null list means "all partitions"; librdkafka copies both into
    // the new request object, which is ours and freed with `rd_kafka_ListConsumerGroupOffsets_destroy`.
    let request = unsafe {
        ListGroupOffsetsRequest::from_raw(sys::rd_kafka_ListConsumerGroupOffsets_new(gid.as_ptr(), ptr::null()))
    }
    .ok_or_else(|| KafkaError::Protocol("librdkafka returned no ListConsumerGroupOffsets request".into()))?;
    let mut requests = [request.as_ptr()];
    let ev = call(admin, timeout, false, |req| {
        // SAFETY: the request's handles are live (`call`'s contract); `requests` holds one live request object,
        // owned by `request`. librdkafka copies it and does not keep the array.
        unsafe { sys::rd_kafka_ListConsumerGroupOffsets(req.rk, requests.as_mut_ptr(), 1, req.options, req.queue) }
    })?;
    // SAFETY: `ev` is live; it holds the result of the request we issued on this private queue (null if not).
    let res = unsafe { sys::rd_kafka_event_ListConsumerGroupOffsets_result(ev.as_ptr()) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for ListConsumerGroupOffsets".into()));
    }
    let mut n = 0usize;
    // SAFETY: `res` belongs to `ev`; the array it returns has `n` group results, all owned by `ev`.
    unsafe { group_partitions(&ev, sys::rd_kafka_ListConsumerGroupOffsets_result_groups(res, &mut n), n) }
        .map_err(|(_, message)| KafkaError::Protocol(message))
}

/// AlterConsumerGroupOffsets: sets the committed offsets of an empty group. Returns per-partition errors.
pub fn alter_group_offsets(
    admin: &Admin,
    group: &str,
    offsets: &[(String, i32, i64)],
    timeout: Duration,
) -> Result<Vec<PartitionOffset>, KafkaError> {
    let gid = cstring(group)?;
    let list = PartitionList::new(offsets)?;
    // SAFETY: `gid` is a NUL-terminated string and `list` a live list; librdkafka copies both into the new request
    // object, which is ours and freed with `rd_kafka_AlterConsumerGroupOffsets_destroy`.
    let request = unsafe {
        AlterGroupOffsetsRequest::from_raw(sys::rd_kafka_AlterConsumerGroupOffsets_new(gid.as_ptr(), list.as_ptr()))
    }
    .ok_or_else(|| KafkaError::Protocol("librdkafka returned no AlterConsumerGroupOffsets request".into()))?;
    drop(list);
    let mut requests = [request.as_ptr()];
    let ev = call(admin, timeout, false, |req| {
        // SAFETY: the request's handles are live (`call`'s contract); `requests` holds one live request object,
        // owned by `request`. librdkafka copies it and does not keep the array.
        unsafe { sys::rd_kafka_AlterConsumerGroupOffsets(req.rk, requests.as_mut_ptr(), 1, req.options, req.queue) }
    })?;
    // SAFETY: `ev` is live; it holds the result of the request we issued on this private queue (null if not).
    let res = unsafe { sys::rd_kafka_event_AlterConsumerGroupOffsets_result(ev.as_ptr()) };
    if res.is_null() {
        return Err(KafkaError::Protocol("unexpected event type for AlterConsumerGroupOffsets".into()));
    }
    let mut n = 0usize;
    // SAFETY: `res` belongs to `ev`; the array it returns has `n` group results, all owned by `ev`.
    unsafe { group_partitions(&ev, sys::rd_kafka_AlterConsumerGroupOffsets_result_groups(res, &mut n), n) }
        .map_err(|(code, message)| KafkaError::from_code(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_partitions_return_before_any_request() {
        let admin = super::super::testing::offline_admin();
        let parts = vec![("ok".to_string(), 0), ("bad\0topic".to_string(), 0)];
        let got = list_offsets(&admin, &parts, OffsetSpec::Latest, false, Duration::from_secs(1));
        assert!(matches!(got, Err(KafkaError::Invalid(_))), "{got:?}");
        let offsets = vec![("ok".to_string(), 0, 5), ("bad\0topic".to_string(), 0, 5)];
        let got = alter_group_offsets(&admin, "g", &offsets, Duration::from_secs(1));
        assert!(matches!(got, Err(KafkaError::Invalid(_))), "{got:?}");
        assert!(matches!(list_group_offsets(&admin, "g\0", Duration::from_secs(1)), Err(KafkaError::Invalid(_))));
    }

    #[test]
    fn librdkafka_refuses_bad_requests_locally() {
        // Each request fails at once on the client (the result event carries INVALID_ARG): built, issued, polled
        // and freed without a broker.
        let admin = super::super::testing::offline_admin();
        let wait = Duration::from_secs(10);
        let negative = vec![("t".to_string(), -1)];
        let got = list_offsets(&admin, &negative, OffsetSpec::Earliest, true, wait);
        assert!(matches!(&got, Err(KafkaError::Invalid(message)) if message.contains("negative")), "{got:?}");
        let got = alter_group_offsets(&admin, "g", &[], wait);
        assert!(matches!(&got, Err(KafkaError::Invalid(message)) if message.contains("Non-empty")), "{got:?}");
        let got = alter_group_offsets(&admin, "g", &[("t".to_string(), 0, -3)], wait);
        assert!(matches!(&got, Err(KafkaError::Invalid(message)) if message.contains(">= 0")), "{got:?}");
    }
}

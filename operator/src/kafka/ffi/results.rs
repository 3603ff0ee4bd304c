//! Copying answers out of librdkafka's structs into owned Rust values.
//!
//! What a result event hands out (its arrays, the objects in them, their strings and error objects) belongs to the
//! event: it is read while the event lives, copied, and never freed here.

use rdkafka_sys as sys;
use rdkafka_sys::types::*;

use super::owned::Event;
pub(super) use super::owned::text;
use super::types::PartitionOffset;

/// The `n` entries of an array of pointers that `event` owns. A null array, librdkafka's answer when there is
/// nothing, is empty; so is `n == 0` (a slice from a null pointer is undefined behaviour even when empty).
///
/// # Safety
///
/// `p` must be null or point to `n` initialised pointers that live, unchanged, as long as `event`.
pub(super) unsafe fn array<T>(_event: &Event, p: *const *const T, n: usize) -> &[*const T] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: `p` is not null, and (the caller's guarantee) points to `n` initialised, aligned pointers owned by
    // `event`, which nobody changes while it is borrowed (the slice borrows it).
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// An error code's description, or `None` for no error.
pub(super) fn err_string(err: RDKafkaRespErr) -> Option<String> {
    if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        None
    } else {
        // SAFETY: `rd_kafka_err2str` returns a static NUL-terminated string for any code, known or not.
        Some(unsafe { text(sys::rd_kafka_err2str(err)) })
    }
}

/// The code and message of an error object inside a result; `None` when there is none (null).
///
/// # Safety
///
/// `e` must be null or point to a live error object (owned by whoever handed it out; not freed here).
pub(super) unsafe fn error_parts(e: *const sys::rd_kafka_error_t) -> Option<(RDKafkaRespErr, String)> {
    if e.is_null() {
        return None;
    }
    // SAFETY: `e` is a live error object (the caller's guarantee); its string is copied at once.
    Some(unsafe { (sys::rd_kafka_error_code(e), text(sys::rd_kafka_error_string(e))) })
}

/// Copies the elements of a native partition list.
///
/// # Safety
///
/// `list` must be null or point to a valid list (with `cnt` initialised elements when it has an element array)
/// that stays valid and unchanged for the call.
pub(super) unsafe fn copy_partitions(list: *const RDKafkaTopicPartitionList) -> Vec<PartitionOffset> {
    if list.is_null() {
        return vec![];
    }
    // SAFETY: `list` is not null and, as the caller guarantees, points at a valid list.
    let (elems, cnt) = unsafe { ((*list).elems, (*list).cnt) };
    // An empty list may have no element array at all: a slice from a null pointer is undefined behaviour, even with
    // length 0 (rust-rdkafka #681).
    let cnt = usize::try_from(cnt).unwrap_or(0);
    if elems.is_null() || cnt == 0 {
        return vec![];
    }
    // SAFETY: `elems` is not null and holds `cnt` initialised elements that stay unchanged (the caller's guarantee).
    let elems = unsafe { std::slice::from_raw_parts(elems, cnt) };
    elems
        .iter()
        .map(|e| PartitionOffset {
            // SAFETY: an element's topic is null or a NUL-terminated string owned by the list, valid for the call.
            topic: unsafe { text(e.topic) },
            partition: e.partition,
            offset: e.offset,
            error: err_string(e.err),
        })
        .collect()
}

/// The per-partition answers of the group results of a ListConsumerGroupOffsets or AlterConsumerGroupOffsets
/// event; the first group-level error instead, as its code and message.
///
/// # Safety
///
/// `groups` must be null or point to `n` group results owned by `event`.
pub(super) unsafe fn group_partitions(
    event: &Event,
    groups: *const *const sys::rd_kafka_group_result_t,
    n: usize,
) -> Result<Vec<PartitionOffset>, (RDKafkaRespErr, String)> {
    let mut out = vec![];
    // SAFETY: the caller's guarantee: null, or `n` group results owned by `event`.
    for &g in unsafe { array(event, groups, n) } {
        // SAFETY: `g` is a live group result owned by `event`; its error object (if any) belongs to it too.
        if let Some(error) = unsafe { error_parts(sys::rd_kafka_group_result_error(g)) } {
            return Err(error);
        }
        // SAFETY: `g` is live; its partition list (possibly null or without elements) belongs to it.
        out.extend(unsafe { copy_partitions(sys::rd_kafka_group_result_partitions(g)) });
    }
    Ok(out)
}

/// A Kafka UUID as Kafka's own tools print it (`Uuid.toString()`): its 16 bytes, most significant first, in URL-safe
/// base64 without padding. (librdkafka's `rd_kafka_Uuid_base64str` uses the standard alphabet with padding.)
pub fn kafka_uuid(most_significant: i64, least_significant: i64) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&most_significant.to_be_bytes());
    bytes[8..].copy_from_slice(&least_significant.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_entry_frees_the_partition_list_built_so_far() {
        let items = vec![("ok".to_string(), 0, 1), ("bad\0topic".to_string(), 1, 2)];
        assert!(
            matches!(super::super::owned::PartitionList::new(&items), Err(crate::kafka::error::KafkaError::Invalid(m)) if m.contains("NUL"))
        );
        let list = super::super::owned::PartitionList::new(&items[..1]).unwrap();
        // SAFETY: `list` is live; the element array holds `cnt` entries.
        let copied = unsafe { copy_partitions(list.as_ptr()) };
        assert_eq!((copied[0].topic.as_str(), copied[0].partition, copied[0].offset), ("ok", 0, 1));
    }

    #[test]
    fn topic_ids_print_as_kafka_prints_them() {
        // Bytes whose standard base64 has '+', '/' and padding: fb ff ... → "-_8..." without '='.
        let id = kafka_uuid(0xfbff_0000_0000_0000_u64 as i64, 1);
        assert_eq!(id, "-_8AAAAAAAAAAAAAAAAAAQ");
        assert_eq!(id.len(), 22, "16 bytes without padding");
        // Kafka's Uuid.ZERO_UUID prints as "AAAAAAAAAAAAAAAAAAAAAA".
        assert_eq!(kafka_uuid(0, 0), "AAAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn an_empty_partition_list_without_an_element_array_copies_to_nothing() {
        let list = RDKafkaTopicPartitionList { cnt: 0, size: 0, elems: std::ptr::null_mut() };
        // SAFETY: a valid, empty list: no elements, no element array.
        assert!(unsafe { copy_partitions(&list) }.is_empty());
        // SAFETY: null is handled before any dereference.
        assert!(unsafe { copy_partitions(std::ptr::null()) }.is_empty());
    }

    #[test]
    fn null_strings_and_error_objects_read_as_nothing() {
        // SAFETY: null is handled before any dereference.
        assert_eq!(unsafe { text(std::ptr::null()) }, "");
        // SAFETY: as above.
        assert!(unsafe { error_parts(std::ptr::null()) }.is_none());
        assert_eq!(err_string(RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR), None);
        assert!(err_string(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART).is_some_and(|s| !s.is_empty()));
    }
}

//! Owners of the native objects this module allocates.
//!
//! Each object gets exactly one owner, an [`Owned`], the moment librdkafka returns it: its `Drop` calls the
//! matching `*_destroy` once, so no early return or `?` leaks it and nothing frees it twice. Nothing here hands
//! an object's ownership back to librdkafka: every admin call used by this module copies its inputs (the
//! options, the resources, the lists, the request objects), so the caller frees its originals after the call.
//!
//! Made by → freed by:
//! - admin options: `rd_kafka_AdminOptions_new` → `rd_kafka_AdminOptions_destroy`;
//! - a private queue, or a reference to the main one: `rd_kafka_queue_new`, `rd_kafka_queue_get_main` →
//!   `rd_kafka_queue_destroy`;
//! - an event: `rd_kafka_queue_poll` (when not null) → `rd_kafka_event_destroy`;
//! - a topic-partition list: `rd_kafka_topic_partition_list_new` → `rd_kafka_topic_partition_list_destroy`;
//! - a config resource: `rd_kafka_ConfigResource_new` (null for an empty name) → `rd_kafka_ConfigResource_destroy`;
//! - a topic collection: `rd_kafka_TopicCollection_of_topic_names` → `rd_kafka_TopicCollection_destroy`;
//! - the request objects: `rd_kafka_ListConsumerGroupOffsets_new`, `rd_kafka_AlterConsumerGroupOffsets_new` →
//!   `rd_kafka_ListConsumerGroupOffsets_destroy`, `rd_kafka_AlterConsumerGroupOffsets_destroy`;
//! - an error object handed to the caller: `rd_kafka_ConfigResource_add_incremental_config`,
//!   `rd_kafka_AdminOptions_set_isolation_level` → `rd_kafka_error_destroy`.
//!
//! What librdkafka hands out *from* an event (result arrays, descriptions, strings, errors inside results) belongs
//! to the event and is never owned here; see `results`.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka_sys as sys;
use rdkafka_sys::types::*;

use crate::kafka::client_context::Admin;
use crate::kafka::error::KafkaError;

/// A type of native object, with the librdkafka function that frees it.
///
/// # Safety
///
/// `destroy` must be librdkafka's destructor for objects of this type, as allocated by the constructors the
/// callers of [`Owned::from_raw`] use.
pub(super) unsafe trait Native {
    /// Frees the object.
    ///
    /// # Safety
    ///
    /// `p` must point to a live object of this type that the caller owns; it must not be used afterwards.
    unsafe fn destroy(p: *mut Self);
}

/// Implements [`Native`] with each type's destructor.
macro_rules! native {
    ($($ty:ty => $destroy:ident,)*) => {$(
        // SAFETY: `$destroy` is the destructor librdkafka's header names for objects of this type (see the list
        // in this module's documentation).
        unsafe impl Native for $ty {
            unsafe fn destroy(p: *mut Self) {
                // SAFETY: the caller passes a live object it owns and never uses again (`Native::destroy`'s contract).
                unsafe { sys::$destroy(p) }
            }
        }
    )*};
}

native! {
    RDKafkaAdminOptions => rd_kafka_AdminOptions_destroy,
    RDKafkaQueue => rd_kafka_queue_destroy,
    RDKafkaEvent => rd_kafka_event_destroy,
    RDKafkaTopicPartitionList => rd_kafka_topic_partition_list_destroy,
    RDKafkaConfigResource => rd_kafka_ConfigResource_destroy,
    sys::rd_kafka_TopicCollection_t => rd_kafka_TopicCollection_destroy,
    sys::rd_kafka_ListConsumerGroupOffsets_t => rd_kafka_ListConsumerGroupOffsets_destroy,
    sys::rd_kafka_AlterConsumerGroupOffsets_t => rd_kafka_AlterConsumerGroupOffsets_destroy,
    sys::rd_kafka_error_t => rd_kafka_error_destroy,
}

/// The one owner of a native object: never null, freed exactly once, when dropped.
///
/// Owners live inside one call of this module, which borrows the client (`&Admin`) for longer than any of them:
/// a queue or an event never outlives the client it belongs to.
pub(super) struct Owned<T: Native>(NonNull<T>);

impl<T: Native> Owned<T> {
    /// Takes ownership of what a librdkafka constructor returned; `None` if it returned null.
    ///
    /// # Safety
    ///
    /// `p` must be null or point to a live object that nobody else owns or frees (a constructor's fresh result,
    /// documented as to be freed by the caller with `T::destroy`).
    pub(super) unsafe fn from_raw(p: *mut T) -> Option<Owned<T>> {
        NonNull::new(p).map(Owned)
    }

    /// The object, for librdkafka calls that borrow it. Valid while `self` lives.
    pub(super) fn as_ptr(&self) -> *mut T {
        self.0.as_ptr()
    }
}

impl<T: Native> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: `from_raw`'s contract makes `self` the only owner of a live object; `drop` runs once, and
        // nothing can use the pointer afterwards.
        unsafe { T::destroy(self.0.as_ptr()) }
    }
}

pub(super) type Options = Owned<RDKafkaAdminOptions>;
pub(super) type Queue = Owned<RDKafkaQueue>;
pub(super) type Event = Owned<RDKafkaEvent>;
pub(super) type PartitionList = Owned<RDKafkaTopicPartitionList>;
pub(super) type ConfigResource = Owned<RDKafkaConfigResource>;
pub(super) type TopicCollection = Owned<sys::rd_kafka_TopicCollection_t>;
pub(super) type ListGroupOffsetsRequest = Owned<sys::rd_kafka_ListConsumerGroupOffsets_t>;
pub(super) type AlterGroupOffsetsRequest = Owned<sys::rd_kafka_AlterConsumerGroupOffsets_t>;
pub(super) type ErrorObject = Owned<sys::rd_kafka_error_t>;

/// For the rare constructor that should never return null but is checked anyway.
fn null(what: &str) -> KafkaError {
    KafkaError::Protocol(format!("librdkafka returned no {what}"))
}

pub(super) fn cstring(s: &str) -> Result<CString, KafkaError> {
    CString::new(s).map_err(|_| KafkaError::Invalid(format!("{s:?} contains a NUL byte")))
}

/// A duration as librdkafka's `int` milliseconds, saturating: a negative value would mean "wait forever".
pub(super) fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Turns an error object that librdkafka handed to the caller (null for success) into a result, freeing it.
///
/// # Safety
///
/// `e` must be null or an error object the caller owns (librdkafka: "error ownership belongs to the caller").
pub(super) unsafe fn check(e: *mut sys::rd_kafka_error_t) -> Result<(), KafkaError> {
    // SAFETY: the caller passes null or an error object it owns; from here `error` owns it.
    let Some(error) = (unsafe { ErrorObject::from_raw(e) }) else {
        return Ok(());
    };
    // SAFETY: `error` is live; the string belongs to it and is copied before `error` is dropped.
    let message = unsafe { text(sys::rd_kafka_error_string(error.as_ptr())) };
    Err(KafkaError::Invalid(message))
}

impl Queue {
    /// A new private queue for one request's result.
    pub(super) fn new(admin: &Admin) -> Result<Queue, KafkaError> {
        let rk = admin.inner().native_ptr();
        // SAFETY: `rk` is the live client handle of `admin`, borrowed for longer than the queue lives; the new
        // queue is the caller's, freed with `rd_kafka_queue_destroy`.
        unsafe { Queue::from_raw(sys::rd_kafka_queue_new(rk)) }.ok_or_else(|| null("queue"))
    }

    /// A new reference to the client's main queue (logs and client-level errors).
    pub(super) fn main(admin: &Admin) -> Result<Queue, KafkaError> {
        let rk = admin.inner().native_ptr();
        // SAFETY: `rk` is live as above; `rd_kafka_queue_get_main` returns a new reference that the caller loses
        // with `rd_kafka_queue_destroy` (the queue itself lives on in the client).
        unsafe { Queue::from_raw(sys::rd_kafka_queue_get_main(rk)) }.ok_or_else(|| null("main queue"))
    }

    /// Waits up to `timeout` for the next event; `None` if none came.
    pub(super) fn poll(&self, timeout: Duration) -> Option<Event> {
        // SAFETY: the queue is live (owned by `self`); a non-null event is the caller's, freed with
        // `rd_kafka_event_destroy`.
        unsafe { Event::from_raw(sys::rd_kafka_queue_poll(self.as_ptr(), millis(timeout))) }
    }
}

impl Options {
    /// Admin options with an overall request timeout and, for ListOffsets, the isolation level.
    pub(super) fn new(admin: &Admin, timeout: Duration, read_committed: bool) -> Result<Options, KafkaError> {
        let rk = admin.inner().native_ptr();
        // SAFETY: `rk` is the live client handle of `admin`; `RD_KAFKA_ADMIN_OP_ANY` is a known op type, so the
        // result is a new options object (checked for null anyway) that the caller frees with
        // `rd_kafka_AdminOptions_destroy`.
        let options =
            unsafe { Options::from_raw(sys::rd_kafka_AdminOptions_new(rk, RDKafkaAdminOp::RD_KAFKA_ADMIN_OP_ANY)) }
                .ok_or_else(|| null("admin options"))?;
        let mut errstr: [c_char; 256] = [0; 256];
        // SAFETY: `options` is live; `errstr` is writable for the length passed, and librdkafka writes at most
        // that many bytes, NUL included, and only on error.
        let err = unsafe {
            sys::rd_kafka_AdminOptions_set_request_timeout(
                options.as_ptr(),
                millis(timeout),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            let bytes = errstr.map(|c| c as u8);
            let message = CStr::from_bytes_until_nul(&bytes).map(|m| m.to_string_lossy().into_owned());
            return Err(KafkaError::Invalid(message.unwrap_or_else(|_| format!("request timeout {timeout:?}"))));
        }
        if read_committed {
            // SAFETY: `options` is live; the error object returned (if any) is ours and `check` frees it.
            unsafe {
                check(sys::rd_kafka_AdminOptions_set_isolation_level(
                    options.as_ptr(),
                    sys::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED,
                ))
            }?;
        }
        Ok(options)
    }
}

impl PartitionList {
    /// A list of (topic, partition, offset) entries.
    pub(super) fn new(items: &[(String, i32, i64)]) -> Result<PartitionList, KafkaError> {
        let size = i32::try_from(items.len()).map_err(|_| KafkaError::Invalid("too many partitions".into()))?;
        // SAFETY: `size` is not negative; the new list is the caller's, freed with
        // `rd_kafka_topic_partition_list_destroy`.
        let list = unsafe { PartitionList::from_raw(sys::rd_kafka_topic_partition_list_new(size)) }
            .ok_or_else(|| null("partition list"))?;
        for (topic, partition, offset) in items {
            let topic = cstring(topic)?;
            // SAFETY: `list` is live and nothing else refers to it; `topic` is a NUL-terminated string that
            // librdkafka copies. The returned element belongs to the list, is non-null (librdkafka asserts its
            // allocations) and stays valid until the list is next changed, which is after this write.
            unsafe {
                let elem = sys::rd_kafka_topic_partition_list_add(list.as_ptr(), topic.as_ptr(), *partition);
                (*elem).offset = *offset;
            }
        }
        Ok(list)
    }
}

/// Copies a C string; null becomes the empty string.
///
/// # Safety
///
/// `p` must be null or point to a NUL-terminated string that stays valid and unchanged for this call.
pub(super) unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: `p` is not null and, as the caller guarantees, a NUL-terminated string valid for the call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static FREED: Cell<usize> = const { Cell::new(0) };
    }

    /// A stand-in native type whose destructor counts.
    struct Counted(#[allow(dead_code)] u8);

    // SAFETY: `destroy` frees exactly what the tests allocate with `Box::into_raw`.
    unsafe impl Native for Counted {
        unsafe fn destroy(p: *mut Self) {
            FREED.with(|f| f.set(f.get() + 1));
            // SAFETY: the tests pass pointers from `Box::into_raw`, each owned once.
            drop(unsafe { Box::from_raw(p) });
        }
    }

    fn freed() -> usize {
        FREED.with(Cell::get)
    }

    #[test]
    fn an_owner_frees_once_on_every_way_out() {
        let before = freed();
        // SAFETY: a fresh allocation, owned by nobody else.
        let a = unsafe { Owned::from_raw(Box::into_raw(Box::new(Counted(1)))) }.unwrap();
        drop(a);
        assert_eq!(freed(), before + 1);
        // An early return after two allocations frees both.
        let build = |fail: bool| -> Result<(Owned<Counted>, Owned<Counted>), String> {
            // SAFETY: a fresh allocation, owned by nobody else.
            let a = unsafe { Owned::from_raw(Box::into_raw(Box::new(Counted(2)))) }.ok_or("null")?;
            // SAFETY: as above.
            let b = unsafe { Owned::from_raw(Box::into_raw(Box::new(Counted(3)))) }.ok_or("null")?;
            if fail {
                return Err("invalid".into());
            }
            Ok((a, b))
        };
        assert!(build(true).is_err());
        assert_eq!(freed(), before + 3);
        // Handing both out and dropping them later frees each once too.
        let both = build(false).unwrap();
        assert_eq!(freed(), before + 3);
        drop(both);
        assert_eq!(freed(), before + 5);
    }

    #[test]
    fn nothing_is_freed_twice_or_forgotten_in_a_vec() {
        let before = freed();
        // SAFETY: fresh allocations, owned by nobody else.
        let owners: Vec<_> = (0..4).map(|i| unsafe { Owned::from_raw(Box::into_raw(Box::new(Counted(i)))) }).collect();
        let raw: Vec<*mut Counted> = owners.iter().flatten().map(Owned::as_ptr).collect();
        assert_eq!(raw.len(), 4);
        drop(owners);
        assert_eq!(freed(), before + 4);
    }

    #[test]
    fn null_is_nobodys_to_free() {
        let before = freed();
        // SAFETY: null is always allowed.
        assert!(unsafe { Owned::<Counted>::from_raw(std::ptr::null_mut()) }.is_none());
        assert_eq!(freed(), before);
    }

    #[test]
    fn waits_saturate_instead_of_turning_into_forever() {
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::from_secs(30 * 24 * 3600)), i32::MAX);
        assert_eq!(millis(Duration::MAX), i32::MAX);
    }

    #[test]
    fn a_returned_error_object_becomes_invalid_and_is_freed() {
        // SAFETY: null means success.
        assert!(unsafe { check(std::ptr::null_mut()) }.is_ok());
        let message = CString::new("bad config name").unwrap();
        // SAFETY: `rd_kafka_error_new` returns an error object the caller owns, which `check` takes over; the
        // format string is a NUL-terminated "%s" and its one argument a NUL-terminated string.
        let got = unsafe {
            check(sys::rd_kafka_error_new(
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__INVALID_ARG,
                c"%s".as_ptr(),
                message.as_ptr(),
            ))
        };
        assert!(matches!(got, Err(KafkaError::Invalid(m)) if m == "bad config name"));
    }
}

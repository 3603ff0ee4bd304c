//! One admin request's round trip on a private queue, and the client's main queue.

use std::time::Duration;

use rdkafka_sys as sys;
use rdkafka_sys::types::*;

use super::owned::{Event, Options, Queue};
use super::results::text;
use crate::kafka::client_context::Admin;
use crate::kafka::client_context::ClientNotice;
use crate::kafka::error::KafkaError;

/// What an admin request is issued with. Every pointer is live until `call` returns.
pub(super) struct Request {
    pub(super) rk: *mut RDKafka,
    pub(super) options: *const RDKafkaAdminOptions,
    pub(super) queue: *mut RDKafkaQueue,
}

/// Issues one admin request whose result arrives on a private queue, and waits for its result event.
///
/// `issue` must issue exactly one admin request with the [`Request`]'s client, options and queue. An error the
/// event carries as a whole (e.g. a local INVALID_ARG, or the request's time-out) becomes `Err`.
pub(super) fn call(
    admin: &Admin,
    timeout: Duration,
    read_committed: bool,
    issue: impl FnOnce(&Request),
) -> Result<Event, KafkaError> {
    let queue = Queue::new(admin)?;
    let options = Options::new(admin, timeout, read_committed)?;
    issue(&Request { rk: admin.inner().native_ptr(), options: options.as_ptr(), queue: queue.as_ptr() });
    // Allow the broker's own time-out plus a margin before giving up on the event. If it is given up on, dropping
    // the queue disables it and a late result is freed by librdkafka.
    let ev = queue.poll(timeout.saturating_add(Duration::from_secs(5))).ok_or(KafkaError::Timeout)?;
    // SAFETY: `ev` is a live event.
    let err = unsafe { sys::rd_kafka_event_error(ev.as_ptr()) };
    if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: the error string belongs to `ev`, which is live, and is copied at once.
        let msg = unsafe { text(sys::rd_kafka_event_error_string(ev.as_ptr())) };
        return Err(KafkaError::from_code(err, msg));
    }
    Ok(ev)
}

/// Waits up to `timeout` for one event on the client's main queue (logs and client errors, which an admin
/// client never polls by itself).
pub fn poll_main_queue(admin: &Admin, timeout: Duration) -> Option<ClientNotice> {
    let ev = Queue::main(admin).ok()?.poll(timeout)?;
    // SAFETY: `ev` is a live event.
    match unsafe { sys::rd_kafka_event_type(ev.as_ptr()) } {
        sys::RD_KAFKA_EVENT_LOG => {
            let mut fac = std::ptr::null();
            let mut msg = std::ptr::null();
            let mut level = 0;
            // SAFETY: `ev` is a live log event and the three out-pointers are writable locals. The strings
            // written belong to `ev` (or stay null) and are copied before `ev` is dropped.
            unsafe {
                sys::rd_kafka_event_log(ev.as_ptr(), &mut fac, &mut msg, &mut level);
                Some(ClientNotice::Log { level, facility: text(fac), message: text(msg) })
            }
        }
        sys::RD_KAFKA_EVENT_ERROR => {
            // SAFETY: `ev` is a live event; its error string belongs to it and is copied at once.
            let (code, message) = unsafe {
                (sys::rd_kafka_event_error(ev.as_ptr()), text(sys::rd_kafka_event_error_string(ev.as_ptr())))
            };
            Some(ClientNotice::Error { error: KafkaError::from_code(code, message) })
        }
        _ => None,
    }
}

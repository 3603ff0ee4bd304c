//! The librdkafka client context: logs go to `tracing`, and the last client-level error is kept to explain a
//! time-out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::admin::AdminClient;

use super::error::KafkaError;
use crate::runtime::sync::lock;

/// Client context: routes librdkafka's logs to `tracing` and remembers the last client-level error (an
/// authentication failure shows up there first, long before a request times out).
#[derive(Default)]
pub struct TributaryContext {
    last_error: Mutex<Option<(Instant, KafkaError)>>,
}

impl ClientContext for TributaryContext {}

impl TributaryContext {
    /// Handles a notice from the main queue: logs it and remembers client-level faults. librdkafka's messages
    /// carry no credentials.
    pub(super) fn notice(&self, notice: ClientNotice) {
        let fault = match notice {
            ClientNotice::Log { level, facility, message } => {
                if level <= 4 {
                    tracing::warn!(target: "librdkafka", facility, "{message}");
                } else {
                    tracing::debug!(target: "librdkafka", facility, "{message}");
                }
                let lower = message.to_ascii_lowercase();
                if level > 3 {
                    None
                } else if lower.contains("authentication") || lower.contains("sasl") || lower.contains("ssl handshake")
                {
                    Some(KafkaError::Authentication(message))
                } else if facility == "FAIL" {
                    Some(KafkaError::Unreachable(message))
                } else {
                    None
                }
            }
            ClientNotice::Error { error } => {
                tracing::warn!(target: "librdkafka", "{error}");
                Some(error)
            }
        };
        // Keep the most telling fault: an authentication failure is not overwritten by the transport errors that
        // follow it.
        if let Some(e) = fault {
            let mut last = lock(&self.last_error);
            let keep_auth = matches!(&*last, Some((at, KafkaError::Authentication(_))) if at.elapsed() < Duration::from_secs(30))
                && !matches!(e, KafkaError::Authentication(_));
            if !keep_auth {
                *last = Some((Instant::now(), e));
            }
        }
    }
}

impl TributaryContext {
    /// The last client error seen within `window`.
    pub(super) fn recent_error(&self, window: Duration) -> Option<KafkaError> {
        let last = lock(&self.last_error);
        last.as_ref().filter(|(at, _)| at.elapsed() <= window).map(|(_, e)| e.clone())
    }
}

pub type Admin = AdminClient<TributaryContext>;

/// A client-level notice from librdkafka's main queue.
#[derive(Clone, Debug)]
pub enum ClientNotice {
    /// A log line (syslog level: 3 is error, 4 warning, ...).
    Log { level: i32, facility: String, message: String },
    /// A client-level error, e.g. all brokers down or an authentication failure.
    Error { error: KafkaError },
}

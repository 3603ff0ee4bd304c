//! One shape for every "why not": a stable reason (the condition's and the Event's `reason`) and a message that
//! names the field or the object at fault. Validation, guardrails, connections, Kafka's answers and holds all end
//! up as a [`Problem`], so every controller reports them the same way.

use std::fmt;
use std::time::Duration;

/// Why a resource is not (yet) where its spec wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// CamelCase, stable: users alert and filter on it.
    pub reason: &'static str,
    /// For people: says what is wrong and, where it can, which field to change.
    pub message: String,
    /// The cause is passing by itself (a connection being made right now): look again soon, not at the usual pace.
    pub transient: bool,
}

impl Problem {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Problem {
        Problem { reason, message: message.into(), transient: false }
    }

    /// A problem expected to clear by itself within a second or two.
    pub fn transient(reason: &'static str, message: impl Into<String>) -> Problem {
        Problem { transient: true, ..Problem::new(reason, message) }
    }

    /// The same reason with `context` put before the message.
    pub fn context(self, context: impl fmt::Display) -> Problem {
        Problem { message: format!("{context}: {}", self.message), ..self }
    }

    /// When to look again: soon for a transient problem, else after `usual`.
    pub fn retry_after(&self, usual: Duration) -> Duration {
        if self.transient { Duration::from_secs(1) } else { usual }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_problems_are_retried_soon_and_others_at_the_usual_pace() {
        let usual = Duration::from_secs(10);
        assert_eq!(Problem::transient("ConnectionNotReady", "connecting").retry_after(usual), Duration::from_secs(1));
        assert_eq!(Problem::new("ConnectionNotFound", "missing").retry_after(usual), usual);
    }

    #[test]
    fn context_keeps_the_reason_and_prefixes_the_message() {
        let p = Problem::new("KafkaRejected", "replication factor 4 > 3 brokers").context("replication factor change");
        assert_eq!(p.reason, "KafkaRejected");
        assert_eq!(p.to_string(), "KafkaRejected: replication factor change: replication factor 4 > 3 brokers");
    }
}

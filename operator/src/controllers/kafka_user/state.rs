//! What one reconcile of a `KafkaUser` carries between its steps: the status draft, and the halt that stops it
//! short of Ready.

use std::time::Duration;

use crate::api::conditions::Draft;
use crate::api::kafka_user::KafkaUserStatus;
use crate::decisions::problem::Problem;
use crate::kafka::KafkaError;

/// When to look again after Kafka or the apiserver failed.
pub const RETRY: Duration = Duration::from_secs(10);

pub const DRIFTED: &str = "Drifted";
pub const PAUSED: &str = "Paused";

pub type StatusDraft = Draft<KafkaUserStatus>;

/// Why a reconcile stopped short of Ready, when to look again, and whether a Warning Event tells it (only when the
/// reason is new, so a user stuck on a missing reference does not fill the Event stream).
pub struct Halt {
    pub problem: Problem,
    pub retry: Duration,
    pub announce: bool,
}

impl Halt {
    pub fn quiet(problem: Problem, retry: Duration) -> Halt {
        Halt { problem, retry, announce: false }
    }

    pub fn loud(problem: Problem, retry: Duration) -> Halt {
        Halt { problem, retry, announce: true }
    }

    pub fn kafka(e: KafkaError, what: &str) -> Halt {
        let problem = match &e {
            KafkaError::Invalid(_) => Problem::new("KafkaRejected", format!("{what}: {e}")),
            _ => e.problem().context(what),
        };
        Halt::loud(problem, RETRY)
    }

    pub fn kube(e: kube::Error, what: &str) -> Halt {
        Halt::quiet(Problem::transient("KubernetesApiError", format!("{what}: {e}")), RETRY)
    }
}

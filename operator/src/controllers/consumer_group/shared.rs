//! What every file of the ConsumerGroup controller shares: its condition types, its status draft, its error and
//! its clock.

use k8s_openapi::jiff::Timestamp;

use crate::api::conditions;
use crate::api::consumer_group::ConsumerGroupStatus;
use crate::kafka::KafkaError;

pub const LAG_WITHIN_SLO: &str = "LagWithinSLO";
pub const STALLED: &str = "Stalled";
pub const SCALING_ACTIVE: &str = "ScalingActive";
pub const SCALING_LIMITED: &str = "ScalingLimited";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    /// The ConsumerGroup was deleted while it was reconciled (its status write found nothing): nothing to do.
    #[error("the ConsumerGroup no longer exists")]
    Gone,
}

pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

pub type Draft = conditions::Draft<ConsumerGroupStatus>;

//! What every file of the ConsumerGroup controller shares: its condition types, its status draft, its error and
//! its clock.

use k8s_openapi::jiff::Timestamp;

use kube::ResourceExt;

use crate::api::conditions;
use crate::api::connection::KafkaConnection;
use crate::api::consumer_group::{ConsumerGroup, ConsumerGroupStatus};
use crate::decisions::tenancy;
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

/// A group's names in Kafka on its connection: its group id, and its topic names, each with the namespace's
/// prefix before it under the connection's tenancy rule (as they are without one).
pub struct KafkaNames {
    pub group_id: String,
    prefix: Option<String>,
}

impl KafkaNames {
    pub fn of(cg: &ConsumerGroup, conn: &KafkaConnection) -> KafkaNames {
        let prefix = tenancy::prefix(conn.spec.tenancy.as_ref(), &cg.namespace().unwrap_or_default());
        KafkaNames { group_id: tenancy::with_prefix(prefix.as_deref(), &cg.group_id()), prefix }
    }

    /// The Kafka name of each topic in `names` (a list of the spec).
    pub fn topics(&self, names: &[String]) -> Vec<String> {
        names.iter().map(|t| tenancy::with_prefix(self.prefix.as_deref(), t)).collect()
    }
}

//! Errors from Kafka, classified for conditions, retries and the circuit breaker.

use rdkafka::error::RDKafkaErrorCode;
use rdkafka_sys::types::RDKafkaRespErr;

use crate::decisions::problem::Problem;

/// Errors from Kafka, classified for conditions and retries.
#[derive(Clone, Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("timed out waiting for Kafka")]
    Timeout,
    #[error("cannot reach Kafka: {0}")]
    Unreachable(String),
    #[error("authentication failed: {0}")]
    Authentication(String),
    #[error("not authorized: {0}")]
    Authorization(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A topic to create exists already.
    #[error("topic already exists: {0}")]
    TopicExists(String),
    /// The topic (or partition) is not known to the cluster.
    #[error("unknown topic or partition: {0}")]
    UnknownTopic(String),
    #[error("Kafka error {code}: {message}")]
    Broker { code: String, message: String },
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("cluster unavailable, retrying later: {0}")]
    CircuitOpen(String),
    #[error("client closed")]
    Closed,
    /// A write withheld: this replica does not hold a live leader Lease term (see `runtime::leadership`).
    #[error("{0}")]
    Fenced(#[from] crate::runtime::leadership::Fenced),
}

impl KafkaError {
    /// Maps a librdkafka error code and message.
    pub fn from_code(code: RDKafkaRespErr, message: String) -> KafkaError {
        KafkaError::from_rdkafka_code(RDKafkaErrorCode::from(code), message)
    }

    pub(super) fn from_rdkafka_code(code: RDKafkaErrorCode, message: String) -> KafkaError {
        use RDKafkaErrorCode as C;
        let message = if message.is_empty() { code.to_string() } else { message };
        match code {
            C::OperationTimedOut | C::RequestTimedOut => KafkaError::Timeout,
            C::BrokerTransportFailure | C::AllBrokersDown | C::Resolve | C::NetworkException => {
                KafkaError::Unreachable(message)
            }
            C::Authentication | C::SaslAuthenticationFailed | C::UnsupportedSASLMechanism => {
                KafkaError::Authentication(message)
            }
            C::TopicAuthorizationFailed | C::ClusterAuthorizationFailed | C::GroupAuthorizationFailed => {
                KafkaError::Authorization(message)
            }
            C::InvalidConfig
            | C::InvalidPartitions
            | C::InvalidReplicationFactor
            | C::InvalidRequest
            | C::PolicyViolation
            | C::InvalidTopic
            | C::InvalidArgument => KafkaError::Invalid(message),
            C::TopicAlreadyExists => KafkaError::TopicExists(message),
            C::UnknownTopicOrPartition | C::UnknownTopic => KafkaError::UnknownTopic(message),
            other => KafkaError::Broker { code: format!("{other:?}"), message },
        }
    }

    /// A stable condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            KafkaError::Timeout | KafkaError::Unreachable(_) | KafkaError::CircuitOpen(_) => "KafkaUnreachable",
            KafkaError::Authentication(_) => "AuthenticationFailed",
            KafkaError::Authorization(_) => "NotAuthorized",
            KafkaError::Invalid(_) => "KafkaRejected",
            KafkaError::Fenced(_) => "NotLeader",
            _ => "KafkaError",
        }
    }

    /// The problem to report on a resource's status.
    pub fn problem(&self) -> Problem {
        Problem::new(self.reason(), self.to_string())
    }

    /// True for faults that pass by themselves (a timeout, a lost connection, a broker error during a leader or
    /// coordinator move, a lapsed lease term that a renewal reopens): trying again later can succeed. Refusals (authentication, authorization, invalid
    /// requests, unknown topics) and protocol surprises are not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            KafkaError::Timeout
                | KafkaError::Unreachable(_)
                | KafkaError::CircuitOpen(_)
                | KafkaError::Broker { .. }
                | KafkaError::Fenced(_)
        )
    }

    /// True for faults that say the cluster (not one request) is unhealthy.
    pub fn is_cluster_fault(&self) -> bool {
        matches!(
            self,
            KafkaError::Timeout
                | KafkaError::Unreachable(_)
                | KafkaError::Authentication(_)
                | KafkaError::CircuitOpen(_)
        )
    }
}

impl From<rdkafka::error::KafkaError> for KafkaError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        match e.rdkafka_error_code() {
            Some(code) => KafkaError::from_rdkafka_code(code, e.to_string()),
            None => KafkaError::Protocol(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_faults_are_told_from_refusals() {
        let broker = KafkaError::Broker { code: "NotCoordinator".into(), message: "moved".into() };
        // A replica whose lease term lapsed (an apiserver outage) writes again once it renews: a redrive waits.
        let fenced = KafkaError::Fenced(crate::runtime::leadership::Fenced("term ended"));
        for transient in [
            KafkaError::Timeout,
            KafkaError::Unreachable("down".into()),
            KafkaError::CircuitOpen("x".into()),
            broker,
            fenced,
        ] {
            assert!(transient.is_transient(), "{transient}");
        }
        let refusals = [
            KafkaError::Authentication("bad password".into()),
            KafkaError::Authorization("no ACL".into()),
            KafkaError::Invalid("bad config".into()),
            KafkaError::UnknownTopic("gone".into()),
            KafkaError::Protocol("another instance took over".into()),
            KafkaError::Closed,
        ];
        for refusal in refusals {
            assert!(!refusal.is_transient(), "{refusal}");
        }
    }
}

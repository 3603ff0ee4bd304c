//! Pure decisions: the reconcile plan of a topic, lag maths, Burrow-style partition status, the autoscaling
//! algorithm, and a user's least-privilege ACLs, credential, quotas and tenancy names.
//!
//! Everything here is plain functions over plain data: no I/O, no Kafka, no Kubernetes client and no clock. Time
//! is always a parameter (`now_ms`, milliseconds since the Unix epoch), so every rule can be unit tested with
//! tables and replayed against simulated time series.

pub mod access;
pub mod autoscale;
pub mod burrow;
pub mod credential;
pub mod dlq;
pub mod drift;
pub mod hash;
pub mod lag;
pub mod lag_tick;
pub mod offset_reset;
pub mod problem;
pub mod quota;
pub mod reassign;
pub mod schema;
pub mod status_pace;
pub mod tenancy;
pub mod topic;
pub mod topic_config;
pub mod topic_deletion;
pub mod topic_partition;
pub mod topology;

#[cfg(test)]
mod simulation;

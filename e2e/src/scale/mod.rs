//! Helpers for the scale tests and the benchmarks: many Topic resources at once and a watch that counts the Ready
//! ones ([`topics`]), bulk checks in Kafka ([`kafka_topics`]), the operator's metrics ([`metrics`]) and process
//! figures ([`process`]), and stopping/restarting a Kafka node of the stack ([`kafka_node`]).

pub mod kafka_node;
pub mod kafka_topics;
pub mod metrics;
pub mod process;
pub mod topics;

pub use kafka_node::*;
pub use kafka_topics::*;
pub use metrics::*;
pub use process::*;
pub use topics::*;

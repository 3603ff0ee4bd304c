//! The only code that talks to Kafka.
//!
//! One [`ClusterClient`] per `KafkaConnection`, shared by every controller: one admin client (one set of broker
//! connections), request batchers that group many resources' calls into few Kafka requests, a circuit breaker
//! that fails fast while the cluster is down, and metrics per operation. [`Clients`] keeps them, rebuilding a
//! client only when the connection's settings change.

mod access;
pub mod batch;
mod call;
pub mod client;
pub mod client_context;
pub mod clients;
pub mod error;
pub mod ffi;
pub mod lag_tick;
pub mod redrive;
pub mod settings;
mod wire;

pub use self::call::WRITES as WRITE_OPERATIONS;
pub use self::client::{ClusterClient, ConfigValue, NewTopicRequest, OffsetsRequest, TopicConfig};
pub use self::clients::Clients;
pub use self::error::KafkaError;
pub use self::ffi::{
    ClusterDescription, ConfigOp, GroupDescription, OffsetSpec, PartitionDescription, PartitionOffset, TopicDescription,
};
pub use self::settings::ClientSettings;
pub use self::wire::OngoingReassignment;
pub use self::wire::user::{SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS, ScramMechanism};

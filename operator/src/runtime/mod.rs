//! Leaf services the rest of the operator uses: configuration, logs, Kubernetes Events, the HTTP endpoints and
//! metrics. Nothing here imports a controller or the Kafka layer, so every layer above may use them.

pub mod config;
pub mod events;
pub mod http;
pub mod leadership;
pub mod malloc;
pub mod metrics;
pub mod sync;
pub mod telemetry;

//! kube-runtime controllers: they glue the API types, the pure decisions and the Kafka layer together.
//!
//! Every reconcile has one shape: read the object and what it references → validate (pure) → observe Kafka →
//! plan (pure) → act → write status once (only when it changed) with server-side apply.

pub mod connection;
pub mod consumer_group;
pub mod context;
pub mod dlq_policy;
pub mod group_memory;
pub mod kafka_user;
pub mod schema;
pub mod status;
pub mod topic;
pub mod topic_index;
pub mod topology;
pub mod watch;

use std::sync::Arc;

use kube::Client;
use kube::runtime::reflector;
use tokio::sync::watch::Receiver;

pub use self::context::Context;
use crate::runtime::config::OperatorConfig;
use crate::runtime::http::Health;
use crate::runtime::metrics::Metrics;

/// Starts every controller and runs them until `shutdown` turns true.
pub async fn run_all(
    client: Client,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: Receiver<bool>,
) {
    let (connections, connection_cache) = reflector::store();
    let (index, handovers) = topic_index::TopicIndex::new(config.clone());
    let ctx = Arc::new(Context::new(client, config, metrics, connections, index));
    health.set_ready(true);
    tokio::join!(
        connection::run(ctx.clone(), connection_cache, shutdown.clone()),
        topic::run(ctx.clone(), handovers, shutdown.clone()),
        consumer_group::run(ctx.clone(), shutdown.clone()),
        dlq_policy::run(ctx.clone(), shutdown.clone()),
        kafka_user::run(ctx.clone(), shutdown.clone()),
        schema::run(ctx.clone(), shutdown.clone()),
    );
}

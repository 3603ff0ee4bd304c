//! The status of a topic under construction, its one write per reconcile, and the controller's errors.

use kube::{Api, ResourceExt};

use crate::api::KafkaConnection;
use crate::api::conditions;
use crate::api::topic::{Topic, TopicStatus};
use crate::controllers::context::Context;
pub use crate::controllers::finalizers::Error;
use crate::controllers::status::apply_status;
use crate::decisions::tenancy;

pub const DRIFTED: &str = "Drifted";
pub const CONFLICT: &str = "Conflict";
pub const PAUSED: &str = "Paused";

/// True when the annotation `key` is `"true"`.
pub fn annotated(topic: &Topic, key: &str) -> bool {
    topic.annotations().get(key).is_some_and(|v| v == "true")
}

pub type StatusDraft = conditions::Draft<TopicStatus>;

/// The status draft of a topic: its current status, with the generation filled in, and the Kafka name until the
/// reconcile knows the connection's tenancy rule (see [`kafka_name`]).
pub fn draft_of(topic: &Topic) -> StatusDraft {
    let mut status = topic.status.clone().unwrap_or_default();
    status.topic_name.get_or_insert_with(|| topic.kafka_name());
    status.observed_generation = topic.metadata.generation;
    StatusDraft::new(status, topic.metadata.generation)
}

/// Writes the draft, unless it equals the current status.
pub async fn write(ctx: &Context, api: &Api<Topic>, topic: &Topic, draft: StatusDraft) -> Result<(), Error> {
    apply_status(api, topic, topic.status.as_ref(), &draft.status, &ctx.metrics).await?;
    Ok(())
}

/// The Kafka topic name of `topic` on `conn`: its own (`spec.topicName`, else its name), with the namespace's prefix
/// before it under the connection's tenancy rule.
pub fn kafka_name(topic: &Topic, conn: &KafkaConnection) -> String {
    tenancy::kafka_name(conn.spec.tenancy.as_ref(), &topic.namespace().unwrap_or_default(), &topic.kafka_name())
}

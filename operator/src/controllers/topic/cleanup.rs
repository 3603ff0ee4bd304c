//! What deleting a `Topic` does in Kafka: nothing unless its policies say delete, and never while a consumer group
//! with members reads the topic (unless forced) or while paused.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::state::{Error, annotated, draft_of, write};
use crate::api::common::{DeletionPolicy, ManagementPolicy};
use crate::api::topic::Topic;
use crate::api::{FORCE_DELETE_ANNOTATION, PAUSED_ANNOTATION};
use crate::controllers::context::{Context, resolve_connection};
use crate::decisions::problem::Problem;
use crate::kafka::KafkaError;

/// Deletes the Kafka topic of a `Topic` being deleted, when its policies allow and nothing reads it.
pub async fn cleanup(topic: Arc<Topic>, ctx: &Context, api: &Api<Topic>) -> Result<Action, Error> {
    let name = topic.kafka_name();
    if ctx.topic_index.other_owner(&topic).is_some() {
        // A conflicting resource never deletes anything.
        return Ok(Action::await_change());
    }
    if topic.spec.deletion_policy == DeletionPolicy::Retain || topic.spec.management_policy == ManagementPolicy::Observe
    {
        ctx.event(
            topic.as_ref(),
            false,
            "Retained",
            "Delete",
            format!("Kafka topic {name:?} retained (deletionPolicy Retain)"),
        )
        .await;
        return Ok(Action::await_change());
    }
    if annotated(&topic, PAUSED_ANNOTATION) {
        return Err(Problem::new("Paused", "paused: the Kafka topic is not deleted while paused").into());
    }
    let ns = topic.namespace().unwrap_or_default();
    let (conn, client) = match resolve_connection(ctx, topic.spec.connection_ref.as_ref(), &ns) {
        Ok(c) => c,
        Err(p) if p.reason == "ConnectionNotFound" || p.reason == "NoConnection" => {
            // Nothing can be deleted without a connection; holding the finalizer would trap the namespace.
            ctx.event(
                topic.as_ref(),
                true,
                "DeletionSkipped",
                "Delete",
                format!("{}: Kafka topic {name:?} left in place", p.message),
            )
            .await;
            return Ok(Action::await_change());
        }
        Err(p) => return Err(p.into()),
    };
    if !conn.spec.policy.as_ref().is_none_or(|p| p.allow_topic_deletion) {
        let msg = format!("the connection's policy.allowTopicDeletion is false: Kafka topic {name:?} left in place");
        ctx.event(topic.as_ref(), true, "DeletionNotAllowed", "Delete", msg).await;
        return Ok(Action::await_change());
    }
    if !annotated(&topic, FORCE_DELETE_ANNOTATION) {
        let readers = client.active_groups_reading(&name).await?;
        if !readers.is_empty() {
            let msg = format!(
                "not deleting Kafka topic {name:?}: consumer group(s) {} have members and committed offsets on it (annotate {FORCE_DELETE_ANNOTATION}=true to force)",
                readers.join(", ")
            );
            let mut draft = draft_of(&topic);
            draft.not_ready("InUse", msg.clone());
            write(ctx, api, &topic, draft).await?;
            ctx.event(topic.as_ref(), true, "InUse", "Delete", msg.clone()).await;
            return Err(Problem::new("InUse", msg).into());
        }
    }
    match client.delete_topic(&name).await {
        Ok(()) => {}
        Err(KafkaError::UnknownTopic(_)) => {}
        Err(e) => return Err(e.into()),
    }
    ctx.event(topic.as_ref(), false, "Deleted", "Delete", format!("deleted Kafka topic {name:?}")).await;
    Ok(Action::await_change())
}

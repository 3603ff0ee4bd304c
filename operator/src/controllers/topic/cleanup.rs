//! What deleting a `Topic` does in Kafka: nothing unless its policies say delete, and never while a consumer group
//! with members reads the topic (unless forced) or while paused.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::state::{Error, annotated, draft_of, kafka_name, write};
use crate::api::topic::Topic;
use crate::api::{FORCE_DELETE_ANNOTATION, PAUSED_ANNOTATION};
use crate::controllers::context::{Context, resolve_connection};
use crate::decisions::problem::Problem;
use crate::decisions::topic_deletion::{self, Deletion, DeletionFacts};
use crate::kafka::KafkaError;

/// Deletes the Kafka topic of a `Topic` being deleted, when its policies allow and nothing reads it.
pub async fn cleanup(topic: Arc<Topic>, ctx: &Context, api: &Api<Topic>) -> Result<Action, Error> {
    let ns = topic.namespace().unwrap_or_default();
    let resolved = resolve_connection(ctx, topic.spec.connection_ref.as_ref(), &ns);
    let name = match &resolved {
        Ok((conn, _)) => kafka_name(&topic, conn),
        Err(_) => topic.status.as_ref().and_then(|s| s.topic_name.clone()).unwrap_or_else(|| topic.kafka_name()),
    };
    // Without the connection its tenancy rule is unknown: the stricter reading (any claimant conflicts) holds.
    let tenancy = resolved.as_ref().is_ok_and(|(conn, _)| conn.spec.tenancy.is_some());
    let mut facts = DeletionFacts {
        kafka_name: &name,
        deletion_policy: topic.spec.deletion_policy,
        management_policy: topic.spec.management_policy,
        conflicting: ctx.topic_index.other_owner(&topic, tenancy).is_some(),
        paused: annotated(&topic, PAUSED_ANNOTATION),
        forced: annotated(&topic, FORCE_DELETE_ANNOTATION),
        connection: resolved.as_ref().map(|(conn, _)| conn.spec.policy.as_ref().is_none_or(|p| p.allow_topic_deletion)),
        readers: None,
    };
    let readers;
    let mut verdict = topic_deletion::decide(&facts);
    if verdict == Deletion::AskReaders
        && let Ok((_, client)) = &resolved
    {
        readers = client.active_groups_reading(&name).await?;
        facts.readers = Some(&readers);
        verdict = topic_deletion::decide(&facts);
    }
    match (verdict, &resolved) {
        (Deletion::Keep(event), _) => {
            if let Some((reason, note, warning)) = event {
                ctx.event(topic.as_ref(), warning, reason, "Delete", note).await;
            }
            Ok(Action::await_change())
        }
        (Deletion::Hold(problem), _) => {
            if problem.reason == "InUse" {
                let mut draft = draft_of(&topic);
                draft.not_ready(problem.reason, problem.message.clone());
                write(ctx, api, &topic, draft).await?;
                ctx.event(topic.as_ref(), true, problem.reason, "Delete", problem.message.clone()).await;
            }
            Err(problem.into())
        }
        (Deletion::Delete, Ok((_, client))) => {
            match client.delete_topic(&name).await {
                Ok(()) | Err(KafkaError::UnknownTopic(_)) => {}
                Err(e) => return Err(e.into()),
            }
            ctx.event(topic.as_ref(), false, "Deleted", "Delete", format!("deleted Kafka topic {name:?}")).await;
            Ok(Action::await_change())
        }
        // The verdict asks for Kafka only once the connection is usable (it is checked first): never reached.
        (Deletion::AskReaders | Deletion::Delete, Err(problem)) => Err(problem.clone().into()),
        (Deletion::AskReaders, Ok(_)) => {
            Err(Problem::transient("DeletionPending", "the topic's readers are not known yet").into())
        }
    }
}

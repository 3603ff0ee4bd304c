//! A replication-factor change (Enforce only): computed by `decisions::reassign`, started with
//! AlterPartitionReassignments and followed with ListPartitionReassignments until every partition has its new
//! replicas in sync.

use std::collections::BTreeSet;

use crate::api::topic::{ReassignmentState, ReassignmentStatus, Topic};
use crate::controllers::context::Context;
use crate::decisions::problem::Problem;
use crate::decisions::reassign;
use crate::decisions::topic::ObservedTopic;
use crate::kafka::{ClusterClient, KafkaError};

/// Where a replication-factor change stands after this reconcile.
pub enum Replication {
    /// Nothing to do (the factor matches and no change was being followed).
    Idle,
    Moving(ReassignmentStatus),
    /// Just finished.
    Done(ReassignmentStatus),
    Refused(Problem),
}

/// Starts or follows the partition reassignment that gives every partition `rf` in-sync replicas. Kafka is asked
/// (ListPartitionReassignments) only while the factor differs or a change is being followed, so idle topics cost no
/// extra request.
pub async fn replication(
    ctx: &Context,
    client: &ClusterClient,
    topic: &Topic,
    name: &str,
    rf: i32,
    observed: &ObservedTopic,
) -> Result<Replication, KafkaError> {
    let previous = topic.status.as_ref().and_then(|s| s.reassignment.clone());
    let following =
        previous.as_ref().is_some_and(|p| p.state != ReassignmentState::Done && p.target_replication_factor == rf);
    let needs = reassign::needs_change(&observed.replicas, rf);
    if !needs && !following {
        // The status (a finished change included) carries over from the current one.
        return Ok(Replication::Idle);
    }
    let partitions: Vec<i32> = observed.replicas.iter().map(|p| p.partition).collect();
    let ongoing = client.list_partition_reassignments(&[(name.to_string(), partitions)]).await?;
    let reassigning: BTreeSet<i32> = ongoing.iter().filter(|o| o.topic == name).map(|o| o.partition).collect();
    let from = observed.replication_factor;
    if needs && reassigning.is_empty() {
        let brokers = client.describe_cluster().await?.brokers;
        let moves = match reassign::target_assignment(&observed.replicas, &brokers, rf) {
            Ok(m) => m,
            Err(refusal) => return Ok(Replication::Refused(refusal)),
        };
        if !moves.is_empty() {
            client.alter_partition_reassignments(name, &moves).await?;
            let msg = format!("replication factor {from} -> {rf}: reassigning {} partition(s)", moves.len());
            ctx.event(topic, false, "ReassignmentStarted", "Reassign", msg).await;
        }
        let status = ReassignmentStatus {
            target_replication_factor: rf,
            state: ReassignmentState::Ongoing,
            partitions_done: observed.replicas.len() as i32 - moves.len() as i32,
            partitions_total: observed.replicas.len() as i32,
            message: Some(format!("from replication factor {from}")),
        };
        return Ok(Replication::Moving(status));
    }
    let progress = reassign::progress(&observed.replicas, &reassigning, rf);
    let mut status = previous.unwrap_or_default();
    status.target_replication_factor = rf;
    status.partitions_done = progress.done;
    status.partitions_total = progress.total;
    if progress.complete() {
        status.state = ReassignmentState::Done;
        let msg = format!("replication factor is {rf}: every partition's replicas are in sync");
        ctx.event(topic, false, "ReassignmentCompleted", "Reassign", msg).await;
        return Ok(Replication::Done(status));
    }
    status.state = ReassignmentState::Ongoing;
    Ok(Replication::Moving(status))
}

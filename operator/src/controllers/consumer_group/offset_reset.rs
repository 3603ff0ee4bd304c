//! Declarative offset resets: the pure steps ([`crate::decisions::offset_reset::steps`]) decide, this file carries
//! out their actions (read or set the workload's replicas, write the group's offsets) and publishes their Events.

use std::collections::HashMap;

use kube::ResourceExt;

use super::observe::Observed;
use super::scale::ScaleTarget;
use super::shared::{Draft, Error, KafkaNames};
use crate::api::consumer_group::{ConsumerGroup, OffsetReset, OffsetResetTarget};
use crate::api::full_name;
use crate::controllers::context::Context;
use crate::decisions::lag::TopicPartition;
use crate::decisions::offset_reset::steps::{self, Action, Facts};
use crate::decisions::offset_reset::targets::{self, PartitionBounds};
use crate::kafka::ClusterClient;
use crate::kafka::ffi::OffsetSpec;

/// More steps than any reset takes from start to end in one reconcile.
const MAX_STEPS: usize = 16;

/// Advances the group's offset reset as far as it goes in this reconcile. Returns true while a reset is in
/// progress (scaling waits for it).
pub async fn offset_reset_step(
    ctx: &Context,
    cg: &ConsumerGroup,
    names: &KafkaNames,
    client: &ClusterClient,
    observed: &Observed,
    d: &mut Draft,
) -> Result<bool, Error> {
    let Some(spec) = &cg.spec.offset_reset else { return Ok(false) };
    let ns = cg.namespace().unwrap_or_default();
    let target = cg.spec.autoscaling.as_ref().map(|a| ScaleTarget::new(ctx, &ns, a));
    let group = names.group_id.clone();
    let mut facts = Facts {
        group: group.clone(),
        members: observed.members,
        target: target.as_ref().map(|t| format!("{} {}", t.kind, t.name)),
        replicas: None,
        written: None,
        now: d.now,
    };
    let mut status = d.status.offset_reset.clone();
    for _ in 0..MAX_STEPS {
        let step = steps::step(spec, status.as_ref(), &facts);
        if step.settled(status.as_ref()) {
            break;
        }
        match (step.action, &target) {
            (Some(Action::ReadReplicas), Some(t)) => facts.replicas = Some(t.replicas().await?.unwrap_or(0)),
            (Some(Action::ScaleTo(n)), Some(t)) => {
                t.set(n).await?;
                // The autoscaler's remembered count is no longer the workload's: it reads /scale again.
                if let Some(m) = ctx.groups.lock().get_mut(&full_name(cg)) {
                    m.replicas = None;
                }
            }
            (Some(Action::WriteOffsets), _) => {
                facts.written = Some(reset_offsets(client, &group, &names.topics(&spec.topics), spec, observed).await)
            }
            (Some(Action::ReadReplicas | Action::ScaleTo(_)), None) | (None, _) => {}
        }
        if let Some(e) = &step.event {
            ctx.event(cg, e.warning(), e.reason(), e.action(), e.note().to_string()).await;
        }
        status = Some(step.status);
    }
    let in_progress = status.as_ref().is_some_and(|s| !s.phase.is_terminal());
    d.status.offset_reset = status;
    Ok(in_progress)
}

/// Writes the group's new offsets; the number of partitions moved, or why not.
async fn reset_offsets(
    client: &ClusterClient,
    group: &str,
    topics: &[String],
    spec: &OffsetReset,
    observed: &Observed,
) -> Result<usize, String> {
    let value = targets::parse_value(spec.to, spec.value.as_deref())?;
    let chosen: Vec<&TopicPartition> =
        observed.offsets.keys().filter(|tp| topics.is_empty() || topics.iter().any(|t| *t == *tp.topic)).collect();
    if chosen.is_empty() {
        return Err("no partition to reset (check spec.offsetReset.topics and spec.topics)".into());
    }
    // The tick reads log starts only where lag needs them: read the bounds afresh for the few partitions moved.
    let parts: Vec<(String, i32)> = chosen.iter().map(|tp| (tp.topic.to_string(), tp.partition)).collect();
    let fresh = |list: Vec<crate::kafka::PartitionOffset>| -> HashMap<(String, i32), i64> {
        list.into_iter().filter(|o| o.error.is_none()).map(|o| ((o.topic, o.partition), o.offset.max(0))).collect()
    };
    let (starts, ends) = tokio::try_join!(
        client.list_offsets(parts.clone(), OffsetSpec::Earliest, false),
        client.list_offsets(parts.clone(), OffsetSpec::Latest, true)
    )
    .map_err(|e| e.to_string())?;
    let (starts, ends) = (fresh(starts), fresh(ends));
    let at_ts: HashMap<(String, i32), i64> = if spec.to == OffsetResetTarget::Timestamp {
        client
            .list_offsets(parts, OffsetSpec::Timestamp(value), false)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset))
            .collect()
    } else {
        HashMap::new()
    };
    let offsets: Vec<(String, i32, i64)> = chosen
        .iter()
        .map(|tp| {
            let o = observed.offsets[*tp];
            let key = (tp.topic.to_string(), tp.partition);
            let bounds = PartitionBounds {
                log_start: starts.get(&key).copied().unwrap_or(o.log_start),
                end: ends.get(&key).copied().unwrap_or(o.end),
                committed: o.committed,
                at_timestamp: at_ts.get(&key).copied(),
            };
            (key.0, tp.partition, targets::target_offset(spec.to, value, bounds))
        })
        .collect();
    let n = offsets.len();
    client.alter_group_offsets(group, offsets).await.map_err(|e| e.to_string())?;
    Ok(n)
}

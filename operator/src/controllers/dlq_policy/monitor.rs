//! Watching a policy's dead-letter topic: depth, age of the oldest dead letter not yet redriven, arrival rate, the
//! `DeadLettersWithinLimit` condition and the metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::ResourceExt;

use super::context::{DlqContext, Draft, now_ms, redrive_group};
use crate::api::conditions;
use crate::api::dlq_policy::{DEAD_LETTERS_WITHIN_LIMIT, DlqPolicy, DlqPolicyStatus};
use crate::decisions::dlq::monitor::{self, EndSample};
use crate::decisions::dlq::redrive::time_of;
use crate::decisions::lag::PartitionOffsets;
use crate::kafka::ffi::{OffsetSpec, PartitionOffset};
use crate::kafka::redrive::peeker::Peeker;
use crate::kafka::{ClusterClient, KafkaError};
use crate::runtime::metrics::ResourceLabels;
use crate::runtime::sync::lock;

/// Window of the arrival rate.
const RATE_WINDOW_MS: i64 = 60 * 1000;

/// The numbers the monitor reads from the dead-letter topic.
struct Observation {
    depth: i64,
    oldest_ms: Option<i64>,
    per_minute: Option<f64>,
}

async fn observe(
    st: &DlqContext,
    key: &str,
    client: &Arc<ClusterClient>,
    dlt: &str,
    group: &str,
    prev_rate: Option<f64>,
) -> Result<Observation, KafkaError> {
    let desc = client
        .describe_topic(dlt)
        .await?
        .ok_or_else(|| KafkaError::Invalid(format!("dead-letter topic {dlt:?} does not exist")))?;
    let pairs: Vec<(String, i32)> = desc.partitions.iter().map(|p| (dlt.to_string(), p.partition)).collect();
    let (ends, starts, committed) = futures::try_join!(
        client.list_offsets(pairs.clone(), OffsetSpec::Latest, true),
        client.list_offsets(pairs.clone(), OffsetSpec::Earliest, false),
        client.group_offsets(group),
    )?;
    let find =
        |list: &[PartitionOffset], p: i32| list.iter().find(|o| o.topic == dlt && o.partition == p).map(|o| o.offset);
    let mut offsets = BTreeMap::new();
    for (_, p) in &pairs {
        offsets.insert(
            *p,
            PartitionOffsets {
                end: find(&ends, *p).unwrap_or(0).max(0),
                committed: find(&committed, *p).filter(|o| *o >= 0),
                log_start: find(&starts, *p).unwrap_or(0).max(0),
            },
        );
    }
    let depth = monitor::depth(&offsets.values().copied().collect::<Vec<_>>());
    let heads: Vec<(i32, i64)> = offsets.iter().filter(|(_, o)| o.lag() > 0).map(|(p, o)| (*p, o.position())).collect();

    // This policy's monitor only: other policies poll (and peek) meanwhile.
    let mon = st.memory.monitor(key);
    let mut mon = mon.lock().await;
    let now = now_ms();
    mon.samples.push(EndSample { at_ms: now, total_end: offsets.values().map(|o| o.end).sum() });
    monitor::trim_samples(&mut mon.samples, now, RATE_WINDOW_MS);
    let per_minute = monitor::published_per_minute(prev_rate, &mon.samples, now, RATE_WINDOW_MS);

    mon.heads.retain(|p, _| heads.iter().any(|(hp, _)| hp == p));
    let stale: Vec<(i32, i64)> =
        heads.iter().copied().filter(|(p, head)| mon.heads.get(p).is_none_or(|(h, _)| h != head)).collect();
    if !stale.is_empty() {
        let settings = client.settings().clone();
        let peeker = match &mon.peeker {
            Some(p) if lock(p).fingerprint == settings.fingerprint() => p.clone(),
            _ => {
                let p = Arc::new(Mutex::new(Peeker::new(&settings)?));
                mon.peeker = Some(p.clone());
                p
            }
        };
        let (topic, wanted) = (dlt.to_string(), stale.clone());
        let found =
            tokio::task::spawn_blocking(move || lock(&peeker).first_records(&topic, &wanted, Duration::from_secs(5)))
                .await
                .map_err(|e| KafkaError::Protocol(format!("peek task failed: {e}")))??;
        for (p, head) in stale {
            let first = found.get(&p).copied().flatten();
            // Only remember what was found: a slow fetch is tried again on the next poll.
            if first.is_some() {
                mon.heads.insert(p, (head, first));
            }
        }
    }
    let oldest_ms = mon.heads.values().filter_map(|(_, f)| f.map(|(_, ts)| ts)).min();
    Ok(Observation { depth, oldest_ms, per_minute })
}

/// Observes the dead-letter topic `dlt` into the draft: depth, oldest record, rate, the limits' condition (with an
/// Event when it flips) and the metrics. Returns the oldest record's age in seconds (`Some(None)`: nothing
/// waits), or `None` with the Ready condition set when Kafka could not be read.
pub async fn watch_dead_letters(
    st: &DlqContext,
    policy: &DlqPolicy,
    client: &Arc<ClusterClient>,
    dlt: &str,
    current: &DlqPolicyStatus,
    d: &mut Draft,
) -> Option<Option<i64>> {
    let key = crate::api::full_name(policy);
    let ctx = &st.base;
    let o = match observe(st, &key, client, dlt, &redrive_group(policy), current.per_minute).await {
        Ok(o) => o,
        Err(e) => {
            d.set(conditions::READY, false, e.reason(), format!("cannot observe the dead-letter topic {dlt:?}: {e}"));
            return None;
        }
    };
    let now = now_ms();
    let age = o.oldest_ms.map(|ts| ((now - ts) / 1000).max(0));
    d.status.depth = Some(o.depth);
    d.status.oldest_record_time = o.oldest_ms.and_then(time_of);
    d.status.per_minute = o.per_minute;
    let limits = policy.spec.alerting.as_ref().map_or_else(monitor::Limits::default, |a| monitor::Limits {
        max_depth: a.max_depth,
        max_age_seconds: a.max_age_seconds,
        max_per_minute: a.max_per_minute,
    });
    let v = monitor::evaluate_limits(&limits, o.depth, age, o.per_minute);
    let was = conditions::find(&current.conditions, DEAD_LETTERS_WITHIN_LIMIT).map(|c| c.status == "True");
    if was != Some(v.within) && (was.is_some() || !v.within) {
        let (warning, reason) =
            if v.within { (false, "DeadLettersWithinLimit") } else { (true, "DeadLettersAboveLimit") };
        ctx.event(policy, warning, reason, "Monitor", format!("{dlt}: {}", v.message)).await;
    }
    d.set(DEAD_LETTERS_WITHIN_LIMIT, v.within, v.reason, v.message);
    let labels = ResourceLabels { namespace: policy.namespace().unwrap_or_default(), name: policy.name_any() };
    ctx.metrics.dlq_depth.get_or_create(&labels).set(o.depth);
    ctx.metrics.dlq_oldest_age_seconds.get_or_create(&labels).set(age.unwrap_or(0));
    ctx.metrics.dlq_within_limit.get_or_create(&labels).set(i64::from(v.within));
    Some(age)
}

//! Lag-driven scaling of the consumer workload through its `/scale` subresource, unless another autoscaler targets
//! it.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::shared::{Draft, Error, SCALING_ACTIVE, SCALING_LIMITED};
use crate::api::consumer_group::{Autoscaling, ConsumerGroup, ScaleEvent};
use crate::api::full_name;
use crate::controllers::context::Context;
use crate::decisions::autoscale::{self, AutoscaleConfig, Observation, ScalingRules, ScalingTarget};
use crate::decisions::lag::{GroupLag, TopicPartition};
use crate::runtime::metrics::{KindLabels, ResourceLabels};

/// The scale subresource of a target.
pub struct ScaleTarget {
    api: Api<DynamicObject>,

    pub name: String,
    pub kind: String,
}

impl ScaleTarget {
    pub fn new(ctx: &Context, ns: &str, a: &Autoscaling) -> ScaleTarget {
        let (group, version) = match a.target_ref.api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), a.target_ref.api_version.clone()),
        };
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, &version, &a.target_ref.kind));
        ScaleTarget {
            api: Api::namespaced_with(ctx.client.clone(), ns, &ar),
            name: a.target_ref.name.clone(),
            kind: a.target_ref.kind.clone(),
        }
    }

    pub async fn replicas(&self) -> Result<Option<i32>, kube::Error> {
        match self.api.get_scale(&self.name).await {
            Ok(s) => Ok(Some(s.spec.and_then(|s| s.replicas).unwrap_or(0))),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set(&self, replicas: i32) -> Result<(), kube::Error> {
        crate::controllers::status::fenced_kube()?;
        let patch = json!({"spec": {"replicas": replicas}});
        self.api.patch_scale(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(())
    }
}

/// Another autoscaler (an HPA or a KEDA ScaledObject) that targets the same workload.
async fn conflicting_autoscaler(ctx: &Context, ns: &str, target: &ScaleTarget) -> Result<Option<String>, kube::Error> {
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), ns);
    for h in hpas.list(&Default::default()).await? {
        if let Some(spec) = &h.spec
            && spec.scale_target_ref.name == target.name
            && spec.scale_target_ref.kind == target.kind
        {
            return Ok(Some(format!("HorizontalPodAutoscaler {}", h.name_any())));
        }
    }
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"));
    let scaled: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
    match scaled.list(&Default::default()).await {
        Ok(list) => {
            for so in list {
                let r = &so.data["spec"]["scaleTargetRef"];
                let kind = r["kind"].as_str().unwrap_or("Deployment");
                if r["name"].as_str() == Some(target.name.as_str()) && kind == target.kind {
                    return Ok(Some(format!("KEDA ScaledObject {}", so.name_any())));
                }
            }
        }
        // No KEDA in this cluster (or no right to read it): nothing conflicts from there.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 403 => {}
        Err(e) => return Err(e),
    }
    Ok(None)
}

fn autoscale_config(a: &Autoscaling, partitions: i32) -> AutoscaleConfig {
    let target = match (a.lag_per_replica, a.max_drain_seconds) {
        (Some(l), _) => ScalingTarget::LagPerReplica(l),
        (None, Some(s)) => ScalingTarget::MaxDrainSeconds(s as f64),
        (None, None) => ScalingTarget::LagPerReplica(1000),
    };
    let partitions = if a.allow_idle_consumers { 0 } else { partitions };
    let mut c = AutoscaleConfig::new(a.min_replicas, a.max_replicas, partitions, target);
    c.allow_idle_consumers = a.allow_idle_consumers;
    c.activation_lag = a.activation_lag;
    let rules = |r: &Option<crate::api::consumer_group::ScalingRules>, default: ScalingRules| match r {
        Some(r) => ScalingRules {
            stabilization: r
                .stabilization_seconds
                .map_or(default.stabilization, |s| Duration::from_secs(s.max(0) as u64)),
            max_step: r.max_step.or(default.max_step),
        },
        None => default,
    };
    c.scale_up = rules(&a.scale_up, ScalingRules::SCALE_UP);
    c.scale_down = rules(&a.scale_down, ScalingRules::SCALE_DOWN);
    c
}

#[allow(clippy::too_many_arguments)]
pub async fn autoscale_step(
    ctx: &Context,
    cg: &ConsumerGroup,
    a: &Autoscaling,
    ns: &str,
    lag: &GroupLag,
    stable: bool,
    stalled: &BTreeSet<TopicPartition>,
    partitions: i32,
    now: i64,
    d: &mut Draft,
    labels: &ResourceLabels,
) -> Result<(), Error> {
    let target = ScaleTarget::new(ctx, ns, a);
    // Listing every HPA and ScaledObject each tick would cost the apiserver more than the group: checked again
    // once per status interval.
    let key = full_name(cg);
    let cached = ctx.groups.lock().get(&key).and_then(|m| m.conflict.clone());
    let conflict = match cached {
        Some((at, c)) if now - at < ctx.config.status_interval.as_millis() as i64 => c,
        _ => {
            let c = conflicting_autoscaler(ctx, ns, &target).await?;
            ctx.groups.lock().entry(key.clone()).or_default().conflict = Some((now, c.clone()));
            c
        }
    };
    if let Some(other) = conflict {
        d.set(
            SCALING_ACTIVE,
            false,
            "ConflictingAutoscaler",
            format!("{other} also scales {} {}: not scaling", target.kind, target.name),
        );
        return Ok(());
    }
    // The count is read from /scale once per status interval, not every tick (1,000 autoscaled groups would be
    // 1,000 GETs a second), and read again before any change, so a change is never made from an old count.
    let known = ctx.groups.lock().get(&key).and_then(|m| m.replicas);
    let (fresh, read) = match known {
        Some((at, r)) if now - at < ctx.config.status_interval.as_millis() as i64 => (false, r),
        _ => (true, target.replicas().await?),
    };
    let remember = |r: Option<i32>| ctx.groups.lock().entry(key.clone()).or_default().replicas = Some((now, r));
    if fresh {
        remember(read);
    }
    let Some(current) = read else {
        d.set(SCALING_ACTIVE, false, "TargetNotFound", format!("{} {} has no /scale here", target.kind, target.name));
        return Ok(());
    };
    let config = autoscale_config(a, partitions);
    let observation = Observation {
        now_ms: now,
        lag: lag.total_lag_excluding(stalled),
        rates: lag.rates(),
        current_replicas: current,
        stable,
    };
    let decision = {
        let mut memories = ctx.groups.lock();
        let memory = memories.entry(full_name(cg)).or_default();
        autoscale::desired_replicas(&config, &observation, &mut memory.autoscale)
    };
    let mut replicas = current;
    if decision.desired != current && !fresh {
        let now_read = target.replicas().await?;
        remember(now_read);
        if now_read != Some(current) {
            // Someone else changed the count since it was read: decide again from the new count next tick.
            tracing::debug!(group = %key, "the workload's replica count changed under the autoscaler; deciding again");
            return Ok(());
        }
    }
    if decision.desired != current {
        target.set(decision.desired).await?;
        remember(Some(decision.desired));
        replicas = decision.desired;
        ctx.metrics.group_scale_events.get_or_create(&KindLabels { kind: "ConsumerGroup" }).inc();
        let msg = format!(
            "scaled {} {} from {current} to {}: {}",
            target.kind, target.name, decision.desired, decision.reason
        );
        // Events with the same reason and action fold into one series; the transition in the action keeps each
        // distinct change its own Event with its own numbers.
        tracing::info!(group = %full_name(cg), from = current, to = decision.desired, reason = %decision.reason, "scaled");
        let (reason, action) =
            if decision.desired > current { ("ScaledUp", "ScaleUp") } else { ("ScaledDown", "ScaleDown") };
        ctx.event(cg, false, reason, &format!("{action}{current}To{}", decision.desired), msg).await;
        d.status.last_scale = Some(ScaleEvent {
            time: Time(d.now),
            from: current,
            to: decision.desired,
            reason: decision.reason.clone(),
        });
    }
    d.status.desired_replicas = Some(decision.desired);
    d.status.current_replicas = Some(replicas);
    ctx.metrics.group_replicas_desired.get_or_create(labels).set(i64::from(decision.desired));
    ctx.metrics.group_replicas_current.get_or_create(labels).set(i64::from(replicas));
    d.set(SCALING_ACTIVE, true, "Active", format!("scaling {} {} on lag", target.kind, target.name));
    match decision.limited {
        Some(limit) => d.set(SCALING_LIMITED, true, limit.as_str(), decision.reason),
        None => d.set(SCALING_LIMITED, false, "WithinLimits", "the desired count is what the lag asks for"),
    }
    Ok(())
}

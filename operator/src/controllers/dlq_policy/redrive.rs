//! Redrives: observe the move this operator runs and the destination, let the pure decision
//! ([`crate::decisions::dlq::redrive`]) say what the status is and what to do, and do it.
//!
//! A move runs on a blocking thread owned by this controller, never inside a reconcile. It reports its committed
//! progress into memory and wakes the policy's reconcile at most once a second; the reconcile is the only writer of
//! the policy's status.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;

use super::context::{DlqContext, now_ms, redrive_group};
use super::memory::MoveHandle;
use crate::api::dlq_policy::{DlqPolicy, RedriveStatus};
use crate::controllers::context::Context;
use crate::decisions::dlq::moves::{Allowed, MovePhase, MoveProgress};
use crate::decisions::dlq::redrive::{self, Command, Destination, Observed, Step};
use crate::kafka::ClusterClient;
use crate::kafka::redrive::control::{MoveControl, MoveRequest};
use crate::kafka::redrive::{clients, coordinator};
use crate::runtime::metrics::KindLabels;
use crate::runtime::sync::lock;

/// A running move wakes its reconcile at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Whether `dest` exists, as the redrive decision wants to know.
async fn check_destination(client: Option<&Arc<ClusterClient>>, dest: &str) -> Destination {
    let Some(client) = client else { return Destination::Unreachable("no connection".into()) };
    match client.describe_topic(dest).await {
        Ok(Some(_)) => Destination::Exists,
        Ok(None) => Destination::Missing,
        Err(e) => Destination::Unreachable(e.to_string()),
    }
}

/// The redrive part of the status: decides from what is observed, then starts, cancels, re-rates or forgets the
/// background move as decided.
pub async fn redrive(
    st: &Arc<DlqContext>,
    policy: &DlqPolicy,
    client: Option<&Arc<ClusterClient>>,
    dlt: &str,
    dlt_ready: bool,
    prev: Option<&RedriveStatus>,
) -> Option<RedriveStatus> {
    let key = crate::api::full_name(policy);
    let live = st.memory.live_move(&key);
    let mut seen = Observed {
        live: live.as_ref(),
        connected: client.is_some(),
        dead_letter: dlt,
        dead_letter_ready: dlt_ready,
        destination: Destination::Unchecked,
        now_ms: now_ms(),
    };
    let mut step = redrive::decide(&policy.spec, prev, &seen);
    if let Step::CheckDestination(dest) = &step {
        seen.destination = check_destination(client, dest).await;
        step = redrive::decide(&policy.spec, prev, &seen);
    }
    let Step::Decided(decision) = step else {
        // The destination was just checked: the decision does not ask twice.
        return prev.cloned();
    };
    for command in decision.commands {
        match command {
            Command::SetRate(rate) => st.memory.with_move(&key, |h| h.control.set_rate(rate)),
            Command::Cancel => st.memory.with_move(&key, |h| h.control.cancel()),
            Command::Forget => drop(st.memory.remove_move(&key)),
            Command::Fence => {
                if let Some(c) = client {
                    let (settings, group) = (c.settings().clone(), redrive_group(policy));
                    let _ = tokio::task::spawn_blocking(move || clients::fence(&settings, &group)).await;
                }
            }
            Command::Start { rate, initial } => {
                if let (Some(c), Some(spec)) = (client, &policy.spec.redrive) {
                    let req = MoveRequest {
                        id: spec.id.clone(),
                        dead_letter: dlt.to_string(),
                        group: redrive_group(policy),
                        destination: spec.destination.clone(),
                        source: policy.spec.source_topic.clone(),
                        allowed: Allowed {
                            source: policy.spec.source_topic.clone(),
                            extra: policy.spec.allowed_redrive_topics.clone(),
                            dead_letter: dlt.to_string(),
                        },
                        max_messages: spec.max_messages,
                    };
                    let handle = spawn_move(st, policy, c.clone(), req, rate, initial);
                    st.memory.insert_move(&key, handle);
                }
            }
        }
    }
    if let Some(e) = &decision.event {
        st.base.event(policy, e.warning(), e.reason(), "Redrive", e.note().to_string()).await;
    }
    decision.status
}

/// One Event per redrive that reached a final phase.
pub async fn announce_finished(
    ctx: &Context,
    policy: &DlqPolicy,
    prev: Option<&RedriveStatus>,
    now: Option<&RedriveStatus>,
) {
    if let Some(e) = redrive::finished_event(prev, now) {
        ctx.event(policy, e.warning(), e.reason(), "Redrive", e.note().to_string()).await;
    }
}

fn spawn_move(
    st: &Arc<DlqContext>,
    policy: &DlqPolicy,
    client: Arc<ClusterClient>,
    req: MoveRequest,
    rate: u32,
    initial: MoveProgress,
) -> MoveHandle {
    let control = Arc::new(MoveControl::new(rate));
    let progress = Arc::new(Mutex::new(initial));
    let wake = st.wake.clone();
    let me = ObjectRef::from_obj(policy);
    let id = req.id.clone();
    let (control2, progress2, metrics) = (control.clone(), progress.clone(), st.base.metrics.clone());
    let join = tokio::spawn(async move {
        let rt = tokio::runtime::Handle::current();
        let (progress3, wake3, me3) = (progress2.clone(), wake.clone(), me.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            let mut last_wake: Option<Instant> = None;
            let mut last_moved: Option<i64> = None;
            let mut report = |p: &MoveProgress| {
                if let Some(prev) = last_moved {
                    let moved_now = (p.moved - prev).max(0) as u64;
                    metrics.dlq_redriven_records.get_or_create(&KindLabels { kind: "DlqPolicy" }).inc_by(moved_now);
                }
                last_moved = Some(p.moved);
                *lock(&progress3) = p.clone();
                if last_wake.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL) {
                    last_wake = Some(Instant::now());
                    let _ = wake3.send(me3.clone());
                }
            };
            let out = coordinator::run_move(&client, &rt, &req, &control2, &mut report);
            report(&out);
            out
        })
        .await;
        let final_progress = match outcome {
            Ok(p) => p,
            Err(e) => MoveProgress {
                phase: MovePhase::Failed,
                moved: lock(&progress2).moved,
                total: None,
                started_ms: now_ms(),
                finished_ms: Some(now_ms()),
                message: Some(format!("the redrive task failed: {e}")),
            },
        };
        *lock(&progress2) = final_progress;
        let _ = wake.send(me);
    });
    MoveHandle { id, control, progress, join }
}

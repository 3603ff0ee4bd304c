//! The steps of a declarative offset reset, pure: one transition per call of [`step`], from what the controller
//! observed; the controller carries out the step's action, feeds back what it learnt, and calls again until
//! nothing changes.
//!
//! ```text
//!   new id ─▶ Pending ─┬─ scale target: read its replicas, scale it to 0 ─▶ WaitingForEmptyGroup ─┐ group empty
//!                      ├─ no target, group empty ─────────────────────────────────────────────────┴─▶ Resetting
//!                      └─ no target, members the operator does not control ─▶ Refused                  │
//!                                                      write the offsets, scale the target back (if any) ▼
//!                                                                                                Done | Failed
//! ```
//!
//! A reset that finds members again while `Resetting` goes back to `WaitingForEmptyGroup`. The final phases never
//! change under the same id.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::consumer_group::{OffsetReset, OffsetResetPhase, OffsetResetStatus};

/// What the controller knows when it calls [`step`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The Kafka group id.
    pub group: String,
    /// Members of the group now.
    pub members: i32,
    /// The workload the operator scales (`spec.autoscaling.targetRef`), as named in messages (`Deployment web`).
    pub target: Option<String>,
    /// The target's replicas, once read ([`Action::ReadReplicas`]).
    pub replicas: Option<i32>,
    /// How the offset write went, once done ([`Action::WriteOffsets`]): partitions moved, or why not.
    pub written: Option<Result<usize, String>>,
    pub now: Timestamp,
}

/// What the controller carries out before calling [`step`] again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read the target's replicas into [`Facts::replicas`] (0 when it has no `/scale`).
    ReadReplicas,
    /// Scale the target to this many replicas.
    ScaleTo(i32),
    /// Write the group's offsets and put the outcome in [`Facts::written`].
    WriteOffsets,
}

/// An Event about the reset, published once the step's action is carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResetEvent {
    ScaledDown(String),
    Reset(String),
    Refused(String),
    Failed(String),
}

impl ResetEvent {
    /// The Event's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ResetEvent::ScaledDown(_) | ResetEvent::Reset(_) => "OffsetReset",
            ResetEvent::Refused(_) => "OffsetResetRefused",
            ResetEvent::Failed(_) => "OffsetResetFailed",
        }
    }

    /// The Event's action.
    pub fn action(&self) -> &'static str {
        match self {
            ResetEvent::ScaledDown(_) => "Scale",
            _ => "Reset",
        }
    }

    pub fn warning(&self) -> bool {
        matches!(self, ResetEvent::Refused(_) | ResetEvent::Failed(_))
    }

    pub fn note(&self) -> &str {
        match self {
            ResetEvent::ScaledDown(n) | ResetEvent::Reset(n) | ResetEvent::Refused(n) | ResetEvent::Failed(n) => n,
        }
    }
}

/// One transition: the next status, what to do, and what to announce.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub status: OffsetResetStatus,
    pub action: Option<Action>,
    pub event: Option<ResetEvent>,
}

impl Step {
    /// Nothing changes any more: the controller stops calling [`step`].
    pub fn settled(&self, before: Option<&OffsetResetStatus>) -> bool {
        self.action.is_none() && self.event.is_none() && before == Some(&self.status)
    }
}

/// The next step of the reset `spec` from `prev` (the status written last, or reached in this reconcile).
pub fn step(spec: &OffsetReset, prev: Option<&OffsetResetStatus>, facts: &Facts) -> Step {
    let Some(prev) = prev.filter(|p| p.id == spec.id) else {
        let status = OffsetResetStatus {
            id: spec.id.clone(),
            phase: OffsetResetPhase::Pending,
            started_at: Some(Time(facts.now)),
            ..Default::default()
        };
        return Step { status, action: None, event: None };
    };
    let mut st = prev.clone();
    let (mut action, mut event) = (None, None);
    let finish = |st: &mut OffsetResetStatus, phase, message: String| {
        st.phase = phase;
        st.message = Some(message);
        st.finished_at = Some(Time(facts.now));
    };
    match st.phase {
        OffsetResetPhase::Done | OffsetResetPhase::Refused | OffsetResetPhase::Failed => {}
        OffsetResetPhase::Pending => match (&facts.target, facts.replicas) {
            (Some(_), None) => action = Some(Action::ReadReplicas),
            (Some(target), Some(current)) => {
                st.saved_replicas = Some(current);
                st.phase = OffsetResetPhase::WaitingForEmptyGroup;
                st.message = Some(format!("scaled {target} to 0; waiting for the group to be empty"));
                if current > 0 {
                    action = Some(Action::ScaleTo(0));
                    event = Some(ResetEvent::ScaledDown(format!(
                        "offset reset {}: scaled {target} from {current} to 0",
                        spec.id
                    )));
                }
            }
            (None, _) if facts.members > 0 => {
                let message = format!(
                    "group {:?} has {} member(s) the operator does not control (no spec.autoscaling.targetRef): \
                     stop them first; nothing was changed",
                    facts.group, facts.members
                );
                event = Some(ResetEvent::Refused(message.clone()));
                finish(&mut st, OffsetResetPhase::Refused, message);
            }
            (None, _) => st.phase = OffsetResetPhase::Resetting,
        },
        OffsetResetPhase::WaitingForEmptyGroup => {
            if facts.members == 0 {
                st.phase = OffsetResetPhase::Resetting;
            }
        }
        OffsetResetPhase::Resetting => match &facts.written {
            _ if facts.members > 0 => st.phase = OffsetResetPhase::WaitingForEmptyGroup,
            None => action = Some(Action::WriteOffsets),
            Some(outcome) => {
                let (phase, message) = match outcome {
                    Ok(n) => {
                        event = Some(ResetEvent::Reset(format!(
                            "offset reset {}: {n} partition(s) moved ({:?})",
                            spec.id, spec.to
                        )));
                        (OffsetResetPhase::Done, format!("{n} partition(s) reset to {:?}", spec.to))
                    }
                    Err(why) => {
                        event = Some(ResetEvent::Failed(why.clone()));
                        (OffsetResetPhase::Failed, format!("failed: {why}"))
                    }
                };
                match &facts.target {
                    Some(_) => {
                        let saved = st.saved_replicas.unwrap_or(0);
                        action = Some(Action::ScaleTo(saved));
                        finish(&mut st, phase, format!("{message}; replicas restored to {saved}"));
                    }
                    None => finish(&mut st, phase, message),
                }
            }
        },
    }
    Step { status: st, action, event }
}

#[cfg(test)]
mod tests;

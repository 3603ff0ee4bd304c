//! The redrive state machine, pure: from the policy's spec, the redrive status written last and what the
//! controller observed (the move this operator runs, the connection, the dead-letter topic, the destination), the
//! next status and what the controller must do about it.
//!
//! ```text
//!            spec.redrive.id set
//!   (none) ─────────────────────▶ Pending ──(connected, DLT ready, destination allowed and present)──▶ Running
//!                                  │  ▲                                                                  │
//!           destination not allowed│  │ allowed now / created                               the move ends │
//!                                  ▼  │                                                                  ▼
//!                                 Refused                                           Completed | Cancelled | Failed
//! ```
//!
//! Clearing `spec.redrive` cancels a Pending or Running redrive. A new id waits for a running move to finish. The
//! final phases never change again under the same id; `Refused` is looked at again on every reconcile.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::dlq_policy::{DlqPolicySpec, RedrivePhase, RedriveSpec, RedriveStatus};
use crate::decisions::dlq::moves::{Allowed, MovePhase, MoveProgress};

/// A status time: whole seconds, as the API server stores them (anything finer would differ after a round trip
/// and cause a write at every poll).
pub fn time_of(ms: i64) -> Option<Time> {
    Timestamp::from_second(ms.div_euclid(1000)).ok().map(Time)
}

/// The status of move `id` at `progress`.
pub fn status_of(id: &str, progress: &MoveProgress) -> RedriveStatus {
    RedriveStatus {
        id: id.to_string(),
        phase: progress.phase.into(),
        moved: progress.moved,
        total: progress.total,
        started_at: time_of(progress.started_ms),
        finished_at: progress.finished_ms.and_then(time_of),
        message: progress.message.clone(),
    }
}

/// The move this operator runs for the policy, as seen now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveMove {
    pub id: String,
    pub progress: MoveProgress,
    /// Its task ended: `progress` is final.
    pub finished: bool,
}

/// What Kafka said about `spec.redrive.destination`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Destination {
    /// Not asked (yet): [`decide`] answers [`Step::CheckDestination`] when it needs to know.
    #[default]
    Unchecked,
    Exists,
    Missing,
    /// Kafka could not say (the error).
    Unreachable(String),
}

/// What the controller observed before deciding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed<'a> {
    pub live: Option<&'a LiveMove>,
    /// The policy's connection is ready.
    pub connected: bool,
    /// The dead-letter topic's Kafka name (empty when the spec generates no topics).
    pub dead_letter: &'a str,
    /// Its child `Topic` is ready.
    pub dead_letter_ready: bool,
    pub destination: Destination,
    pub now_ms: i64,
}

/// What the controller carries out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Set the live move's rate limit (records per second, 0: none).
    SetRate(u32),
    /// Drop the finished live move.
    Forget,
    /// Stop the live move for good.
    Cancel,
    /// Fence the transactional ids of a move no operator runs any more (it was cancelled while none ran), so its
    /// open transactions abort now rather than at their time-out.
    Fence,
    /// Start (or resume) the move of `spec.redrive` at `rate`, reporting from `initial`.
    Start { rate: u32, initial: MoveProgress },
}

/// An Event about the redrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedriveEvent {
    Started(String),
    Refused(String),
    Completed(String),
    Cancelled(String),
    Failed(String),
}

impl RedriveEvent {
    /// The Event's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            RedriveEvent::Started(_) => "RedriveStarted",
            RedriveEvent::Refused(_) => "RedriveRefused",
            RedriveEvent::Completed(_) => "RedriveCompleted",
            RedriveEvent::Cancelled(_) => "RedriveCancelled",
            RedriveEvent::Failed(_) => "RedriveFailed",
        }
    }

    pub fn warning(&self) -> bool {
        matches!(self, RedriveEvent::Refused(_) | RedriveEvent::Failed(_))
    }

    pub fn note(&self) -> &str {
        match self {
            RedriveEvent::Started(n)
            | RedriveEvent::Refused(n)
            | RedriveEvent::Completed(n)
            | RedriveEvent::Cancelled(n)
            | RedriveEvent::Failed(n) => n,
        }
    }
}

/// The decision: the redrive part of the status, and what to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub status: Option<RedriveStatus>,
    pub commands: Vec<Command>,
    pub event: Option<RedriveEvent>,
}

/// What [`decide`] answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Ask Kafka whether this destination topic exists, and decide again with the answer.
    CheckDestination(String),
    Decided(Decision),
}

/// The rate limit of a redrive spec (negative values mean none, as 0).
pub fn rate_of(spec: &RedriveSpec) -> u32 {
    spec.max_per_second.max(0) as u32
}

/// Why a redrive cannot start now (`Pending`), or may never (`Refused`).
enum Hold {
    Pending(String),
    Refused(String),
}

/// Decides the redrive part of the status: follows, cancels or forgets the live move, cancels a redrive whose spec
/// was cleared, holds a redrive that cannot start, or starts (resumes) one.
pub fn decide(policy: &DlqPolicySpec, prev: Option<&RedriveStatus>, seen: &Observed<'_>) -> Step {
    let spec = policy.redrive.as_ref();
    let mut commands = vec![];
    let decided = |status, commands, event| Step::Decided(Decision { status, commands, event });
    if let Some(live) = seen.live {
        let mut shown = status_of(&live.id, &live.progress);
        match spec {
            Some(s) if s.id == live.id => {
                commands.push(Command::SetRate(rate_of(s)));
                if live.finished {
                    commands.push(Command::Forget);
                }
                return decided(Some(shown), commands, None);
            }
            Some(s) if !live.finished => {
                shown.message = Some(format!("redrive {:?} waits for this move to finish", s.id));
                return decided(Some(shown), commands, None);
            }
            None if !live.finished => {
                shown.message = Some("cancelling".into());
                return decided(Some(shown), vec![Command::Cancel], None);
            }
            None => return decided(Some(shown), vec![Command::Forget], None),
            // Finished, and the spec asks for another id: decide on that one below.
            Some(_) => commands.push(Command::Forget),
        }
    }
    let Some(spec) = spec else {
        return match prev {
            Some(p) if matches!(p.phase, RedrivePhase::Running | RedrivePhase::Pending) => {
                // A move of an operator that died, then cancelled: abort its open transaction now.
                if seen.connected {
                    commands.push(Command::Fence);
                }
                let cancelled = RedriveStatus {
                    phase: RedrivePhase::Cancelled,
                    finished_at: time_of(seen.now_ms),
                    message: Some("cancelled: spec.redrive was cleared".into()),
                    ..p.clone()
                };
                decided(Some(cancelled), commands, None)
            }
            other => decided(other.cloned(), commands, None),
        };
    };
    let same = prev.filter(|p| p.id == spec.id);
    if let Some(p) = same
        && p.phase.is_terminal()
    {
        return decided(Some(p.clone()), commands, None);
    }
    let dlt = seen.dead_letter;
    let allowed = Allowed {
        source: policy.source_topic.clone(),
        extra: policy.allowed_redrive_topics.clone(),
        dead_letter: dlt.to_string(),
    };
    let hold = if !seen.connected {
        Some(Hold::Pending("waiting for the connection".into()))
    } else if !seen.dead_letter_ready {
        Some(Hold::Pending(format!("waiting for the dead-letter topic {dlt:?}")))
    } else if let Some(dest) = &spec.destination {
        match allowed.check(dest) {
            Err(why) => Some(Hold::Refused(format!("destination {why}"))),
            Ok(()) => match &seen.destination {
                Destination::Unchecked => return Step::CheckDestination(dest.clone()),
                Destination::Exists => None,
                Destination::Missing => Some(Hold::Refused(format!("destination topic {dest:?} does not exist"))),
                Destination::Unreachable(e) => {
                    Some(Hold::Pending(format!("cannot check destination topic {dest:?}: {e}")))
                }
            },
        }
    } else {
        None
    };
    if let Some(hold) = hold {
        let (phase, message) = match hold {
            Hold::Pending(m) => (RedrivePhase::Pending, m),
            Hold::Refused(m) => (RedrivePhase::Refused, m),
        };
        let newly_refused = phase == RedrivePhase::Refused && same.is_none_or(|p| p.phase != RedrivePhase::Refused);
        let event = newly_refused.then(|| RedriveEvent::Refused(format!("redrive {}: {message}", spec.id)));
        let status = RedriveStatus {
            id: spec.id.clone(),
            phase,
            moved: same.map_or(0, |p| p.moved),
            total: None,
            started_at: None,
            finished_at: None,
            message: Some(message),
        };
        return decided(Some(status), commands, event);
    }
    let initial = MoveProgress {
        phase: MovePhase::Running,
        moved: same.map_or(0, |p| p.moved),
        total: same.and_then(|p| p.total),
        started_ms: same.and_then(|p| p.started_at.as_ref()).map_or(seen.now_ms, |t| t.0.as_millisecond()),
        finished_ms: None,
        message: None,
    };
    let resuming = same.is_some_and(|p| p.phase == RedrivePhase::Running);
    let note = if resuming {
        format!("redrive {} resumed", spec.id)
    } else {
        let to = spec.destination.as_deref().map_or("each record's original topic".to_string(), |d| format!("{d:?}"));
        let rate = match spec.max_per_second {
            0 => "no rate limit".to_string(),
            r => format!("at most {r}/s"),
        };
        format!("redrive {} started: {dlt:?} → {to}, {rate}", spec.id)
    };
    let status = status_of(&spec.id, &initial);
    commands.push(Command::Start { rate: rate_of(spec), initial });
    decided(Some(status), commands, Some(RedriveEvent::Started(note)))
}

/// The Event of a redrive that reached a final phase since `prev` (one per transition).
pub fn finished_event(prev: Option<&RedriveStatus>, now: Option<&RedriveStatus>) -> Option<RedriveEvent> {
    let now = now?;
    if prev.is_some_and(|p| p.id == now.id && p.phase == now.phase) || !now.phase.is_terminal() {
        return None;
    }
    let mut note =
        format!("redrive {}: {} after moving {} record(s)", now.id, now.phase.as_str().to_lowercase(), now.moved);
    if let Some(m) = &now.message {
        note.push_str(": ");
        note.push_str(m);
    }
    Some(match now.phase {
        RedrivePhase::Completed => RedriveEvent::Completed(note),
        RedrivePhase::Cancelled => RedriveEvent::Cancelled(note),
        _ => RedriveEvent::Failed(note),
    })
}

#[cfg(test)]
mod tests;

//! Condition helpers following the Kubernetes API conventions.
//!
//! `lastTransitionTime` moves only when a condition's status changes, so writing the same conditions twice yields
//! the same status and no write is needed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";

/// The longest condition message Kubernetes takes (`metav1.Condition`'s `maxLength`).
pub const MAX_MESSAGE_BYTES: usize = 32768;

/// `text` cut to at most `max` bytes at a character boundary, ending in `…` when cut: a message that quotes user
/// input (a megabyte-long value) still fits a condition or an Event note.
pub fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The status string of a condition.
pub fn status_str(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Builds a condition; `lastTransitionTime` is filled in by [`set_condition`].
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: status_str(status).to_string(),
        reason: reason.to_string(),
        message: bounded(message.into(), MAX_MESSAGE_BYTES),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
    }
}

/// Puts `new` into `conditions`, keeping the previous `lastTransitionTime` when the status did not change.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: Timestamp) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            new.last_transition_time =
                if existing.status == new.status { existing.last_transition_time.clone() } else { Time(now) };
            *existing = new;
        }
        None => {
            new.last_transition_time = Time(now);
            conditions.push(new);
        }
    }
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition exists with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

/// A status with conditions, so one [`Draft`] serves every controller.
pub trait HasConditions {
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
}

/// A status under construction: every condition set through it carries the resource's generation and one clock
/// reading, and starts from the current status so `lastTransitionTime`s carry over.
pub struct Draft<S> {
    pub status: S,
    pub generation: Option<i64>,
    pub now: Timestamp,
}

impl<S: HasConditions> Draft<S> {
    pub fn new(status: S, generation: Option<i64>) -> Draft<S> {
        Draft { status, generation, now: Timestamp::now() }
    }

    pub fn set(&mut self, type_: &str, ok: bool, reason: &str, message: impl Into<String>) {
        let c = condition(type_, ok, reason, message, self.generation);
        set_condition(self.status.conditions_mut(), c, self.now);
    }

    pub fn drop_condition(&mut self, type_: &str) {
        self.status.conditions_mut().retain(|c| c.type_ != type_);
    }

    pub fn not_ready(&mut self, reason: &str, message: impl Into<String>) {
        self.set(READY, false, reason, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut conds = vec![];
        set_condition(&mut conds, condition(READY, false, "Connecting", "waiting", Some(1)), at(10));
        assert_eq!(conds[0].last_transition_time.0, at(10));
        // Same status, new reason: time stays.
        set_condition(&mut conds, condition(READY, false, "KafkaError", "down", Some(2)), at(20));
        assert_eq!(conds[0].last_transition_time.0, at(10));
        assert_eq!(conds[0].reason, "KafkaError");
        assert_eq!(conds[0].observed_generation, Some(2));
        // Status flips: time moves.
        set_condition(&mut conds, condition(READY, true, "Ready", "ok", Some(2)), at(30));
        assert_eq!(conds[0].last_transition_time.0, at(30));
        assert!(is_true(&conds, READY));
        assert_eq!(conds.len(), 1);
    }

    #[test]
    fn messages_are_bounded_at_a_character_boundary() {
        assert_eq!(bounded("short".into(), 10), "short");
        let long = "é".repeat(40_000);
        let cut = condition("Ready", false, "InvalidConfig", long, Some(1)).message;
        assert!(cut.len() <= MAX_MESSAGE_BYTES && cut.ends_with('…'), "{}", cut.len());
        assert_eq!(bounded("abcdef".into(), 5), "ab…");
    }
}

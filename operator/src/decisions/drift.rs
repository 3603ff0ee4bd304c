//! What a topic's status says about config drift, and what the correction's Event says. Pure.
//!
//! Under `Enforce` a drift is put back at once, so "Kafka differs now" is true only for an instant: what a user
//! needs to audit is the last correction — which keys, the value found, the value set, and when. It stays in
//! `status.drift` (with `status.driftCorrectedTime`) until the next change: a new drift, which replaces it, or a
//! new spec generation, after which it no longer describes the spec in force. Under `Observe` and `CreateOnly`
//! Kafka is never written, so `status.drift` is the drift now.
//!
//! The rule is the same for every kind that corrects drift; [`DriftItem`] is what one entry of drift must say of
//! itself (a topic's config key, a user's ACL binding).

use crate::api::common::ManagementPolicy;
use crate::api::topic::ConfigDrift;

/// One entry of drift, as the messages tell it.
pub trait DriftItem: Clone {
    /// What Kafka had, e.g. `retention.ms=999999`.
    fn found(&self) -> String;
    /// What was set back, e.g. `retention.ms=3600000`.
    fn set(&self) -> String;
}

impl DriftItem for ConfigDrift {
    fn found(&self) -> String {
        match (&self.actual, &self.desired) {
            (Some(v), Some(_)) => format!("{}={v}", self.key),
            (Some(v), None) => format!("{}={v} (not in the spec)", self.key),
            (None, _) => format!("no {} override", self.key),
        }
    }

    fn set(&self) -> String {
        match &self.desired {
            Some(v) => format!("{}={v}", self.key),
            None => format!("{} removed", self.key),
        }
    }
}

/// The `Drifted` condition's status and reason, and `status.drift` / `status.driftCorrectedTime` (milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftReport<D = ConfigDrift> {
    pub drifted: bool,
    pub reason: &'static str,
    pub message: String,
    pub drift: Vec<D>,
    pub corrected_at_ms: Option<i64>,
}

/// What this reconcile saw and did.
#[derive(Debug)]
pub struct DriftSeen<'a, D = ConfigDrift> {
    pub policy: ManagementPolicy,
    /// Entries that differed from the spec, as observed before any correction.
    pub found: &'a [D],
    /// The correction of `found` was carried out by this reconcile.
    pub corrected: bool,
    /// The last correction in the current status, when there is one.
    pub previous: Option<(&'a [D], i64)>,
    /// The spec's generation moved since the status was written.
    pub spec_changed: bool,
    pub now_ms: i64,
}

// By hand: the derives would ask `D: Copy`, and only references to `D` are held.
impl<D> Clone for DriftSeen<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<D> Copy for DriftSeen<'_, D> {}

/// The report for what was seen.
pub fn report<D: DriftItem>(seen: DriftSeen<'_, D>) -> DriftReport<D> {
    if seen.found.is_empty() {
        return match seen.previous.filter(|_| !seen.spec_changed) {
            Some((drift, at)) => corrected(drift.to_vec(), at),
            None => DriftReport {
                drifted: false,
                reason: "InSync",
                message: "Kafka matches the spec".into(),
                drift: vec![],
                corrected_at_ms: None,
            },
        };
    }
    if seen.corrected {
        return corrected(seen.found.to_vec(), seen.now_ms);
    }
    let why = match seen.policy {
        ManagementPolicy::Observe => "left alone (managementPolicy Observe)",
        ManagementPolicy::CreateOnly => "left alone (managementPolicy CreateOnly)",
        ManagementPolicy::Enforce => "not corrected yet (see the Ready condition)",
    };
    DriftReport {
        drifted: true,
        reason: "DriftObserved",
        message: format!("Kafka differs from the spec: {}; {why}", found_values(seen.found)),
        drift: seen.found.to_vec(),
        corrected_at_ms: None,
    }
}

fn corrected<D: DriftItem>(drift: Vec<D>, at_ms: i64) -> DriftReport<D> {
    DriftReport {
        drifted: false,
        reason: "DriftCorrected",
        message: format!(
            "Kafka had {}; set back to the spec ({}; see status.driftCorrectedTime)",
            found_values(&drift),
            set_values(&drift)
        ),
        drift,
        corrected_at_ms: Some(at_ms),
    }
}

/// The `DriftCorrected` Event's note: every key with the value found and the value set.
pub fn correction_note(drift: &[ConfigDrift]) -> String {
    let parts: Vec<String> = drift
        .iter()
        .map(|d| {
            let found = d.actual.as_deref().unwrap_or("(no override)");
            match &d.desired {
                Some(set) => format!("{}={set} (found {found})", d.key),
                None => format!("{} (override {found} removed)", d.key),
            }
        })
        .collect();
    format!("config set: {}", parts.join(", "))
}

fn found_values<D: DriftItem>(drift: &[D]) -> String {
    drift.iter().map(D::found).collect::<Vec<_>>().join(", ")
}

fn set_values<D: DriftItem>(drift: &[D]) -> String {
    drift.iter().map(D::set).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(key: &str, desired: Option<&str>, actual: Option<&str>) -> ConfigDrift {
        ConfigDrift { key: key.into(), desired: desired.map(Into::into), actual: actual.map(Into::into) }
    }

    #[test]
    fn every_case_of_the_report() {
        use ManagementPolicy::{CreateOnly, Enforce, Observe};
        let retention = [d("retention.ms", Some("3600000"), Some("999999"))];
        let earlier = [d("max.message.bytes", None, Some("2000000"))];
        let now = 5_000;
        // (policy, found, corrected, previous, spec changed) → (drifted, reason, drift listed, corrected at)
        type Row<'a> = (
            ManagementPolicy,
            &'a [ConfigDrift],
            bool,
            Option<(&'a [ConfigDrift], i64)>,
            bool,
            (bool, &'static str, &'a [ConfigDrift], Option<i64>),
        );
        let table: Vec<Row<'_>> = vec![
            // Nothing found, nothing remembered: in sync.
            (Enforce, &[], false, None, false, (false, "InSync", &[], None)),
            (Observe, &[], false, None, false, (false, "InSync", &[], None)),
            // Enforce corrects: the correction is listed with its time.
            (Enforce, &retention, true, None, false, (false, "DriftCorrected", &retention, Some(now))),
            // ...and stays listed on the next reconciles, which find nothing...
            (Enforce, &[], false, Some((&retention, 1_000)), false, (false, "DriftCorrected", &retention, Some(1_000))),
            // ...until a new correction replaces it...
            (Enforce, &earlier, true, Some((&retention, 1_000)), false, (false, "DriftCorrected", &earlier, Some(now))),
            // ...or the spec changes.
            (Enforce, &[], false, Some((&retention, 1_000)), true, (false, "InSync", &[], None)),
            // Enforce that could not correct (another problem held the reconcile): the drift is current.
            (Enforce, &retention, false, None, false, (true, "DriftObserved", &retention, None)),
            // Observe and CreateOnly never write: the drift is current, and goes when Kafka matches again.
            (Observe, &retention, false, None, false, (true, "DriftObserved", &retention, None)),
            (CreateOnly, &earlier, false, None, false, (true, "DriftObserved", &earlier, None)),
            (Observe, &[], false, None, true, (false, "InSync", &[], None)),
        ];
        for (i, (policy, found, corrected, previous, spec_changed, want)) in table.into_iter().enumerate() {
            let r = report(DriftSeen { policy, found, corrected, previous, spec_changed, now_ms: now });
            let got = (r.drifted, r.reason, r.drift.as_slice(), r.corrected_at_ms);
            assert_eq!(got, want, "row {i}: {r:?}");
        }
    }

    #[test]
    fn the_messages_name_the_value_found_and_the_value_set() {
        let drift = [d("retention.ms", Some("3600000"), Some("999999")), d("max.message.bytes", None, Some("2000000"))];
        let note = correction_note(&drift);
        assert_eq!(
            note,
            "config set: retention.ms=3600000 (found 999999), max.message.bytes (override 2000000 removed)"
        );
        let seen = DriftSeen {
            policy: ManagementPolicy::Enforce,
            found: &drift,
            corrected: true,
            previous: None,
            spec_changed: false,
            now_ms: 1,
        };
        let r = report(seen);
        assert!(r.message.contains("retention.ms=999999") && r.message.contains("retention.ms=3600000"), "{r:?}");
        assert!(r.message.contains("max.message.bytes=2000000 (not in the spec)"), "{r:?}");
        let observed = report(DriftSeen { policy: ManagementPolicy::Observe, corrected: false, ..seen });
        assert!(observed.message.contains("left alone (managementPolicy Observe)"), "{observed:?}");
    }
}

//! What deleting a `Topic` resource does to its Kafka topic. Pure: the controller gathers the facts (asking Kafka
//! for the topic's readers only when the answer matters) and carries out the verdict.
//!
//! The rule errs towards keeping data: a topic is deleted only when its policies say so, the connection allows it,
//! it is not paused, it is the rightful owner of its Kafka name, and no consumer group with members reads it
//! (unless forced).

use crate::api::common::{DeletionPolicy, ManagementPolicy};

use super::problem::Problem;

/// What is known when a `Topic` is being deleted.
#[derive(Clone, Debug)]
pub struct DeletionFacts<'a> {
    pub kafka_name: &'a str,
    pub deletion_policy: DeletionPolicy,
    pub management_policy: ManagementPolicy,
    /// Another `Topic` owns the same Kafka name.
    pub conflicting: bool,
    pub paused: bool,
    pub forced: bool,
    /// The connection's `policy.allowTopicDeletion`, or why the connection cannot be used.
    pub connection: Result<bool, &'a Problem>,
    /// Consumer groups with members and committed offsets on the topic; `None` until asked.
    pub readers: Option<&'a [String]>,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// Release the resource and leave the Kafka topic; the Event (reason, note, warning) says why, if anything.
    Keep(Option<(&'static str, String, bool)>),
    /// Hold the resource (finalizer stays) and report the problem; try again later.
    Hold(Problem),
    /// Ask Kafka which groups read the topic, then decide again.
    AskReaders,
    /// Delete the Kafka topic.
    Delete,
}

/// The verdict for the facts.
pub fn decide(f: &DeletionFacts<'_>) -> Deletion {
    let name = f.kafka_name;
    if f.conflicting {
        // A conflicting resource never deletes anything.
        return Deletion::Keep(None);
    }
    if f.deletion_policy == DeletionPolicy::Retain || f.management_policy == ManagementPolicy::Observe {
        let note = format!("Kafka topic {name:?} retained (deletionPolicy Retain)");
        return Deletion::Keep(Some(("Retained", note, false)));
    }
    if f.paused {
        return Deletion::Hold(Problem::new("Paused", "paused: the Kafka topic is not deleted while paused"));
    }
    let allowed = match f.connection {
        Ok(allowed) => allowed,
        // Nothing can be deleted without a connection; holding the finalizer would trap the namespace.
        Err(p) if p.reason == "ConnectionNotFound" || p.reason == "NoConnection" => {
            let note = format!("{}: Kafka topic {name:?} left in place", p.message);
            return Deletion::Keep(Some(("DeletionSkipped", note, true)));
        }
        Err(p) => return Deletion::Hold(p.clone()),
    };
    if !allowed {
        let note = format!("the connection's policy.allowTopicDeletion is false: Kafka topic {name:?} left in place");
        return Deletion::Keep(Some(("DeletionNotAllowed", note, true)));
    }
    if f.forced {
        return Deletion::Delete;
    }
    match f.readers {
        None => Deletion::AskReaders,
        Some([]) => Deletion::Delete,
        Some(readers) => Deletion::Hold(Problem::new(
            "InUse",
            format!(
                "not deleting Kafka topic {name:?}: consumer group(s) {} have members and committed offsets on it (annotate {}=true to force)",
                readers.join(", "),
                crate::api::FORCE_DELETE_ANNOTATION
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_a_deletion_can_go() {
        use DeletionPolicy::{Delete as Del, Retain};
        use ManagementPolicy::{CreateOnly, Enforce, Observe};
        let missing = Problem::new("ConnectionNotFound", "KafkaConnection ns/main does not exist");
        let unready = Problem::new("ConnectionNotReady", "KafkaConnection ns/main is not ready");
        let (none, one) = (Vec::<String>::new(), vec!["billing".to_string()]);
        let base = DeletionFacts {
            kafka_name: "orders",
            deletion_policy: Del,
            management_policy: Enforce,
            conflicting: false,
            paused: false,
            forced: false,
            connection: Ok(true),
            readers: None,
        };
        // (what differs from `base`) → the verdict's kind and reason
        let table: Vec<(&str, DeletionFacts<'_>, &str, &str)> = vec![
            ("conflict", DeletionFacts { conflicting: true, ..base.clone() }, "Keep", ""),
            ("retain", DeletionFacts { deletion_policy: Retain, ..base.clone() }, "Keep", "Retained"),
            ("observe", DeletionFacts { management_policy: Observe, ..base.clone() }, "Keep", "Retained"),
            ("paused", DeletionFacts { paused: true, ..base.clone() }, "Hold", "Paused"),
            ("no connection", DeletionFacts { connection: Err(&missing), ..base.clone() }, "Keep", "DeletionSkipped"),
            ("unready", DeletionFacts { connection: Err(&unready), ..base.clone() }, "Hold", "ConnectionNotReady"),
            ("not allowed", DeletionFacts { connection: Ok(false), ..base.clone() }, "Keep", "DeletionNotAllowed"),
            ("readers unknown", base.clone(), "AskReaders", ""),
            ("no readers", DeletionFacts { readers: Some(&none), ..base.clone() }, "Delete", ""),
            ("read", DeletionFacts { readers: Some(&one), ..base.clone() }, "Hold", "InUse"),
            ("read, forced", DeletionFacts { readers: Some(&one), forced: true, ..base.clone() }, "Delete", ""),
            ("forced, unasked", DeletionFacts { forced: true, ..base.clone() }, "Delete", ""),
            (
                "create-only",
                DeletionFacts { management_policy: CreateOnly, readers: Some(&none), ..base.clone() },
                "Delete",
                "",
            ),
            // Retain wins over everything after it, even a pause or a missing connection.
            (
                "retain, paused",
                DeletionFacts { deletion_policy: Retain, paused: true, ..base.clone() },
                "Keep",
                "Retained",
            ),
            // A conflict wins over a force.
            ("conflict, forced", DeletionFacts { conflicting: true, forced: true, ..base.clone() }, "Keep", ""),
        ];
        for (row, facts, kind, reason) in table {
            let got = match decide(&facts) {
                Deletion::Keep(None) => ("Keep", ""),
                Deletion::Keep(Some((r, _, _))) => ("Keep", r),
                Deletion::Hold(p) => ("Hold", p.reason),
                Deletion::AskReaders => ("AskReaders", ""),
                Deletion::Delete => ("Delete", ""),
            };
            assert_eq!(got, (kind, reason), "{row}");
        }
    }

    #[test]
    fn a_held_deletion_names_the_readers_and_how_to_force() {
        let readers = vec!["billing".to_string(), "audit".to_string()];
        let facts = DeletionFacts {
            kafka_name: "orders",
            deletion_policy: DeletionPolicy::Delete,
            management_policy: ManagementPolicy::Enforce,
            conflicting: false,
            paused: false,
            forced: false,
            connection: Ok(true),
            readers: Some(&readers),
        };
        let Deletion::Hold(p) = decide(&facts) else { panic!("held") };
        assert!(p.message.contains("billing, audit") && p.message.contains("force-delete"), "{p}");
    }
}

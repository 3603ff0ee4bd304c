//! One way to read the conditions of any object that has them: the Tributary kinds, and the Kubernetes objects the
//! tests look at (CRDs, pods, nodes), each with a condition type of its own.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use tributary::api::{ConsumerGroup, DlqPolicy, KafkaConnection, KafkaUser, Schema, Topic};

/// One condition, whatever the object's own condition type (an absent reason or message reads as "").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cond {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// An object with `status.conditions`.
pub trait Conditions {
    /// Every condition of the object; none while it has no status.
    fn conditions(&self) -> Vec<Cond>;

    /// The condition of type `type_`.
    fn condition(&self, type_: &str) -> Option<Cond> {
        self.conditions().into_iter().find(|c| c.type_ == type_)
    }

    /// Whether the condition `type_` has `status`, and `reason` when one is given.
    fn has_condition(&self, type_: &str, status: &str, reason: Option<&str>) -> bool {
        self.condition(type_).is_some_and(|c| c.status == status && reason.is_none_or(|r| r == c.reason))
    }
}

/// Conditions already read (e.g. what a wait last saw).
impl Conditions for Vec<Cond> {
    fn conditions(&self) -> Vec<Cond> {
        self.clone()
    }
}

impl From<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> for Cond {
    fn from(c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition) -> Cond {
        Cond { type_: c.type_.clone(), status: c.status.clone(), reason: c.reason.clone(), message: c.message.clone() }
    }
}

/// The Tributary kinds: `status.conditions` is a list of `meta/v1` conditions.
macro_rules! tributary_kinds {
    ($($kind:ty),*) => {$(
        impl Conditions for $kind {
            fn conditions(&self) -> Vec<Cond> {
                self.status.iter().flat_map(|s| &s.conditions).map(Cond::from).collect()
            }
        }
    )*};
}

tributary_kinds!(Topic, KafkaConnection, ConsumerGroup, DlqPolicy, KafkaUser, Schema);

/// The built-in kinds: `status.conditions` is optional, as are each condition's reason and message.
macro_rules! builtin_kinds {
    ($($kind:ty),*) => {$(
        impl Conditions for $kind {
            fn conditions(&self) -> Vec<Cond> {
                let all = self.status.as_ref().and_then(|s| s.conditions.as_ref());
                all.into_iter()
                    .flatten()
                    .map(|c| Cond {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                        reason: c.reason.clone().unwrap_or_default(),
                        message: c.message.clone().unwrap_or_default(),
                    })
                    .collect()
            }
        }
    )*};
}

builtin_kinds!(CustomResourceDefinition, Pod, Node);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_conditions_of_a_tributary_kind_and_a_built_in_one() {
        let topic: Topic = serde_json::from_value(serde_json::json!({
            "apiVersion": "tributary.dev/v1alpha1", "kind": "Topic", "metadata": {"name": "t"}, "spec": {},
            "status": {"conditions": [
                {"type": "Ready", "status": "False", "reason": "Conflict", "message": "owned by ns/a",
                 "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
        }))
        .unwrap();
        assert_eq!(topic.condition("Ready").map(|c| c.message), Some("owned by ns/a".to_string()));
        assert!(topic.has_condition("Ready", "False", Some("Conflict")));
        assert!(topic.has_condition("Ready", "False", None));
        assert!(!topic.has_condition("Ready", "False", Some("InUse")));
        assert!(!topic.has_condition("Ready", "True", None));
        assert!(topic.condition("Drifted").is_none());

        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert!(pod.has_condition("Ready", "True", None));
        assert_eq!(pod.condition("Ready").map(|c| c.reason), Some(String::new()));
        assert!(Pod::default().conditions().is_empty());
    }
}

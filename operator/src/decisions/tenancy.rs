//! Tenancy by namespace: how a namespace's resources map to Kafka names under a connection's `spec.tenancy`, and
//! whether a Kafka name (or an ACL's resource pattern) lies inside a namespace's prefix. Pure.
//!
//! The mapping always puts the prefix before the name, even when the name already starts with it: `orders` and
//! `team-a.orders` in namespace `team-a` are `team-a.orders` and `team-a.team-a.orders`. Always prefixing keeps
//! the mapping one-to-one, so two resources never land on one Kafka name. Without a rule, names are as they are.

use crate::api::access::{AclBinding, AclOperation, AclResourceType};
use crate::api::connection::Tenancy;

/// What `{namespace}` stands for in [`Tenancy::prefix`].
pub const NAMESPACE_PLACEHOLDER: &str = "{namespace}";

/// The namespace's prefix under the rule; `None` without a rule.
pub fn prefix(rule: Option<&Tenancy>, namespace: &str) -> Option<String> {
    rule.map(|r| r.prefix.replace(NAMESPACE_PLACEHOLDER, namespace))
}

/// The Kafka name of the resource (topic name, group id, transactional id, user name) `name` in `namespace`.
pub fn kafka_name(rule: Option<&Tenancy>, namespace: &str, name: &str) -> String {
    with_prefix(prefix(rule, namespace).as_deref(), name)
}

/// `name` with the (already resolved) prefix before it.
pub fn with_prefix(prefix: Option<&str>, name: &str) -> String {
    match prefix {
        Some(p) => format!("{p}{name}"),
        None => name.to_string(),
    }
}

/// Whether the Kafka name `kafka_name` belongs to `namespace` under the rule; every name does without one.
pub fn is_inside(rule: Option<&Tenancy>, namespace: &str, kafka_name: &str) -> bool {
    inside(prefix(rule, namespace).as_deref(), kafka_name)
}

/// Whether `kafka_name` starts with the (already resolved) prefix; always true without one.
pub fn inside(prefix: Option<&str>, kafka_name: &str) -> bool {
    prefix.is_none_or(|p| kafka_name.starts_with(p))
}

/// Whether an ACL binding grants (or denies) nothing outside the prefix: a literal name inside it, or a prefixed
/// pattern at least as narrow as it. The wildcard `*` is outside. On the cluster only `IdempotentWrite` is inside:
/// it lets a producer be idempotent and no more, while any other cluster operation reaches every tenant.
pub fn binding_inside(prefix: Option<&str>, binding: &AclBinding) -> bool {
    if prefix.is_none() {
        return true;
    }
    match binding.resource_type {
        AclResourceType::Cluster => binding.operation == AclOperation::IdempotentWrite,
        // A literal name and a prefixed pattern alike are inside when they start with the prefix (a pattern that
        // does matches only names that do); the literal `*` does not.
        _ => inside(prefix, &binding.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str) -> Tenancy {
        Tenancy { prefix: prefix.into() }
    }

    #[test]
    fn names_map_to_the_namespace_prefix() {
        let dot = rule("{namespace}.");
        let kafka = rule("kafka_{namespace}_");
        // (rule, namespace, name) → Kafka name
        let table: [(Option<&Tenancy>, &str, &str, &str); 6] = [
            (None, "team-a", "orders", "orders"),
            (Some(&dot), "team-a", "orders", "team-a.orders"),
            (Some(&dot), "team-b", "orders", "team-b.orders"),
            // Always prefixed, even when the name already starts with the prefix: one-to-one.
            (Some(&dot), "team-a", "team-a.orders", "team-a.team-a.orders"),
            (Some(&kafka), "team-a", "orders", "kafka_team-a_orders"),
            (Some(&dot), "team-a", "", "team-a."),
        ];
        for (i, (rule, ns, name, want)) in table.into_iter().enumerate() {
            assert_eq!(kafka_name(rule, ns, name), want, "row {i}");
            assert!(is_inside(rule, ns, &kafka_name(rule, ns, name)), "row {i}: a mapped name is inside");
        }
        assert_eq!(prefix(Some(&dot), "team-a").as_deref(), Some("team-a."));
        assert_eq!(prefix(None, "team-a"), None);
    }

    #[test]
    fn a_name_is_inside_only_its_namespace_prefix() {
        let dot = rule("{namespace}.");
        // (rule, namespace, Kafka name) → inside
        let table: [(Option<&Tenancy>, &str, &str, bool); 7] = [
            (None, "team-a", "anything", true),
            (Some(&dot), "team-a", "team-a.orders", true),
            (Some(&dot), "team-a", "team-b.orders", false),
            (Some(&dot), "team-a", "orders", false),
            // `team-ab.` is another namespace's prefix, not inside `team-a.`'s.
            (Some(&dot), "team-a", "team-ab.orders", false),
            (Some(&dot), "team-a", "team-a", false),
            (Some(&dot), "team-a", "*", false),
        ];
        for (i, (rule, ns, name, want)) in table.into_iter().enumerate() {
            assert_eq!(is_inside(rule, ns, name), want, "row {i}");
        }
    }

    #[test]
    fn a_binding_is_inside_when_it_reaches_nothing_outside() {
        use crate::api::access::AclPatternType;
        use AclOperation::{Describe, IdempotentWrite, Read};
        use AclPatternType::{Literal, Prefixed};
        use AclResourceType::{Cluster, Group, Topic, TransactionalId};
        let b = |t, name: &str, p, op| AclBinding::allow("User:team-a.app", t, name, p, op);
        let pre = Some("team-a.");
        // (prefix, binding) → inside
        let table: Vec<(Option<&str>, AclBinding, bool)> = vec![
            (None, b(Topic, "*", Literal, Read), true),
            (None, b(Cluster, AclBinding::CLUSTER, Literal, Describe), true),
            (pre, b(Topic, "team-a.orders", Literal, Read), true),
            (pre, b(Group, "team-a.billing", Literal, Read), true),
            (pre, b(TransactionalId, "team-a.tx-", Prefixed, Describe), true),
            (pre, b(Topic, "team-a.", Prefixed, Read), true),
            (pre, b(Topic, "team-", Prefixed, Read), false),
            (pre, b(Topic, "orders", Literal, Read), false),
            (pre, b(Topic, "*", Literal, Read), false),
            (pre, b(Group, "team-b.billing", Literal, Read), false),
            (pre, b(Cluster, AclBinding::CLUSTER, Literal, IdempotentWrite), true),
            (pre, b(Cluster, AclBinding::CLUSTER, Literal, Describe), false),
        ];
        for (i, (prefix, binding, want)) in table.into_iter().enumerate() {
            assert_eq!(binding_inside(prefix, &binding), want, "row {i}: {binding}");
        }
    }
}

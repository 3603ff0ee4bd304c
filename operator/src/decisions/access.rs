//! Least privilege for a `KafkaUser`, derived from the topology it declares, and the plan that makes Kafka's ACLs
//! for its principal exactly that. Pure: the controller resolves the references and reads Kafka; this decides.
//!
//! What each declaration grants:
//!
//! | declaration                 | bindings                                                        |
//! |-----------------------------|-----------------------------------------------------------------|
//! | `produces: [t]`             | `Write`, `Describe` on topic t                                  |
//! | `idempotent` (and produces) | `IdempotentWrite` on the cluster                                |
//! | `transactionalIds: [x]`     | `Write`, `Describe` on transactional id x (literal or prefixed) |
//! | `consumes: [g]`             | `Read` on group g's id; `Read`, `Describe` on each of its topics |
//! | `acls: [...]`               | one binding per operation, as written                           |
//!
//! Under a connection's tenancy rule every binding must lie inside the namespace's prefix (see
//! [`tenancy::binding_inside`]); one that does not is refused with `AclOutsideTenancy`, naming the field it came
//! from, and nothing is written.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::access::{AclBinding, AclOperation, AclPatternType, AclResourceType};
use crate::api::kafka_user::{AclChange, AclDrift, KafkaUserSpec};

use super::drift::DriftItem;
use super::problem::Problem;
use super::tenancy;

/// A reference list of the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// `spec.produces`: names of `Topic` resources.
    Produces,
    /// `spec.consumes`: names of `ConsumerGroup` resources.
    Consumes,
}

impl Reference {
    fn field(self) -> &'static str {
        match self {
            Reference::Produces => "spec.produces",
            Reference::Consumes => "spec.consumes",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Reference::Produces => "Topic",
            Reference::Consumes => "ConsumerGroup",
        }
    }
}

/// A consumed group, resolved: its Kafka group id and the Kafka topics it reads (its `spec.topics`, mapped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedGroup {
    pub group_id: String,
    pub topics: Vec<String>,
}

/// The resolved values of `names` (a spec list), in order, from what the controller found in the user's
/// namespace: `found[name]` is `Some` when the resource exists there, `None` (or absent) when it does not.
/// Every missing one is named in one `ReferenceNotFound` problem.
pub fn resolve<T: Clone>(
    reference: Reference,
    namespace: &str,
    names: &[String],
    found: &BTreeMap<String, Option<T>>,
) -> Result<Vec<T>, Problem> {
    let mut resolved = Vec::with_capacity(names.len());
    let mut missing = vec![];
    for (i, name) in names.iter().enumerate() {
        match found.get(name) {
            Some(Some(value)) => resolved.push(value.clone()),
            _ => missing.push(format!("{}[{i}] ({} {name:?})", reference.field(), reference.kind())),
        }
    }
    if missing.is_empty() {
        return Ok(resolved);
    }
    Err(Problem::new("ReferenceNotFound", format!("{} not found in namespace {namespace:?}", missing.join(", "))))
}

/// Every ACL binding the user needs, for `principal`: from `produced` (the Kafka topics of `spec.produces`, in
/// order), `consumed` (the groups of `spec.consumes`, in order), the spec's transactional ids (mapped under the
/// tenancy `prefix` here, as they are names, not references) and its explicit `acls` (as written).
pub fn derive(
    spec: &KafkaUserSpec,
    principal: &str,
    produced: &[String],
    consumed: &[ConsumedGroup],
    prefix: Option<&str>,
) -> Result<BTreeSet<AclBinding>, Problem> {
    use AclOperation::{Describe, IdempotentWrite, Read, Write};
    use AclPatternType::Literal;
    use AclResourceType::{Cluster, Group, Topic, TransactionalId};

    let mut acls = BTreeSet::new();
    let outside = |field: String, what: String| {
        let prefix = prefix.unwrap_or_default();
        Problem::new(
            "AclOutsideTenancy",
            format!("{field}: {what} is outside the namespace's prefix {prefix:?} (the connection's spec.tenancy)"),
        )
    };

    for (i, topic) in produced.iter().enumerate() {
        if !tenancy::inside(prefix, topic) {
            return Err(outside(format!("spec.produces[{i}]"), format!("topic {topic:?}")));
        }
        for op in [Write, Describe] {
            acls.insert(AclBinding::allow(principal, Topic, topic, Literal, op));
        }
    }
    if spec.idempotent && !produced.is_empty() {
        acls.insert(AclBinding::allow(principal, Cluster, AclBinding::CLUSTER, Literal, IdempotentWrite));
    }
    for tx in &spec.transactional_ids {
        let name = tenancy::with_prefix(prefix, &tx.name);
        for op in [Write, Describe] {
            acls.insert(AclBinding::allow(principal, TransactionalId, &name, tx.pattern_type, op));
        }
    }
    for (i, group) in consumed.iter().enumerate() {
        let field = format!("spec.consumes[{i}]");
        if group.topics.is_empty() {
            return Err(Problem::new(
                "ConsumerGroupWithoutTopics",
                format!(
                    "{field}: consumer group {:?} lists no spec.topics, so there is nothing to grant Read on; list \
                     the topics it reads",
                    group.group_id
                ),
            ));
        }
        if !tenancy::inside(prefix, &group.group_id) {
            return Err(outside(field, format!("group {:?}", group.group_id)));
        }
        acls.insert(AclBinding::allow(principal, Group, &group.group_id, Literal, Read));
        for topic in &group.topics {
            if !tenancy::inside(prefix, topic) {
                return Err(outside(field, format!("topic {topic:?} of group {:?}", group.group_id)));
            }
            for op in [Read, Describe] {
                acls.insert(AclBinding::allow(principal, Topic, topic, Literal, op));
            }
        }
    }
    for (i, rule) in spec.acls.iter().enumerate() {
        let field = format!("spec.acls[{i}]");
        let resource = &rule.resource;
        let name = match (resource.type_, &resource.name) {
            (Cluster, _) => AclBinding::CLUSTER,
            (_, Some(name)) => name.as_str(),
            (_, None) => return Err(Problem::new("InvalidAcl", format!("{field}.resource.name is required"))),
        };
        for &operation in &rule.operations {
            let binding = AclBinding {
                resource_type: resource.type_,
                name: name.to_string(),
                pattern_type: resource.pattern_type,
                principal: principal.to_string(),
                host: rule.host.clone(),
                operation,
                permission: rule.type_,
            };
            if !tenancy::binding_inside(prefix, &binding) {
                return Err(outside(field, binding.to_string()));
            }
            acls.insert(binding);
        }
    }
    Ok(acls)
}

/// The changes that make Kafka's bindings for the principal the desired ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclPlan {
    /// Desired, missing in Kafka.
    pub create: BTreeSet<AclBinding>,
    /// In Kafka, not desired.
    pub delete: BTreeSet<AclBinding>,
}

impl AclPlan {
    /// Kafka already matches.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty()
    }
}

/// Compares the desired bindings with `observed`, every binding Kafka has for the user's principal (and only
/// for it: the controller lists them by principal). The user owns its principal, so a binding Tributary did not
/// ask for is deleted.
pub fn plan(desired: &BTreeSet<AclBinding>, observed: &BTreeSet<AclBinding>) -> AclPlan {
    AclPlan {
        create: desired.difference(observed).cloned().collect(),
        delete: observed.difference(desired).cloned().collect(),
    }
}

/// Which of the plan's changes correct drift rather than follow the spec, given `in_force`, the bindings the last
/// reconcile put in place (`status.acls`): a binding to delete that was never in force was added behind
/// Tributary's back; a binding to create that was in force was removed behind its back. The rest (a binding new
/// in the spec, or one the spec dropped) is the spec changing, not drift.
pub fn drift(plan: &AclPlan, in_force: &BTreeSet<AclBinding>) -> Vec<AclDrift> {
    let added = plan.delete.iter().filter(|b| !in_force.contains(*b)).map(|b| (AclChange::Added, b));
    let removed = plan.create.iter().filter(|b| in_force.contains(*b)).map(|b| (AclChange::Removed, b));
    added.chain(removed).map(|(change, acl)| AclDrift { change, acl: acl.clone() }).collect()
}

impl DriftItem for AclDrift {
    fn found(&self) -> String {
        match self.change {
            AclChange::Added => format!("{} (not declared)", self.acl),
            AclChange::Removed => format!("no {}", self.acl),
        }
    }

    fn set(&self) -> String {
        match self.change {
            AclChange::Added => format!("{} deleted", self.acl),
            AclChange::Removed => format!("{} created", self.acl),
        }
    }
}

/// The `DriftCorrected` Event's note for ACLs.
pub fn correction_note(drift: &[AclDrift]) -> String {
    format!("ACLs corrected: {}", drift.iter().map(AclDrift::set).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests;

//! Kafka's access vocabulary, shared by the `KafkaUser` kind (its explicit `acls`), the decisions that derive least
//! privilege from the declared topology, and the Kafka layer that reads and writes ACL bindings.
//!
//! The spellings are Kafka's own (`kafka-acls --operation IdempotentWrite`, `--resource-pattern-type prefixed`), so
//! what a user writes and what Kafka's tools print read the same.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kind of resource an ACL is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AclResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

/// How an ACL's resource name matches: exactly, or as a prefix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AclPatternType {
    #[default]
    Literal,
    Prefixed,
}

/// What an ACL allows (or denies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AclPermission {
    #[default]
    Allow,
    Deny,
}

/// One ACL binding as Kafka stores it: a resource pattern and one access control entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclBinding {
    pub resource_type: AclResourceType,
    /// The resource's name (`kafka-cluster` for the cluster).
    pub name: String,
    pub pattern_type: AclPatternType,
    /// `User:<name>`.
    pub principal: String,
    /// `*` for any host.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBinding {
    /// The name Kafka gives the cluster resource.
    pub const CLUSTER: &'static str = "kafka-cluster";

    /// An `Allow` binding for `principal` from any host.
    pub fn allow(
        principal: &str,
        resource_type: AclResourceType,
        name: &str,
        pattern_type: AclPatternType,
        operation: AclOperation,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            name: name.to_string(),
            pattern_type,
            principal: principal.to_string(),
            host: "*".into(),
            operation,
            permission: AclPermission::Allow,
        }
    }
}

impl std::fmt::Display for AclBinding {
    /// As `kafka-acls --list` would describe it, on one line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pattern = match self.pattern_type {
            AclPatternType::Literal => "",
            AclPatternType::Prefixed => " (prefix)",
        };
        write!(
            f,
            "{:?} {} {:?} on {:?}:{}{pattern} from {}",
            self.permission, self.principal, self.operation, self.resource_type, self.name, self.host
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_kafkas() {
        let b = AclBinding::allow(
            "User:billing",
            AclResourceType::TransactionalId,
            "team-a.",
            AclPatternType::Prefixed,
            AclOperation::IdempotentWrite,
        );
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["resourceType"], "TransactionalId");
        assert_eq!(json["patternType"], "Prefixed");
        assert_eq!(json["operation"], "IdempotentWrite");
        assert_eq!(json["permission"], "Allow");
        assert_eq!(json["host"], "*");
        assert_eq!(b.to_string(), "Allow User:billing IdempotentWrite on TransactionalId:team-a. (prefix) from *");
    }
}

//! Types shared by several kinds.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A reference to a `KafkaConnection`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRef {
    /// Name of the KafkaConnection.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the KafkaConnection; defaults to the referring resource's namespace. The connection must list
    /// the referring namespace in `spec.allowedNamespaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// A key in a Secret in the same namespace as the resource that names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Whether Tributary may write to Kafka for a resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ManagementPolicy {
    /// Create the object when missing and correct any drift (the default).
    #[default]
    Enforce,
    /// Adopt read-only: report drift, never write.
    Observe,
    /// Create the object when missing, never alter it afterwards.
    CreateOnly,
}

/// What happens in Kafka when the resource is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the Kafka object in place (the default): nothing is lost by deleting a resource.
    #[default]
    Retain,
    /// Delete the Kafka object with the resource.
    Delete,
}

//! `Schema`: one event schema (Avro, JSON Schema or Protobuf) of a subject in a Schema Registry, with the
//! compatibility rule its changes must keep.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{ConnectionRef, DeletionPolicy, ManagementPolicy};

/// Finalizer that guards the registry side effect of a `deletionPolicy: Delete` Schema.
pub const SCHEMA_FINALIZER: &str = "tributary.dev/schema";

/// An event schema, declared: registered into the Schema Registry of its KafkaConnection once the registry finds it
/// compatible with the subject's history.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "Schema",
    namespaced,
    status = "SchemaStatus",
    shortname = "sch",
    category = "tributary",
    printcolumn = r#"{"name":"Subject","type":"string","jsonPath":".status.subject"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.schemaType"}"#,
    printcolumn = r#"{"name":"Version","type":"integer","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Id","type":"integer","priority":1,"jsonPath":".status.id"}"#,
    printcolumn = r#"{"name":"Compatibility","type":"string","jsonPath":".spec.compatibility"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[cfg_attr(test, kube(cel))]
#[x_kube(validation = Rule::new("has(self.topicRef) != has(self.subject)").message("exactly one of spec.topicRef and spec.subject must be set"))]
#[x_kube(validation = Rule::new("has(self.schema) != has(self.schemaFrom)").message("exactly one of spec.schema and spec.schemaFrom must be set"))]
#[x_kube(validation = Rule::new("has(self.subject) == has(oldSelf.subject) && has(self.topicRef) == has(oldSelf.topicRef)").message("the subject is immutable: spec.subject and spec.topicRef cannot be swapped"))]
#[serde(rename_all = "camelCase")]
pub struct SchemaSpec {
    /// The KafkaConnection whose `spec.schemaRegistry` is used. Defaults to the connection of the Topic in
    /// `topicRef`, else the operator's default connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<ConnectionRef>,
    /// The Topic whose records this schema describes: the subject is `<kafka topic name>-<part>` (Confluent's
    /// TopicNameStrategy). Exactly one of `topicRef` and `subject`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.topicRef is immutable"))]
    pub topic_ref: Option<SchemaTopicRef>,
    /// An explicit subject name, for other naming strategies. Exactly one of `topicRef` and `subject`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.subject is immutable"))]
    pub subject: Option<String>,
    /// `AVRO` (default), `JSON` (JSON Schema) or `PROTOBUF`.
    #[serde(default)]
    pub schema_type: SchemaType,
    /// The schema text. Exactly one of `schema` and `schemaFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 262144))]
    pub schema: Option<String>,
    /// A ConfigMap key holding the schema text, in this namespace. Exactly one of `schema` and `schemaFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_from: Option<ConfigMapKeyRef>,
    /// Other Schemas this one imports, resolved to their subject and registered version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub references: Vec<SchemaReference>,
    /// The subject's compatibility level, kept as declared. Default `BACKWARD`.
    #[serde(default)]
    pub compatibility: CompatibilityLevel,
    /// `Enforce` (register, and correct the compatibility level when changed in the registry), `Observe` (read
    /// only: report the subject and any difference, never write), `CreateOnly` (register, set the level once, never
    /// correct it).
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// `Retain` (default) keeps the subject when this resource is deleted; `Delete` soft-deletes it (the
    /// registry's `DELETE /subjects/{subject}`: its versions stay recoverable by the registry's own tools).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The Topic a schema belongs to, and which part of its records.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaTopicRef {
    /// Name of the Topic resource, in this namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// `value` (default) or `key`.
    #[serde(default)]
    pub part: SchemaPart,
}

/// The part of a record a schema describes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SchemaPart {
    #[default]
    Value,
    Key,
}

impl SchemaPart {
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaPart::Value => "value",
            SchemaPart::Key => "key",
        }
    }
}

/// The schema language, spelled as the registry's `schemaType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SchemaType {
    #[default]
    #[serde(rename = "AVRO")]
    Avro,
    #[serde(rename = "JSON")]
    Json,
    #[serde(rename = "PROTOBUF")]
    Protobuf,
}

impl SchemaType {
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }
}

/// A subject's compatibility level, as the registry spells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
    None,
}

impl CompatibilityLevel {
    pub const ALL: [CompatibilityLevel; 7] = [
        CompatibilityLevel::Backward,
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::Forward,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::Full,
        CompatibilityLevel::FullTransitive,
        CompatibilityLevel::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
            CompatibilityLevel::None => "NONE",
        }
    }

    /// The level named by the registry's spelling.
    pub fn parse(s: &str) -> Option<CompatibilityLevel> {
        CompatibilityLevel::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A key in a ConfigMap in the same namespace as the resource that names it.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the ConfigMap's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// One import of this schema: the name the schema text uses for it, and the Schema resource that defines it.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaReference {
    /// The name the schema text imports: an Avro full name (`com.acme.Address`), a JSON Schema `$ref` URL or a
    /// Protobuf import path (`address.proto`).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Name of the Schema resource (this namespace) whose subject and registered version the import resolves to.
    #[schemars(length(min = 1, max = 253))]
    pub schema_ref: String,
}

/// Observed state of the schema in the registry.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaStatus {
    /// The generation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Drifted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The registry subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The subject version holding this schema text. After a refused change it still names the version last
    /// registered from this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The registry's global id of the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The subject's compatibility level as found in (or set into) the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
}

impl crate::api::conditions::HasConditions for SchemaStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
}

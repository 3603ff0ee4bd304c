//! `KafkaUser`: an application's Kafka credential, and the least-privilege ACLs and quotas that go with it.
//!
//! The shape follows Strimzi's `KafkaUser` where the two meet (`authentication.type`, `acls[].resource`,
//! `acls[].operations`, `quotas`), so a Strimzi user feels at home. What Tributary adds is `produces`, `consumes`
//! and `transactionalIds`: the application says which `Topic` and `ConsumerGroup` resources it uses, and the exact
//! ACLs are derived from them (see `decisions::access`). `acls` stays as the escape hatch.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

use super::access::{AclBinding, AclOperation, AclPatternType, AclPermission, AclResourceType};
use super::common::{ConnectionRef, DeletionPolicy};

/// Finalizer that guards the Kafka side of a KafkaUser (its credential, ACLs and quotas).
pub const KAFKA_USER_FINALIZER: &str = "tributary.dev/kafka-user";

/// Annotation that rotates a `scram-sha-512` password. Its value is an opaque token, typically a timestamp: each
/// new value rotates the password once (a new password is set in Kafka, then written to the Secret, and
/// `status.passwordRotatedTime` is set). The value carried out is kept in `status.passwordRotation`, so the same
/// value never rotates twice and removing the annotation does nothing.
pub const ROTATE_PASSWORD_ANNOTATION: &str = "tributary.dev/rotate-password";

/// An application's Kafka credential, with the ACLs derived from what it produces and consumes.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "KafkaUser",
    namespaced,
    status = "KafkaUserStatus",
    shortname = "ku",
    category = "tributary",
    printcolumn = r#"{"name":"Username","type":"string","jsonPath":".status.username"}"#,
    printcolumn = r#"{"name":"Auth","type":"string","jsonPath":".spec.authentication.type"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","priority":1,"jsonPath":".status.secret"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Drifted","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Drifted\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[cfg_attr(test, kube(cel))]
#[x_kube(validation = Rule::new("has(self.connectionRef) == has(oldSelf.connectionRef) && (!has(self.connectionRef) || self.connectionRef == oldSelf.connectionRef)").message("spec.connectionRef is immutable"))]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserSpec {
    /// The KafkaConnection to use. Defaults to the operator's default connection. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<ConnectionRef>,
    /// How the application proves who it is. Default: `scram-sha-512`.
    #[serde(default)]
    pub authentication: Authentication,
    /// Name of the Secret Tributary writes the credential and client settings to, in this namespace. Defaults to
    /// `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub secret_name: Option<String>,
    /// Names of `Topic` resources in this namespace the application writes to: each gives `Write` and `Describe`
    /// on its Kafka topic. A name that does not resolve gives `Ready=False` reason `ReferenceNotFound`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 256),
        inner(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub produces: Vec<String>,
    /// Transactional ids the application's producers use (`transactional.id`), exactly or by prefix: each gives
    /// `Write` and `Describe` on the transactional id. Under the connection's tenancy rule they are names inside
    /// the namespace's prefix, which Tributary puts before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into(), "patternType".into()]))]
    pub transactional_ids: Vec<TransactionalId>,
    /// The producers use idempotence (Kafka clients' default since 3.0): gives `IdempotentWrite` on the cluster
    /// when the user produces to at least one topic. Brokers from 2.8 on only need `Write` on a topic, which
    /// `produces` gives; older brokers need `IdempotentWrite`, which is why it is granted by default, as Strimzi's
    /// documentation does. Set false to withhold it. Default true.
    #[serde(default = "default_true")]
    pub idempotent: bool,
    /// Names of `ConsumerGroup` resources in this namespace the application consumes as: each gives `Read` on the
    /// group's id, and `Read` and `Describe` on each topic in the group's `spec.topics` (which must not be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 256),
        inner(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub consumes: Vec<String>,
    /// Explicit ACLs, in Strimzi's shape, for what `produces` and `consumes` cannot say. Names here are Kafka's
    /// names as they are (no tenancy prefix is added); under the connection's tenancy rule each must lie inside
    /// the namespace's prefix, else `Ready=False` reason `AclOutsideTenancy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub acls: Vec<AclRule>,
    /// Client quotas for this user. Absent: none (any quota Kafka has for the user is removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<Quotas>,
    /// `Delete` (default) removes the credential, the user's ACLs and its quotas from Kafka when this resource is
    /// deleted; `Retain` leaves them. Unlike a topic's, the default is `Delete`: a credential and its ACLs hold no
    /// data and are rebuilt from the spec, while one left behind is live access nobody declares any more.
    #[serde(default = "default_delete")]
    pub deletion_policy: DeletionPolicy,
}

fn default_true() -> bool {
    true
}

fn default_delete() -> DeletionPolicy {
    DeletionPolicy::Delete
}

impl Default for KafkaUserSpec {
    /// The spec of an empty manifest: the serde defaults.
    fn default() -> KafkaUserSpec {
        KafkaUserSpec {
            connection_ref: None,
            authentication: Authentication::default(),
            secret_name: None,
            produces: vec![],
            transactional_ids: vec![],
            idempotent: true,
            consumes: vec![],
            acls: vec![],
            quotas: None,
            deletion_policy: DeletionPolicy::Delete,
        }
    }
}

/// How the application authenticates.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthenticationType {
    /// A SCRAM-SHA-512 credential: Tributary sets a generated password in Kafka and writes it to the Secret.
    /// The principal is `User:<username>`.
    #[default]
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    /// A client certificate issued by the connection's client CA (the connection must have one). The principal is
    /// `User:CN=<username>`, the broker's default mapping of the certificate's subject.
    #[serde(rename = "tls")]
    Tls,
}

/// How the application authenticates.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    /// `scram-sha-512` or `tls`. Immutable: the Kafka principal the ACLs are bound to depends on it.
    #[serde(rename = "type")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.authentication.type is immutable: the principal depends on it"))]
    pub type_: AuthenticationType,
}

/// A transactional id, or a prefix of transactional ids.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionalId {
    /// The `transactional.id`, or its prefix.
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub name: String,
    /// `Literal` (default): exactly this id; `Prefixed`: every id starting with `name` (for producers that add an
    /// instance number).
    #[serde(default)]
    pub pattern_type: AclPatternType,
}

/// The resource an explicit ACL is about.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = Rule::new("self.type == 'Cluster' || has(self.name)").message("acls[].resource.name is required for Topic, Group and TransactionalId resources"))]
#[x_kube(validation = Rule::new("self.type != 'Cluster' || ((!has(self.name) || self.name == 'kafka-cluster') && (!has(self.patternType) || self.patternType == 'Literal'))").message("a Cluster resource has no name but kafka-cluster and is always Literal"))]
#[x_kube(validation = Rule::new("self.type != 'Topic' || !has(self.name) || self.name == '*' || self.name.matches('^[a-zA-Z0-9._-]+$')").message("acls[].resource.name must be a Kafka topic name ([a-zA-Z0-9._-]) or * for a Topic"))]
#[x_kube(validation = Rule::new("!has(self.name) || self.name != '*' || !has(self.patternType) || self.patternType == 'Literal'").message("the wildcard * is only Literal"))]
#[serde(rename_all = "camelCase")]
pub struct AclRuleResource {
    /// `Topic`, `Group`, `Cluster` or `TransactionalId`.
    #[serde(rename = "type")]
    pub type_: AclResourceType,
    /// The Kafka name (not a Kubernetes resource's name), `*` for every one. Absent for `Cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub name: Option<String>,
    /// `Literal` (default) or `Prefixed`.
    #[serde(default)]
    pub pattern_type: AclPatternType,
}

/// One explicit ACL rule: an operation list on one resource, in Strimzi's shape.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = Rule::new("self.operations.all(o, o in {'Topic': ['All', 'Read', 'Write', 'Create', 'Delete', 'Alter', 'Describe', 'DescribeConfigs', 'AlterConfigs'], 'Group': ['All', 'Read', 'Describe', 'Delete'], 'Cluster': ['All', 'Create', 'Alter', 'Describe', 'ClusterAction', 'DescribeConfigs', 'AlterConfigs', 'IdempotentWrite'], 'TransactionalId': ['All', 'Describe', 'Write']}[self.resource.type])").message("acls[].operations has an operation that does not apply to the resource type (Topic: Read, Write, Create, Delete, Alter, Describe, DescribeConfigs, AlterConfigs; Group: Read, Describe, Delete; Cluster: Create, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite; TransactionalId: Describe, Write; All for any)"))]
#[serde(rename_all = "camelCase")]
pub struct AclRule {
    /// What the rule is about.
    pub resource: AclRuleResource,
    /// The operations, Kafka's names (`Read`, `Write`, `Describe`, `IdempotentWrite`, ...). One ACL binding is made
    /// per operation.
    #[schemars(length(min = 1, max = 11))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub operations: Vec<AclOperation>,
    /// The client's IP address the rule applies to; `*` (default) for any. Kafka matches addresses, not names.
    #[serde(default = "any_host")]
    #[schemars(length(min = 1, max = 45), regex(pattern = acl_host_pattern()))]
    pub host: String,
    /// `Allow` (default) or `Deny`.
    #[serde(rename = "type", default)]
    pub type_: AclPermission,
}

fn any_host() -> String {
    "*".into()
}

/// The pattern of `acls[].host`: `*`, or an IPv4 or IPv6 address after RFC 3986's grammar (no zone, no leading
/// zeros). A name or a malformed address would make an ACL that never matches a client: the apiserver refuses it.
fn acl_host_pattern() -> String {
    const H16: &str = "[0-9a-fA-F]{1,4}";
    let octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    let v4 = format!(r"({octet}\.){{3}}{octet}");
    let ls32 = format!("({H16}:{H16}|{v4})");
    // `n` groups before "::" at most, then what must follow it.
    let compressed = |n: usize, tail: &str| format!("(({H16}:){{0,{n}}}{H16})?::{tail}");
    let v6 = [
        format!("({H16}:){{6}}{ls32}"),
        format!("::({H16}:){{5}}{ls32}"),
        format!("({H16})?::({H16}:){{4}}{ls32}"),
        compressed(1, &format!("({H16}:){{3}}{ls32}")),
        compressed(2, &format!("({H16}:){{2}}{ls32}")),
        compressed(3, &format!("{H16}:{ls32}")),
        compressed(4, &ls32),
        compressed(5, H16),
        compressed(6, ""),
    ]
    .join("|");
    format!(r"^(\*|{v4}|({v6}))$")
}

/// Client quotas, Kafka's `user` entity quotas.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quotas {
    /// Bytes per second the user may produce, per broker (`producer_byte_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub producer_byte_rate: Option<i64>,
    /// Bytes per second the user may fetch, per broker (`consumer_byte_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub consumer_byte_rate: Option<i64>,
    /// Share of request-handler and network thread time per broker, in percent of one thread
    /// (`request_percentage`): 100 is one thread's worth, so the cluster's whole capacity is
    /// `(num.io.threads + num.network.threads) × 100`. At most 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub request_percentage: Option<i32>,
    /// Partition mutations (topic creations, partition additions, topic deletions) per second
    /// (`controller_mutation_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub controller_mutation_rate: Option<f64>,
}

/// Which way an ACL binding drifted.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AclChange {
    /// Found in Kafka for this user but not declared (added behind Tributary's back): deleted.
    Added,
    /// Declared and in force, but found missing (removed behind Tributary's back): created again.
    Removed,
}

/// An ACL binding that differed from the declared ones.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclDrift {
    /// `Added` (found, not declared) or `Removed` (declared, found missing).
    pub change: AclChange,
    /// The binding.
    pub acl: AclBinding,
}

/// Observed state of the user.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserStatus {
    /// The generation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Drifted`, `Paused`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Kafka user name (the principal is `User:<username>` for SCRAM, `User:CN=<username>` for TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The Secret holding the credential and client settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The ACL bindings in force for the user: the derived ones and the explicit `acls`, one per operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acls: Vec<AclBinding>,
    /// The quotas in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<Quotas>,
    /// ACL drift: the last correction (bindings found added or removed behind Tributary's back, and put back),
    /// kept until a new drift or a new spec generation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<AclDrift>,
    /// When the drift listed in `drift` was corrected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_corrected_time: Option<Time>,
    /// When the password was last set: created or rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_rotated_time: Option<Time>,
    /// When the client certificate of a `tls` user expires; it is issued again `renewBeforeDays` (the
    /// connection's `clientCa`) before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_not_after: Option<Time>,
    /// The value of the `tributary.dev/rotate-password` annotation last carried out (for a `tls` user it issues a
    /// new key and certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_rotation: Option<String>,
}

impl KafkaUser {
    /// The Secret's name: `spec.secretName`, else `metadata.name`.
    pub fn secret_name(&self) -> String {
        self.spec.secret_name.clone().unwrap_or_else(|| self.name_any())
    }
}

impl crate::api::conditions::HasConditions for KafkaUserStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
}

#[cfg(test)]
mod tests {
    //! The schema's defaults and the CEL rules, evaluated client-side by kube's `cel` feature.
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn an_acl_host_is_any_or_an_ip_address_as_std_parses_them() {
        let pattern = regex::Regex::new(&acl_host_pattern()).unwrap();
        let named = [
            ("*", true),
            ("10.0.0.1", true),
            ("::1", true),
            ("fe80::1:2", true),
            ("::ffff:10.0.0.1", true),
            ("1:2:3:4:5:6:7:8", true),
            ("1:2:3:4:5:6:1.2.3.4", true),
            ("::", true),
            ("bbeec:bbeec", false),
            ("01.2.3.4", false),
            ("256.1.1.1", false),
            ("1:2:3:4:5:6:7:8:9", false),
            ("1::2::3", false),
            ("broker.local", false),
            ("**", false),
        ];
        for (host, valid) in named {
            assert_eq!(pattern.is_match(host), valid, "{host}");
        }
        // Random strings of the characters addresses are made of: the pattern agrees with std's parser on each.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut accepted = 0;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 20) as usize;
            let host: String =
                (0..len).map(|i| b"0123456789abcdef:.:"[((x >> (i * 3)) % 19) as usize] as char).collect();
            let valid = host.parse::<std::net::IpAddr>().is_ok();
            accepted += usize::from(valid);
            assert_eq!(pattern.is_match(&host), valid, "{host}");
        }
        assert!(accepted > 100, "the random corpus holds valid addresses too ({accepted})");
        // The generated CRD carries the pattern.
        let crd = serde_json::to_string(&<KafkaUser as kube::CustomResourceExt>::crd()).unwrap();
        assert!(crd.contains(&serde_json::to_string(&acl_host_pattern()).unwrap()[1..20]));
    }

    fn user(spec: Value) -> KafkaUser {
        serde_json::from_value(json!({"apiVersion": "tributary.dev/v1alpha1", "kind": "KafkaUser",
            "metadata": {"name": "billing"}, "spec": spec}))
        .unwrap()
    }

    #[test]
    fn an_empty_spec_is_a_scram_user_that_is_deleted_with_its_resource() {
        let u = user(json!({}));
        assert_eq!(u.spec, KafkaUserSpec::default());
        assert_eq!(u.spec.authentication.type_, AuthenticationType::ScramSha512);
        assert!(u.spec.idempotent);
        assert_eq!(u.spec.deletion_policy, DeletionPolicy::Delete);
        assert_eq!(u.secret_name(), "billing");
        assert_eq!(user(json!({"secretName": "billing-kafka"})).secret_name(), "billing-kafka");
        let json = serde_json::to_value(user(json!({"authentication": {"type": "tls"}})).spec).unwrap();
        assert_eq!(json["authentication"]["type"], "tls");
        assert!(u.validate_cel().is_ok());
    }

    #[test]
    fn lists_are_sets_in_the_schema() {
        let crd = serde_json::to_value(<KafkaUser as kube::CustomResourceExt>::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        assert_eq!(spec["produces"]["x-kubernetes-list-type"], "set");
        assert_eq!(spec["consumes"]["x-kubernetes-list-type"], "set");
        assert_eq!(spec["transactionalIds"]["x-kubernetes-list-type"], "map");
        assert_eq!(spec["transactionalIds"]["x-kubernetes-list-map-keys"], json!(["name", "patternType"]));
        let acl = &spec["acls"]["items"]["properties"];
        assert_eq!(acl["operations"]["x-kubernetes-list-type"], "set");
        assert_eq!(acl["host"]["default"], "*");
        assert_eq!(spec["deletionPolicy"]["default"], "Delete");
        assert_eq!(spec["idempotent"]["default"], true);
    }

    #[test]
    fn connection_and_authentication_type_are_immutable() {
        let old = user(json!({"connectionRef": {"name": "a"}}));
        assert!(user(json!({"connectionRef": {"name": "a"}, "produces": ["x"]})).validate_cel_update(&old).is_ok());
        let err = user(json!({"connectionRef": {"name": "b"}})).validate_cel_update(&old).unwrap_err();
        assert!(err.to_string().contains("connectionRef is immutable"), "{err}");
        let old = user(json!({"authentication": {"type": "scram-sha-512"}}));
        let err = user(json!({"authentication": {"type": "tls"}})).validate_cel_update(&old).unwrap_err();
        assert!(err.to_string().contains("authentication.type is immutable"), "{err}");
    }

    #[test]
    fn explicit_acls_must_be_well_formed() {
        let rule = |resource: Value, operations: Value| json!({"resource": resource, "operations": operations});
        // (rule, error expected: a fragment of the message, or None when valid)
        let table: Vec<(Value, Option<&str>)> = vec![
            (rule(json!({"type": "Topic", "name": "orders"}), json!(["Read", "Describe"])), None),
            (rule(json!({"type": "Topic", "name": "team-a.", "patternType": "Prefixed"}), json!(["Write"])), None),
            (rule(json!({"type": "Topic", "name": "*"}), json!(["Describe"])), None),
            (rule(json!({"type": "Cluster"}), json!(["IdempotentWrite"])), None),
            (rule(json!({"type": "Cluster", "name": "kafka-cluster"}), json!(["Describe"])), None),
            (rule(json!({"type": "Group", "name": "billing"}), json!(["Read"])), None),
            (
                rule(json!({"type": "TransactionalId", "name": "tx-", "patternType": "Prefixed"}), json!(["Write"])),
                None,
            ),
            (rule(json!({"type": "Topic"}), json!(["Read"])), Some("name is required")),
            (rule(json!({"type": "Cluster", "name": "other"}), json!(["Describe"])), Some("kafka-cluster")),
            (rule(json!({"type": "Cluster", "patternType": "Prefixed"}), json!(["Describe"])), Some("always Literal")),
            (rule(json!({"type": "Topic", "name": "a topic"}), json!(["Read"])), Some("Kafka topic name")),
            (
                rule(json!({"type": "Topic", "name": "*", "patternType": "Prefixed"}), json!(["Read"])),
                Some("only Literal"),
            ),
            (rule(json!({"type": "Group", "name": "g"}), json!(["Write"])), Some("does not apply")),
            (rule(json!({"type": "Topic", "name": "t"}), json!(["IdempotentWrite"])), Some("does not apply")),
            (rule(json!({"type": "TransactionalId", "name": "t"}), json!(["Read"])), Some("does not apply")),
        ];
        for (i, (acl, want)) in table.into_iter().enumerate() {
            let got = AclRule::validate_cel(&acl, None);
            match want {
                None => assert!(got.is_ok(), "row {i}: {got:?}"),
                Some(fragment) => {
                    let err = got.expect_err(&format!("row {i} must be refused")).to_string();
                    assert!(err.contains(fragment), "row {i}: {err}");
                }
            }
        }
        // The rules also hold within a whole resource.
        let bad = json!([{"resource": {"type": "Group", "name": "g"}, "operations": ["Write"]}]);
        assert!(user(json!({"acls": bad})).validate_cel().is_err());
    }

    #[test]
    fn explicit_acls_read_as_strimzi_writes_them() {
        let acl: AclRule = serde_json::from_value(json!({"resource": {"type": "Topic", "name": "orders"},
            "operations": ["Read"]}))
        .unwrap();
        assert_eq!(acl.host, "*");
        assert_eq!(acl.type_, AclPermission::Allow);
        assert_eq!(acl.resource.pattern_type, AclPatternType::Literal);
        let deny: AclRule = serde_json::from_value(json!({"resource": {"type": "Group", "name": "g"},
            "operations": ["Read"], "host": "10.0.0.1", "type": "Deny"}))
        .unwrap();
        assert_eq!(deny.type_, AclPermission::Deny);
    }
}

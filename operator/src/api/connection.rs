//! `KafkaConnection`: how to reach one Kafka cluster, with the platform team's guardrails for it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::SecretKeyRef;

/// How to reach a Kafka cluster, and the guardrails every Topic on it must respect.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "KafkaConnection",
    namespaced,
    status = "KafkaConnectionStatus",
    shortname = "kconn",
    category = "tributary",
    printcolumn = r#"{"name":"Bootstrap","type":"string","jsonPath":".spec.bootstrapServers[0]"}"#,
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".status.clusterId"}"#,
    printcolumn = r#"{"name":"Brokers","type":"integer","jsonPath":".status.brokers"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[cfg_attr(test, kube(cel))]
#[x_kube(validation = Rule::new("has(self.tenancy) == has(oldSelf.tenancy) && (!has(self.tenancy) || self.tenancy == oldSelf.tenancy)").message("spec.tenancy is immutable: changing it would rename every Kafka topic, group and transactional id of the connection"))]
#[serde(rename_all = "camelCase")]
pub struct KafkaConnectionSpec {
    /// Bootstrap brokers as `host:port` (a port from 1 to 65535).
    #[schemars(
        length(min = 1, max = 64),
        inner(
            length(max = 260),
            regex(
                pattern = r"^[A-Za-z0-9.\-\[\]:]+:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
            )
        )
    )]
    pub bootstrap_servers: Vec<String>,
    /// TLS towards the brokers. Absent: plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// SASL authentication. Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<SaslSpec>,
    /// Guardrails owned by the platform team, enforced on every Topic that uses this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<ConnectionPolicy>,
    /// Namespaces whose resources may use this connection, besides its own. `*` allows every namespace.
    /// A reference from any other namespace is refused, so a tenant cannot borrow another team's credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 256),
        inner(length(min = 1, max = 63), regex(pattern = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$"))
    )]
    pub allowed_namespaces: Vec<String>,
    /// Extra librdkafka client properties (for example `client.id`). Security properties are not allowed here:
    /// use `tls` and `sasl`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('ssl.') && !k.startsWith('sasl.') && k != 'security.protocol' && k != 'bootstrap.servers')").message("clientProperties must not set bootstrap.servers, security.protocol, ssl.* or sasl.*: use spec.tls and spec.sasl"))]
    pub client_properties: BTreeMap<String, String>,
    /// Tenancy by namespace: the Kafka names of every namespace's resources on this connection get the
    /// namespace's prefix, so two namespaces can both declare `orders`, and every ACL a `KafkaUser` derives is
    /// confined to its namespace's prefix. Absent: Kafka names are the resources' names, shared by all namespaces.
    /// Immutable (set it when creating the connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<Tenancy>,
    /// The CA that issues client certificates to `KafkaUser`s with `authentication.type: tls`, which the brokers'
    /// TLS listener trusts for client authentication (`ssl.client.auth`, with this CA in its truststore). Read from
    /// Secrets in the connection's namespace; never logged nor copied anywhere but into the certificates it signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<ClientCa>,
    /// The Schema Registry of this cluster (the Confluent Schema Registry API), used by the `Schema` kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<SchemaRegistrySpec>,
}

/// A CA for client certificates.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = Rule::new("self.renewBeforeDays < self.validityDays").message("clientCa.renewBeforeDays must be less than clientCa.validityDays"))]
#[serde(rename_all = "camelCase")]
pub struct ClientCa {
    /// The CA certificate (PEM).
    pub certificate: SecretKeyRef,
    /// The CA's private key (PEM, PKCS#8; ECDSA P-256/P-384, Ed25519 or RSA).
    pub key: SecretKeyRef,
    /// Days a client certificate is valid. Default 365.
    #[serde(default = "default_validity_days")]
    #[schemars(range(min = 1, max = 3650))]
    pub validity_days: i32,
    /// A certificate is issued again (new key, same name) once it has fewer days left than this. Default 30.
    #[serde(default = "default_renew_before_days")]
    #[schemars(range(min = 0, max = 3649))]
    pub renew_before_days: i32,
}

fn default_validity_days() -> i32 {
    365
}

fn default_renew_before_days() -> i32 {
    30
}

/// How a namespace's resources map to Kafka names.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenancy {
    /// The prefix of a namespace's Kafka names, a template where `{namespace}` stands for the namespace, e.g.
    /// `{namespace}.` (namespace `team-a`: Topic `orders` is Kafka topic `team-a.orders`). It applies to topic
    /// names, consumer group ids, transactional ids and KafkaUser names. `{namespace}` appears exactly once and is
    /// followed by `.` or `_`, characters no namespace holds, so no namespace's prefix starts another's.
    #[schemars(length(min = 12, max = 100), regex(pattern = r"^[a-zA-Z0-9._-]*\{namespace\}[._][a-zA-Z0-9._-]*$"))]
    pub prefix: String,
}

/// How to reach a Schema Registry that speaks the Confluent Schema Registry API (Confluent's, Apicurio's
/// `/apis/ccompat/v7`, Karapace, Redpanda's). Credentials come from Secrets and are never logged nor copied to status.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRegistrySpec {
    /// Base URL of the API, e.g. `https://registry:8081` or `http://apicurio:8080/apis/ccompat/v7`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("schemaRegistry.url must start with http:// or https://"))]
    #[x_kube(validation = Rule::new("!self.matches('^https?://[^/]*@')").message("schemaRegistry.url must not carry credentials (put them in schemaRegistry.basicAuth)"))]
    pub url: String,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthSpec>,
    /// TLS towards the registry: the CA to trust and an optional client certificate. Absent: the system trust
    /// store for `https://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RegistryTlsSpec>,
}

/// TLS material for the registry, read from Secrets in the connection's namespace. The registry's host name is
/// always verified.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("has(self.certificate) == has(self.key)").message("schemaRegistry.tls.certificate and schemaRegistry.tls.key must be set together"))]
#[serde(rename_all = "camelCase")]
pub struct RegistryTlsSpec {
    /// PEM CA bundle used to verify the registry. Absent: the system trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<SecretKeyRef>,
    /// PEM client certificate for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<SecretKeyRef>,
    /// PEM private key of the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretKeyRef>,
}

/// A user name and password, read from Secrets in the connection's namespace.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthSpec {
    /// The user name.
    pub username: SecretKeyRef,
    /// The password.
    pub password: SecretKeyRef,
}

/// TLS material, read from Secrets in the connection's namespace.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("has(self.certificate) == has(self.key)").message("tls.certificate and tls.key must be set together"))]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// PEM CA bundle used to verify the brokers. Absent: the system trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<SecretKeyRef>,
    /// PEM client certificate for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<SecretKeyRef>,
    /// PEM private key of the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretKeyRef>,
    /// Skip verification of the broker's host name (never for production).
    #[serde(default)]
    pub insecure_skip_hostname_verification: bool,
}

/// SASL mechanisms Tributary can use.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[default]
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "OAUTHBEARER")]
    OauthBearer,
}

impl SaslMechanism {
    /// The name librdkafka and the Kafka protocol use.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OauthBearer => "OAUTHBEARER",
        }
    }
}

/// SASL credentials, read from Secrets in the connection's namespace. They are never logged nor copied to status.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("self.mechanism == 'OAUTHBEARER' || (has(self.username) && has(self.password))").message("sasl.username and sasl.password are required for PLAIN and SCRAM mechanisms"))]
#[x_kube(validation = Rule::new("self.mechanism != 'OAUTHBEARER' || has(self.oauthTokenEndpoint)").message("sasl.oauthTokenEndpoint is required for OAUTHBEARER"))]
#[serde(rename_all = "camelCase")]
pub struct SaslSpec {
    /// The SASL mechanism.
    pub mechanism: SaslMechanism,
    /// User name (PLAIN, SCRAM); for OAUTHBEARER the client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<SecretKeyRef>,
    /// Password (PLAIN, SCRAM); for OAUTHBEARER the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretKeyRef>,
    /// OIDC token endpoint for OAUTHBEARER (client-credentials flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_token_endpoint: Option<String>,
}

/// Guardrails for every Topic on this connection. A violating Topic is refused with a condition naming the rule,
/// and nothing is written to Kafka.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPolicy {
    /// Largest partition count a Topic may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_partitions: Option<i32>,
    /// Smallest replication factor a Topic may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_replication_factor: Option<i32>,
    /// Regular expression every Kafka topic name must match (anchored at both ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name_pattern: Option<String>,
    /// Numeric bounds on topic config keys, e.g. `retention.ms` at least 7 days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub protected_config: Vec<ConfigBound>,
    /// Whether Topics with `deletionPolicy: Delete` may delete Kafka topics. Default true.
    #[serde(default = "default_true")]
    pub allow_topic_deletion: bool,
}

fn default_true() -> bool {
    true
}

/// A bound on one numeric topic config key. A value of -1 (unlimited) satisfies any minimum.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("has(self.min) || has(self.max)").message("a protectedConfig bound needs min or max"))]
#[x_kube(validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("a protectedConfig bound's min must not exceed its max: no value could satisfy it"))]
#[serde(rename_all = "camelCase")]
pub struct ConfigBound {
    /// The topic config key, e.g. `retention.ms`.
    #[schemars(length(min = 1))]
    pub key: String,
    /// Smallest allowed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Largest allowed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

/// Observed state of the cluster.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaConnectionStatus {
    /// The generation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (the cluster answers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Kafka cluster id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Number of brokers in the cluster metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokers: Option<i32>,
    /// Id of the active controller, when the cluster reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<i32>,
}

impl KafkaConnection {
    /// Whether resources in `namespace` may use this connection.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        use kube::ResourceExt;
        self.namespace().as_deref() == Some(namespace)
            || self.spec.allowed_namespaces.iter().any(|n| n == "*" || n == namespace)
    }
}

impl crate::api::conditions::HasConditions for KafkaConnectionStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
}

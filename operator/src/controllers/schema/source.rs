//! What a Schema reads before it talks to the registry: its Topic and subject, its connection's registry (with the
//! Secrets read), its text (inline or a ConfigMap key) and its references. Each failure is a [`Problem`] naming the
//! field or object at fault.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use super::shared::SchemaContext;
use crate::api::KafkaConnection;
use crate::api::conditions::{self, READY};
use crate::api::schema::Schema;
use crate::api::topic::Topic;
use crate::controllers::connection::secret_value;
use crate::decisions::problem::Problem;
use crate::decisions::schema as decide;
use crate::registry::{RegistrySettings, SchemaPayload};

/// The subject of a Schema and the connection key its registry comes from.
pub struct Target {
    pub subject: String,
    pub connection_key: String,
}

/// The subject (from `spec.subject`, or the Topic's Kafka name and the part) and the connection to use; a Topic that
/// is missing or not Ready stops here.
pub async fn target(sctx: &SchemaContext, schema: &Schema, ns: &str) -> Result<Target, Problem> {
    let ctx = &sctx.ctx;
    let (subject, topic_connection) = match (&schema.spec.topic_ref, &schema.spec.subject) {
        (Some(r), _) => {
            let topics: Api<Topic> = Api::namespaced(ctx.client.clone(), ns);
            let topic = topics
                .get_opt(&r.name)
                .await
                .map_err(|e| {
                    Problem::new("TopicNotFound", format!("spec.topicRef: cannot read Topic {:?}: {e}", r.name))
                })?
                .ok_or_else(|| {
                    Problem::new("TopicNotFound", format!("spec.topicRef: Topic {:?} does not exist", r.name))
                })?;
            let ready = topic.status.as_ref().and_then(|s| conditions::find(&s.conditions, READY));
            if ready.map(|c| c.status.as_str()) != Some("True") {
                let why = ready.map(|c| format!(" ({}: {})", c.reason, c.message)).unwrap_or_default();
                return Err(Problem::new(
                    "TopicNotReady",
                    format!("spec.topicRef: Topic {:?} is not Ready{why}", r.name),
                ));
            }
            // The name the Topic controller reports it used in Kafka (status.topicName), else the spec's.
            let kafka_name =
                topic.status.as_ref().and_then(|s| s.topic_name.clone()).unwrap_or_else(|| topic.kafka_name());
            (decide::topic_subject(&kafka_name, r.part), topic.spec.connection_ref.clone())
        }
        (None, Some(subject)) => (subject.clone(), None),
        (None, None) => return Err(Problem::new("InvalidSpec", "one of spec.topicRef and spec.subject is required")),
    };
    let reference = schema.spec.connection_ref.as_ref().or(topic_connection.as_ref());
    let connection_key = ctx.config.connection_key(reference, ns).ok_or_else(|| {
        Problem::new("NoConnection", "spec.connectionRef is not set and the operator has no default connection")
    })?;
    Ok(Target { subject, connection_key })
}

/// The registry settings of a connection, with its Secrets read. Secret values go into the settings only.
pub async fn registry_settings(sctx: &SchemaContext, key: &str, ns: &str) -> Result<RegistrySettings, Problem> {
    let ctx = &sctx.ctx;
    let (conn_ns, conn_name) = key.split_once('/').unwrap_or(("", key));
    let conn: std::sync::Arc<KafkaConnection> = ctx
        .connections
        .get(&ObjectRef::new(conn_name).within(conn_ns))
        .ok_or_else(|| crate::controllers::context::connection_not_found(key))?;
    if !conn.allows_namespace(ns) {
        return Err(crate::controllers::context::connection_not_allowed(key, ns));
    }
    let Some(spec) = &conn.spec.schema_registry else {
        return Err(Problem::new("NoSchemaRegistry", format!("KafkaConnection {key} has no spec.schemaRegistry")));
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), conn_ns);
    let mut settings = RegistrySettings { url: spec.url.clone(), basic_auth: None, ca_pem: None, client_pem: None };
    if let Some(auth) = &spec.basic_auth {
        let user = secret_value(&secrets, &auth.username, "spec.schemaRegistry.basicAuth.username").await?;
        let password = secret_value(&secrets, &auth.password, "spec.schemaRegistry.basicAuth.password").await?;
        settings.basic_auth = Some((user, password));
    }
    if let Some(tls) = &spec.tls {
        if let Some(ca) = &tls.ca {
            settings.ca_pem = Some(secret_value(&secrets, ca, "spec.schemaRegistry.tls.ca").await?);
        }
        if let (Some(cert), Some(k)) = (&tls.certificate, &tls.key) {
            let cert = secret_value(&secrets, cert, "spec.schemaRegistry.tls.certificate").await?;
            settings.client_pem = Some((cert, secret_value(&secrets, k, "spec.schemaRegistry.tls.key").await?));
        }
    }
    Ok(settings)
}

/// The schema text, and the field it came from (for messages).
pub async fn text(sctx: &SchemaContext, schema: &Schema, ns: &str) -> Result<(String, String), Problem> {
    if let Some(text) = &schema.spec.schema {
        return Ok((text.clone(), "spec.schema".into()));
    }
    let Some(r) = &schema.spec.schema_from else {
        return Err(Problem::new("InvalidSpec", "one of spec.schema and spec.schemaFrom is required"));
    };
    let field = format!("spec.schemaFrom (ConfigMap {:?} key {:?})", r.name, r.key);
    let maps: Api<ConfigMap> = Api::namespaced(sctx.ctx.client.clone(), ns);
    let map = maps
        .get_opt(&r.name)
        .await
        .map_err(|e| Problem::new("SchemaTextNotFound", format!("{field}: cannot read the ConfigMap: {e}")))?
        .ok_or_else(|| Problem::new("SchemaTextNotFound", format!("{field}: the ConfigMap does not exist")))?;
    let text = map
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .cloned()
        .ok_or_else(|| Problem::new("SchemaTextNotFound", format!("{field}: the ConfigMap has no such key")))?;
    Ok((text, field))
}

/// The references as the registry takes them (`name`, subject, version) and the referenced texts (for the local
/// Avro parse). A loop, a missing Schema or one not registered yet stops here, naming it.
pub async fn references(
    sctx: &SchemaContext,
    schema: &Schema,
    ns: &str,
) -> Result<(Vec<(String, String, i32)>, Vec<String>), Problem> {
    if schema.spec.references.is_empty() {
        return Ok((vec![], vec![]));
    }
    let edges: BTreeMap<String, Vec<String>> = sctx
        .schemas
        .state()
        .iter()
        .filter(|s| s.namespace().as_deref() == Some(ns))
        .map(|s| (s.name_any(), s.spec.references.iter().map(|r| r.schema_ref.clone()).collect()))
        .chain(std::iter::once((
            schema.name_any(),
            schema.spec.references.iter().map(|r| r.schema_ref.clone()).collect(),
        )))
        .collect();
    if let Some(path) = decide::reference_loop(&schema.name_any(), &edges) {
        return Err(Problem::new(
            "ReferenceLoop",
            format!("spec.references: the Schemas reference each other in a loop: {}", path.join(" → ")),
        ));
    }
    let mut resolved = vec![];
    let mut texts = vec![];
    for r in &schema.spec.references {
        let field = format!("spec.references[{:?}]", r.name);
        let Some(target) = sctx.schemas.get(&ObjectRef::new(&r.schema_ref).within(ns)) else {
            return Err(Problem::new(
                "ReferenceNotFound",
                format!("{field}: Schema {:?} does not exist", r.schema_ref),
            ));
        };
        let status = target.status.as_ref();
        match (status.and_then(|s| s.subject.clone()), status.and_then(|s| s.version)) {
            (Some(subject), Some(version)) => resolved.push((r.name.clone(), subject, version)),
            _ => {
                return Err(Problem::new(
                    "ReferenceNotReady",
                    format!("{field}: Schema {:?} has no registered version yet", r.schema_ref),
                ));
            }
        }
        texts.push(text(sctx, &target, ns).await?.0);
    }
    Ok((resolved, texts))
}

/// The payload of a Schema once its text and references are known.
pub fn payload(schema: &Schema, text: String, references: Vec<(String, String, i32)>) -> SchemaPayload {
    SchemaPayload { schema_type: schema.spec.schema_type, text, references }
}

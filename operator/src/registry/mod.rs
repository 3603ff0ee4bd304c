//! The only code that talks to a Schema Registry, over the Confluent Schema Registry API (the one every client
//! library speaks; Apicurio serves it at `/apis/ccompat/v7`).
//!
//! The client codes against Confluent's API and tolerates Apicurio's differences: `GET /config/{subject}` may answer
//! with the global level where Confluent answers 404 (callers always set the level they want, so either is fine);
//! a compatibility answer may carry no `messages` (the reason is then in the 409 of a registration, see
//! [`RegistryClient::refusal_reason`]); `PUT /config` answers `{"compatibility": …}` or `{"compatibilityLevel": …}`.
//!
//! Credentials (basic auth, a client key) live in the built client only: they are never part of an error, a log
//! line or a status. The URL may not carry userinfo (the CRD refuses it).

mod tls;

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::schema::{CompatibilityLevel, SchemaType};
use crate::decisions::problem::Problem;

/// How to reach one registry: the values of a connection's `spec.schemaRegistry` with its Secrets read.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    pub url: String,
    pub basic_auth: Option<(String, String)>,
    pub ca_pem: Option<String>,
    pub client_pem: Option<(String, String)>,
}

impl std::fmt::Debug for RegistrySettings {
    /// Only the URL and which credentials are present: never their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("url", &self.url)
            .field("basic_auth", &self.basic_auth.is_some())
            .field("ca_pem", &self.ca_pem.is_some())
            .field("client_pem", &self.client_pem.is_some())
            .finish()
    }
}

/// What went wrong talking to the registry. Messages carry the registry's words, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No answer (connection refused, TLS, time-out).
    #[error("schema registry unreachable: {0}")]
    Unreachable(String),
    /// The registry refused a schema as incompatible with the subject (HTTP 409).
    #[error("{0}")]
    Incompatible(String),
    /// The registry refused a schema as invalid (HTTP 422).
    #[error("{0}")]
    Invalid(String),
    /// Any other answer.
    #[error("schema registry answered {status}: {message}")]
    Http { status: u16, code: Option<i64>, message: String },
    /// The client could not be built from the settings.
    #[error("{0}")]
    Config(String),
    /// A write withheld: this replica does not hold a live leader Lease term (see `runtime::leadership`).
    #[error("{0}")]
    Fenced(#[from] crate::runtime::leadership::Fenced),
}

impl RegistryError {
    /// The problem a resource reports for this error.
    pub fn problem(&self) -> Problem {
        match self {
            RegistryError::Unreachable(_) => Problem::new("RegistryUnavailable", self.to_string()),
            RegistryError::Incompatible(m) => Problem::new("Incompatible", m.clone()),
            RegistryError::Invalid(m) => Problem::new("RegistryRejected", m.clone()),
            RegistryError::Http { .. } => Problem::new("RegistryError", self.to_string()),
            RegistryError::Fenced(_) => Problem::transient("NotLeader", self.to_string()),
            RegistryError::Config(m) => Problem::new("InvalidRegistryConfig", m.clone()),
        }
    }
}

/// A schema as the registry takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaPayload {
    pub schema_type: SchemaType,
    pub text: String,
    /// `(name, subject, version)` of each import.
    pub references: Vec<(String, String, i32)>,
}

impl SchemaPayload {
    fn body(&self) -> Value {
        let mut body = json!({"schema": self.text});
        if self.schema_type != SchemaType::Avro {
            body["schemaType"] = json!(self.schema_type.as_str());
        }
        if !self.references.is_empty() {
            body["references"] = self
                .references
                .iter()
                .map(|(name, subject, version)| json!({"name": name, "subject": subject, "version": version}))
                .collect();
        }
        body
    }
}

/// A schema registered under a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registered {
    pub version: i32,
    pub id: i64,
}

/// The registry's verdict on a schema against a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compatibility {
    pub compatible: bool,
    /// The registry's reasons, when it gives them with the verdict (Confluent does, Apicurio does not).
    pub messages: Vec<String>,
}

/// A client of one registry.
#[derive(Clone)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
    basic_auth: Option<(String, String)>,
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct ErrorBody {
    error_code: Option<i64>,
    message: Option<String>,
}

/// The subject in a URL path.
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl RegistryClient {
    pub fn new(settings: &RegistrySettings) -> Result<RegistryClient, RegistryError> {
        let mut builder = reqwest::Client::builder().timeout(TIMEOUT).connect_timeout(Duration::from_secs(5));
        if settings.url.starts_with("https://") || settings.ca_pem.is_some() || settings.client_pem.is_some() {
            builder = builder.use_preconfigured_tls(tls::config(settings)?);
        }
        let http = builder.build().map_err(|e| RegistryError::Config(format!("schema registry client: {e}")))?;
        Ok(RegistryClient {
            base: settings.url.trim_end_matches('/').to_string(),
            http,
            basic_auth: settings.basic_auth.clone(),
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, RegistryError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).header("Accept", CONTENT_TYPE);
        if let Some((user, password)) = &self.basic_auth {
            req = req.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            req = req.header("Content-Type", CONTENT_TYPE).body(body.to_string());
        }
        // reqwest's errors name the URL, which carries no credentials (the CRD refuses userinfo).
        let resp = req.send().await.map_err(|e| RegistryError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| RegistryError::Unreachable(e.without_url().to_string()))?;
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let parsed: Option<ErrorBody> = serde_json::from_str(&text).ok();
        let code = parsed.as_ref().and_then(|b| b.error_code);
        let message = parsed.and_then(|b| b.message).unwrap_or_else(|| text.chars().take(500).collect());
        Err(match status {
            StatusCode::CONFLICT => RegistryError::Incompatible(message),
            StatusCode::UNPROCESSABLE_ENTITY => RegistryError::Invalid(message),
            _ => RegistryError::Http { status: status.as_u16(), code, message },
        })
    }

    /// The version and id under which `subject` already holds exactly this schema, if it does.
    pub async fn lookup(&self, subject: &str, schema: &SchemaPayload) -> Result<Option<Registered>, RegistryError> {
        match self
            .call(reqwest::Method::POST, &format!("/subjects/{}?deleted=false", seg(subject)), Some(schema.body()))
            .await
        {
            Ok(v) => Ok(registered(&v)),
            // 40401 subject not found, 40403 schema not found.
            Err(RegistryError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Tests `schema` against the subject under its compatibility level. A subject without versions takes any
    /// schema.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        schema: &SchemaPayload,
    ) -> Result<Compatibility, RegistryError> {
        let path = format!("/compatibility/subjects/{}/versions/latest?verbose=true", seg(subject));
        match self.call(reqwest::Method::POST, &path, Some(schema.body())).await {
            Ok(v) => Ok(Compatibility {
                compatible: v.get("is_compatible").and_then(Value::as_bool).unwrap_or(false),
                messages: v
                    .get("messages")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            }),
            Err(RegistryError::Http { status: 404, code: Some(40401 | 40402), .. }) => {
                Ok(Compatibility { compatible: true, messages: vec![] })
            }
            Err(e) => Err(e),
        }
    }

    /// Registers `schema` under the subject (the registry tests compatibility again and answers 409 when it does
    /// not hold); returns its version and id.
    pub async fn register(&self, subject: &str, schema: &SchemaPayload) -> Result<Registered, RegistryError> {
        crate::runtime::leadership::gate().permit()?;
        let v = self
            .call(reqwest::Method::POST, &format!("/subjects/{}/versions", seg(subject)), Some(schema.body()))
            .await?;
        // Confluent answers `{"id"}` only: the version comes from a lookup.
        match self.lookup(subject, schema).await? {
            Some(r) => Ok(r),
            None => Err(RegistryError::Http {
                status: 200,
                code: None,
                message: format!("registered (answer {v}) but the subject does not list the schema"),
            }),
        }
    }

    /// The registry's reason for refusing `schema`, for a registry whose compatibility answer carried none
    /// (Apicurio): a registration attempt, which the registry refuses under the same rule with its reason in the
    /// 409. If the registry takes it after all (the level changed in between), it is registered: it was compatible.
    pub async fn refusal_reason(&self, subject: &str, schema: &SchemaPayload) -> Result<String, Registered> {
        match self.register(subject, schema).await {
            Ok(r) => Err(r),
            Err(e) => Ok(e.to_string()),
        }
    }

    /// The subject's own compatibility level (`None`: the subject has none of its own; Apicurio may answer with
    /// the global level instead, which callers treat the same as a different level).
    pub async fn level(&self, subject: &str) -> Result<Option<String>, RegistryError> {
        match self.call(reqwest::Method::GET, &format!("/config/{}?defaultToGlobal=false", seg(subject)), None).await {
            Ok(v) => Ok(level_of(&v)),
            Err(RegistryError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the subject's compatibility level.
    pub async fn set_level(&self, subject: &str, level: CompatibilityLevel) -> Result<(), RegistryError> {
        crate::runtime::leadership::gate().permit()?;
        let body = json!({"compatibility": level.as_str()});
        let v = self.call(reqwest::Method::PUT, &format!("/config/{}", seg(subject)), Some(body)).await?;
        match level_of(&v) {
            Some(set) if CompatibilityLevel::parse(&set) == Some(level) => Ok(()),
            other => Err(RegistryError::Http {
                status: 200,
                code: None,
                message: format!("asked for compatibility {} and got {other:?}", level.as_str()),
            }),
        }
    }

    /// Soft-deletes the subject (its versions stay recoverable). A subject that does not exist is fine.
    pub async fn delete_subject(&self, subject: &str) -> Result<(), RegistryError> {
        crate::runtime::leadership::gate().permit()?;
        match self.call(reqwest::Method::DELETE, &format!("/subjects/{}", seg(subject)), None).await {
            Ok(_) | Err(RegistryError::Http { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The level of a config answer: Confluent's and Apicurio 3.0's `compatibilityLevel`, Apicurio 3.3's `compatibility`.
fn level_of(v: &Value) -> Option<String> {
    v.get("compatibilityLevel").or_else(|| v.get("compatibility")).and_then(Value::as_str).map(str::to_string)
}

fn registered(v: &Value) -> Option<Registered> {
    Some(Registered { version: v.get("version")?.as_i64()? as i32, id: v.get("id")?.as_i64()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_config_answer_are_read() {
        assert_eq!(level_of(&json!({"compatibilityLevel": "FULL"})).as_deref(), Some("FULL"));
        assert_eq!(level_of(&json!({"compatibility": "BACKWARD", "normalize": false})).as_deref(), Some("BACKWARD"));
        assert_eq!(level_of(&json!({})), None);
    }

    #[test]
    fn payload_names_non_avro_types_and_references() {
        let avro = SchemaPayload { schema_type: SchemaType::Avro, text: "\"int\"".into(), references: vec![] };
        assert_eq!(avro.body(), json!({"schema": "\"int\""}));
        let proto = SchemaPayload {
            schema_type: SchemaType::Protobuf,
            text: "syntax = \"proto3\";".into(),
            references: vec![("a.proto".into(), "a-value".into(), 2)],
        };
        assert_eq!(
            proto.body(),
            json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF",
                "references": [{"name": "a.proto", "subject": "a-value", "version": 2}]})
        );
    }

    #[test]
    fn subjects_are_escaped_in_paths_and_settings_never_print_secrets() {
        assert_eq!(seg("orders-value"), "orders-value");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        let s = RegistrySettings {
            url: "http://r".into(),
            basic_auth: Some(("u".into(), "hunter2".into())),
            ca_pem: None,
            client_pem: None,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}

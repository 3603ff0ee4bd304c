//! The `KafkaConnection` controller: builds the shared client of each cluster from the spec and its Secrets, checks
//! that the cluster answers, and reports it in status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::reflector::store::Writer;
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::watch::Receiver;

use super::context::Context;
use super::status::apply_status;
use super::watch;
use crate::api::common::SecretKeyRef;
use crate::api::conditions::{self, Draft, READY};
use crate::api::connection::{KafkaConnection, SaslMechanism};
use crate::api::full_name;
use crate::decisions::problem::Problem;
use crate::kafka::{ClientSettings, ClusterDescription};
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResultLabel};

/// How often a connection is re-checked.
const HEALTH_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// The text under `r.key` of the Secret `r.name` (the Api's namespace), or a `SecretNotFound` problem naming `field`.
pub async fn secret_value(api: &Api<Secret>, r: &SecretKeyRef, field: &str) -> Result<String, Problem> {
    let missing = |what: String| Problem::new("SecretNotFound", format!("{field}: {what}"));
    let secret = match api.get_opt(&r.name).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(missing(format!("Secret {:?} does not exist", r.name))),
        Err(e) => return Err(missing(format!("cannot read Secret {:?}: {e}", r.name))),
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(&r.key)).map(|s| s.clone().into_bytes()));
    let Some(bytes) = bytes else {
        return Err(missing(format!("Secret {:?} has no key {:?}", r.name, r.key)));
    };
    String::from_utf8(bytes).map_err(|_| missing(format!("Secret {:?} key {:?} is not UTF-8 text", r.name, r.key)))
}

/// librdkafka settings of a connection. Secret values go into the settings only, never into logs or status.
async fn settings_for(conn: &KafkaConnection, secrets: &Api<Secret>) -> Result<ClientSettings, Problem> {
    let spec = &conn.spec;
    let mut s = ClientSettings::new(&spec.bootstrap_servers);
    for (k, v) in &spec.client_properties {
        s.set(k, v.clone());
    }
    let protocol = match (spec.tls.is_some(), spec.sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    s.set("security.protocol", protocol);
    if let Some(tls) = &spec.tls {
        if let Some(ca) = &tls.ca {
            s.set("ssl.ca.pem", secret_value(secrets, ca, "spec.tls.ca").await?);
        }
        if let (Some(cert), Some(key)) = (&tls.certificate, &tls.key) {
            s.set("ssl.certificate.pem", secret_value(secrets, cert, "spec.tls.certificate").await?);
            s.set("ssl.key.pem", secret_value(secrets, key, "spec.tls.key").await?);
        }
        if tls.insecure_skip_hostname_verification {
            s.set("ssl.endpoint.identification.algorithm", "none");
        }
    }
    if let Some(sasl) = &spec.sasl {
        s.set("sasl.mechanism", sasl.mechanism.as_str());
        if sasl.mechanism == SaslMechanism::OauthBearer {
            s.set("sasl.oauthbearer.method", "oidc");
            if let Some(endpoint) = &sasl.oauth_token_endpoint {
                s.set("sasl.oauthbearer.token.endpoint.url", endpoint.clone());
            }
            if let Some(u) = &sasl.username {
                s.set("sasl.oauthbearer.client.id", secret_value(secrets, u, "spec.sasl.username").await?);
            }
            if let Some(p) = &sasl.password {
                s.set("sasl.oauthbearer.client.secret", secret_value(secrets, p, "spec.sasl.password").await?);
            }
        } else {
            if let Some(u) = &sasl.username {
                s.set("sasl.username", secret_value(secrets, u, "spec.sasl.username").await?);
            }
            if let Some(p) = &sasl.password {
                s.set("sasl.password", secret_value(secrets, p, "spec.sasl.password").await?);
            }
        }
    }
    Ok(s)
}

/// The guardrails' own shape: a `topicNamePattern` that is no regular expression would refuse every Topic on the
/// connection with a message about the connection, so the connection itself says so.
fn check_policy(conn: &KafkaConnection) -> Result<(), Problem> {
    let Some(pattern) = conn.spec.policy.as_ref().and_then(|p| p.topic_name_pattern.as_deref()) else { return Ok(()) };
    regex::Regex::new(&format!("^(?:{pattern})$")).map(|_| ()).map_err(|e| {
        Problem::new("InvalidSpec", format!("spec.policy.topicNamePattern is not a valid regular expression: {e}"))
    })
}

/// librdkafka refused the client's settings: name the `spec.clientProperties` key it refused, when it is one.
fn client_config_problem(conn: &KafkaConnection, error: String) -> Problem {
    let key =
        conn.spec.client_properties.keys().find(|k| error.contains(&format!("\"{k}\"")) || error.contains(k.as_str()));
    let message = match key {
        Some(k) => format!("spec.clientProperties.{k}: {error}"),
        None => error,
    };
    Problem::new("InvalidClientConfig", message)
}

/// Runs the controller until `shutdown`, keeping `cache` (the [`Context`]'s connections) filled.
pub async fn run(ctx: Arc<Context>, cache: Writer<KafkaConnection>, shutdown: Receiver<bool>) {
    let api = watch::watched::<KafkaConnection>(&ctx.client, &ctx.config);
    let stream = watcher(api, watcher::Config::default()).default_backoff().reflect(cache).applied_objects();
    Controller::for_stream(stream, ctx.connections.clone())
        .graceful_shutdown_on(watch::stopped(shutdown))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[tracing::instrument(skip_all, fields(connection = %full_name(conn.as_ref())))]
pub async fn reconcile(conn: Arc<KafkaConnection>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = check(conn, &ctx).await;
    // Counted like every other kind's reconciles, so `tributary_reconciles_total` covers connections too.
    let label = if result.is_ok() { ResultLabel::Success } else { ResultLabel::Error };
    ctx.metrics.reconciles.get_or_create(&ReconcileLabels { kind: "KafkaConnection", result: label }).inc();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&KindLabels { kind: "KafkaConnection" })
        .observe(started.elapsed().as_secs_f64());
    result
}

/// Connects (or reuses the client), and records in status whether the cluster answers.
async fn check(conn: Arc<KafkaConnection>, ctx: &Context) -> Result<Action, Error> {
    let ns = conn.namespace().unwrap_or_default();
    let key = full_name(conn.as_ref());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let mut draft = Draft::new(conn.status.clone().unwrap_or_default(), conn.metadata.generation);
    draft.status.observed_generation = conn.metadata.generation;
    let was_ready = conditions::is_true(&draft.status.conditions, READY);
    let outcome = connect(ctx, &key, &conn, &secrets).await;
    let labels = crate::runtime::metrics::ResourceLabels { namespace: ns.clone(), name: conn.name_any() };
    ctx.metrics.connection_ready.get_or_create(&labels).set(i64::from(outcome.is_ok()));
    let (reason, message) = match outcome {
        Ok(cluster) => {
            draft.status.cluster_id = Some(cluster.cluster_id);
            draft.status.brokers = Some(cluster.brokers.len() as i32);
            draft.status.controller = cluster.controller;
            let message = format!("connected to {} broker(s)", cluster.brokers.len());
            draft.set(READY, true, "Connected", message.clone());
            ("Connected", message)
        }
        Err(problem) => {
            draft.not_ready(problem.reason, problem.message.clone());
            (problem.reason, problem.message)
        }
    };
    if was_ready != conditions::is_true(&draft.status.conditions, READY) {
        ctx.event(conn.as_ref(), was_ready, reason, "Connect", message).await;
    }
    let api: Api<KafkaConnection> = Api::namespaced(ctx.client.clone(), &ns);
    apply_status(&api, conn.as_ref(), conn.status.as_ref(), &draft.status, &ctx.metrics).await?;
    Ok(Action::requeue(HEALTH_INTERVAL))
}

/// Builds (or reuses) the connection's shared client and asks the cluster to describe itself.
async fn connect(
    ctx: &Context,
    key: &str,
    conn: &KafkaConnection,
    secrets: &Api<Secret>,
) -> Result<ClusterDescription, Problem> {
    let settings = match check_policy(conn) {
        Ok(()) => settings_for(conn, secrets).await,
        Err(p) => Err(p),
    };
    let settings = match settings {
        Ok(s) => s,
        Err(p) => {
            ctx.clients.remove(key);
            return Err(p);
        }
    };
    let client = ctx.clients.get_or_create(key, &settings).map_err(|e| client_config_problem(conn, e.to_string()))?;
    client.describe_cluster().await.map_err(|e| e.problem())
}

pub fn error_policy(_conn: Arc<KafkaConnection>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "connection reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

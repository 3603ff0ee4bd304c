//! One reconcile of a live `KafkaUser`: resolve its connection and references → derive the ACLs (pure) → the
//! credential (Kafka first, then the Secret) → the ACLs → the quotas. Each step goes on or stops with a [`Halt`];
//! the outcome lands in the status draft, written once at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::Error;
use super::credentials;
use super::state::{DRIFTED, Halt, PAUSED, RETRY, StatusDraft};
use crate::api::access::AclBinding;
use crate::api::common::ManagementPolicy;
use crate::api::conditions::{self, Draft, READY};
use crate::api::kafka_user::{AuthenticationType, KafkaUser};
use crate::api::{ConsumerGroup, KafkaConnection, PAUSED_ANNOTATION, Topic};
use crate::controllers::context::{Context, resolve_connection};
use crate::controllers::status::apply_status;
use crate::decisions::access::{self, ConsumedGroup, Reference};
use crate::decisions::drift::{self, DriftSeen};
use crate::decisions::problem::Problem;
use crate::decisions::{credential, quota, tenancy};
use crate::kafka::{ClusterClient, KafkaError};

/// Reconciles a live user and writes its status once.
pub async fn apply(user: Arc<KafkaUser>, ctx: &Context, api: &Api<KafkaUser>) -> Result<Action, Error> {
    let mut draft = Draft::new(user.status.clone().unwrap_or_default(), user.metadata.generation);
    draft.status.observed_generation = user.metadata.generation;
    let paused = user.annotations().get(PAUSED_ANNOTATION).is_some_and(|v| v == "true");
    let next = if paused {
        draft.set(PAUSED, true, "Paused", format!("annotation {PAUSED_ANNOTATION}=true: no writes to Kafka"));
        Action::requeue(ctx.config.resync)
    } else {
        draft.drop_condition(PAUSED);
        match converge(&user, ctx, &mut draft).await {
            Ok(()) => Action::requeue(ctx.config.resync),
            Err(halt) => {
                let reported = user.status.as_ref().and_then(|s| conditions::find(&s.conditions, READY));
                if halt.announce && reported.map(|c| c.reason.as_str()) != Some(halt.problem.reason) {
                    ctx.event(user.as_ref(), true, halt.problem.reason, "Apply", halt.problem.message.clone()).await;
                }
                draft.not_ready(halt.problem.reason, halt.problem.message);
                Action::requeue(halt.retry)
            }
        }
    };
    apply_status(api, user.as_ref(), user.status.as_ref(), &draft.status, &ctx.metrics).await?;
    Ok(next)
}

async fn converge(user: &KafkaUser, ctx: &Context, draft: &mut StatusDraft) -> Result<(), Halt> {
    let ns = user.namespace().unwrap_or_default();
    let (conn, client) = resolve_connection(ctx, user.spec.connection_ref.as_ref(), &ns).map_err(|p| {
        let retry = p.retry_after(RETRY);
        Halt::quiet(p, retry)
    })?;
    let prefix = tenancy::prefix(conn.spec.tenancy.as_ref(), &ns);
    let username = credential::username(prefix.as_deref(), &user.name_any());
    let principal = credential::principal(user.spec.authentication.type_, &username);
    draft.status.username = Some(username.clone());
    draft.status.secret = Some(user.secret_name());
    usable(user, &conn).map_err(|p| Halt::loud(p, ctx.config.resync))?;

    // The references, then the ACLs they give (pure).
    let connection_key = ctx.config.connection_key(user.spec.connection_ref.as_ref(), &ns);
    let (produced, consumed) = references(user, ctx, &conn, connection_key.as_deref()).await?;
    let desired = access::derive(&user.spec, &principal, &produced, &consumed, prefix.as_deref())
        .map_err(|p| Halt::loud(p, ctx.config.resync))?;

    match user.spec.authentication.type_ {
        AuthenticationType::ScramSha512 => credentials::scram(user, ctx, &client, &conn, &username, draft).await?,
        AuthenticationType::Tls => credentials::tls(user, ctx, &conn, &username, draft).await?,
    }
    acls(user, ctx, &client, &principal, desired, draft).await?;
    quotas(user, &client, &username, draft).await?;

    let acl_count = draft.status.acls.len();
    let msg =
        format!("Kafka user {username:?} has its credential in Secret {:?} and {acl_count} ACL(s)", user.secret_name());
    draft.set(READY, true, "Ready", msg);
    Ok(())
}

/// What the spec asks that the connection cannot give.
fn usable(user: &KafkaUser, conn: &KafkaConnection) -> Result<(), Problem> {
    let name = conn.name_any();
    match user.spec.authentication.type_ {
        AuthenticationType::Tls if conn.spec.client_ca.is_none() => Err(Problem::new(
            "ClientCaMissing",
            format!(
                "spec.authentication.type: tls needs a client CA to issue certificates with (KafkaConnection {name} \
                 spec.clientCa), and it has none"
            ),
        )),
        AuthenticationType::Tls if conn.spec.tls.is_none() => Err(Problem::new(
            "ConnectionWithoutTls",
            format!(
                "spec.authentication.type: tls needs KafkaConnection {name} to reach Kafka over TLS (its spec.tls), \
                 so the Secret's bootstrap servers accept a client certificate; it has no spec.tls"
            ),
        )),
        AuthenticationType::ScramSha512 if conn.spec.sasl.is_none() => Err(Problem::new(
            "ConnectionWithoutSasl",
            format!(
                "spec.authentication.type: scram-sha-512 needs KafkaConnection {name} to reach Kafka over SASL (its \
                 spec.sasl), so the Secret's bootstrap servers accept the credential; it has no spec.sasl"
            ),
        )),
        AuthenticationType::ScramSha512 | AuthenticationType::Tls => Ok(()),
    }
}

/// The Kafka topics of `spec.produces` and the groups of `spec.consumes`, each mapped under the connection's
/// tenancy rule. A name that is not a resource of this namespace on this connection is refused with the field.
async fn references(
    user: &KafkaUser,
    ctx: &Context,
    conn: &KafkaConnection,
    connection_key: Option<&str>,
) -> Result<(Vec<String>, Vec<ConsumedGroup>), Halt> {
    let ns = user.namespace().unwrap_or_default();
    let rule = conn.spec.tenancy.as_ref();
    let same_connection = |reference: Option<&crate::api::ConnectionRef>| {
        ctx.config.connection_key(reference, &ns).as_deref() == connection_key
    };
    let topics: Api<Topic> = Api::namespaced(ctx.client.clone(), &ns);
    let mut found = BTreeMap::new();
    for name in &user.spec.produces {
        let topic = topics.get_opt(name).await.map_err(|e| Halt::kube(e, "reading spec.produces"))?;
        let kafka = topic
            .filter(|t| same_connection(t.spec.connection_ref.as_ref()))
            .map(|t| tenancy::kafka_name(rule, &ns, &t.kafka_name()));
        found.insert(name.clone(), kafka);
    }
    let produced = access::resolve(Reference::Produces, &ns, &user.spec.produces, &found);
    let groups: Api<ConsumerGroup> = Api::namespaced(ctx.client.clone(), &ns);
    let mut found = BTreeMap::new();
    for name in &user.spec.consumes {
        let group = groups.get_opt(name).await.map_err(|e| Halt::kube(e, "reading spec.consumes"))?;
        let resolved = group.filter(|g| same_connection(g.spec.connection_ref.as_ref())).map(|g| ConsumedGroup {
            group_id: tenancy::kafka_name(rule, &ns, &g.group_id()),
            topics: g.spec.topics.iter().map(|t| tenancy::kafka_name(rule, &ns, t)).collect(),
        });
        found.insert(name.clone(), resolved);
    }
    let consumed = access::resolve(Reference::Consumes, &ns, &user.spec.consumes, &found);
    // Every missing reference of both lists, in one condition.
    match (produced, consumed) {
        (Ok(produced), Ok(consumed)) => Ok((produced, consumed)),
        (Err(p), Ok(_)) | (Ok(_), Err(p)) => Err(Halt::loud(p, ctx.config.resync)),
        (Err(p), Err(c)) => {
            Err(Halt::loud(Problem::new(p.reason, format!("{}; {}", p.message, c.message)), ctx.config.resync))
        }
    }
}

/// Makes Kafka's bindings for the principal exactly `desired`, and records what was drift.
async fn acls(
    user: &KafkaUser,
    ctx: &Context,
    client: &ClusterClient,
    principal: &str,
    desired: BTreeSet<AclBinding>,
    draft: &mut StatusDraft,
) -> Result<(), Halt> {
    let observed: BTreeSet<AclBinding> =
        client.describe_acls(principal).await.map_err(|e| Halt::kafka(e, "reading the ACLs"))?.into_iter().collect();
    let plan = access::plan(&desired, &observed);
    let in_force: BTreeSet<AclBinding> = draft.status.acls.iter().cloned().collect();
    let found = access::drift(&plan, &in_force);
    // Create before delete: an application never loses a binding it keeps while others change.
    let create: Vec<AclBinding> = plan.create.iter().cloned().collect();
    if !create.is_empty() {
        check(client.create_acls(&create).await, &create, "creating")?;
    }
    let delete: Vec<AclBinding> = plan.delete.iter().cloned().collect();
    if !delete.is_empty() {
        check(client.delete_acls(&delete).await, &delete, "deleting")?;
    }
    draft.status.acls = desired.into_iter().collect();

    let current = user.status.as_ref();
    let previous =
        current.and_then(|s| Some((s.drift.as_slice(), s.drift_corrected_time.as_ref()?.0.as_millisecond())));
    let report = drift::report(DriftSeen {
        policy: ManagementPolicy::Enforce,
        found: &found,
        corrected: !found.is_empty(),
        previous,
        spec_changed: current.and_then(|s| s.observed_generation) != user.metadata.generation,
        now_ms: draft.now.as_millisecond(),
    });
    if !found.is_empty() {
        ctx.event(user, true, "DriftCorrected", "Apply", access::correction_note(&found)).await;
    }
    draft.status.drift = report.drift;
    draft.status.drift_corrected_time =
        report.corrected_at_ms.map(|ms| Time(Timestamp::from_millisecond(ms).unwrap_or(draft.now)));
    draft.set(DRIFTED, report.drifted, report.reason, report.message);
    Ok(())
}

/// The first binding Kafka refused, as a halt naming it.
fn check(
    answer: Result<Vec<Result<(), KafkaError>>, KafkaError>,
    bindings: &[AclBinding],
    what: &str,
) -> Result<(), Halt> {
    let results = answer.map_err(|e| Halt::kafka(e, &format!("{what} ACLs")))?;
    match results.into_iter().zip(bindings).find_map(|(r, b)| r.err().map(|e| (e, b))) {
        Some((e, binding)) => Err(Halt::kafka(e, &format!("{what} ACL {binding}"))),
        None => Ok(()),
    }
}

/// Makes Kafka's quotas for the user exactly the spec's.
async fn quotas(user: &KafkaUser, client: &ClusterClient, username: &str, draft: &mut StatusDraft) -> Result<(), Halt> {
    let observed = client.describe_client_quotas(username).await.map_err(|e| Halt::kafka(e, "reading the quotas"))?;
    let plan = quota::quota_plan(user.spec.quotas.as_ref(), &observed);
    if !plan.is_empty() {
        client
            .alter_client_quotas(username, &plan.set, &plan.remove)
            .await
            .map_err(|e| Halt::kafka(e, "setting the quotas"))?;
    }
    draft.status.quotas = user.spec.quotas.clone().filter(|q| !quota::desired(Some(q)).is_empty());
    Ok(())
}

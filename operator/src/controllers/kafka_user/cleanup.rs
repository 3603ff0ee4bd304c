//! What deleting a `KafkaUser` with `deletionPolicy: Delete` removes: every ACL binding of its principal, its SCRAM
//! credential, its quotas, and the Secret Tributary wrote. Holds the resource (its finalizer) until Kafka answered;
//! when the connection itself is gone there is nothing left to ask, and the resource is released with a Warning.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::Error;
use super::secret;
use crate::api::kafka_user::KafkaUser;
use crate::controllers::context::{Context, resolve_connection};
use crate::decisions::{credential, tenancy};
use crate::kafka::ScramMechanism;

pub async fn cleanup(user: Arc<KafkaUser>, ctx: &Context) -> Result<Action, Error> {
    let ns = user.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let (conn, client) = match resolve_connection(ctx, user.spec.connection_ref.as_ref(), &ns) {
        Ok(resolved) => resolved,
        Err(problem) if problem.reason == "ConnectionNotFound" || problem.reason == "NoConnection" => {
            let note =
                format!("{}: the user's credential, ACLs and quotas could not be removed from Kafka", problem.message);
            ctx.event(user.as_ref(), true, problem.reason, "Delete", note).await;
            secret::delete(&secrets, &user, &user.secret_name()).await?;
            return Ok(Action::await_change());
        }
        Err(problem) => return Err(problem.into()),
    };
    let prefix = tenancy::prefix(conn.spec.tenancy.as_ref(), &ns);
    let username = credential::username(prefix.as_deref(), &user.name_any());
    let principal = credential::principal(user.spec.authentication.type_, &username);
    let bindings = client.describe_acls(&principal).await?;
    if !bindings.is_empty() {
        for answer in client.delete_acls(&bindings).await? {
            answer?;
        }
    }
    client.delete_scram_credential(&username, ScramMechanism::Sha512).await?;
    let quotas = client.describe_client_quotas(&username).await?;
    if !quotas.is_empty() {
        let keys: Vec<String> = quotas.into_keys().collect();
        client.alter_client_quotas(&username, &Default::default(), &keys).await?;
    }
    secret::delete(&secrets, &user, &user.secret_name()).await?;
    let note = format!("removed Kafka user {username:?}: {} ACL(s), its credential and quotas", bindings.len());
    ctx.event(user.as_ref(), false, "Deleted", "Delete", note).await;
    Ok(Action::await_change())
}

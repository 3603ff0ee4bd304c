//! A `KafkaUser`'s credential and the Secret that carries it: a SCRAM-SHA-512 password set in Kafka, or a client
//! certificate issued from the connection's client CA. Either is made anew when missing or when the
//! rotate-password annotation asks, and the Secret is rewritten only when its data must change.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Api, ResourceExt};

use super::certificate;
use super::secret::{self, Found};
use super::state::{Halt, StatusDraft};
use crate::api::KafkaConnection;
use crate::api::kafka_user::{KafkaUser, ROTATE_PASSWORD_ANNOTATION};
use crate::controllers::connection::secret_value;
use crate::controllers::context::Context;
use crate::decisions::credential;
use crate::decisions::problem::Problem;
use crate::kafka::{ClusterClient, SCRAM_MIN_ITERATIONS, ScramMechanism};

/// The user's Secret as it is now; a Secret of that name that is not the user's stops the reconcile.
async fn current_secret(user: &KafkaUser, ctx: &Context, secrets: &Api<Secret>) -> Result<Found, Halt> {
    let name = user.secret_name();
    let found = secret::read(secrets, user, &name).await.map_err(|e| Halt::kube(e, "reading the Secret"))?;
    if let Found::Foreign = found {
        let msg =
            format!("Secret {name:?} exists and was not written by Tributary for this KafkaUser: set spec.secretName");
        return Err(Halt::loud(Problem::new("SecretConflict", msg), ctx.config.resync));
    }
    Ok(found)
}

/// Whether the rotate-password annotation asks for a rotation now, and its value.
fn rotation<'a>(user: &'a KafkaUser, draft: &StatusDraft) -> (bool, Option<&'a str>) {
    let value = user.annotations().get(ROTATE_PASSWORD_ANNOTATION).map(String::as_str);
    (credential::should_rotate(value, draft.status.password_rotation.as_deref()), value)
}

/// The SCRAM credential: a new password when there is none in the Secret or a rotation is asked for (set in Kafka
/// first, then written to the Secret); the Secret's password set again when Kafka lost the credential; the Secret
/// rewritten when its client properties are out of date.
pub async fn scram(
    user: &KafkaUser,
    ctx: &Context,
    client: &ClusterClient,
    conn: &KafkaConnection,
    username: &str,
    draft: &mut StatusDraft,
) -> Result<(), Halt> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &user.namespace().unwrap_or_default());
    let name = user.secret_name();
    let found = current_secret(user, ctx, &secrets).await?;
    let (rotate, rotation) = rotation(user, draft);
    let mechanism = ScramMechanism::Sha512;
    let kept = secret::password(&found).filter(|_| !rotate).map(str::to_string);
    let password = match kept {
        Some(password) => {
            let known = client
                .describe_scram_credentials(username)
                .await
                .map_err(|e| Halt::kafka(e, "reading the credential"))?;
            if !known.iter().any(|(m, _)| *m == mechanism) {
                client
                    .upsert_scram_credential(username, mechanism, &password, SCRAM_MIN_ITERATIONS)
                    .await
                    .map_err(|e| Halt::kafka(e, "restoring the credential"))?;
                let note = format!("Kafka had no SCRAM credential for {username:?}: set again from Secret {name:?}");
                ctx.event(user, true, "CredentialRestored", "Apply", note).await;
            }
            password
        }
        None => {
            let password = credential::new_password(random_bytes());
            client
                .upsert_scram_credential(username, mechanism, &password, SCRAM_MIN_ITERATIONS)
                .await
                .map_err(|e| Halt::kafka(e, "setting the credential"))?;
            draft.status.password_rotated_time = Some(Time(draft.now));
            if rotate {
                draft.status.password_rotation = rotation.map(str::to_string);
                ctx.event(
                    user,
                    false,
                    "PasswordRotated",
                    "Apply",
                    format!("new password for {username:?} in Secret {name:?}"),
                )
                .await;
            }
            password
        }
    };
    let tls = conn.spec.tls.is_some();
    let data = credential::scram_secret(username, &password, &conn.spec.bootstrap_servers, tls);
    secret::write(&secrets, user, &name, &found, data).await.map_err(|e| Halt::kube(e, "writing the Secret"))?;
    Ok(())
}

/// 24 bytes from the operating system's random source.
fn random_bytes() -> [u8; 24] {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("the system's random source");
    bytes
}

/// The client certificate: issued when there is none signed by the current client CA for this user, when it nears
/// its end, or when a rotation is asked for; the Secret holds it with its key and the brokers' CA.
pub async fn tls(
    user: &KafkaUser,
    ctx: &Context,
    conn: &KafkaConnection,
    username: &str,
    draft: &mut StatusDraft,
) -> Result<(), Halt> {
    let Some(ca) = &conn.spec.client_ca else {
        return Err(Halt::loud(
            Problem::new(
                "ClientCaMissing",
                "spec.authentication.type is tls, but the connection has no spec.clientCa to issue a certificate",
            ),
            ctx.config.resync,
        ));
    };
    let conn_secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &conn.namespace().unwrap_or_default());
    let read = |r, field| secret_value(&conn_secrets, r, field);
    let halt = |p: Problem| Halt::loud(p, ctx.config.resync);
    let ca_certificate = read(&ca.certificate, "KafkaConnection spec.clientCa.certificate").await.map_err(halt)?;
    let ca_key = read(&ca.key, "KafkaConnection spec.clientCa.key").await.map_err(halt)?;
    let broker_ca = match conn.spec.tls.as_ref().and_then(|t| t.ca.as_ref()) {
        Some(r) => Some(read(r, "KafkaConnection spec.tls.ca").await.map_err(halt)?),
        None => None,
    };

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &user.namespace().unwrap_or_default());
    let name = user.secret_name();
    let found = current_secret(user, ctx, &secrets).await?;
    let (rotate, rotation) = rotation(user, draft);
    let current = match &found {
        Found::Ours(data) => data
            .get(credential::CERTIFICATE_KEY)
            .zip(data.get(credential::PRIVATE_KEY_KEY))
            .and_then(|(c, k)| Some((c.clone(), k.clone(), certificate::valid_until(c, &ca_certificate, username)?))),
        _ => None,
    };
    let now = draft.now;
    let not_after = current.as_ref().map(|(_, _, at)| at.as_millisecond());
    let (cert, key, until) = match current {
        Some(current) if !credential::should_reissue(not_after, now.as_millisecond(), ca.renew_before_days, rotate) => {
            current
        }
        _ => {
            let issued = certificate::issue(&ca_certificate, &ca_key, username, now, ca.validity_days).map_err(halt)?;
            if rotate {
                draft.status.password_rotation = rotation.map(str::to_string);
            }
            let note = format!(
                "client certificate CN={username} issued, valid until {}, in Secret {name:?}",
                issued.not_after
            );
            ctx.event(user, false, "CertificateIssued", "Apply", note).await;
            (issued.certificate, issued.key, issued.not_after)
        }
    };
    draft.status.certificate_not_after = Some(Time(until));
    let data = credential::tls_secret(username, &cert, &key, broker_ca.as_deref(), &conn.spec.bootstrap_servers);
    secret::write(&secrets, user, &name, &found, data).await.map_err(|e| Halt::kube(e, "writing the Secret"))?;
    Ok(())
}

//! The Secret a `KafkaUser`'s application mounts: the user name, the password and ready client properties. The
//! operator reads it with `get`, writes it with server-side apply only when its data must change, and deletes it
//! with the user under `deletionPolicy: Delete`; it never lists or watches Secrets. A Secret of that name that
//! Tributary did not write is left alone. Nothing here logs a Secret's data.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use crate::api::kafka_user::KafkaUser;
use crate::controllers::status::MANAGER;
use crate::decisions::credential::PASSWORD_KEY;

/// The label naming the KafkaUser a Secret belongs to.
pub const USER_LABEL: &str = "tributary.dev/kafka-user";

/// What the user's Secret holds now.
pub enum Found {
    /// No Secret of that name.
    Missing,
    /// Written by Tributary for this user: its data as text.
    Ours(BTreeMap<String, String>),
    /// A Secret of that name that is not this user's: never overwritten.
    Foreign,
}

/// Reads the Secret `name` of `user`'s namespace.
pub async fn read(api: &Api<Secret>, user: &KafkaUser, name: &str) -> Result<Found, kube::Error> {
    let Some(secret) = api.get_opt(name).await? else { return Ok(Found::Missing) };
    if secret.labels().get(USER_LABEL) != Some(&user.name_any()) {
        return Ok(Found::Foreign);
    }
    let data = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| String::from_utf8(v.0).ok().map(|v| (k, v)))
        .collect();
    Ok(Found::Ours(data))
}

/// The password a Secret of ours holds, if any.
pub fn password(found: &Found) -> Option<&str> {
    match found {
        Found::Ours(data) => data.get(PASSWORD_KEY).map(String::as_str).filter(|p| !p.is_empty()),
        _ => None,
    }
}

/// Writes `data` to the Secret unless it already holds exactly that. Returns whether a write happened.
pub async fn write(
    api: &Api<Secret>,
    user: &KafkaUser,
    name: &str,
    found: &Found,
    data: BTreeMap<String, String>,
) -> Result<bool, kube::Error> {
    if matches!(found, Found::Ours(current) if *current == data) {
        return Ok(false);
    }
    let labels = [
        ("app.kubernetes.io/managed-by".to_string(), "tributary".to_string()),
        (USER_LABEL.to_string(), user.name_any()),
    ];
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: user.namespace(),
            labels: Some(labels.into_iter().collect()),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))).collect()),
        ..Default::default()
    };
    let mut body = serde_json::to_value(&secret).expect("a Secret serializes");
    body["apiVersion"] = "v1".into();
    body["kind"] = "Secret".into();
    crate::controllers::status::fenced_kube()?;
    api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)).await?;
    Ok(true)
}

/// Deletes the Secret when it is this user's (a missing one is deleted already).
pub async fn delete(api: &Api<Secret>, user: &KafkaUser, name: &str) -> Result<(), kube::Error> {
    if let Found::Ours(_) = read(api, user, name).await? {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

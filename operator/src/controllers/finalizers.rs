//! What the controllers that guard Kafka with a finalizer share: their reconcile error, and releasing a finalizer
//! left from when the resource's policy asked for one.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::kafka::KafkaError;

/// A reconcile's error in a controller with a finalizer (Topic, KafkaUser, DlqPolicy, Schema).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Refused(#[from] crate::decisions::problem::Problem),
}

/// Removes `finalizer` from `obj` when it holds it (left from when its policy was Delete, or from an older version),
/// guarded by resourceVersion. Returns whether it was there: the change then comes back through the watch and
/// reconciles the object again.
pub async fn release_leftover<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    if !obj.finalizers().iter().any(|f| f == finalizer) {
        return Ok(false);
    }
    let remaining: Vec<&String> = obj.finalizers().iter().filter(|f| *f != finalizer).collect();
    let patch = serde_json::json!({"metadata": {"finalizers": remaining, "resourceVersion": obj.resource_version()}});
    crate::controllers::status::fenced_kube()?;
    api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(true)
}

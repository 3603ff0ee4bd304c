//! Status writes: server-side apply of the status subresource, skipped when nothing changed.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::runtime::metrics::{KindLabels, Metrics};

/// The field manager of every write the operator makes.
pub const MANAGER: &str = "tributary";

/// Applies `status` unless it equals the object's current status. Returns whether a write happened.
pub async fn apply_status<K, S>(
    api: &Api<K>,
    obj: &K,
    current: Option<&S>,
    status: &S,
    metrics: &Metrics,
) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(false);
    }
    fenced_kube()?;
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(&obj.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)).await?;
    metrics.status_writes.get_or_create(&KindLabels { kind: leak_kind(&K::kind(&())) }).inc();
    Ok(true)
}

/// A write to the apiserver withheld by this replica's write gate (see `runtime::leadership`), as a kube error.
pub fn fenced_kube() -> Result<(), kube::Error> {
    crate::runtime::leadership::gate().permit().map_err(|f| kube::Error::Service(Box::new(f)))
}

/// Kinds are few and fixed: a `&'static str` label without allocating per write.
fn leak_kind(kind: &str) -> &'static str {
    match kind {
        "Topic" => "Topic",
        "KafkaConnection" => "KafkaConnection",
        "ConsumerGroup" => "ConsumerGroup",
        "DlqPolicy" => "DlqPolicy",
        "KafkaUser" => "KafkaUser",
        "Schema" => "Schema",
        _ => "Other",
    }
}

//! Writing and reading Kubernetes objects of a namespace: server-side apply, and Events.

use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

/// A namespaced kind the harness creates, applies and reads.
pub trait Namespaced:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
{
}

impl<K> Namespaced for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
{
}

/// The `metadata.name` of a manifest.
pub fn manifest_name(manifest: &serde_json::Value) -> &str {
    manifest["metadata"]["name"].as_str().expect("manifest has a name")
}

/// Server-side applies `manifest` through `api` as the e2e's field manager, forcing conflicts.
pub async fn server_side_apply<K: Namespaced>(api: &Api<K>, manifest: &serde_json::Value) -> kube::Result<K> {
    api.patch(manifest_name(manifest), &PatchParams::apply("tributary-e2e").force(), &Patch::Apply(manifest)).await
}

/// Server-side applies a manifest in `namespace`.
pub async fn apply_in<K: Namespaced>(client: &Client, namespace: &str, manifest: serde_json::Value) -> K {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    server_side_apply(&api, &manifest).await.unwrap_or_else(|e| panic!("applying {}: {e}", manifest_name(&manifest)))
}

/// Events about objects in `namespace`, oldest first, as `(regarding, reason, note)`.
pub async fn events_in(client: &Client, namespace: &str) -> Vec<(String, String, String)> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), namespace);
    let mut events = api.list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
    events.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    events
        .into_iter()
        .map(|e| {
            let regarding = e.regarding.and_then(|r| r.name).unwrap_or_default();
            (regarding, e.reason.unwrap_or_default(), e.note.unwrap_or_default())
        })
        .collect()
}

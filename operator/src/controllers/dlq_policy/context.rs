//! What every DlqPolicy reconcile shares, beside the operator-wide [`Context`].

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::mpsc;

use super::memory::PolicyMemories;
use crate::api::conditions;
use crate::api::dlq_policy::{DlqPolicy, DlqPolicyStatus};
use crate::api::topic::Topic;
use crate::controllers::context::Context;

/// State of the DlqPolicy controller, beside the shared [`Context`].
pub struct DlqContext {
    pub base: Arc<Context>,
    pub policies: Store<DlqPolicy>,
    /// The child `Topic` resources of every policy.
    pub topics: Store<Topic>,
    pub memory: PolicyMemories,
    /// Wakes a policy's reconcile (a running move reports progress).
    pub wake: mpsc::UnboundedSender<ObjectRef<DlqPolicy>>,
}

pub use crate::controllers::finalizers::Error;

pub type Draft = conditions::Draft<DlqPolicyStatus>;

pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// The redrive group of a policy (and the prefix of its movers' transactional ids).
pub fn redrive_group(policy: &DlqPolicy) -> String {
    use kube::ResourceExt;
    format!("tributary-redrive-{}-{}", policy.namespace().unwrap_or_default(), policy.name_any())
}

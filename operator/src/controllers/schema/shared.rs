//! What the Schema controller's reconciles share: the operator's [`Context`], the cache of Schemas (references
//! resolve through it), one registry client per connection, and the controller's errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::runtime::reflector::Store;

use crate::api::schema::Schema;
use crate::controllers::context::Context;
use crate::decisions::problem::Problem;
use crate::registry::{RegistryClient, RegistrySettings};

pub struct SchemaContext {
    pub ctx: Arc<Context>,
    pub schemas: Store<Schema>,
    /// By connection key; rebuilt when the connection's registry settings (or its Secrets' values) change.
    registries: Mutex<HashMap<String, (RegistrySettings, RegistryClient)>>,
}

impl SchemaContext {
    pub fn new(ctx: Arc<Context>, schemas: Store<Schema>) -> SchemaContext {
        SchemaContext { ctx, schemas, registries: Mutex::default() }
    }

    /// The client for `settings`, reused while they stay the same.
    pub fn registry(&self, key: &str, settings: RegistrySettings) -> Result<RegistryClient, Problem> {
        let mut cache = self.registries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, client)) = cache.get(key)
            && *s == settings
        {
            return Ok(client.clone());
        }
        let client = RegistryClient::new(&settings).map_err(|e| e.problem())?;
        cache.insert(key.to_string(), (settings, client.clone()));
        Ok(client)
    }
}

pub use crate::controllers::finalizers::Error;

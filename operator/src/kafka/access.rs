//! Access admin on the shared client: a user's ACL bindings, SCRAM credentials and client quotas. Every call goes
//! through the wire client (librdkafka has no SCRAM or quota admin, and rust-rdkafka's safe API no ACL admin) and,
//! like every other call, through [`ClusterClient`]'s circuit breaker and metrics. None is batched: a user's
//! reconcile makes a handful of them, and ACL creations and deletions already carry many bindings each.

use std::collections::BTreeMap;

use super::client::ClusterClient;
use super::error::KafkaError;
use super::wire::acl;
use super::wire::user::{self, ScramMechanism};
use crate::api::access::AclBinding;

impl ClusterClient {
    /// Every ACL binding of `principal` (`User:<name>`), on any resource and of any pattern type, sorted. Bindings
    /// Tributary has no words for (delegation-token ones) are left out. A cluster without an authorizer answers
    /// [`KafkaError::Invalid`] saying so.
    pub async fn describe_acls(&self, principal: &str) -> Result<Vec<AclBinding>, KafkaError> {
        self.call("describe_acls").run(acl::describe_acls(self.settings(), principal)).await
    }

    /// Creates the bindings (an existing one is left as it is). The outer error is the request's; inside, one answer
    /// per binding, in order.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<Vec<Result<(), KafkaError>>, KafkaError> {
        self.call("create_acls").run(acl::create_acls(self.settings(), bindings)).await
    }

    /// Deletes exactly these bindings (a missing one is deleted already). The outer error is the request's; inside,
    /// one answer per binding, in order.
    pub async fn delete_acls(&self, bindings: &[AclBinding]) -> Result<Vec<Result<(), KafkaError>>, KafkaError> {
        self.call("delete_acls").run(acl::delete_acls(self.settings(), bindings)).await
    }

    /// Creates or replaces `user`'s SCRAM credential for `mechanism`: sends a fresh random salt and the password
    /// salted with `iterations` rounds of PBKDF2 ([`SCRAM_MIN_ITERATIONS`](user::SCRAM_MIN_ITERATIONS) to
    /// [`SCRAM_MAX_ITERATIONS`](user::SCRAM_MAX_ITERATIONS)), never the password itself.
    pub async fn upsert_scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
        password: &str,
        iterations: i32,
    ) -> Result<(), KafkaError> {
        self.call("alter_user_scram_credentials")
            .run(user::upsert_scram_credential(self.settings(), user, mechanism, password, iterations))
            .await
    }

    /// Removes `user`'s SCRAM credential for `mechanism` (a missing one is removed already).
    pub async fn delete_scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Result<(), KafkaError> {
        self.call("alter_user_scram_credentials")
            .run(user::delete_scram_credential(self.settings(), user, mechanism))
            .await
    }

    /// The mechanisms `user` has a SCRAM credential for, with their iteration counts (empty: none).
    pub async fn describe_scram_credentials(&self, user: &str) -> Result<Vec<(ScramMechanism, i32)>, KafkaError> {
        self.call("describe_user_scram_credentials").run(user::describe_scram_credentials(self.settings(), user)).await
    }

    /// The quotas set on `user` itself (`producer_byte_rate`, `consumer_byte_rate`, `request_percentage`, ...).
    pub async fn describe_client_quotas(&self, user: &str) -> Result<BTreeMap<String, f64>, KafkaError> {
        self.call("describe_client_quotas").run(user::describe_client_quotas(self.settings(), user)).await
    }

    /// Sets the quotas in `set` on `user` and removes those in `remove`, in one request (none: no request).
    pub async fn alter_client_quotas(
        &self,
        user: &str,
        set: &BTreeMap<String, f64>,
        remove: &[String],
    ) -> Result<(), KafkaError> {
        self.call("alter_client_quotas").run(user::alter_client_quotas(self.settings(), user, set, remove)).await
    }
}

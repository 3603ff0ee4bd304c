//! What the FFI tests share.

use crate::kafka::client_context::{Admin, TributaryContext};

/// An admin client for tests, pointed at a port nobody listens on: no broker is needed for requests that fail
/// before reaching one.
pub(super) fn offline_admin() -> Admin {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9")
        .create_with_context(TributaryContext::default())
        .expect("an admin client needs no broker to be created")
}

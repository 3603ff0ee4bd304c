//! librdkafka settings of a connection, built from a `KafkaConnection` and its Secrets. Secret values live only
//! here and in librdkafka; `Debug` redacts them.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use rdkafka::ClientConfig;

/// Client properties for one connection.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientSettings {
    props: BTreeMap<String, String>,
}

const SECRET_KEYS: &[&str] = &["sasl.password", "ssl.key.pem", "sasl.oauthbearer.client.secret"];

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .props
            .iter()
            .map(|(k, v)| (k.as_str(), if SECRET_KEYS.contains(&k.as_str()) { "<redacted>" } else { v.as_str() }))
            .collect();
        f.debug_struct("ClientSettings").field("props", &shown).finish()
    }
}

impl ClientSettings {
    pub fn new(bootstrap: &[String]) -> ClientSettings {
        let mut s = ClientSettings::default();
        s.set("bootstrap.servers", bootstrap.join(","));
        // Fail requests reasonably fast while a cluster is down; reconnect with backoff.
        s.set("socket.timeout.ms", "10000");
        s.set("reconnect.backoff.ms", "200");
        s.set("reconnect.backoff.max.ms", "10000");
        s.set("client.id", "tributary");
        s
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.props.insert(key.to_string(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// A hash of every property: a change means a new client.
    pub fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.props.hash(&mut h);
        h.finish()
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in &self.props {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets_and_fingerprint_tracks_changes() {
        let mut s = ClientSettings::new(&["127.0.0.1:9092".into()]);
        let before = s.fingerprint();
        s.set("sasl.password", "hunter2");
        assert_ne!(before, s.fingerprint());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && shown.contains("<redacted>"), "{shown}");
    }
}

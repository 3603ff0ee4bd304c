//! A `KafkaUser`'s credential: its Kafka user name and principal, its password, and the Secret an application
//! mounts to connect. Pure: the random bytes of a password are an input.

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::api::connection::SaslMechanism;
use crate::api::kafka_user::AuthenticationType;

use super::tenancy;

/// The SASL mechanism of the credentials Tributary creates.
pub const MECHANISM: SaslMechanism = SaslMechanism::ScramSha512;

/// The Secret's keys: the user name and password, and ready-to-use client properties.
pub const USERNAME_KEY: &str = "username";
pub const PASSWORD_KEY: &str = "password";
pub const BOOTSTRAP_SERVERS_KEY: &str = "bootstrap.servers";
pub const JAAS_CONFIG_KEY: &str = "sasl.jaas.config";
pub const SASL_MECHANISM_KEY: &str = "sasl.mechanism";
pub const SECURITY_PROTOCOL_KEY: &str = "security.protocol";

/// The Kafka user name of the KafkaUser `name`: the resource's name, as Strimzi does; under the connection's
/// tenancy rule, with the namespace's prefix before it (`team-a.billing`), because Kafka's user names are one
/// space for the whole cluster and two namespaces may both declare `billing`.
pub fn username(prefix: Option<&str>, name: &str) -> String {
    tenancy::with_prefix(prefix, name)
}

/// The principal the ACLs are bound to: `User:<username>` for SCRAM; for TLS the broker's default mapping of a
/// certificate whose subject is `CN=<username>`, `User:CN=<username>`.
pub fn principal(authentication: AuthenticationType, username: &str) -> String {
    match authentication {
        AuthenticationType::ScramSha512 => format!("User:{username}"),
        AuthenticationType::Tls => format!("User:CN={username}"),
    }
}

/// A password from 24 random bytes: URL-safe base64 without padding, 32 characters (192 bits), nothing a shell,
/// a URL or a JAAS string needs to quote.
pub fn new_password(bytes: [u8; 24]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Quotes `value` for a JAAS option: Kafka parses `sasl.jaas.config` with Java's `StreamTokenizer`, which ends a
/// quoted string at `"` or at a line's end and reads `\` escapes, so those are escaped.
fn jaas_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `sasl.jaas.config` of a SCRAM credential. One login module serves SCRAM-SHA-256 and SCRAM-SHA-512 alike;
/// the mechanism goes in `sasl.mechanism`.
pub fn jaas_config(username: &str, password: &str) -> String {
    format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username={} password={};",
        jaas_quote(username),
        jaas_quote(password)
    )
}

/// The Secret's data for a SCRAM credential: the user name and password, and the client properties that use
/// them (`tls`: the connection reaches the brokers over TLS).
pub fn scram_secret(
    username: &str,
    password: &str,
    bootstrap_servers: &[String],
    tls: bool,
) -> BTreeMap<String, String> {
    let protocol = if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" };
    [
        (USERNAME_KEY, username.to_string()),
        (PASSWORD_KEY, password.to_string()),
        (BOOTSTRAP_SERVERS_KEY, bootstrap_servers.join(",")),
        (JAAS_CONFIG_KEY, jaas_config(username, password)),
        (SASL_MECHANISM_KEY, MECHANISM.as_str().to_string()),
        (SECURITY_PROTOCOL_KEY, protocol.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The Secret's keys for a client certificate: the PEM files, and the same as Kafka client properties (Java
/// clients read PEM key stores since Kafka 2.7, KIP-651).
pub const CERTIFICATE_KEY: &str = "user.crt";
pub const PRIVATE_KEY_KEY: &str = "user.key";
pub const CA_KEY: &str = "ca.crt";

/// The Secret's data for a client certificate: the certificate and its key as files and as PEM key store
/// properties, the CA that verifies the brokers when the connection names one (`ca_pem`), and the bootstrap
/// servers with `security.protocol=SSL`.
pub fn tls_secret(
    username: &str,
    certificate_pem: &str,
    key_pem: &str,
    ca_pem: Option<&str>,
    bootstrap_servers: &[String],
) -> BTreeMap<String, String> {
    let mut data: BTreeMap<String, String> = [
        (USERNAME_KEY, username),
        (CERTIFICATE_KEY, certificate_pem),
        (PRIVATE_KEY_KEY, key_pem),
        (BOOTSTRAP_SERVERS_KEY, &bootstrap_servers.join(",")),
        (SECURITY_PROTOCOL_KEY, "SSL"),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.certificate.chain", certificate_pem),
        ("ssl.keystore.key", key_pem),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(ca) = ca_pem {
        data.insert(CA_KEY.into(), ca.into());
        data.insert("ssl.truststore.type".into(), "PEM".into());
        data.insert("ssl.truststore.certificates".into(), ca.into());
    }
    data
}

/// Whether a client certificate is issued again: there is none, it expires within `renew_before_days`, or a
/// rotation is asked for.
pub fn should_reissue(not_after_ms: Option<i64>, now_ms: i64, renew_before_days: i32, rotate: bool) -> bool {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    match not_after_ms {
        None => true,
        Some(at) => rotate || at - now_ms < i64::from(renew_before_days) * DAY_MS,
    }
}

/// Whether the rotate-password annotation asks for a rotation: it has a value, and not the one last carried out
/// (`status.passwordRotation`).
pub fn should_rotate(annotation: Option<&str>, carried_out: Option<&str>) -> bool {
    match annotation {
        Some(value) if !value.is_empty() => carried_out != Some(value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_principals() {
        use AuthenticationType::{ScramSha512, Tls};
        // (tenancy prefix, resource name, authentication) → (user name, principal)
        let table = [
            (None, "billing", ScramSha512, ("billing", "User:billing")),
            (Some("team-a."), "billing", ScramSha512, ("team-a.billing", "User:team-a.billing")),
            (None, "billing", Tls, ("billing", "User:CN=billing")),
            (Some("kafka_team-b_"), "billing", Tls, ("kafka_team-b_billing", "User:CN=kafka_team-b_billing")),
        ];
        for (i, (prefix, name, auth, (user, principal_want))) in table.into_iter().enumerate() {
            let u = username(prefix, name);
            assert_eq!((u.as_str(), principal(auth, &u).as_str()), (user, principal_want), "row {i}");
        }
    }

    #[test]
    fn jaas_values_are_quoted_and_escaped() {
        // (user name, password) → sasl.jaas.config
        let module = "org.apache.kafka.common.security.scram.ScramLoginModule required";
        let table = [
            ("billing", "s3cret", format!(r#"{module} username="billing" password="s3cret";"#)),
            ("billing", r#"a"b"#, format!(r#"{module} username="billing" password="a\"b";"#)),
            ("billing", r"a\b", format!(r#"{module} username="billing" password="a\\b";"#)),
            ("billing", r#"\""#, format!(r#"{module} username="billing" password="\\\"";"#)),
            ("billing", "a\nb\r", format!(r#"{module} username="billing" password="a\nb\r";"#)),
            ("bil\"ling", "p;q=r", format!(r#"{module} username="bil\"ling" password="p;q=r";"#)),
        ];
        for (i, (user, password, want)) in table.into_iter().enumerate() {
            assert_eq!(jaas_config(user, password), want, "row {i}");
        }
    }

    #[test]
    fn passwords_are_url_safe_base64_of_the_random_bytes() {
        // (bytes) → password
        let table: [([u8; 24], &str); 3] = [
            ([0; 24], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ([255; 24], "________________________________"),
            ([0xfb; 24], "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7"),
        ];
        for (i, (bytes, want)) in table.into_iter().enumerate() {
            assert_eq!(new_password(bytes), want, "row {i}");
        }
        let distinct: std::collections::BTreeSet<String> = (0..=255u8).map(|b| new_password([b; 24])).collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn the_secret_holds_ready_to_use_client_properties() {
        let servers = ["k1:9093".to_string(), "k2:9093".to_string()];
        let data = scram_secret("team-a.billing", "pw", &servers, true);
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["bootstrap.servers", "password", "sasl.jaas.config", "sasl.mechanism", "security.protocol", "username"]
        );
        assert_eq!(data["username"], "team-a.billing");
        assert_eq!(data["password"], "pw");
        assert_eq!(data["bootstrap.servers"], "k1:9093,k2:9093");
        assert_eq!(data["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(data["security.protocol"], "SASL_SSL");
        assert_eq!(data["sasl.jaas.config"], jaas_config("team-a.billing", "pw"));
        let plain = scram_secret("u", "p", &servers[..1], false);
        assert_eq!(
            (plain["security.protocol"].as_str(), plain["bootstrap.servers"].as_str()),
            ("SASL_PLAINTEXT", "k1:9093")
        );
    }

    #[test]
    fn a_certificate_is_issued_when_missing_near_its_end_or_rotated() {
        const DAY: i64 = 24 * 3600 * 1000;
        let now = 1_000 * DAY;
        // (not after, renew before days, rotate) → issue
        let table = [
            (None, 30, false, true),
            (Some(now + 365 * DAY), 30, false, false),
            (Some(now + 31 * DAY), 30, false, false),
            (Some(now + 30 * DAY), 30, false, false),
            (Some(now + 30 * DAY - 1), 30, false, true),
            (Some(now - DAY), 30, false, true),
            (Some(now + DAY), 0, false, false),
            (Some(now + 365 * DAY), 30, true, true),
        ];
        for (i, (not_after, before, rotate, want)) in table.into_iter().enumerate() {
            assert_eq!(should_reissue(not_after, now, before, rotate), want, "row {i}");
        }
    }

    #[test]
    fn the_tls_secret_holds_pem_files_and_key_store_properties() {
        let servers = ["k1:9094".to_string()];
        let data = tls_secret("team-a.billing", "CERT", "KEY", Some("CA"), &servers);
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "bootstrap.servers",
                "ca.crt",
                "security.protocol",
                "ssl.keystore.certificate.chain",
                "ssl.keystore.key",
                "ssl.keystore.type",
                "ssl.truststore.certificates",
                "ssl.truststore.type",
                "user.crt",
                "user.key",
                "username"
            ]
        );
        assert_eq!((data["user.crt"].as_str(), data["ssl.keystore.certificate.chain"].as_str()), ("CERT", "CERT"));
        assert_eq!((data["user.key"].as_str(), data["ssl.keystore.key"].as_str()), ("KEY", "KEY"));
        assert_eq!((data["ca.crt"].as_str(), data["security.protocol"].as_str()), ("CA", "SSL"));
        let no_ca = tls_secret("u", "CERT", "KEY", None, &servers);
        assert!(!no_ca.contains_key("ca.crt") && !no_ca.contains_key("ssl.truststore.type"));
        assert!(!data.contains_key("password"));
    }

    #[test]
    fn a_new_annotation_value_rotates_once() {
        // (annotation, last carried out) → rotate
        let table = [
            (None, None, false),
            (None, Some("t1"), false),
            (Some(""), None, false),
            (Some("t1"), None, true),
            (Some("t1"), Some("t1"), false),
            (Some("t2"), Some("t1"), true),
            (Some("t1"), Some("t2"), true),
        ];
        for (i, (annotation, carried_out, want)) in table.into_iter().enumerate() {
            assert_eq!(should_rotate(annotation, carried_out), want, "row {i}");
        }
    }
}

//! An application as a `KafkaUser` makes it: the credential read from the Secret Tributary wrote, and real clients
//! that use nothing else — rdkafka configured from the Secret's keys, and kcat given the same properties.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

/// The Secret's client properties (`bootstrap.servers`, `security.protocol`, `sasl.mechanism`, `username`,
/// `password`, `sasl.jaas.config`).
#[derive(Clone, Debug)]
pub struct App {
    pub properties: BTreeMap<String, String>,
}

impl App {
    /// Reads the Secret `name`.
    pub async fn from_secret(secrets: &Api<Secret>, name: &str) -> anyhow::Result<App> {
        let secret = secrets.get(name).await.with_context(|| format!("reading Secret {name}"))?;
        let properties = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| Ok((k, String::from_utf8(v.0)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(App { properties })
    }

    pub fn get(&self, key: &str) -> &str {
        self.properties.get(key).map(String::as_str).unwrap_or_default()
    }

    /// The same application with another password (an old one, after a rotation).
    pub fn with_password(&self, password: &str) -> App {
        let mut app = self.clone();
        app.properties.insert("password".into(), password.into());
        app
    }

    /// librdkafka's properties from the Secret alone: for SCRAM the user name and password as
    /// `sasl.username`/`sasl.password` (the JAAS line is for Java clients); for a certificate the PEM files as
    /// `ssl.certificate.pem`, `ssl.key.pem` and `ssl.ca.pem`.
    fn librdkafka(&self) -> Vec<(&'static str, &str)> {
        let mut p = vec![
            ("bootstrap.servers", self.get("bootstrap.servers")),
            ("security.protocol", self.get("security.protocol")),
        ];
        if self.get("security.protocol") == "SSL" {
            p.extend([("ssl.certificate.pem", self.get("user.crt")), ("ssl.key.pem", self.get("user.key"))]);
            if !self.get("ca.crt").is_empty() {
                p.push(("ssl.ca.pem", self.get("ca.crt")));
            }
        } else {
            p.extend([
                ("sasl.mechanism", self.get("sasl.mechanism")),
                ("sasl.username", self.get("username")),
                ("sasl.password", self.get("password")),
            ]);
        }
        p
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in self.librdkafka() {
            c.set(k, v);
        }
        c.set("log_level", "3");
        c
    }

    /// Produces one record to `topic` with a fresh producer (no metadata cached from before an ACL change): Ok, or
    /// the error code Kafka answered.
    pub async fn produce(&self, topic: &str) -> Result<(), RDKafkaErrorCode> {
        let producer: FutureProducer = self
            .config()
            .set("message.timeout.ms", "10000")
            // Idempotence (librdkafka's default is off; Java's is on) is granted by the user's IdempotentWrite.
            .set("enable.idempotence", "true")
            .create()
            .expect("a producer");
        match producer.send(FutureRecord::to(topic).key("k").payload("v"), Duration::from_secs(15)).await {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)),
        }
    }

    /// Produces one record to `topic` in a committed transaction with `transactional_id`: Ok, or the first error
    /// code Kafka answered (`TransactionalIdAuthorizationFailed` without rights on the id). Blocks a worker thread
    /// for the transaction calls (the test runtime must be multi-threaded).
    pub async fn produce_in_transaction(&self, topic: &str, transactional_id: &str) -> Result<(), RDKafkaErrorCode> {
        use rdkafka::producer::Producer as _;
        let producer: FutureProducer = self
            .config()
            .set("transactional.id", transactional_id)
            .set("message.timeout.ms", "10000")
            .create()
            .expect("a transactional producer");
        let t = Duration::from_secs(15);
        tokio::task::block_in_place(|| producer.init_transactions(t)).map_err(|e| code(&e))?;
        producer.begin_transaction().map_err(|e| code(&e))?;
        let sent = producer.send(FutureRecord::to(topic).key("k").payload("in-transaction"), t).await;
        sent.map_err(|(e, _)| code(&e))?;
        tokio::task::block_in_place(|| producer.commit_transaction(t)).map_err(|e| code(&e))
    }

    /// Consumes `topic` as `group` from the beginning for up to `window`: the number of records read, or the first
    /// error Kafka answered (an authorization failure shows as an error on the poll).
    pub fn consume(&self, topic: &str, group: &str, window: Duration) -> Result<usize, RDKafkaErrorCode> {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "200")
            .create()
            .expect("a consumer");
        consumer.subscribe(&[topic]).expect("subscribing");
        let deadline = std::time::Instant::now() + window;
        let mut read = 0;
        while std::time::Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(_)) => read += 1,
                Some(Err(e)) => return Err(code(&e)),
                None if read > 0 => break,
                None => {}
            }
        }
        Ok(read)
    }

    /// Whether the credential logs in: a metadata request of a fresh client, which needs no ACL.
    pub fn logs_in(&self) -> Result<(), RDKafkaErrorCode> {
        let consumer: BaseConsumer = self.config().create().expect("a client");
        consumer.fetch_metadata(None, Duration::from_secs(10)).map(|_| ()).map_err(|e| code(&e))
    }

    /// Produces `records` lines to `topic` with kcat, configured from the Secret the same way.
    pub fn kcat_produce(&self, topic: &str, records: &[&str]) -> anyhow::Result<()> {
        let mut kcat = Command::new("kcat");
        kcat.args(["-P", "-t", topic]);
        for (k, v) in self.librdkafka() {
            kcat.args(["-X", &format!("{k}={v}")]);
        }
        let mut child = kcat
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("starting kcat")?;
        use std::io::Write;
        child.stdin.take().context("kcat's stdin")?.write_all(format!("{}\n", records.join("\n")).as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() || !out.stderr.is_empty() {
            bail!("kcat failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }
}

fn code(e: &KafkaError) -> RDKafkaErrorCode {
    e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)
}

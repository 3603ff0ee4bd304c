//! Bulk checks of the topics in Kafka, with Kafka's own CLI and rdkafka (never the operator's code): listing,
//! describing and deleting many topics at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::bail;
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::{Patience, Stack, wait_for, wait_for_blocking};

/// A topic as Kafka's own `TopicCommand --describe` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliTopic {
    pub id: String,
    pub partitions: usize,
    pub replication_factor: usize,
    /// The `Configs:` column (topic overrides and static broker settings).
    pub configs: HashMap<String, String>,
}

/// Describes every topic whose name matches `regex` with Kafka's own CLI (one JVM for all of them).
pub fn describe_topics_cli(stack: &Stack, regex: &str) -> anyhow::Result<HashMap<String, CliTopic>> {
    let out = stack.kafka_cli(
        "org.apache.kafka.tools.TopicCommand",
        &["--bootstrap-server", &stack.bootstrap, "--describe", "--topic", regex],
    )?;
    Ok(parse_topic_describe(&out))
}

/// Parses the summary lines of `TopicCommand --describe`.
pub fn parse_topic_describe(out: &str) -> HashMap<String, CliTopic> {
    let mut topics = HashMap::new();
    for line in out.lines().filter(|l| l.starts_with("Topic:")) {
        let fields: HashMap<&str, &str> = line
            .split('\t')
            .filter_map(|f| f.split_once(": ").or_else(|| f.strip_suffix(':').map(|k| (k, ""))))
            .collect();
        let Some(name) = fields.get("Topic") else { continue };
        let configs = fields
            .get("Configs")
            .map(|c| c.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect())
            .unwrap_or_default();
        topics.insert(
            name.to_string(),
            CliTopic {
                id: fields.get("TopicId").unwrap_or(&"").to_string(),
                partitions: fields.get("PartitionCount").and_then(|p| p.parse().ok()).unwrap_or(0),
                replication_factor: fields.get("ReplicationFactor").and_then(|p| p.parse().ok()).unwrap_or(0),
                configs,
            },
        );
    }
    topics
}

/// Names of the Kafka topics that start with `prefix` (rdkafka metadata, used directly).
pub fn kafka_topic_names(stack: &Stack, prefix: &str) -> anyhow::Result<Vec<String>> {
    let consumer: BaseConsumer = stack.kafka_config().create()?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(30))?;
    let mut names: Vec<String> =
        md.topics().iter().map(|t| t.name().to_string()).filter(|n| n.starts_with(prefix)).collect();
    names.sort();
    Ok(names)
}

/// Deletes Kafka topics directly, 100 per request; topics already gone are fine.
pub async fn delete_kafka_topics(stack: &Stack, names: &[String]) -> anyhow::Result<()> {
    let admin = stack.admin();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    for chunk in names.chunks(100) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for r in admin.delete_topics(&refs, &opts).await? {
            if let Err((name, code)) = r
                && code != rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
            {
                bail!("deleting {name}: {code}");
            }
        }
    }
    Ok(())
}

/// Deletes `known` and every other Kafka topic named `prefix*`, again and again until metadata lists none (a
/// broker's metadata can lag just after a burst of creations, so a listing alone may miss some).
pub async fn purge_kafka_topics(
    stack: &Stack,
    prefix: &str,
    known: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    // The known names are deleted with the first listing, until a deletion goes through.
    let known = Mutex::new(known.to_vec());
    let listed = || async {
        let listed = kafka_topic_names(stack, prefix)?;
        let mut names = known.lock().expect("names lock").clone();
        names.extend(listed.iter().cloned());
        names.sort();
        names.dedup();
        delete_kafka_topics(stack, &names).await?;
        known.lock().expect("names lock").clear();
        Ok(listed)
    };
    let patience = Patience::new(timeout, Duration::from_secs(1));
    wait_for(&format!("no Kafka topic named {prefix}*"), patience, listed, Vec::is_empty).await?;
    Ok(())
}

/// Checks every topic in Kafka with Kafka's own CLI: exactly `names`, each with `partitions` and `config`.
pub fn check_in_kafka(
    stack: &Stack,
    prefix: &str,
    names: &[String],
    partitions: usize,
    config: &[(&str, &str)],
) -> HashMap<String, CliTopic> {
    let mut want = names.to_vec();
    want.sort();
    // Each broker serves the topic list from its own copy of the cluster metadata, which follows the controller by
    // a moment; a broker that has just restarted can answer from an older copy for a few seconds. Wait (bounded)
    // for the listing to be complete before comparing it; a topic that never appears still fails here.
    let started = Instant::now();
    let complete = |l: &Vec<String>| l.len() >= want.len();
    let listed = wait_for_blocking(
        "Kafka to list every topic",
        Duration::from_secs(60),
        || kafka_topic_names(stack, prefix),
        complete,
    )
    .unwrap_or_else(|_| kafka_topic_names(stack, prefix).expect("listing Kafka topics"));
    if started.elapsed() > Duration::from_secs(1) {
        eprintln!("Kafka listed every topic {:.1}s after the check began", started.elapsed().as_secs_f64());
    }
    assert_eq!(listed.len(), want.len(), "Kafka has {} topics named {prefix}-*, want {}", listed.len(), want.len());
    assert_eq!(listed, want, "Kafka's topics differ from the resources");
    let described = describe_topics_cli(stack, &format!("{prefix}-.*")).expect("describing topics");
    assert_eq!(described.len(), names.len(), "TopicCommand described {} topics", described.len());
    for n in names {
        let t = described.get(n).unwrap_or_else(|| panic!("{n} missing in Kafka"));
        assert_eq!(t.partitions, partitions, "partitions of {n}");
        for (k, v) in config {
            assert_eq!(t.configs.get(*k).map(String::as_str), Some(*v), "{k} of {n}: {:?}", t.configs);
        }
    }
    described
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_topic_describe() {
        let out = "Topic: a\tTopicId: Tt5US3AnQ06ZvwE-vL0bKw\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: min.insync.replicas=1,retention.ms=3600000\n\tTopic: a\tPartition: 0\tLeader: 2\tReplicas: 2\tIsr: 2\tElr: \tLastKnownElr: \n";
        let t = &parse_topic_describe(out)["a"];
        assert_eq!((t.partitions, t.replication_factor, t.id.as_str()), (3, 1, "Tt5US3AnQ06ZvwE-vL0bKw"));
        assert_eq!(t.configs.get("retention.ms").map(String::as_str), Some("3600000"));
    }
}

//! Prometheus metrics. The operator's own series are labelled by kind, result and Kafka operation. The series
//! about one resource — a consumer group's lag and replicas, a connection's readiness, a dead-letter topic's depth
//! and age — carry its `namespace` and `name`, one series per resource, and nothing finer: never a topic,
//! partition or group member.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum ResultLabel {
    Success,
    Error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub kind: &'static str,
    pub result: ResultLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KafkaRequestLabels {
    pub operation: &'static str,
    pub result: ResultLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

/// Per-resource labels, for the few gauges a person watches per group or policy (one series per resource, never
/// per partition or record).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub namespace: String,
    pub name: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Every metric the operator exports, registered once.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub managed_resources: Family<KindLabels, Gauge>,
    pub status_writes: Family<KindLabels, Counter>,
    pub drift_corrections: Family<KindLabels, Counter>,
    pub kafka_requests: Family<KafkaRequestLabels, Counter>,
    pub kafka_request_duration: Family<OperationLabels, Histogram>,
    pub group_lag_messages: Family<ResourceLabels, Gauge>,
    pub group_lag_seconds: Family<ResourceLabels, FloatGauge>,
    pub group_lag_within_slo: Family<ResourceLabels, Gauge>,
    pub group_replicas_desired: Family<ResourceLabels, Gauge>,
    pub group_replicas_current: Family<ResourceLabels, Gauge>,
    pub group_scale_events: Family<KindLabels, Counter>,
    pub connection_ready: Family<ResourceLabels, Gauge>,
    pub dlq_depth: Family<ResourceLabels, Gauge>,
    pub dlq_oldest_age_seconds: Family<ResourceLabels, Gauge>,
    pub dlq_within_limit: Family<ResourceLabels, Gauge>,
    pub dlq_redriven_records: Family<KindLabels, Counter>,
    pub schema_versions_registered: Family<ResourceLabels, Counter>,
    pub schema_changes_refused: Family<ResourceLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tributary");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by kind and result", reconciles.clone());
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register("reconcile_duration_seconds", "Duration of one reconcile", reconcile_duration.clone());
        let managed_resources = Family::<KindLabels, Gauge>::default();
        registry.register("managed_resources", "Resources currently managed, by kind", managed_resources.clone());
        let status_writes = Family::<KindLabels, Counter>::default();
        registry.register("status_writes", "Status patches sent to the API server", status_writes.clone());
        let drift_corrections = Family::<KindLabels, Counter>::default();
        registry.register("drift_corrections", "Kafka drift corrected", drift_corrections.clone());
        let kafka_requests = Family::<KafkaRequestLabels, Counter>::default();
        registry.register(
            "kafka_requests",
            "Kafka admin requests sent, by operation and result",
            kafka_requests.clone(),
        );
        let kafka_request_duration = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "kafka_request_duration_seconds",
            "Latency of Kafka admin requests, by operation",
            kafka_request_duration.clone(),
        );
        let group_lag_messages = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "consumergroup_lag_messages",
            "Total lag of a consumer group in records",
            group_lag_messages.clone(),
        );
        let group_lag_seconds = Family::<ResourceLabels, FloatGauge>::default();
        registry.register(
            "consumergroup_lag_seconds",
            "Largest lag of a consumer group in seconds",
            group_lag_seconds.clone(),
        );
        let group_lag_within_slo = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "consumergroup_lag_within_slo",
            "1 when the group's lag is within spec.lag.maxSeconds",
            group_lag_within_slo.clone(),
        );
        let group_replicas_desired = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "consumergroup_replicas_desired",
            "Replicas the autoscaler wants",
            group_replicas_desired.clone(),
        );
        let group_replicas_current = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "consumergroup_replicas_current",
            "Replicas of the scale target",
            group_replicas_current.clone(),
        );
        let group_scale_events = Family::<KindLabels, Counter>::default();
        registry.register("scale_changes", "Replica changes made through /scale", group_scale_events.clone());
        let connection_ready = Family::<ResourceLabels, Gauge>::default();
        registry.register("connection_ready", "1 when a KafkaConnection's cluster answers", connection_ready.clone());
        let dlq_depth = Family::<ResourceLabels, Gauge>::default();
        registry.register("dlq_depth", "Dead letters of a DlqPolicy not yet redriven", dlq_depth.clone());
        let dlq_oldest_age_seconds = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "dlq_oldest_age_seconds",
            "Age of the oldest dead letter of a DlqPolicy not yet redriven",
            dlq_oldest_age_seconds.clone(),
        );
        let dlq_within_limit = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "dlq_within_limit",
            "1 when a DlqPolicy's dead letters are within spec.alerting",
            dlq_within_limit.clone(),
        );
        let dlq_redriven_records = Family::<KindLabels, Counter>::default();
        registry.register("dlq_redriven_records", "Dead letters moved back by redrives", dlq_redriven_records.clone());
        let schema_versions_registered = Family::<ResourceLabels, Counter>::default();
        registry.register(
            "schema_versions_registered",
            "Schema versions a Schema registered into its registry",
            schema_versions_registered.clone(),
        );
        let schema_changes_refused = Family::<ResourceLabels, Counter>::default();
        registry.register(
            "schema_changes_refused",
            "Changes of a Schema the registry refused as incompatible (the schema compatibility errors SLI)",
            schema_changes_refused.clone(),
        );
        Metrics {
            registry,
            schema_versions_registered,
            schema_changes_refused,
            connection_ready,
            dlq_depth,
            dlq_oldest_age_seconds,
            dlq_within_limit,
            dlq_redriven_records,
            group_lag_messages,
            group_lag_seconds,
            group_lag_within_slo,
            group_replicas_desired,
            group_replicas_current,
            group_scale_events,
            reconciles,
            reconcile_duration,
            managed_resources,
            status_writes,
            drift_corrections,
            kafka_requests,
            kafka_request_duration,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_with_labels() {
        let m = Metrics::default();
        m.reconciles.get_or_create(&ReconcileLabels { kind: "Topic", result: ResultLabel::Success }).inc();
        let text = m.encode();
        assert!(text.contains(r#"tributary_reconciles_total{kind="Topic",result="Success"} 1"#), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}

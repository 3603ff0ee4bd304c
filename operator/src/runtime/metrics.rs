//! Prometheus metrics. Labels are low-cardinality: kinds, results and operations, never object names or
//! partitions.

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
        Metrics {
            registry,
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

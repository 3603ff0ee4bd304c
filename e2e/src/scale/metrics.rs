//! The operator's metrics (`/metrics`), read as snapshots and compared.

use std::collections::BTreeMap;

use anyhow::bail;

/// One series of the operator's `/metrics`.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text exposition (enough for counters and gauges).
pub fn parse_metrics(body: &str) -> Vec<Series> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (head, value) = l.rsplit_once(' ')?;
            let value = value.parse().ok()?;
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => {
                    let inner = rest.strip_suffix('}')?;
                    let labels = inner
                        .split(',')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                        .collect();
                    (n.to_string(), labels)
                }
                None => (head.to_string(), BTreeMap::new()),
            };
            Some(Series { name, labels, value })
        })
        .collect()
}

/// A snapshot of the operator's metrics.
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot(pub Vec<Series>);

impl MetricsSnapshot {
    pub async fn take(operator: &impl crate::OperatorEndpoints) -> anyhow::Result<MetricsSnapshot> {
        let (code, body) = operator.http_get("/metrics").await?;
        if code != 200 {
            bail!("/metrics answered {code}");
        }
        Ok(MetricsSnapshot(parse_metrics(&body)))
    }

    /// Sum of the series named `name` whose labels include every `(key, value)` of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name && with.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
            .sum()
    }

    /// Sums of the series named `name`, by the value of label `by`.
    pub fn by_label(&self, name: &str, by: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in self.0.iter().filter(|s| s.name == name) {
            *out.entry(s.labels.get(by).cloned().unwrap_or_default()).or_default() += s.value;
        }
        out
    }
}

/// Kafka admin requests by operation between two snapshots.
pub fn kafka_requests_delta(before: &MetricsSnapshot, after: &MetricsSnapshot) -> BTreeMap<String, f64> {
    let b = before.by_label("tributary_kafka_requests_total", "operation");
    after
        .by_label("tributary_kafka_requests_total", "operation")
        .into_iter()
        .map(|(op, v)| {
            let d = v - b.get(&op).copied().unwrap_or(0.0);
            (op, d)
        })
        .filter(|(_, d)| *d != 0.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metrics() {
        let m = MetricsSnapshot(parse_metrics(
            "# HELP x\ntributary_kafka_requests_total{operation=\"create_topics\",result=\"Success\"} 4\ntributary_status_writes_total{kind=\"Topic\"} 7\n",
        ));
        assert_eq!(m.sum("tributary_kafka_requests_total", &[("operation", "create_topics")]), 4.0);
        assert_eq!(m.sum("tributary_status_writes_total", &[]), 7.0);
    }
}

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

/// The apiserver's own metrics, through `kubectl get --raw /metrics` (`. e2e/stack/env.sh` puts kubectl on PATH).
pub fn apiserver_metrics() -> Option<MetricsSnapshot> {
    let out = std::process::Command::new("kubectl").args(["get", "--raw", "/metrics"]).output().ok()?;
    out.status.success().then(|| MetricsSnapshot(parse_metrics(&String::from_utf8_lossy(&out.stdout))))
}

/// What changed between two snapshots of the same metrics.
#[derive(Clone, Copy, Debug)]
pub struct Delta<'a> {
    pub before: &'a MetricsSnapshot,
    pub after: &'a MetricsSnapshot,
}

/// A histogram's observations between two snapshots: how many, their mean, and a p95 interpolated linearly inside
/// its bucket (none when it falls in the `+Inf` bucket).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Histogram {
    pub count: f64,
    pub mean: f64,
    pub p95: Option<f64>,
}

impl<'a> Delta<'a> {
    pub fn new(before: &'a MetricsSnapshot, after: &'a MetricsSnapshot) -> Delta<'a> {
        Delta { before, after }
    }

    /// How much the series named `name` whose labels include `with` grew, summed.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.after.sum(name, with) - self.before.sum(name, with)
    }

    /// How much the series named `name` grew, by the value of their label `by`; the unchanged ones left out.
    pub fn by_label(&self, name: &str, by: &str) -> BTreeMap<String, f64> {
        let before = self.before.by_label(name, by);
        let after = self.after.by_label(name, by);
        after
            .into_iter()
            .map(|(k, v)| {
                let d = v - before.get(&k).copied().unwrap_or(0.0);
                (k, d)
            })
            .filter(|(_, d)| *d != 0.0)
            .collect()
    }

    /// Kafka admin requests by operation.
    pub fn kafka_requests(&self) -> BTreeMap<String, f64> {
        self.by_label("tributary_kafka_requests_total", "operation")
    }

    /// The mean of what the histogram `name` (with the labels `with`) observed; none without an observation.
    pub fn mean(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        let count = self.sum(&format!("{name}_count"), with);
        (count > 0.0).then(|| self.sum(&format!("{name}_sum"), with) / count)
    }

    /// What the histogram `name` (with the labels `with`) observed.
    pub fn histogram(&self, name: &str, with: &[(&str, &str)]) -> Histogram {
        let count = self.sum(&format!("{name}_count"), with);
        let bucket = format!("{name}_bucket");
        let cumulative = |m: &MetricsSnapshot| -> BTreeMap<String, f64> {
            m.0.iter()
                .filter(|s| {
                    s.name == bucket && with.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                })
                .filter_map(|s| Some((s.labels.get("le")?.clone(), s.value)))
                .collect()
        };
        let (b, a) = (cumulative(self.before), cumulative(self.after));
        let mut bounds: Vec<(f64, f64)> = a
            .iter()
            .filter_map(|(le, v)| {
                let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((bound, v - b.get(le).copied().unwrap_or(0.0)))
            })
            .collect();
        bounds.sort_by(|x, y| x.0.total_cmp(&y.0));
        let rank = 0.95 * count;
        let mut p95 = None;
        let mut prev = (0.0, 0.0);
        for (bound, cum) in bounds {
            if count > 0.0 && cum >= rank {
                p95 = bound.is_finite().then(|| {
                    let within = if cum > prev.1 { (rank - prev.1) / (cum - prev.1) } else { 1.0 };
                    prev.0 + (bound - prev.0) * within
                });
                break;
            }
            prev = (bound, cum);
        }
        Histogram { count, mean: self.mean(name, with).unwrap_or(0.0), p95 }
    }
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

    #[test]
    fn deltas_means_and_a_histogram_p95() {
        let snapshot = |text: &str| MetricsSnapshot(parse_metrics(text));
        let before = snapshot(
            "d_bucket{kind=\"A\",le=\"0.1\"} 10\nd_bucket{kind=\"A\",le=\"1\"} 10\nd_bucket{kind=\"A\",le=\"+Inf\"} 10\n\
             d_sum{kind=\"A\"} 0.5\nd_count{kind=\"A\"} 10\nr_total{kind=\"A\"} 3\nr_total{kind=\"B\"} 1\n",
        );
        let after = snapshot(
            "d_bucket{kind=\"A\",le=\"0.1\"} 20\nd_bucket{kind=\"A\",le=\"1\"} 30\nd_bucket{kind=\"A\",le=\"+Inf\"} 30\n\
             d_sum{kind=\"A\"} 6.5\nd_count{kind=\"A\"} 30\nr_total{kind=\"A\"} 5\nr_total{kind=\"B\"} 1\n",
        );
        let d = Delta::new(&before, &after);
        assert_eq!(d.sum("r_total", &[("kind", "A")]), 2.0);
        assert_eq!(d.by_label("r_total", "kind"), BTreeMap::from([("A".to_string(), 2.0)]));
        assert_eq!(d.mean("d", &[("kind", "A")]), Some(0.3));
        assert_eq!(d.mean("d", &[("kind", "B")]), None);
        // 20 new observations: 10 up to 0.1 s, 10 in (0.1, 1]; the 19th lies 9/10 into the second bucket.
        let h = d.histogram("d", &[("kind", "A")]);
        assert_eq!((h.count, h.mean), (20.0, 0.3));
        assert!((h.p95.unwrap() - 0.91).abs() < 1e-9, "{h:?}");
    }
}

//! A watch on every ConsumerGroup of the namespace that notes when each one's total lag changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tributary::api::ConsumerGroup;
use tributary_e2e::{Patience, wait_for};

/// Per ConsumerGroup name: the total lag last seen in status, and since when it shows that value.
type LagSeen = Arc<Mutex<HashMap<String, (Option<i64>, Instant)>>>;

/// What a watch last saw of each ConsumerGroup's total lag, and since when.
pub struct LagTracker {
    seen: LagSeen,
    task: tokio::task::JoinHandle<()>,
}

impl LagTracker {
    pub fn start(api: Api<ConsumerGroup>) -> LagTracker {
        let seen: LagSeen = Arc::default();
        let s = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
            while let Some(ev) = stream.next().await {
                let now = Instant::now();
                let Ok(mut map) = s.lock() else { return };
                match ev {
                    Ok(watcher::Event::Apply(g) | watcher::Event::InitApply(g)) => {
                        let lag = g.status.as_ref().and_then(|s| s.total_lag);
                        let entry = map.entry(g.name_any()).or_insert((lag, now));
                        if entry.0 != lag {
                            *entry = (lag, now);
                        }
                    }
                    Ok(watcher::Event::Delete(g)) => {
                        map.remove(&g.name_any());
                    }
                    _ => {}
                }
            }
        });
        LagTracker { seen, task }
    }

    /// How many groups show `lag`, and the first and last time one of them started showing it.
    fn showing(&self, lag: i64) -> (usize, Option<Instant>, Option<Instant>) {
        let map = self.seen.lock().expect("tracker lock");
        let times: Vec<Instant> = map.values().filter(|(l, _)| *l == Some(lag)).map(|(_, t)| *t).collect();
        (times.len(), times.iter().min().copied(), times.iter().max().copied())
    }

    /// Waits until `n` groups show `lag`; returns the first and last time one started showing it.
    pub async fn wait_showing(&self, n: usize, lag: i64, timeout: Duration) -> anyhow::Result<(Instant, Instant)> {
        let what = format!("{n} groups showing lag {lag} (how many, since when first and last)");
        let showing = || async { Ok(self.showing(lag)) };
        let patience = Patience::new(timeout, Duration::from_millis(50));
        match wait_for(&what, patience, showing, |(count, ..)| *count >= n).await? {
            (_, Some(first), Some(last)) => Ok((first, last)),
            seen => bail!("{what}: {seen:?}"),
        }
    }
}

impl Drop for LagTracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

//! Waiting on the stack: one loop that polls a getter until a predicate holds or a deadline passes, and says, when
//! the time is up, what it waited for and what it last saw.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use kube::Api;
use kube::core::object::HasStatus;

use crate::conditions::Conditions;

/// How long to wait, and how often to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patience {
    pub timeout: Duration,
    pub every: Duration,
}

impl Patience {
    /// How often a wait looks unless told otherwise.
    pub const EVERY: Duration = Duration::from_millis(250);

    pub fn new(timeout: Duration, every: Duration) -> Patience {
        Patience { timeout, every }
    }
}

/// A timeout alone: look every [`Patience::EVERY`].
impl From<Duration> for Patience {
    fn from(timeout: Duration) -> Patience {
        Patience { timeout, every: Patience::EVERY }
    }
}

/// A wait that ran out of time. Its `Debug` is its message, so `.unwrap()` in a test prints the sentence.
#[derive(Clone, PartialEq, Eq)]
pub struct TimedOut {
    pub what: String,
    pub timeout: Duration,
    /// What the getter last returned (`Debug`), or its last error.
    pub last: String,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?} waiting for {}; last saw {}", self.timeout, self.what, self.last)
    }
}

impl fmt::Debug for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for TimedOut {}

/// What was last seen, cut to a length a test log can show.
fn describe<T: fmt::Debug>(last: anyhow::Result<T>) -> String {
    const MAX: usize = 4000;
    let text = match last {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("an error: {e:#}"),
    };
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} more bytes)", &text[..cut], text.len() - cut),
        None => text,
    }
}

/// A wait under way: what it waits for, and until when.
struct Waiting<'a> {
    what: &'a str,
    timeout: Duration,
    deadline: Instant,
}

impl Waiting<'_> {
    /// Starts the clock; also says how often to look.
    fn start(what: &str, patience: Patience) -> (Waiting<'_>, Duration) {
        let deadline = Instant::now() + patience.timeout;
        (Waiting { what, timeout: patience.timeout, deadline }, patience.every)
    }

    /// After a look: the end of the wait (what `done` accepted, or the time-out once the deadline has passed), or
    /// none to look again.
    fn after<T: fmt::Debug>(
        &self,
        seen: anyhow::Result<T>,
        done: impl FnOnce(&T) -> bool,
    ) -> Option<Result<T, TimedOut>> {
        match seen {
            Ok(v) if done(&v) => Some(Ok(v)),
            seen if Instant::now() >= self.deadline => {
                Some(Err(TimedOut { what: self.what.to_string(), timeout: self.timeout, last: describe(seen) }))
            }
            _ => None,
        }
    }
}

/// Polls `get` until `done` holds for what it returned, and returns that. An error from `get` does not end the wait
/// (the stack is allowed a hiccup): it is what was last seen. After the timeout (at least one look, and one more
/// after the deadline's last sleep), fails with [`TimedOut`].
pub async fn wait_for<T, G, Fut, D>(
    what: &str,
    patience: impl Into<Patience>,
    mut get: G,
    mut done: D,
) -> Result<T, TimedOut>
where
    T: fmt::Debug,
    G: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
    D: FnMut(&T) -> bool,
{
    let (waiting, every) = Waiting::start(what, patience.into());
    loop {
        if let Some(end) = waiting.after(get().await, &mut done) {
            return end;
        }
        tokio::time::sleep(every).await;
    }
}

/// [`wait_for`] for a caller that cannot await (a `Drop`, a blocking test step): the same loop, blocking the thread
/// between looks.
pub fn wait_for_blocking<T, G, D>(
    what: &str,
    patience: impl Into<Patience>,
    mut get: G,
    mut done: D,
) -> Result<T, TimedOut>
where
    T: fmt::Debug,
    G: FnMut() -> anyhow::Result<T>,
    D: FnMut(&T) -> bool,
{
    let (waiting, every) = Waiting::start(what, patience.into());
    loop {
        if let Some(end) = waiting.after(get(), &mut done) {
            return end;
        }
        std::thread::sleep(every);
    }
}

/// [`wait_for`] a getter that answers `Some` once it has what the wait is for.
pub async fn wait_for_some<T, G, Fut>(what: &str, patience: impl Into<Patience>, get: G) -> Result<T, TimedOut>
where
    T: fmt::Debug,
    G: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let found = wait_for(what, patience, get, Option::is_some).await?;
    Ok(found.expect("wait_for returns only what `done` accepted"))
}

/// An object that shows only its status when printed (a time-out message has no room for managed fields).
struct StatusOf<K>(K);

impl<K: HasStatus> fmt::Debug for StatusOf<K>
where
    K::Status: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {:?}", self.0.status())
    }
}

/// Polls the object `name` until `done` holds for it; on time-out, says what its status last was.
pub async fn wait_status<K, D>(
    api: &Api<K>,
    name: &str,
    what: &str,
    patience: impl Into<Patience>,
    mut done: D,
) -> Result<K, TimedOut>
where
    K: kube::Resource + HasStatus + Clone + serde::de::DeserializeOwned + fmt::Debug,
    K::Status: fmt::Debug,
    D: FnMut(&K) -> bool,
{
    let what = format!("{name}: {what}");
    let get = || async { Ok(StatusOf(api.get(name).await?)) };
    Ok(wait_for(&what, patience, get, |s| done(&s.0)).await?.0)
}

/// Polls the object `name` until its condition `type_` has `status` (and `reason`, when given).
pub async fn wait_condition<K>(
    api: &Api<K>,
    name: &str,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    patience: impl Into<Patience>,
) -> Result<K, TimedOut>
where
    K: kube::Resource + HasStatus + Conditions + Clone + serde::de::DeserializeOwned + fmt::Debug,
    K::Status: fmt::Debug,
{
    let what = match reason {
        Some(r) => format!("{type_}={status} ({r})"),
        None => format!("{type_}={status}"),
    };
    wait_status(api, name, &what, patience, |k| k.has_condition(type_, status, reason)).await
}

/// Every version of the object `name` a watch sees during `window`, its state at the start included: for checking
/// that something holds over a whole window, not just at the moments a poll happened to look.
pub async fn versions_seen_for<K>(api: &Api<K>, name: &str, window: Duration) -> Vec<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + fmt::Debug + Send + 'static,
{
    use futures::StreamExt as _;
    use kube::runtime::{WatchStreamExt as _, watcher};
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = std::pin::pin!(watcher(api.clone(), config).applied_objects());
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, stream.next()).await {
        seen.push(event.unwrap_or_else(|e| panic!("watching {name}: {e}")));
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_what_satisfied_the_predicate() {
        let mut n = 0;
        let got = wait_for(
            "three",
            Patience::new(Duration::from_secs(5), Duration::from_millis(1)),
            || {
                n += 1;
                let now = n;
                async move { Ok(now) }
            },
            |v| *v == 3,
        )
        .await;
        assert_eq!(got, Ok(3));
    }

    #[tokio::test]
    async fn says_what_it_waited_for_and_what_it_last_saw() {
        let every = Patience::new(Duration::from_millis(30), Duration::from_millis(5));
        let err = wait_for("seven", every, || async { Ok(6) }, |v| *v == 7).await.unwrap_err();
        assert_eq!(err.to_string(), "timed out after 30ms waiting for seven; last saw 6");
        assert_eq!(format!("{err:?}"), err.to_string());

        let err = wait_for("anything", every, || async { Err::<u8, _>(anyhow::anyhow!("refused")) }, |_| true)
            .await
            .unwrap_err();
        assert_eq!(err.last, "an error: refused");
    }

    #[tokio::test]
    async fn some_is_what_it_waits_for() {
        let mut n = 0;
        let get = || {
            n += 1;
            let now = n;
            async move { Ok((now > 2).then_some(now)) }
        };
        let got = wait_for_some("a third look", Patience::new(Duration::from_secs(5), Duration::from_millis(1)), get);
        assert_eq!(got.await, Ok(3));
    }

    #[tokio::test]
    async fn looks_at_least_once_even_without_time() {
        let got = wait_for("now", Duration::ZERO, || async { Ok("ready") }, |v| *v == "ready").await;
        assert_eq!(got, Ok("ready"));
    }

    #[test]
    fn blocking_waits_the_same_way() {
        let mut n = 0;
        let every = Patience::new(Duration::from_secs(5), Duration::from_millis(1));
        let get = || {
            n += 1;
            Ok(n)
        };
        assert_eq!(wait_for_blocking("a third look", every, get, |v| *v == 3), Ok(3));
        let every = Patience::new(Duration::from_millis(20), Duration::from_millis(5));
        let err = wait_for_blocking("true", every, || Ok(false), |v| *v).unwrap_err();
        assert_eq!(err.to_string(), "timed out after 20ms waiting for true; last saw false");
    }

    #[test]
    fn a_long_sight_is_cut() {
        let text = describe(Ok("x".repeat(5000)));
        assert!(text.len() < 4100 && text.ends_with("more bytes)"), "{text}");
    }
}

//! Apiserver calls that survive a loaded stack.

use std::time::Duration;

/// Retries an apiserver call a few times: the shared stack is loaded, and a dropped connection or a time-out is
/// not what is measured here.
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0u32;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                return Err(anyhow::Error::from(kube::Error::Api(s)).context(what.to_string()));
            }
            Err(e) if attempt < 6 => {
                attempt += 1;
                eprintln!("  retrying {what} ({e})");
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
            Err(e) => return Err(anyhow::Error::from(e).context(what.to_string())),
        }
    }
}

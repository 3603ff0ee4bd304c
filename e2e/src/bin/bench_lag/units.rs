//! How the bench prints its numbers.

use std::time::Duration;

/// Seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

//! The `DlqPolicy` controller: generates the retry and dead-letter topics as child `Topic` resources
//! ([`children`]; the Topic controller manages them in Kafka: creation, drift, deletion policy), watches the
//! dead-letter topic ([`monitor`]: depth, age of the oldest dead letter, arrival rate, alert condition, metrics),
//! and runs redrives ([`redrive`]: one background move per policy, exactly once, rate limited, see
//! `kafka::redrive`). [`reconcile`] ties them together; [`memory`] keeps each policy's move and monitor.

pub mod children;
pub mod context;
pub mod memory;
pub mod monitor;
pub mod reconcile;
pub mod redrive;

pub use self::reconcile::run;

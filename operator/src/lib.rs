//! Tributary: a Kubernetes operator that owns a team's event topology on Apache Kafka.
//!
//! The crate keeps four kinds of code apart:
//! - [`api`]: the custom resource types (plain data);
//! - `decisions`: pure functions over plain data (plans, lag maths, autoscaling), no I/O and no clock;
//! - `kafka`: the only code that talks to Kafka;
//! - [`runtime`] and `controllers`: the glue that fetches, decides, acts and writes status.
#![deny(rust_2018_idioms)]
// `unsafe` lives in `kafka::ffi` alone, which opts back in; there every block says why it is sound.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod api;
pub mod app;
pub mod controllers;
pub mod decisions;
pub mod kafka;
pub mod runtime;

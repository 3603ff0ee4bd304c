//! Tributary: a Kubernetes operator that owns a team's event topology on Apache Kafka.
//!
//! # Layers
//!
//! Dependencies run one way, each layer importing only those before it:
//!
//! ```text
//! api  ←  decisions  ←  kafka     ←  controllers  ←  app
//!                   ↖  registry  ↙
//!   ↖________ runtime (leaf: config, events, metrics, http, telemetry, sync) — imports api at most
//! ```
//!
//! - [`api`]: the custom resource types (plain data, CRD schema and CEL rules);
//! - [`decisions`]: pure functions over plain data — validation, plans, drift, lag maths, autoscaling, redrive and
//!   offset-reset state machines, and the one [`Problem`](decisions::problem::Problem) type; no I/O, no clock;
//! - [`kafka`]: the only code that talks to Kafka (one shared client per connection, batching, circuit breaker;
//!   the wire client and the FFI wrappers are reached only through it);
//! - [`registry`]: the only code that talks to a Schema Registry (the Confluent Schema Registry API over HTTP); beside
//!   `kafka`, neither importing the other;
//! - [`controllers`]: one folder or file per kind; each reconcile reads → validates → observes → plans → acts and
//!   writes its status once;
//! - [`app`]: the process — HTTP endpoints, leader election, the controllers' lifetime;
//! - [`runtime`]: leaf services any layer may use.
//!
//! No file imports a layer after its own, no two files import each other (directly or around a circle), and no
//! source file grows past about 600 lines: `cargo test -p tributary --test layers` fails when any of that breaks.
#![deny(rust_2018_idioms)]
// `unsafe` lives in `kafka::ffi` and `runtime::malloc` alone, which opt back in; there every block says why it is
// sound.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod api;
pub mod app;
pub mod controllers;
pub mod decisions;
pub mod kafka;
pub mod registry;
pub mod runtime;

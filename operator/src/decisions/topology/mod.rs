//! The map: the event topology of some namespaces as one plain model — applications (KafkaUsers), topics,
//! consumer groups with their workloads, and dead-letter chains — with the live figures their statuses hold, and
//! the renderings of it (DOT, Mermaid, SVG, AsyncAPI, JSON). Pure: the model is built from resources already read
//! (the CLI lists them, the operator keeps them cached), so drawing it never asks Kafka anything.
//!
//! Nothing secret enters the model: a connection contributes its name, bootstrap servers, TLS on/off and SASL
//! mechanism, never a Secret's name, key or value.

mod asyncapi;
mod build;
mod dot;
mod draw;
mod mermaid;
mod model;
mod svg;

pub use self::asyncapi::asyncapi;
pub use self::build::{Resources, build};
pub use self::dot::dot;
pub use self::mermaid::mermaid;
pub use self::model::{App, DlqNode, GroupNode, Health, Namespace, Server, TopicNode, Topology};
pub use self::svg::svg;

#[cfg(test)]
mod tests;

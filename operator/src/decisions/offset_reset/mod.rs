//! Declarative offset resets, pure: where each partition moves ([`targets`]) and the steps of a reset, from
//! scaling the workload down to restoring it ([`steps`]).

pub mod steps;
pub mod targets;

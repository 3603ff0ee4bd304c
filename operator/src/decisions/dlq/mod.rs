//! Dead letters, pure: the topics a `DlqPolicy` generates, the monitoring of its dead-letter topic, the arithmetic
//! of a move, and the redrive state machine.

pub mod monitor;
pub mod moves;
pub mod naming;
pub mod redrive;

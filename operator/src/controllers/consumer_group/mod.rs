//! The `ConsumerGroup` controller: [`reconcile`] polls the group ([`observe`]), puts its lag and partition health
//! in status ([`lag_status`]), scales its workload ([`scale`]) and runs declarative offset resets
//! ([`offset_reset`]); [`shared`] holds what they all use.

pub mod lag_status;
pub mod observe;
pub mod offset_reset;
pub mod reconcile;
pub mod scale;
pub mod shared;

pub use self::reconcile::run;

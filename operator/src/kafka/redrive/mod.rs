//! Moving dead letters back, exactly once, and reading the dead-letter topic for monitoring.
//!
//! A move consumes the dead-letter topic (read_committed, manual assignment) and produces each record to its
//! destination in Kafka transactions that also commit the consumed offsets of the policy's redrive group
//! (`send_offsets_to_transaction`). The dead-letter partitions are split among up to four movers, each with its own
//! consumer and transactional producer, so one mover's commit overlaps the others' records. The producers'
//! `transactional.id`s are stable per policy and slot (`<group>-0` … `<group>-3`), and a starting or resumed move
//! fences all four before it reads anything, so a restarted operator aborts the previous instance's open
//! transactions: every record reaches its destination exactly once for a `read_committed` reader. The progress of
//! the move (its id, each partition's stop offset and records moved, the total) rides in the metadata of the
//! committed offsets, atomically with the records, so a restarted move resumes exactly where each partition's last
//! committed transaction left off. A new move writes every partition's mark in one transaction before any record
//! moves.
//!
//! Everything here is blocking (librdkafka calls); the controller runs it on a blocking thread.
//!
//! Files: [`control`] (what the controller shares with a move), [`clients`] (the consumer and the fenced
//! transactional producers), [`coordinator`] (one move from start to end), [`mover`] (one mover's loop), [`pacer`]
//! (the shared rate limit), and [`peeker`] (the monitor's look at the oldest dead letters).

pub mod clients;
pub mod control;
pub mod coordinator;
pub mod mover;
pub mod pacer;
pub mod peeker;

//! The outbox's consumers: webhook delivery, audit records, metrics counters.

pub mod audit;

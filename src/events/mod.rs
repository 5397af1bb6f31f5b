//! The outbox's consumers: webhook delivery (retries, the attempt log), audit records and
//! metrics counters. The events themselves are written by `meta::` in the transactions that
//! make the changes they report.

pub mod audit;
pub mod metrics;
pub(crate) mod send;
pub mod webhooks;

pub use webhooks::{Webhook, WebhookSpec, Webhooks};

//! Uploads in progress, bounded overall and per identity: each one holds a connection, buffers
//! and, while its bytes are processed, threads of the blocking pool, so one identity (a leaked
//! token, a runaway build farm) cannot take them all. A request past either bound is refused at
//! once with `429 TOOMANYREQUESTS` and `Retry-After`, which registry clients retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::header;

use super::ApiError;
use crate::oci::ErrorCode;

#[derive(Debug)]
pub(crate) struct UploadSlots {
    overall: usize,
    per_identity: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_identity: HashMap<String, usize>,
}

/// One upload in progress, until dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<UploadSlots>,
    identity: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Ok(mut held) = self.slots.held.lock() else { return };
        held.total = held.total.saturating_sub(1);
        if let Some(n) = held.by_identity.get_mut(&self.identity) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.by_identity.remove(&self.identity);
            }
        }
    }
}

impl UploadSlots {
    pub(crate) fn new(overall: usize, per_identity: usize) -> Arc<Self> {
        Arc::new(Self { overall, per_identity, held: Mutex::default() })
    }

    /// A slot for an upload by `identity`, or 429 naming the bound reached.
    pub(crate) fn take(self: &Arc<Self>, identity: &str) -> Result<Slot, ApiError> {
        let busy =
            |message: String| Err(ApiError::new(ErrorCode::TooManyRequests, message).header(header::RETRY_AFTER, "1"));
        let Ok(mut held) = self.held.lock() else { return busy("upload slots unavailable".into()) };
        let mine = held.by_identity.get(identity).copied().unwrap_or(0);
        if mine >= self.per_identity {
            return busy(format!(
                "{identity:?} has {mine} uploads in progress, the most one identity may have (http.max_uploads_per_identity); retry when one ends"
            ));
        }
        if held.total >= self.overall {
            return busy(format!(
                "the registry has {} uploads in progress, its limit (http.max_uploads); retry shortly",
                held.total
            ));
        }
        held.total += 1;
        *held.by_identity.entry(identity.to_owned()).or_default() += 1;
        Ok(Slot { slots: self.clone(), identity: identity.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_per_identity_and_overall_and_free_on_drop() {
        let slots = UploadSlots::new(3, 2);
        let a1 = slots.take("a").expect("a1");
        let a2 = slots.take("a").expect("a2");
        assert_eq!(slots.take("a").expect_err("a3").code(), ErrorCode::TooManyRequests);
        let b1 = slots.take("b").expect("b1");
        assert!(slots.take("c").is_err(), "three in all");
        drop(a1);
        let c1 = slots.take("c").expect("freed");
        drop((a2, b1, c1));
        assert_eq!(slots.held.lock().expect("lock").total, 0);
        assert!(slots.held.lock().expect("lock").by_identity.is_empty());
    }
}

//! Failed sign-ins per client address: after `MAX_FAILURES` within `WINDOW`, further attempts
//! from that address are refused until the window has passed, which caps password guessing
//! without locking out the principal for everyone else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::meta::now_ms;

pub(super) const MAX_FAILURES: u32 = 10;
pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past it, windows that have ended are dropped.
const CAPACITY: usize = 10_000;

/// The counts as last seen: every failure is counted in the database, which answers with the
/// count across all nodes, and that answer is kept here so that checking costs no query. A
/// client spreading guesses over n nodes gets at most n more than `MAX_FAILURES` per window.
#[derive(Debug, Default)]
pub struct Throttle {
    /// Client → (failures in its window, window start in Unix ms).
    failures: Mutex<HashMap<IpAddr, (u32, i64)>>,
}

impl Throttle {
    /// Seconds until `client` may try again, if it is blocked now.
    pub fn blocked(&self, client: IpAddr) -> Option<u64> {
        let map = self.failures.lock().ok()?;
        let (count, since) = map.get(&client)?;
        let left = (since + WINDOW.as_millis() as i64) - now_ms();
        (*count >= MAX_FAILURES && left > 0).then(|| (left as u64).div_ceil(1000))
    }

    /// Records the count the database returned for `client`'s current window.
    pub(super) fn record(&self, client: IpAddr, failures: u32, since: i64) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() >= CAPACITY {
            let ended = now_ms() - WINDOW.as_millis() as i64;
            map.retain(|_, (_, start)| *start > ended);
        }
        map.insert(client, (failures, since));
    }

    /// Counts a failure here only (the database could not be reached).
    pub(super) fn record_local(&self, client: IpAddr) {
        let now = now_ms();
        let current = self.failures.lock().ok().and_then(|m| m.get(&client).copied());
        let (failures, since) = match current {
            Some((n, since)) if since + WINDOW.as_millis() as i64 > now => (n + 1, since),
            _ => (1, now),
        };
        self.record(client, failures, since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_per_client() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().expect("ip"), "10.0.0.2".parse().expect("ip"));
        for _ in 0..MAX_FAILURES - 1 {
            t.record_local(a);
        }
        assert_eq!(t.blocked(a), None);
        t.record_local(a);
        assert!(t.blocked(a).is_some_and(|s| s <= 60));
        assert_eq!(t.blocked(b), None, "other clients are not affected");
    }
}

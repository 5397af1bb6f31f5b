//! Failed sign-ins per client address: after `MAX_FAILURES` within `WINDOW`, further attempts
//! from that address are refused until the window has passed, which caps password guessing
//! without locking out the principal for everyone else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(super) const MAX_FAILURES: u32 = 10;
pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past it, windows that have ended are dropped.
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// Seconds until `client` may try again, if it is blocked now.
    pub fn blocked(&self, client: IpAddr) -> Option<u64> {
        let map = self.failures.lock().ok()?;
        let (count, since) = map.get(&client)?;
        let left = WINDOW.checked_sub(since.elapsed())?;
        (*count >= MAX_FAILURES).then(|| left.as_secs().max(1))
    }

    pub fn failed(&self, client: IpAddr) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() >= CAPACITY {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = map.entry(client).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
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
            t.failed(a);
        }
        assert_eq!(t.blocked(a), None);
        t.failed(a);
        assert!(t.blocked(a).is_some_and(|s| s <= 60));
        assert_eq!(t.blocked(b), None, "other clients are not affected");
    }
}

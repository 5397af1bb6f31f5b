//! Password guessing, bounded three ways within each one-minute window: failures of one
//! account from one address (the common typo and the single guesser), of one account from every
//! address (a guesser spread over many), and of every account from one address (one guess per
//! account, sprayed). Attempts in flight count as failures until they end, so parallel guesses
//! gain nothing, and one address runs only a few verifications at once.
//!
//! An address refused for one account may still sign in to others: behind a proxy or NAT many
//! people share one address, and one of them guessing must not lock out the rest. The two wider
//! limits spare the pairs of address and account that signed in successfully lately, so neither
//! a flood against an account nor a spraying neighbour locks out its regular users.
//!
//! Failures are counted in the database (every node sees them) and the counts it answers are
//! kept here, so that checking costs no query; a guesser spreading over n nodes gets at most n
//! more tries a window.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::meta::now_ms;

pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// Failures of one account from one address in a window.
const PAIR_LIMIT: u32 = 10;
/// Failures of one account from all addresses in a window.
const ACCOUNT_LIMIT: u32 = 50;
/// Failures on all accounts from one address in a window.
const ADDRESS_LIMIT: u32 = 100;
/// Password verifications one address may have running at once.
const IN_FLIGHT_PER_ADDRESS: u32 = 8;
/// How long a successful sign-in exempts its pair from the two wider limits.
const KNOWN_GOOD_FOR: Duration = Duration::from_secs(7 * 86_400);
/// Counts kept at most; past it the smallest are dropped (the database keeps them all).
const CAPACITY: usize = 20_000;

/// What a failure is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Pair(IpAddr, String),
    Account(String),
    Address(IpAddr),
}

impl Key {
    /// The row name in the database's `sign_in_failures`.
    pub(super) fn row(&self) -> String {
        match self {
            Key::Pair(ip, account) => format!("pair {ip} {account}"),
            Key::Account(account) => format!("account {account}"),
            Key::Address(ip) => format!("address {ip}"),
        }
    }

    fn limit(&self) -> u32 {
        match self {
            Key::Pair(..) => PAIR_LIMIT,
            Key::Account(_) => ACCOUNT_LIMIT,
            Key::Address(_) => ADDRESS_LIMIT,
        }
    }
}

/// The keys one attempt counts against.
pub(super) fn keys(client: IpAddr, account: &str) -> [Key; 3] {
    [Key::Pair(client, account.to_owned()), Key::Account(account.to_owned()), Key::Address(client)]
}

/// Why an attempt was refused, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: u64,
    pub reason: &'static str,
}

#[derive(Debug, Default)]
struct State {
    /// Failures in the current window and the window's start (Unix ms).
    failures: HashMap<Key, (u32, i64)>,
    in_flight: HashMap<Key, u32>,
    /// (address, account) → when it last signed in successfully.
    known_good: HashMap<(IpAddr, String), i64>,
}

#[derive(Debug, Default)]
pub struct Throttle {
    state: Mutex<State>,
}

/// An attempt in flight: counted until dropped.
#[derive(Debug)]
pub(super) struct Attempt<'a> {
    throttle: &'a Throttle,
    keys: [Key; 3],
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let Ok(mut state) = self.throttle.state.lock() else { return };
        for key in &self.keys {
            if let Some(n) = state.in_flight.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.in_flight.remove(key);
                }
            }
        }
    }
}

impl Throttle {
    /// Starts an attempt to verify `account`'s password from `client`, or says why not.
    pub(super) fn begin(&self, client: IpAddr, account: &str) -> Result<Attempt<'_>, Refused> {
        let now = now_ms();
        let window = WINDOW.as_millis() as i64;
        let mut state = self.state.lock().map_err(|_| Refused { retry_after: 1, reason: "throttle unavailable" })?;
        let keys = keys(client, account);
        let in_flight = |state: &State, key: &Key| state.in_flight.get(key).copied().unwrap_or(0);
        if in_flight(&state, &keys[2]) >= IN_FLIGHT_PER_ADDRESS {
            return Err(Refused { retry_after: 1, reason: "too many sign-ins in progress from this address" });
        }
        let known = state
            .known_good
            .get(&(client, account.to_owned()))
            .is_some_and(|t| now - t < KNOWN_GOOD_FOR.as_millis() as i64);
        for key in &keys {
            if known && !matches!(key, Key::Pair(..)) {
                continue;
            }
            let (failures, since) = match state.failures.get(key) {
                Some((n, since)) if since + window > now => (*n, *since),
                _ => (0, now),
            };
            if failures + in_flight(&state, key) >= key.limit() {
                let left = (since + window - now).max(1000);
                let reason = match key {
                    Key::Pair(..) => "too many failed sign-ins to this account from this address",
                    Key::Account(_) => "too many failed sign-ins to this account",
                    Key::Address(_) => "too many failed sign-ins from this address",
                };
                return Err(Refused { retry_after: (left as u64).div_ceil(1000), reason });
            }
        }
        for key in &keys {
            *state.in_flight.entry(key.clone()).or_default() += 1;
        }
        Ok(Attempt { throttle: self, keys })
    }

    /// Records the count the database returned for `key`'s current window.
    pub(super) fn record(&self, key: Key, failures: u32, since: i64) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.failures.len() >= CAPACITY {
            let ended = now_ms() - WINDOW.as_millis() as i64;
            state.failures.retain(|_, (_, start)| *start > ended);
            if state.failures.len() >= CAPACITY {
                // Still full of live windows: drop the smallest counts, which matter least.
                let mut counts: Vec<u32> = state.failures.values().map(|(n, _)| *n).collect();
                counts.sort_unstable();
                let cut = counts[counts.len() / 2];
                state.failures.retain(|_, (n, _)| *n > cut);
            }
        }
        state.failures.insert(key, (failures, since));
    }

    /// Counts a failure here only (the database could not be reached).
    pub(super) fn record_local(&self, key: Key) {
        let now = now_ms();
        let current = self.state.lock().ok().and_then(|s| s.failures.get(&key).copied());
        let (failures, since) = match current {
            Some((n, since)) if since + WINDOW.as_millis() as i64 > now => (n + 1, since),
            _ => (1, now),
        };
        self.record(key, failures, since);
    }

    /// Remembers a successful sign-in of `account` from `client`; true if the pair had failures
    /// (to be cleared where every node sees them).
    pub(super) fn succeeded(&self, client: IpAddr, account: &str) -> bool {
        let Ok(mut state) = self.state.lock() else { return false };
        if state.known_good.len() >= CAPACITY {
            let expired = now_ms() - KNOWN_GOOD_FOR.as_millis() as i64;
            state.known_good.retain(|_, t| *t > expired);
            if state.known_good.len() >= CAPACITY {
                state.known_good.clear();
            }
        }
        state.known_good.insert((client, account.to_owned()), now_ms());
        state.failures.remove(&Key::Pair(client, account.to_owned())).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn fail(t: &Throttle, client: IpAddr, account: &str) {
        let attempt = t.begin(client, account).expect("allowed");
        drop(attempt);
        for key in keys(client, account) {
            t.record_local(key);
        }
    }

    #[test]
    fn one_address_guessing_one_account_does_not_lock_out_the_others() {
        let t = Throttle::default();
        let (nat, elsewhere) = (ip("10.0.0.1"), ip("10.0.0.2"));
        for _ in 0..PAIR_LIMIT {
            fail(&t, nat, "alice");
        }
        let refused = t.begin(nat, "alice").expect_err("alice is throttled from the NAT");
        assert!(refused.retry_after <= 60 && refused.reason.contains("this account from this address"));
        assert!(t.begin(nat, "bob").is_ok(), "bob behind the same NAT signs in");
        assert!(t.begin(elsewhere, "alice").is_ok(), "alice from elsewhere signs in");
    }

    #[test]
    fn parallel_attempts_count_while_in_flight() {
        let t = Throttle::default();
        let client = ip("10.0.0.3");
        let held: Vec<_> = (0..IN_FLIGHT_PER_ADDRESS).map(|_| t.begin(client, "alice").expect("allowed")).collect();
        assert!(t.begin(client, "bob").is_err(), "an address runs a few verifications at once");
        drop(held);
        for _ in 0..PAIR_LIMIT - 2 {
            fail(&t, client, "alice");
        }
        let a = t.begin(client, "alice").expect("9th");
        let b = t.begin(client, "alice").expect("10th");
        assert!(t.begin(client, "alice").is_err(), "the 11th while two are in flight");
        drop((a, b));
    }

    #[test]
    fn wide_limits_spare_pairs_that_signed_in_before() {
        let t = Throttle::default();
        let regular = ip("10.0.0.4");
        assert!(!t.succeeded(regular, "alice"));
        for i in 0..ACCOUNT_LIMIT {
            fail(&t, ip(&format!("10.1.{}.{}", i / 250, i % 250)), "alice");
        }
        assert!(t.begin(ip("10.9.9.9"), "alice").is_err(), "a flood against alice shuts out strangers");
        assert!(t.begin(regular, "alice").is_ok(), "but not alice's regular address");
        let sprayer = ip("10.0.0.5");
        for i in 0..ADDRESS_LIMIT {
            fail(&t, sprayer, &format!("user{i}"));
        }
        assert!(t.begin(sprayer, "carol").is_err(), "spraying from one address is cut");
        for _ in 0..3 {
            fail(&t, regular, "dave");
        }
        assert!(t.succeeded(regular, "dave"), "a success clears its pair's failures");
    }
}

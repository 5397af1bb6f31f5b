//! Signing in: a principal's password (argon2, throttled), a refresh token given as the
//! password of [`REFRESH_TOKEN_USER`], or a bearer access token, each re-validated against the
//! current snapshot. Credentials already proven are remembered by a hash of what the client
//! sent, so a client sending the same Basic credentials on every request costs one argon2 run.
//!
//! Refusing a name that does not exist takes as long as refusing a wrong password: every
//! verification runs argon2 [`VERIFICATIONS`] times, against a stand-in hash where the
//! principal has fewer secrets or none.

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::throttle::{self, Key};
use super::{Access, Caller, Error, REFRESH_TOKEN_USER, Refusal, Result};
use crate::auth::jwt::{self, Claims};
use crate::auth::password;
use crate::meta::now_ms;

/// argon2 runs per password verification: the most secrets a principal has (the admin user's
/// and tokens' two).
const VERIFICATIONS: usize = 2;
/// Proven credentials remembered at most.
const PROVEN_CAPACITY: usize = 4096;

/// Credentials already checked: hash of what the client sent → what it proved. Every hit is
/// re-validated against the snapshot.
#[derive(Debug, Clone)]
pub(super) enum Proven {
    Password { name: String, credential: String },
    Token(Box<Claims>),
}

impl Access {
    /// Basic credentials from `client`: a principal's password, or a refresh token under
    /// [`REFRESH_TOKEN_USER`]. With the caller comes whether a password was verified now
    /// (false: proven earlier and remembered, or a refresh token), which the audit log records
    /// as a sign-in.
    pub async fn basic(&self, user: &str, pass: &str, service: &str, client: IpAddr) -> Result<(Caller, bool)> {
        if user == REFRESH_TOKEN_USER {
            return Ok((self.bearer_of_kind(pass, service, jwt::Grant::RefreshToken).await?, false));
        }
        let key = fingerprint(&["basic", user, pass]);
        if let Some(caller) = self.proven_password(&key) {
            return Ok((caller, false));
        }
        // Requests with the same credentials wait for one verification instead of each
        // running (and counting) one: a client opening 32 connections at once signs in once.
        let same = self.same_credentials(key);
        let _turn = same.lock().await;
        let result = match self.proven_password(&key) {
            Some(caller) => Ok((caller, false)),
            None => self.verify_password(user, pass, client, key).await.map(|caller| (caller, true)),
        };
        drop(_turn);
        self.forget_idle(&key, same);
        result
    }

    fn proven_password(&self, key: &[u8; 32]) -> Option<Caller> {
        match self.proven_get(key) {
            Some(Proven::Password { name, credential }) => self.snapshot().caller(&name, &credential, now_ms()).ok(),
            _ => None,
        }
    }

    /// One password verification, through the throttle.
    async fn verify_password(&self, user: &str, pass: &str, client: IpAddr, key: [u8; 32]) -> Result<Caller> {
        let attempt = self.throttle.begin(client, user).map_err(Error::Throttled)?;
        let mut result = self.check_password(user, pass).await;
        // The principal or its password may be newer than this node's snapshot.
        if matches!(result, Err(Error::Unauthorized(_))) && self.refreshed().await? {
            result = self.check_password(user, pass).await;
        }
        drop(attempt);
        match &result {
            Ok(caller) => {
                let credential = caller.credential.clone();
                self.proven_put(key, Proven::Password { name: user.to_owned(), credential });
                if self.throttle.succeeded(client, user) {
                    let pair = Key::Pair(client, user.to_owned()).row();
                    if let Err(e) = self.meta.sign_in_cleared(&pair).await {
                        tracing::warn!(error = %e, "cannot clear failed sign-ins in the database");
                    }
                }
            }
            Err(Error::Unauthorized(_)) => self.sign_in_failed(client, user).await,
            Err(_) => {}
        }
        result
    }

    /// argon2 against the principal's live secrets, padded with stand-ins to
    /// [`VERIFICATIONS`] runs whatever the principal (unknown, disabled, expired, or with one
    /// secret) unless a secret matches.
    async fn check_password(&self, user: &str, pass: &str) -> Result<Caller> {
        let now = now_ms();
        let snapshot = self.snapshot();
        let active = snapshot.active(user, now);
        let mut candidates: Vec<(Option<String>, String)> = match &active {
            Ok(p) => p
                .secrets
                .iter()
                .filter(|s| s.expires_at.is_none_or(|t| t > now))
                .map(|s| (Some(s.id.clone()), s.hash.clone()))
                .collect(),
            Err(_) => Vec::new(),
        };
        while candidates.len() < VERIFICATIONS {
            candidates.push((None, password::STAND_IN.to_owned()));
        }
        let pass = pass.to_owned();
        let _memory = self.hashing.acquire().await.map_err(|_| Error::Unauthorized(Refusal::ShuttingDown))?;
        // argon2 is deliberately slow: keep it off the async workers.
        let matched = tokio::task::spawn_blocking(move || {
            candidates.into_iter().find(|(_, hash)| password::verify(&pass, hash)).and_then(|(id, _)| id)
        })
        .await
        .ok()
        .flatten();
        active?;
        let credential = matched.ok_or(Error::Unauthorized(Refusal::WrongPassword))?;
        snapshot.caller(user, &credential, now)
    }

    /// Counts a failed sign-in where every node sees it.
    async fn sign_in_failed(&self, client: IpAddr, user: &str) {
        let keys = throttle::keys(client, user);
        let rows: Vec<String> = keys.iter().map(Key::row).collect();
        let window = throttle::WINDOW.as_millis() as i64;
        match self.meta.sign_in_failed(&rows, window).await {
            Ok(counts) => {
                for (key, (failures, since)) in keys.into_iter().zip(counts) {
                    self.throttle.record(key, failures, since);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot record a failed sign-in in the database");
                for key in keys {
                    self.throttle.record_local(key);
                }
            }
        }
    }

    /// The lock that requests with the same credentials (by `key`) take turns on.
    fn same_credentials(&self, key: [u8; 32]) -> Arc<tokio::sync::Mutex<()>> {
        match self.verifying.lock() {
            Ok(mut map) => map.entry(key).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Drops the turn lock of `key` once no request holds it.
    fn forget_idle(&self, key: &[u8; 32], same: Arc<tokio::sync::Mutex<()>>) {
        drop(same);
        if let Ok(mut map) = self.verifying.lock()
            && map.get(key).is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(key);
        }
    }

    /// A bearer access token for `service`.
    pub async fn bearer(&self, token: &str, service: &str) -> Result<Caller> {
        self.bearer_of_kind(token, service, jwt::Grant::AccessToken).await
    }

    /// A JWT of the given kind, re-validated against the current identities.
    pub async fn bearer_of_kind(&self, token: &str, service: &str, kind: jwt::Grant) -> Result<Caller> {
        let claims = self.claims(token, service, kind)?;
        self.caller_of(&claims).await
    }

    /// The caller that verified `claims` stand for, as the identities are now.
    pub(super) async fn caller_of(&self, claims: &Claims) -> Result<Caller> {
        match self.snapshot().bearer_caller(claims) {
            // Signed by a node that knows a principal or secret this one has not loaded yet.
            Err(Error::Unauthorized(_)) if self.refreshed().await? => self.snapshot().bearer_caller(claims),
            result => result,
        }
    }

    /// The claims of a JWT of the given kind, if its signature, audience and expiry hold.
    pub(super) fn claims(&self, token: &str, service: &str, kind: jwt::Grant) -> Result<Claims> {
        let key = fingerprint(&["bearer", service, token]);
        let claims = match self.proven_get(&key) {
            Some(Proven::Token(c)) if c.exp > now_ms() as u64 / 1000 => *c,
            _ => {
                let c = self
                    .snapshot()
                    .keys
                    .verify(token, service)
                    .map_err(|_| Error::Unauthorized(Refusal::InvalidToken))?;
                self.proven_put(key, Proven::Token(Box::new(c.clone())));
                c
            }
        };
        if claims.grant_type != kind {
            return Err(Error::Unauthorized(Refusal::WrongTokenKind));
        }
        Ok(claims)
    }

    fn proven_get(&self, key: &[u8; 32]) -> Option<Proven> {
        self.proven.lock().ok()?.get(key).cloned()
    }

    fn proven_put(&self, key: [u8; 32], value: Proven) {
        if let Ok(mut map) = self.proven.lock() {
            if map.len() >= PROVEN_CAPACITY {
                map.clear();
            }
            map.insert(key, value);
        }
    }
}

/// SHA-256 over length-prefixed parts: a cache key that does not hold the secret itself.
fn fingerprint(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

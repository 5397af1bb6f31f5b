//! Identity and access operations, beside `registry/` and shared by every front end: who a
//! request comes from (Basic credentials or a bearer JWT), what that principal may do right now,
//! the tokens the token server issues, and (in `manage`) changes to identities and settings.
//!
//! The identity tables are small, so they live in memory as one [`Snapshot`], reloaded after
//! every change this process makes. Each request resolves its principal against the current
//! snapshot, so a renewed password, a disabled token or a removed role assignment stops working
//! on the very next request, even for JWTs issued before. Changes made by other nodes sharing
//! the database move its identity change counter: a node reloads when it sees the counter move
//! (checked every second by a background job, and at once when a sign-in names a principal or
//! credential the snapshot does not know).

mod manage;
mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest as _, Sha256};

use crate::auth::jwt::{self, Claims, SigningKey};
use crate::auth::scope::{self, Granted, Scope};
use crate::auth::{Actions, Grant, Manage, Permissions, RepoPattern, Role, password};
use crate::meta::{self, IdentityRows, MetaStore, PrincipalRow, SecretRow, now_ms};

pub use manage::{NewPrincipal, PrincipalKind, SecretValue, Settings};
pub use throttle::Throttle;

/// Docker's and ACR's user name for signing in with a refresh token as the password.
pub const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";
/// Lifetime of access tokens (seconds): short, since a request re-checks the principal anyway.
pub const ACCESS_TOKEN_TTL: u64 = 300;
/// Lifetime of refresh tokens (seconds), as ACR's: three hours.
pub const REFRESH_TOKEN_TTL: u64 = 3 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, wrong, expired or revoked credentials. The reason is for the log only.
    #[error("authentication required")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Meta(#[from] meta::Error),
    #[error(transparent)]
    Password(#[from] password::Error),
    #[error(transparent)]
    Jwt(#[from] jwt::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Someone a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Login name; `None` for anonymous pull.
    pub name: Option<String>,
    /// The secret signed in with (its id), carried into the tokens this caller gets.
    pub credential: String,
    pub permissions: Permissions,
    /// For a bearer token: what the token grants (intersected with `permissions`).
    pub token: Option<Granted>,
}

impl Caller {
    /// The actions allowed on `repo`: the principal's, narrowed to the token's grant.
    pub fn on(&self, repo: &str) -> Actions {
        let allowed = self.permissions.on(repo);
        self.token.as_ref().map_or(allowed, |t| allowed.intersect(t.on(repo)))
    }

    pub fn catalog(&self) -> bool {
        self.permissions.catalog() && self.token.as_ref().is_none_or(|t| t.catalog)
    }

    pub fn manage(&self) -> Manage {
        self.permissions.manage
    }
}

/// A principal as the snapshot holds it.
#[derive(Debug, Clone)]
struct Principal {
    row: PrincipalRow,
    secrets: Vec<SecretRow>,
    permissions: Permissions,
}

/// The identity tables at one moment, with each principal's permissions worked out.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    principals: HashMap<String, Principal>,
    pub rows: IdentityRows,
    pub settings: Settings,
}

impl Snapshot {
    fn build(rows: IdentityRows, admin: &str) -> Self {
        let settings = Settings::from_rows(&rows.settings);
        let mut principals = HashMap::new();
        for row in &rows.principals {
            let secrets = rows.secrets.iter().filter(|s| s.principal == row.name).cloned().collect();
            let permissions = if row.name == admin && row.kind == PrincipalKind::Admin.as_str() {
                Permissions {
                    grants: vec![Grant { pattern: RepoPattern::all(), actions: Role::Owner.actions() }],
                    manage: Manage::Owner,
                }
            } else if let Some(map) = &row.scope_map {
                let actions =
                    rows.scope_maps.iter().find(|m| &m.name == map).map(|m| m.actions.as_slice()).unwrap_or(&[]);
                // Stored actions were validated on the way in; a bad one grants nothing.
                Permissions {
                    grants: scope::parse_scope_map_actions(actions).unwrap_or_default(),
                    manage: Manage::None,
                }
            } else {
                role_permissions(
                    rows.roles.iter().filter(|r| r.principal == row.name).map(|r| (r.role.as_str(), r.scope.as_str())),
                )
            };
            principals.insert(row.name.clone(), Principal { row: row.clone(), secrets, permissions });
        }
        Snapshot { principals, rows, settings }
    }

    /// The principal `name` if it may sign in now, with the secret `credential` (by id) if given.
    fn active(&self, name: &str, now: i64) -> Result<&Principal> {
        let p = self.principals.get(name).ok_or(Error::Unauthorized("unknown principal"))?;
        if !p.row.enabled {
            return Err(Error::Unauthorized("principal disabled"));
        }
        if p.row.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::Unauthorized("principal expired"));
        }
        if p.row.kind == PrincipalKind::Admin.as_str() && !self.settings.admin_enabled {
            return Err(Error::Unauthorized("admin user disabled"));
        }
        Ok(p)
    }

    fn caller(&self, name: &str, credential: &str, now: i64) -> Result<Caller> {
        let p = self.active(name, now)?;
        let live = p.secrets.iter().any(|s| s.id == credential && s.expires_at.is_none_or(|t| t > now));
        if !live {
            return Err(Error::Unauthorized("credential renewed, removed or expired"));
        }
        Ok(Caller {
            name: Some(name.to_owned()),
            credential: credential.to_owned(),
            permissions: p.permissions.clone(),
            token: None,
        })
    }

    /// The caller a verified JWT stands for, as of this snapshot.
    fn bearer_caller(&self, claims: &Claims, kind: jwt::Grant) -> Result<Caller> {
        let mut caller = if claims.sub.is_empty() {
            self.anonymous().ok_or(Error::Unauthorized("anonymous pull disabled"))?
        } else {
            self.caller(&claims.sub, &claims.credential, now_ms())?
        };
        if kind == jwt::Grant::AccessToken {
            caller.token = Some(Granted::from_claim(&claims.access));
        }
        Ok(caller)
    }

    fn anonymous(&self) -> Option<Caller> {
        self.settings.anonymous_pull.then(|| Caller {
            name: None,
            credential: String::new(),
            permissions: Permissions::anonymous_pull(),
            token: None,
        })
    }
}

/// The union of role assignments: registry-wide ones (`scope` empty) also carry management rights.
fn role_permissions<'a>(assignments: impl Iterator<Item = (&'a str, &'a str)>) -> Permissions {
    let mut perms = Permissions::default();
    for (role, scope) in assignments {
        let Ok(role) = role.parse::<Role>() else { continue };
        let pattern = if scope.is_empty() {
            RepoPattern::all()
        } else {
            match RepoPattern::parse(scope) {
                Ok(p) => p,
                Err(_) => continue,
            }
        };
        if pattern.is_all() {
            perms.manage = perms.manage.max(role.manage());
        }
        perms.grants.push(Grant { pattern, actions: role.actions() });
    }
    perms
}

/// Credentials already checked: hash of what the client sent → what it proved. Saves an argon2
/// run (or a signature check) per request; every hit is re-validated against the snapshot.
#[derive(Debug, Clone)]
enum Proven {
    Password { name: String, credential: String },
    Token(Box<Claims>),
}

const PROVEN_CAPACITY: usize = 4096;

#[derive(Debug)]
pub struct Access {
    meta: MetaStore,
    key: SigningKey,
    admin: String,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Failed sign-ins per client address.
    pub throttle: Throttle,
    proven: Mutex<HashMap<[u8; 32], Proven>>,
    /// Serializes changes, so a reload never overtakes a newer one.
    changes: tokio::sync::Mutex<()>,
    /// One argon2 verification at a time: each takes about 19 MiB and tens of milliseconds of
    /// a core, so a burst of sign-ins (32 connections opening at once, or a guessing flood)
    /// queues instead of multiplying memory.
    hashing: tokio::sync::Mutex<()>,
}

impl Access {
    /// Loads identities and the signing key (creating the key on first start).
    pub async fn open(meta: MetaStore, admin: String) -> Result<Self> {
        let der = match meta.signing_key(|| SigningKey::generate().unwrap_or_default()).await? {
            der if der.is_empty() => return Err(jwt::Error::Key.into()),
            der => der,
        };
        let key = SigningKey::from_pkcs8(&der)?;
        let snapshot = Snapshot::build(meta.load_identities().await?, &admin);
        Ok(Self {
            meta,
            key,
            admin,
            snapshot: RwLock::new(Arc::new(snapshot)),
            throttle: Throttle::default(),
            proven: Mutex::default(),
            changes: tokio::sync::Mutex::const_new(()),
            hashing: tokio::sync::Mutex::const_new(()),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().map_or_else(|p| p.into_inner().clone(), |s| s.clone())
    }

    async fn reload(&self) -> Result<()> {
        let fresh = Arc::new(Snapshot::build(self.meta.load_identities().await?, &self.admin));
        match self.snapshot.write() {
            Ok(mut s) => *s = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        Ok(())
    }

    pub fn jwks(&self) -> serde_json::Value {
        self.key.jwks()
    }

    /// The caller with no credentials: anonymous pull if it is on.
    pub fn anonymous(&self) -> Option<Caller> {
        self.snapshot().anonymous()
    }

    /// Basic credentials: a principal's password, or a refresh token under [`REFRESH_TOKEN_USER`].
    pub async fn basic(&self, user: &str, pass: &str, service: &str) -> Result<Caller> {
        if user == REFRESH_TOKEN_USER {
            return self.bearer_of_kind(pass, service, jwt::Grant::RefreshToken).await;
        }
        match self.password(user, pass).await {
            // The principal or its password may be newer than this node's snapshot.
            Err(Error::Unauthorized(_)) if self.refreshed().await? => self.password(user, pass).await,
            result => result,
        }
    }

    async fn password(&self, user: &str, pass: &str) -> Result<Caller> {
        let now = now_ms();
        let key = fingerprint(&["basic", user, pass]);
        let cached = || match self.proven_get(&key) {
            Some(Proven::Password { name, credential }) => self.snapshot().caller(&name, &credential, now).ok(),
            _ => None,
        };
        if let Some(caller) = cached() {
            return Ok(caller);
        }
        let _turn = self.hashing.lock().await;
        // Whoever queued behind a verification of the same credentials finds it cached now.
        if let Some(caller) = cached() {
            return Ok(caller);
        }
        let snapshot = self.snapshot();
        let principal = snapshot.active(user, now)?;
        let candidates: Vec<SecretRow> =
            principal.secrets.iter().filter(|s| s.expires_at.is_none_or(|t| t > now)).cloned().collect();
        let pass = pass.to_owned();
        // argon2 is deliberately slow: keep it off the async workers.
        let matched = tokio::task::spawn_blocking(move || {
            candidates.into_iter().find(|s| password::verify(&pass, &s.hash)).map(|s| s.id)
        })
        .await
        .ok()
        .flatten()
        .ok_or(Error::Unauthorized("wrong password"))?;
        self.proven_put(key, Proven::Password { name: user.to_owned(), credential: matched.clone() });
        snapshot.caller(user, &matched, now)
    }

    /// A bearer access token for `service`.
    pub async fn bearer(&self, token: &str, service: &str) -> Result<Caller> {
        self.bearer_of_kind(token, service, jwt::Grant::AccessToken).await
    }

    /// A JWT of the given kind, re-validated against the current identities.
    pub async fn bearer_of_kind(&self, token: &str, service: &str, kind: jwt::Grant) -> Result<Caller> {
        let claims = self.claims(token, service, kind)?;
        match self.snapshot().bearer_caller(&claims, kind) {
            // Signed by a node that knows a principal or secret this one has not loaded yet.
            Err(Error::Unauthorized(_)) if self.refreshed().await? => self.snapshot().bearer_caller(&claims, kind),
            result => result,
        }
    }

    /// The claims of a JWT of the given kind, if its signature, audience and expiry hold.
    fn claims(&self, token: &str, service: &str, kind: jwt::Grant) -> Result<Claims> {
        let key = fingerprint(&["bearer", service, token]);
        let claims = match self.proven_get(&key) {
            Some(Proven::Token(c)) if c.exp > now_ms() as u64 / 1000 => *c,
            _ => {
                let c = self.key.verify(token, service).map_err(|_| Error::Unauthorized("invalid token"))?;
                self.proven_put(key, Proven::Token(Box::new(c.clone())));
                c
            }
        };
        if claims.grant_type != kind {
            return Err(Error::Unauthorized("wrong kind of token"));
        }
        Ok(claims)
    }

    /// Reloads the snapshot if the identity tables changed since it was read (on another node,
    /// say); whether it did.
    pub async fn refreshed(&self) -> Result<bool> {
        if self.meta.identity_generation().await? == self.snapshot().rows.generation {
            return Ok(false);
        }
        let _turn = self.changes.lock().await;
        self.reload().await?;
        Ok(true)
    }

    /// Counts a failed sign-in from `client` where every node sees it.
    pub async fn sign_in_failed(&self, client: std::net::IpAddr) {
        let window = throttle::WINDOW.as_millis() as i64;
        match self.meta.sign_in_failed(&client.to_string(), window).await {
            Ok((failures, since)) => self.throttle.record(client, failures, since),
            Err(e) => {
                tracing::warn!(error = %e, "cannot record a failed sign-in in the database");
                self.throttle.record_local(client);
            }
        }
    }

    /// An access token for `caller` granting `requested` as far as the caller may.
    pub fn access_token(&self, caller: &Caller, requested: &[Scope], service: &str) -> Result<String> {
        let perms = match &caller.token {
            // A token cannot widen itself: intersect with what it grants too.
            Some(_) => return Err(Error::Unauthorized("access tokens cannot be exchanged for access tokens")),
            None => &caller.permissions,
        };
        let access = scope::grant(requested, perms);
        self.sign(caller, service, jwt::Grant::AccessToken, ACCESS_TOKEN_TTL, access)
    }

    /// A refresh token for `caller` (never for anonymous callers).
    pub fn refresh_token(&self, caller: &Caller, service: &str) -> Result<String> {
        if caller.name.is_none() {
            return Err(Error::Unauthorized("anonymous callers get no refresh token"));
        }
        self.sign(caller, service, jwt::Grant::RefreshToken, REFRESH_TOKEN_TTL, Vec::new())
    }

    fn sign(
        &self,
        caller: &Caller,
        service: &str,
        grant_type: jwt::Grant,
        ttl: u64,
        access: Vec<scope::AccessEntry>,
    ) -> Result<String> {
        let now = now_ms() as u64 / 1000;
        let claims = Claims {
            iss: jwt::ISSUER.into(),
            sub: caller.name.clone().unwrap_or_default(),
            aud: service.to_owned(),
            exp: now + ttl,
            nbf: now.saturating_sub(10),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            grant_type,
            credential: caller.credential.clone(),
            access,
        };
        Ok(self.key.sign(&claims)?)
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

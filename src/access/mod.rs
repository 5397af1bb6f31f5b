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
mod sign_in;
mod snapshot;
mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::auth::jwt::{self, Claims, SigningKey};
use crate::auth::scope::{self, Granted, Scope};
use crate::auth::seal::{self, MasterKeys};
use crate::auth::{Action, Actions, Grant, Manage, Permissions, password};
use crate::config::AdminPolicy;
use crate::meta::{self, MetaStore, SigningKeyRow, now_ms};
use crate::oci::RepoName;

pub use manage::{NewPrincipal, PrincipalKind, SecretValue, Settings, TokenScope, role_scope};
pub use snapshot::Snapshot;
pub use throttle::{Refused, Throttle};

/// Docker's and ACR's user name for signing in with a refresh token as the password.
pub const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";
/// Lifetime of access tokens (seconds): short, since a request re-checks the principal anyway.
pub const ACCESS_TOKEN_TTL: u64 = 300;
/// Lifetime of refresh tokens (seconds), as ACR's: three hours.
pub const REFRESH_TOKEN_TTL: u64 = jwt::MAX_LIFETIME;
/// Lifetime of a portal session (seconds): one hour, then the browser signs in again.
pub const SESSION_TTL: u64 = 3600;

/// Why credentials were refused: for the log and the metrics, never for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    UnknownPrincipal,
    WrongPassword,
    PrincipalDisabled,
    AdminDisabled,
    PrincipalExpired,
    /// The credential a token or cached sign-in names was renewed, removed or expired.
    CredentialGone,
    InvalidToken,
    WrongTokenKind,
    AnonymousPullDisabled,
    AnonymousRefreshToken,
    ShuttingDown,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed Authorization header",
            Refusal::UnknownPrincipal => "unknown principal",
            Refusal::WrongPassword => "wrong password",
            Refusal::PrincipalDisabled => "principal disabled",
            Refusal::AdminDisabled => "admin user disabled",
            Refusal::PrincipalExpired => "principal expired",
            Refusal::CredentialGone => "credential renewed, removed or expired",
            Refusal::InvalidToken => "invalid token",
            Refusal::WrongTokenKind => "wrong kind of token",
            Refusal::AnonymousPullDisabled => "anonymous pull disabled",
            Refusal::AnonymousRefreshToken => "anonymous callers get no refresh token",
            Refusal::ShuttingDown => "shutting down",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, wrong, expired or revoked credentials.
    #[error("authentication required")]
    Unauthorized(Refusal),
    /// Too many failed sign-ins: refused without checking the password.
    #[error("{}; try again in {} s", .0.reason, .0.retry_after)]
    Throttled(Refused),
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
    #[error("secrets at rest: {0}")]
    Sealed(#[from] seal::Error),
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
    /// For a token (a bearer access token, or a refresh token given as a password): what it
    /// carries. The caller may do what both the principal and the token allow.
    pub token: Option<Granted>,
    /// When that token expires (Unix seconds): nothing issued to this caller outlives it.
    pub expires: Option<u64>,
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

    /// Which manifests of `repo` this caller sees: quarantined ones too with quarantine/read.
    pub fn sees(&self, repo: &str) -> crate::meta::Visibility {
        match self.on(repo).has(crate::auth::Action::QuarantineRead) {
            true => crate::meta::Visibility::All,
            false => crate::meta::Visibility::Released,
        }
    }

    /// Management rights: the principal's, as far as its token (if any) carries them.
    pub fn manage(&self) -> Manage {
        self.token.as_ref().map_or(self.permissions.manage, |t| self.permissions.manage.min(t.manage))
    }

    /// Everything this caller may do, as permissions: what it may grant or change.
    pub fn effective(&self) -> Permissions {
        let Some(token) = &self.token else { return self.permissions.clone() };
        let grants = self
            .permissions
            .grants
            .iter()
            .flat_map(|mine| token.grants().iter().map(move |its| (mine, its)))
            .filter_map(|(mine, its)| {
                let pattern = if mine.pattern.covers(&its.pattern) {
                    its.pattern.clone()
                } else if its.pattern.covers(&mine.pattern) {
                    mine.pattern.clone()
                } else {
                    return None;
                };
                let actions = mine.actions.intersect(its.actions);
                (!actions.is_empty()).then_some(Grant { pattern, actions })
            })
            .collect();
        Permissions { grants, manage: self.manage() }
    }
}

/// Signing in, tokens, and (in `manage`) changes to identities and settings, over the identity
/// snapshot this node holds.
#[derive(Debug)]
pub struct Access {
    meta: MetaStore,
    master: Arc<MasterKeys>,
    admin: String,
    policy: AdminPolicy,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Failed sign-ins per address, account and both.
    pub throttle: Throttle,
    proven: Mutex<HashMap<[u8; 32], sign_in::Proven>>,
    /// Turns of requests verifying the same credentials.
    verifying: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    /// Serializes changes, so a reload never overtakes a newer one.
    changes: tokio::sync::Mutex<()>,
    /// One argon2 verification at a time: each takes about 7 MiB and tens of milliseconds of a
    /// core, so a burst of sign-ins queues (fairly) instead of multiplying memory; the throttle
    /// bounds how many one address can queue.
    hashing: tokio::sync::Semaphore,
}

impl Access {
    /// Loads identities and the signing keys (creating the first key on first start, and
    /// sealing with the current master key whatever an older Berth or key stored).
    pub async fn open(meta: MetaStore, admin: String, policy: AdminPolicy, master: Arc<MasterKeys>) -> Result<Self> {
        let first = new_signing_key(&master, None)?;
        meta.add_first_signing_key(&first).await?;
        let snapshot = Snapshot::build(meta.load_identities().await?, &admin, policy, &master)?;
        let access = Self {
            meta,
            master,
            admin,
            policy,
            snapshot: RwLock::new(Arc::new(snapshot)),
            throttle: Throttle::default(),
            proven: Mutex::default(),
            verifying: Mutex::default(),
            changes: tokio::sync::Mutex::const_new(()),
            hashing: tokio::sync::Semaphore::new(1),
        };
        access.reseal().await?;
        Ok(access)
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().map_or_else(|p| p.into_inner().clone(), |s| s.clone())
    }

    async fn reload(&self) -> Result<()> {
        let rows = self.meta.load_identities().await?;
        let fresh = Arc::new(Snapshot::build(rows, &self.admin, self.policy, &self.master)?);
        match self.snapshot.write() {
            Ok(mut s) => *s = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        Ok(())
    }

    pub fn jwks(&self) -> serde_json::Value {
        self.snapshot().keys.jwks()
    }

    /// The caller with no credentials: anonymous pull if it is on.
    pub fn anonymous(&self) -> Option<Caller> {
        self.snapshot().anonymous()
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

    /// An access token for `caller` granting `requested` as far as the caller may: the
    /// principal's rights, narrowed by the token the caller presented, if any.
    pub fn access_token(&self, caller: &Caller, requested: &[Scope], service: &str) -> Result<String> {
        let access = scope::grant(requested, &caller.permissions, caller.token.as_ref());
        self.sign(caller, service, jwt::Grant::AccessToken, ACCESS_TOKEN_TTL, access)
    }

    /// A refresh token for `caller` (never for anonymous callers): limited to `requested` if
    /// given, else to what the caller's own token carries, else to the whole data plane. The
    /// management API needs a scope asked for; nothing widens what the caller presented.
    pub fn refresh_token(&self, caller: &Caller, service: &str, requested: &[Scope]) -> Result<String> {
        if caller.name.is_none() {
            return Err(Error::Unauthorized(Refusal::AnonymousRefreshToken));
        }
        let access = if requested.is_empty() {
            caller.token.clone().unwrap_or_else(Granted::data_plane).to_claim()
        } else {
            scope::grant(requested, &caller.permissions, caller.token.as_ref())
        };
        self.sign(caller, service, jwt::Grant::RefreshToken, REFRESH_TOKEN_TTL, access)
    }

    /// The caller a task run acts as: principal `owner` through the credential it signed in
    /// with, narrowed to the token it presented (its `access` claim), as the identities are now:
    /// a run of a disabled principal, a removed credential or an expired token does not start.
    pub async fn run_caller(
        &self,
        owner: &str,
        credential: &str,
        token: Option<&[scope::AccessEntry]>,
    ) -> Result<Caller> {
        let now = now_ms();
        let mut caller = match self.snapshot().caller(owner, credential, now) {
            Err(Error::Unauthorized(_)) if self.refreshed().await? => self.snapshot().caller(owner, credential, now)?,
            found => found?,
        };
        caller.token = token.map(Granted::from_claim);
        Ok(caller)
    }

    /// A refresh token for a run's builder, living `ttl` seconds: push and pull on the `push`
    /// repositories, and pull wherever `caller` may pull (base images); never more than the
    /// caller holds. Refused if the caller may not push to one of `push`.
    pub fn run_token(&self, caller: &Caller, service: &str, push: &[RepoName], ttl: u64) -> Result<String> {
        let mut access: Vec<scope::AccessEntry> = caller
            .effective()
            .grants
            .iter()
            .filter(|g| g.actions.has(Action::ContentRead))
            .map(|g| scope::AccessEntry {
                kind: "repository".into(),
                name: g.pattern.as_str().to_owned(),
                actions: vec![Action::ContentRead.token_name().into()],
            })
            .collect();
        for repo in push {
            let actions = caller.on(repo.as_str()).intersect(Actions::of(&[Action::ContentRead, Action::ContentWrite]));
            if !actions.has(Action::ContentWrite) {
                return Err(Error::Denied(format!(
                    "{:?} may not push to {repo} (content/write)",
                    caller.name.as_deref().unwrap_or_default()
                )));
            }
            access.push(scope::AccessEntry {
                kind: "repository".into(),
                name: repo.to_string(),
                actions: actions.iter().map(|a| a.token_name().into()).collect(),
            });
        }
        self.sign(caller, service, jwt::Grant::RefreshToken, ttl.min(REFRESH_TOKEN_TTL), access)
    }

    /// A portal session for `caller`: a token of its own kind (the API refuses it, so a session
    /// cookie is no API credential) carrying everything the caller may do, management included
    /// (a page shows only what the API would show this caller), for [`SESSION_TTL`]. Being a
    /// signed token, it holds on every node and is re-checked against the current identities on
    /// each request, as any token is.
    pub fn session_token(&self, caller: &Caller, service: &str) -> Result<String> {
        if caller.name.is_none() {
            return Err(Error::Unauthorized(Refusal::AnonymousRefreshToken));
        }
        let mut granted = caller.token.clone().unwrap_or_else(Granted::data_plane);
        granted.manage = caller.manage();
        self.sign(caller, service, jwt::Grant::PortalSession, SESSION_TTL, granted.to_claim())
    }

    /// The caller a portal session token stands for, re-validated as any token, unless the
    /// session was ended by signing out (on any node).
    pub async fn session(&self, token: &str, service: &str) -> Result<Caller> {
        let claims = self.claims(token, service, jwt::Grant::PortalSession)?;
        if self.meta.session_ended(&claims.jti).await? {
            return Err(Error::Unauthorized(Refusal::InvalidToken));
        }
        self.caller_of(&claims).await
    }

    /// Ends the portal session `token` everywhere (signing out): the cookie's copy is dropped
    /// by the browser, a stolen one no longer holds. A token that no longer verifies has
    /// nothing to end.
    pub async fn end_session(&self, token: &str, service: &str) -> Result<()> {
        match self.claims(token, service, jwt::Grant::PortalSession) {
            Ok(claims) => {
                let expires_ms = i64::try_from(claims.exp).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
                Ok(self.meta.end_session(&claims.jti, expires_ms).await?)
            }
            Err(Error::Unauthorized(_)) => Ok(()),
            Err(e) => Err(e),
        }
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
            exp: caller.expires.map_or(now + ttl, |e| e.min(now + ttl)),
            nbf: now.saturating_sub(10),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            grant_type,
            credential: caller.credential.clone(),
            access,
        };
        Ok(self.snapshot().keys.sign(&claims)?)
    }

    /// The secret setting `name`, sealed at rest: made by `generate` the first time (the first
    /// node to store it wins), and sealed again if it is not under the current master key.
    pub async fn sealed_setting(&self, name: &str, generate: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
        let label = format!("setting:{name}");
        let stored = self.meta.setting_or_insert(name, &self.master.seal(&label, &generate())?).await?;
        let value = if MasterKeys::is_sealed(stored.as_bytes()) {
            self.master.open(&label, &stored)?
        } else {
            // Stored in hex by a Berth older than sealing.
            hex::decode(&stored).map_err(|_| meta::Error::Corrupt(format!("setting {name}")))?
        };
        if !self.master.sealed_by_primary(stored.as_bytes()) {
            self.meta.set_setting(name, &self.master.seal(&label, &value)?).await?;
        }
        Ok(value)
    }

    /// Signs new tokens with a new key from now on; the current key keeps verifying the tokens
    /// it signed until they expire. Returns the new key's id.
    pub async fn rotate_signing_key(&self) -> Result<String> {
        let _turn = self.changes.lock().await;
        let now = now_ms();
        let row = new_signing_key(&self.master, Some(now))?;
        self.meta.rotate_signing_key(&row, now + (jwt::MAX_LIFETIME as i64 + 60) * 1000).await?;
        self.reload().await?;
        Ok(self.snapshot().keys.current().kid().to_owned())
    }

    /// Seals again every signing key and sealed password that is not sealed under the current
    /// master key (after a new one was put first), and signing keys stored in clear by a Berth
    /// older than sealing.
    async fn reseal(&self) -> Result<()> {
        let rows = self.snapshot().rows.clone();
        let mut changed = false;
        for row in rows.signing_keys.iter().filter(|r| !self.master.sealed_by_primary(&r.private_key)) {
            let label = snapshot::key_label(&row.id);
            let der = if MasterKeys::is_sealed(&row.private_key) {
                let text = std::str::from_utf8(&row.private_key).map_err(|_| seal::Error::Malformed)?;
                self.master.open(&label, text)?
            } else {
                row.private_key.clone()
            };
            self.meta.reseal_signing_key(&row.id, self.master.seal(&label, &der)?.as_bytes()).await?;
            changed = true;
        }
        for row in &rows.secrets {
            let Some(sealed) = row.sealed.as_deref().filter(|s| !self.master.sealed_by_primary(s.as_bytes())) else {
                continue;
            };
            let label = manage::secret_label(&row.id);
            let value = self.master.open(&label, sealed)?;
            self.meta.reseal_secret(&row.id, &self.master.seal(&label, &value)?).await?;
            changed = true;
        }
        if changed {
            let _turn = self.changes.lock().await;
            self.reload().await?;
        }
        Ok(())
    }
}

/// A new signing key, sealed, as a row (`created_at` now unless given).
fn new_signing_key(master: &MasterKeys, created_at: Option<i64>) -> Result<SigningKeyRow> {
    let der = SigningKey::generate()?;
    let key = SigningKey::from_pkcs8(&der)?;
    let id = key.kid().to_owned();
    Ok(SigningKeyRow {
        private_key: master.seal(&snapshot::key_label(&id), &der)?.into_bytes(),
        id,
        created_at: created_at.unwrap_or_else(now_ms),
        retires_at: None,
    })
}

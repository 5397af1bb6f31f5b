//! The identity tables at one moment, held in memory: each principal with its secrets and the
//! permissions its roles or scope map give it, the registry's access settings, and the
//! token-signing keys, unsealed.

use std::collections::HashMap;
use std::sync::Arc;

use super::manage::{PrincipalKind, Settings};
use super::{Caller, Error, Refusal, Result};
use crate::auth::jwt::{self, Claims, Keyring, SigningKey};
use crate::auth::scope::{self, Granted};
use crate::auth::seal::MasterKeys;
use crate::auth::{Grant, Manage, Permissions, RepoPattern, Role};
use crate::config::AdminPolicy;
use crate::meta::{IdentityRows, PrincipalRow, SecretRow, SigningKeyRow, now_ms};

/// A principal as the snapshot holds it.
#[derive(Debug, Clone)]
pub(super) struct Principal {
    pub(super) row: PrincipalRow,
    pub(super) secrets: Vec<SecretRow>,
    pub(super) permissions: Permissions,
}

/// The identity tables at one moment, with each principal's permissions worked out.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(super) principals: HashMap<String, Principal>,
    pub rows: IdentityRows,
    pub settings: Settings,
    pub(super) keys: Arc<Keyring>,
    /// `auth.admin_policy = "deny"` keeps the admin user from signing in, whatever the settings say.
    admin_denied: bool,
}

/// The label a signing key is sealed under: bound to its row.
pub(super) fn key_label(id: &str) -> String {
    format!("signing-key:{id}")
}

/// The signing key a stored row holds: sealed, or PKCS#8 DER if stored before sealing.
fn open_key(row: &SigningKeyRow, master: &MasterKeys) -> Result<SigningKey> {
    let der = if MasterKeys::is_sealed(&row.private_key) {
        let sealed =
            std::str::from_utf8(&row.private_key).map_err(|_| Error::Sealed(crate::auth::seal::Error::Malformed))?;
        master.open(&key_label(&row.id), sealed)?
    } else {
        row.private_key.clone()
    };
    Ok(SigningKey::from_pkcs8(&der)?)
}

impl Snapshot {
    pub(super) fn build(rows: IdentityRows, admin: &str, policy: AdminPolicy, master: &MasterKeys) -> Result<Self> {
        let mut keys = rows.signing_keys.iter().map(|r| open_key(r, master));
        let current = keys.next().ok_or(Error::Jwt(jwt::Error::Key))??;
        let keys = Arc::new(Keyring::new(current, keys.collect::<Result<Vec<_>>>()?));
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
        Ok(Snapshot { principals, rows, settings, keys, admin_denied: policy == AdminPolicy::Deny })
    }

    /// The principal `name` if it may sign in now.
    pub(super) fn active(&self, name: &str, now: i64) -> Result<&Principal> {
        let p = self.principals.get(name).ok_or(Error::Unauthorized(Refusal::UnknownPrincipal))?;
        if !p.row.enabled {
            return Err(Error::Unauthorized(Refusal::PrincipalDisabled));
        }
        if p.row.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::Unauthorized(Refusal::PrincipalExpired));
        }
        if p.row.kind == PrincipalKind::Admin.as_str() && (!self.settings.admin_enabled || self.admin_denied) {
            return Err(Error::Unauthorized(Refusal::AdminDisabled));
        }
        Ok(p)
    }

    /// What principal `name` may do (nothing if it does not exist).
    pub fn permissions(&self, name: &str) -> Permissions {
        self.principals.get(name).map(|p| p.permissions.clone()).unwrap_or_default()
    }

    pub(super) fn caller(&self, name: &str, credential: &str, now: i64) -> Result<Caller> {
        let p = self.active(name, now)?;
        let live = p.secrets.iter().any(|s| s.id == credential && s.expires_at.is_none_or(|t| t > now));
        if !live {
            return Err(Error::Unauthorized(Refusal::CredentialGone));
        }
        Ok(Caller {
            name: Some(name.to_owned()),
            credential: credential.to_owned(),
            permissions: p.permissions.clone(),
            token: None,
            expires: None,
        })
    }

    /// The caller a verified JWT stands for, as of this snapshot: the principal's rights, narrowed
    /// to what the token carries, until the token expires.
    pub(super) fn bearer_caller(&self, claims: &Claims) -> Result<Caller> {
        let mut caller = if claims.sub.is_empty() {
            self.anonymous().ok_or(Error::Unauthorized(Refusal::AnonymousPullDisabled))?
        } else {
            self.caller(&claims.sub, &claims.credential, now_ms())?
        };
        caller.token = Some(Granted::from_claim(&claims.access));
        caller.expires = Some(claims.exp);
        Ok(caller)
    }

    pub(super) fn anonymous(&self) -> Option<Caller> {
        self.settings.anonymous_pull.then(|| Caller {
            name: None,
            credential: String::new(),
            permissions: Permissions::anonymous_pull(),
            token: None,
            expires: None,
        })
    }
}

/// The union of role assignments: registry-wide ones (`scope` empty) also carry management rights.
pub(super) fn role_permissions<'a>(assignments: impl Iterator<Item = (&'a str, &'a str)>) -> Permissions {
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

//! Changes to identities and settings: the admin user and its two passwords, users, service
//! principals, repository tokens, scope maps, role assignments, anonymous pull. Each change is
//! one metadata write followed by a reload of the snapshot; secrets are returned once, in clear,
//! to the caller that created them, and stored only as argon2 hashes.
//!
//! Every change names its `actor` (what the caller may do) and follows Azure RBAC's rule: no
//! one grants more than they hold. Only Owner writes role assignments or changes the admin user;
//! no caller changes the credentials or status of an identity with rights it does not hold.

use serde::Serialize;

use super::{Access, Error, Result};
use crate::auth::{Grant, Manage, Permissions, RepoPattern, Role, password, scope};
use crate::config::AdminPolicy;
use crate::meta::{self, PrincipalRow, RoleAssignmentRow, ScopeMapRow, SecretRow, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Admin,
    User,
    ServicePrincipal,
    Token,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Admin => "admin",
            PrincipalKind::User => "user",
            PrincipalKind::ServicePrincipal => "servicePrincipal",
            PrincipalKind::Token => "token",
        }
    }

    /// A user or service principal kind as the API and the portal name it: `user` (also when
    /// not given) or `servicePrincipal`.
    pub fn of_user(name: Option<&str>) -> Result<Self> {
        match name {
            None | Some("user") => Ok(PrincipalKind::User),
            Some("servicePrincipal") => Ok(PrincipalKind::ServicePrincipal),
            Some(other) => Err(Error::Invalid(format!("unknown kind {other:?}: use user or servicePrincipal"))),
        }
    }

    /// The names of the secrets a principal of this kind holds, as ACR names them.
    pub fn secret_names(self) -> &'static [&'static str] {
        match self {
            PrincipalKind::Admin => &["password", "password2"],
            PrincipalKind::Token => &["password1", "password2"],
            PrincipalKind::User | PrincipalKind::ServicePrincipal => &["password"],
        }
    }
}

/// Registry-wide settings kept in the metadata store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    #[serde(rename = "adminUserEnabled")]
    pub admin_enabled: bool,
    #[serde(rename = "anonymousPullEnabled")]
    pub anonymous_pull: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { admin_enabled: true, anonymous_pull: false }
    }
}

impl Settings {
    pub(super) fn from_rows(rows: &[(String, String)]) -> Self {
        let mut s = Settings::default();
        for (name, value) in rows {
            let on = value == "true";
            match name.as_str() {
                "admin_enabled" => s.admin_enabled = on,
                "anonymous_pull" => s.anonymous_pull = on,
                _ => {}
            }
        }
        s
    }
}

/// A secret as the management API shows it: `value` only right after it was generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretValue {
    pub name: String,
    pub value: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

impl SecretValue {
    pub fn hidden(row: &SecretRow) -> Self {
        SecretValue { name: row.name.clone(), value: None, expires_at: row.expires_at, created_at: row.created_at }
    }
}

/// A principal to create.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub name: String,
    pub kind: PrincipalKind,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    /// Tokens only: an existing scope map, or the name of `new_scope_map`.
    pub scope_map: Option<String>,
    /// Tokens only: a scope map (name, actions) created in the same transaction.
    pub new_scope_map: Option<(String, Vec<String>)>,
    /// The first secret's value; `None` generates one. Ignored when `secrets` is empty.
    pub password: Option<String>,
    /// Which of the kind's secrets to create now.
    pub secrets: Vec<String>,
    pub secret_expires_at: Option<i64>,
    /// Registry-wide role assignments to make in the same transaction.
    pub roles: Vec<Role>,
}

/// What a new repository token may do.
#[derive(Debug, Clone)]
pub enum TokenScope {
    /// An existing scope map.
    Map(String),
    /// Actions (`content/read`, …) per repository, from which a scope map `<token>-scope-map`
    /// is made with the token (as `az acr token create --repository REPO ACTION…`).
    Repositories(Vec<(String, Vec<String>)>),
}

impl NewPrincipal {
    /// An enabled user or service principal without expiry: `password` as its password, or a
    /// generated one; `roles` registry-wide.
    pub fn user(name: String, kind: PrincipalKind, password: Option<String>, roles: Vec<Role>) -> Self {
        NewPrincipal {
            name,
            kind,
            enabled: true,
            expires_at: None,
            scope_map: None,
            new_scope_map: None,
            password,
            secrets: vec!["password".into()],
            secret_expires_at: None,
            roles,
        }
    }

    /// An enabled repository token with `scope` and the generated passwords `secrets`.
    pub fn token(name: String, scope: TokenScope, secrets: Vec<String>) -> Self {
        let (map, new_map) = match scope {
            TokenScope::Map(map) => (map, None),
            TokenScope::Repositories(repositories) => {
                let map = format!("{name}-scope-map");
                let actions = repositories
                    .iter()
                    .flat_map(|(repo, actions)| actions.iter().map(move |a| format!("repositories/{repo}/{a}")))
                    .collect();
                (map.clone(), Some((map, actions)))
            }
        };
        NewPrincipal {
            name,
            kind: PrincipalKind::Token,
            enabled: true,
            expires_at: None,
            scope_map: Some(map),
            new_scope_map: new_map,
            password: None,
            secrets,
            secret_expires_at: None,
            roles: Vec::new(),
        }
    }
}

/// The scope of a role assignment as given (`/` or empty: the whole registry;
/// `/repositories/<pattern>` or `<pattern>`: repositories) as stored (empty: the registry).
pub fn role_scope(given: &str) -> &str {
    let given = given.trim();
    given.strip_prefix("/repositories/").unwrap_or(if given == "/" { "" } else { given })
}

/// Login names: ASCII letters, digits and `-._@`, 1 to 64 characters (ASCII keeps JWT claims
/// decodable with either base64 alphabet).
fn validate_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-._@".contains(c))
        && name != super::REFRESH_TOKEN_USER;
    if ok { Ok(()) } else { Err(Error::Invalid(format!("invalid name {name:?}: use 1-64 of A-Z a-z 0-9 - . _ @"))) }
}

fn secret(principal: &str, name: &str, value: &str, expires_at: Option<i64>) -> Result<SecretRow> {
    Ok(SecretRow {
        id: uuid::Uuid::new_v4().simple().to_string(),
        principal: principal.to_owned(),
        name: name.to_owned(),
        hash: password::hash(value)?,
        sealed: None,
        expires_at,
        created_at: now_ms(),
    })
}

/// The label a secret's sealed value is bound to: its row.
pub(super) fn secret_label(id: &str) -> String {
    format!("secret:{id}")
}

/// Hashes on a blocking thread: argon2 takes tens of milliseconds.
async fn secrets_for(
    principal: &str,
    names: &[String],
    first: Option<String>,
    expires_at: Option<i64>,
) -> Result<(Vec<SecretRow>, Vec<SecretValue>)> {
    let principal = principal.to_owned();
    let names = names.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut rows = Vec::new();
        let mut shown = Vec::new();
        let mut first = first;
        for name in &names {
            let value = match first.take() {
                Some(v) => v,
                None => password::generate()?,
            };
            let row = secret(&principal, name, &value, expires_at)?;
            shown.push(SecretValue { name: name.clone(), value: Some(value), expires_at, created_at: row.created_at });
            rows.push(row);
        }
        Ok((rows, shown))
    })
    .await
    .map_err(|_| Error::Invalid("password hashing was interrupted".into()))?
}

fn meta_error(e: meta::Error, what: &str) -> Error {
    match e {
        meta::Error::Duplicate => Error::Conflict(format!("{what} already exists")),
        meta::Error::Referenced => Error::Conflict(format!("{what} is referenced by another resource")),
        other => Error::Meta(other),
    }
}

impl Access {
    /// Creates the admin user on first start: `password` as its first password if given,
    /// else a generated one; the second is always generated. Returns the passwords to print
    /// once, or `None` if the admin user existed already.
    pub async fn bootstrap_admin(&self, password: Option<String>) -> Result<Option<Vec<SecretValue>>> {
        let _guard = self.changes.lock().await;
        if self.snapshot().principals.contains_key(&self.admin) {
            return Ok(None);
        }
        let kind = PrincipalKind::Admin;
        let names: Vec<String> = kind.secret_names().iter().map(|s| (*s).to_owned()).collect();
        let (rows, shown) = self.new_secrets(&self.admin, kind, &names, password, None).await?;
        let now = now_ms();
        let row = PrincipalRow {
            name: self.admin.clone(),
            kind: kind.as_str().into(),
            enabled: true,
            expires_at: None,
            scope_map: None,
            created_at: now,
            updated_at: now,
        };
        let created = match self.meta.insert_principal(&row, None, &rows, &[]).await {
            Ok(()) => Some(shown),
            // Another node sharing the database created it first.
            Err(meta::Error::Duplicate) => None,
            Err(e) => return Err(meta_error(e, "admin user")),
        };
        self.reload().await?;
        Ok(created)
    }

    pub fn admin_name(&self) -> &str {
        &self.admin
    }

    /// New secrets for `principal`; the admin user's are sealed too, for an Owner to read back.
    async fn new_secrets(
        &self,
        principal: &str,
        kind: PrincipalKind,
        names: &[String],
        first: Option<String>,
        expires_at: Option<i64>,
    ) -> Result<(Vec<SecretRow>, Vec<SecretValue>)> {
        let (mut rows, shown) = secrets_for(principal, names, first, expires_at).await?;
        if kind == PrincipalKind::Admin {
            for (row, value) in rows.iter_mut().zip(&shown) {
                if let Some(v) = &value.value {
                    row.sealed = Some(self.master.seal(&secret_label(&row.id), v.as_bytes())?);
                }
            }
        }
        Ok((rows, shown))
    }

    /// The admin user's passwords, in clear where recorded (a password set by a Berth older than
    /// sealing shows no value until it is renewed). The caller checks that it may see them.
    pub fn admin_passwords(&self) -> Result<Vec<SecretValue>> {
        let snapshot = self.snapshot();
        let mut out = Vec::new();
        for name in PrincipalKind::Admin.secret_names() {
            let Some(row) = snapshot.rows.secrets.iter().find(|s| s.principal == self.admin && s.name == *name) else {
                continue;
            };
            let mut shown = SecretValue::hidden(row);
            if let Some(sealed) = &row.sealed {
                let value = self.master.open(&secret_label(&row.id), sealed)?;
                shown.value = Some(String::from_utf8_lossy(&value).into_owned());
            }
            out.push(shown);
        }
        Ok(out)
    }

    /// With `auth.admin_policy = "deny"`, turns the admin user off if it is on (it cannot sign
    /// in either way; this makes the settings say so).
    pub async fn enforce_admin_policy(&self) -> Result<()> {
        if self.policy != AdminPolicy::Deny || !self.snapshot().settings.admin_enabled {
            return Ok(());
        }
        let _guard = self.changes.lock().await;
        self.meta.set_setting("admin_enabled", "false").await?;
        tracing::warn!("admin user disabled: the registry's policy is auth.admin_policy = \"deny\"");
        self.reload().await
    }

    /// Refuses unless `actor` holds every right of principal `name`.
    fn may_change(&self, actor: &Permissions, name: &str) -> Result<()> {
        if actor.covers(&self.snapshot().permissions(name)) {
            return Ok(());
        }
        Err(Error::Denied(format!(
            "{name:?} has rights the caller does not hold: only a caller holding all of them may change its credentials or status"
        )))
    }

    /// Refuses unless `actor` holds every right of `granted` (to a new token or role holder).
    fn may_grant(actor: &Permissions, granted: &Permissions) -> Result<()> {
        if granted.manage > Manage::None && actor.manage < Manage::Owner {
            return Err(Error::Denied("only Owner assigns roles with management rights".into()));
        }
        if actor.covers(granted) {
            return Ok(());
        }
        Err(Error::Denied("this would grant rights the caller does not hold".into()))
    }

    /// Generates new values for the named secrets of `principal` (of `kind`), replacing the old
    /// ones: tokens they yielded stop working at once.
    pub async fn renew_secrets(
        &self,
        actor: &Permissions,
        principal: &str,
        kind: PrincipalKind,
        names: &[String],
        expires_at: Option<i64>,
    ) -> Result<Vec<SecretValue>> {
        let _guard = self.changes.lock().await;
        self.principal_of_kind(principal, kind)?;
        self.may_change(actor, principal)?;
        if let Some(bad) = names.iter().find(|n| !kind.secret_names().contains(&n.as_str())) {
            return Err(Error::Invalid(format!(
                "{bad:?} is not a password name of a {}; use {}",
                kind.as_str(),
                kind.secret_names().join(" or ")
            )));
        }
        let (rows, shown) = self.new_secrets(principal, kind, names, None, expires_at).await?;
        self.meta.put_secrets(&rows).await?;
        self.reload().await?;
        Ok(shown)
    }

    /// Deletes one named secret of a principal (ACR: `token credential delete`).
    pub async fn delete_secret(
        &self,
        actor: &Permissions,
        principal: &str,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<()> {
        let _guard = self.changes.lock().await;
        self.principal_of_kind(principal, kind)?;
        self.may_change(actor, principal)?;
        if !self.meta.delete_secret(principal, name).await? {
            return Err(Error::NotFound(format!("{principal} has no password named {name:?}")));
        }
        self.reload().await
    }

    /// Turns the admin user and anonymous pull on or off. The admin user has Owner's rights, so
    /// only Owner turns it on or off. With the admin policy `deny`, enabling it is refused; with
    /// `audit` it is allowed and logged.
    pub async fn update_settings(
        &self,
        actor: &Permissions,
        admin_enabled: Option<bool>,
        anonymous_pull: Option<bool>,
    ) -> Result<Settings> {
        let _guard = self.changes.lock().await;
        if admin_enabled.is_some() {
            self.may_change(actor, &self.admin)?;
        }
        if admin_enabled == Some(true) {
            match self.policy {
                AdminPolicy::Deny => {
                    return Err(Error::Denied(
                        "the registry's policy (auth.admin_policy = \"deny\") forbids enabling the admin user".into(),
                    ));
                }
                AdminPolicy::Audit => {
                    tracing::warn!(policy = "audit", "admin user enabled against the registry's policy")
                }
                AdminPolicy::Allow => {}
            }
        }
        for (name, value) in [("admin_enabled", admin_enabled), ("anonymous_pull", anonymous_pull)] {
            if let Some(v) = value {
                self.meta.set_setting(name, if v { "true" } else { "false" }).await?;
            }
        }
        self.reload().await?;
        Ok(self.snapshot().settings.clone())
    }

    /// Creates a user, service principal or repository token with its secrets (returned in
    /// clear, once) and registry-wide roles.
    pub async fn create_principal(&self, actor: &Permissions, p: NewPrincipal) -> Result<Vec<SecretValue>> {
        validate_name(&p.name)?;
        let new_map = match &p.new_scope_map {
            Some((name, actions)) => {
                Some(self.scope_map_row(actor, name, &format!("scope map of token {}", p.name), actions.clone())?)
            }
            None => None,
        };
        if !p.roles.is_empty() && actor.manage < Manage::Owner {
            return Err(Error::Denied("only Owner writes role assignments: create the user without roles".into()));
        }
        let roles: Vec<RoleAssignmentRow> = p.roles.iter().map(|r| role_row(&p.name, *r, "")).collect();
        let granted = super::snapshot::role_permissions(roles.iter().map(|r| (r.role.as_str(), r.scope.as_str())));
        Self::may_grant(actor, &granted)?;
        let _guard = self.changes.lock().await;
        if let Some(map) = &p.scope_map
            && new_map.as_ref().is_none_or(|m| &m.name != map)
        {
            let existing = self.snapshot().rows.scope_maps.iter().find(|m| &m.name == map).cloned();
            let existing = existing.ok_or_else(|| Error::NotFound(format!("scope map {map:?} does not exist")))?;
            Self::may_grant(actor, &scope_map_permissions(&existing.actions)?)?;
        }
        if let Some(bad) = p.secrets.iter().find(|n| !p.kind.secret_names().contains(&n.as_str())) {
            return Err(Error::Invalid(format!("{bad:?} is not a password name of a {}", p.kind.as_str())));
        }
        let (rows, shown) =
            self.new_secrets(&p.name, p.kind, &p.secrets, p.password.clone(), p.secret_expires_at).await?;
        let now = now_ms();
        let row = PrincipalRow {
            name: p.name.clone(),
            kind: p.kind.as_str().into(),
            enabled: p.enabled,
            expires_at: p.expires_at,
            scope_map: p.scope_map.clone(),
            created_at: now,
            updated_at: now,
        };
        self.meta
            .insert_principal(&row, new_map.as_ref(), &rows, &roles)
            .await
            .map_err(|e| meta_error(e, &format!("{:?} (or its scope map)", p.name)))?;
        self.reload().await?;
        Ok(shown)
    }

    /// Changes status, expiry (`Some(None)` clears it) or scope map of a principal of `kind`.
    pub async fn update_principal(
        &self,
        actor: &Permissions,
        name: &str,
        kind: PrincipalKind,
        enabled: Option<bool>,
        expires_at: Option<Option<i64>>,
        scope_map: Option<String>,
    ) -> Result<PrincipalRow> {
        let _guard = self.changes.lock().await;
        let mut row = self.principal_of_kind(name, kind)?;
        self.may_change(actor, name)?;
        if let Some(map) = &scope_map {
            let existing = self.snapshot().rows.scope_maps.iter().find(|m| &m.name == map).cloned();
            let existing = existing.ok_or_else(|| Error::NotFound(format!("scope map {map:?} does not exist")))?;
            Self::may_grant(actor, &scope_map_permissions(&existing.actions)?)?;
        }
        row.enabled = enabled.unwrap_or(row.enabled);
        row.expires_at = expires_at.unwrap_or(row.expires_at);
        row.scope_map = scope_map.or(row.scope_map);
        if !self.meta.update_principal(&row).await? {
            return Err(Error::NotFound(format!("{} {name:?} does not exist", kind.as_str())));
        }
        self.reload().await?;
        self.principal_of_kind(name, kind)
    }

    pub async fn delete_principal(&self, actor: &Permissions, name: &str, kind: PrincipalKind) -> Result<()> {
        let _guard = self.changes.lock().await;
        if kind == PrincipalKind::Admin {
            return Err(Error::Denied("the admin user cannot be deleted; disable it instead".into()));
        }
        self.principal_of_kind(name, kind)?;
        self.may_change(actor, name)?;
        self.meta.delete_principal(name).await?;
        self.reload().await
    }

    /// The kind of user or service principal `name`.
    pub fn user_kind(&self, name: &str) -> Result<PrincipalKind> {
        for kind in [PrincipalKind::User, PrincipalKind::ServicePrincipal] {
            if self.principal_of_kind(name, kind).is_ok() {
                return Ok(kind);
            }
        }
        Err(Error::NotFound(format!("user or service principal {name:?} does not exist")))
    }

    /// The stored row of principal `name` if it is of `kind`.
    pub fn principal_of_kind(&self, name: &str, kind: PrincipalKind) -> Result<PrincipalRow> {
        self.snapshot()
            .rows
            .principals
            .iter()
            .find(|p| p.name == name && p.kind == kind.as_str())
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("{} {name:?} does not exist", kind.as_str())))
    }

    /// Creates (`create`) or replaces a user-defined scope map after validating its actions.
    pub async fn put_scope_map(
        &self,
        actor: &Permissions,
        name: &str,
        description: &str,
        actions: Vec<String>,
        create: bool,
    ) -> Result<()> {
        let row = self.scope_map_row(actor, name, description, actions)?;
        let _guard = self.changes.lock().await;
        let exists = self.snapshot().rows.scope_maps.iter().any(|m| m.name == name);
        if !create && !exists {
            return Err(Error::NotFound(format!("scope map {name:?} does not exist")));
        }
        self.meta.put_scope_map(&row, !create).await.map_err(|e| meta_error(e, &format!("scope map {name:?}")))?;
        self.reload().await
    }

    /// A validated user-defined scope map, granting nothing `actor` does not hold.
    fn scope_map_row(
        &self,
        actor: &Permissions,
        name: &str,
        description: &str,
        actions: Vec<String>,
    ) -> Result<ScopeMapRow> {
        validate_name(name)?;
        if name.starts_with('_') {
            return Err(Error::Invalid("names starting with '_' are reserved for system scope maps".into()));
        }
        if actions.is_empty() {
            return Err(Error::Invalid("a scope map needs at least one action".into()));
        }
        Self::may_grant(actor, &scope_map_permissions(&actions)?)?;
        let now = now_ms();
        Ok(ScopeMapRow {
            name: name.to_owned(),
            description: description.to_owned(),
            actions,
            system: false,
            created_at: now,
            updated_at: now,
        })
    }

    pub async fn delete_scope_map(&self, name: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        match self.meta.delete_scope_map(name).await {
            Ok(true) => self.reload().await,
            Ok(false) => Err(Error::NotFound(format!("user-defined scope map {name:?} does not exist"))),
            Err(meta::Error::Referenced) => {
                Err(Error::Conflict(format!("scope map {name:?} is used by a token; delete or change the token first")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Assigns a built-in role to a user or service principal, registry-wide (`scope` empty)
    /// or on a repository pattern.
    pub async fn assign_role(
        &self,
        actor: &Permissions,
        principal: &str,
        role: Role,
        scope: &str,
    ) -> Result<RoleAssignmentRow> {
        if actor.manage < Manage::Owner {
            return Err(Error::Denied("only Owner writes role assignments".into()));
        }
        if !scope.is_empty() {
            RepoPattern::parse(scope).map_err(Error::Invalid)?;
        }
        let _guard = self.changes.lock().await;
        let kind = self.snapshot().rows.principals.iter().find(|p| p.name == principal).map(|p| p.kind.clone());
        match kind.as_deref() {
            Some("user" | "servicePrincipal") => {}
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "roles are assigned to users and service principals, not to a {other}"
                )));
            }
            None => return Err(Error::NotFound(format!("principal {principal:?} does not exist"))),
        }
        let row = role_row(principal, role, scope);
        self.meta.insert_role_assignment(&row).await.map_err(|e| meta_error(e, "this role assignment"))?;
        self.reload().await?;
        Ok(row)
    }

    pub async fn unassign_role(&self, actor: &Permissions, id: &str) -> Result<()> {
        if actor.manage < Manage::Owner {
            return Err(Error::Denied("only Owner writes role assignments".into()));
        }
        let _guard = self.changes.lock().await;
        if !self.meta.delete_role_assignment(id).await? {
            return Err(Error::NotFound(format!("role assignment {id:?} does not exist")));
        }
        self.reload().await
    }
}

/// What a scope map's actions allow.
fn scope_map_permissions<S: AsRef<str>>(actions: &[S]) -> Result<Permissions> {
    let grants: Vec<Grant> = scope::parse_scope_map_actions(actions).map_err(Error::Invalid)?;
    Ok(Permissions { grants, manage: Manage::None })
}

fn role_row(principal: &str, role: Role, scope: &str) -> RoleAssignmentRow {
    RoleAssignmentRow {
        id: uuid::Uuid::new_v4().to_string(),
        principal: principal.to_owned(),
        role: role.as_str().to_owned(),
        scope: scope.to_owned(),
        created_at: now_ms(),
    }
}

//! Principals, their hashed secrets, scope maps, role assignments, settings and the token
//! signing key. Small tables, read whole into the in-memory identity snapshot.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::constraint;
use super::{MetaStore, Result, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRow {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub scope_map: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRow {
    pub id: String,
    pub principal: String,
    pub name: String,
    /// argon2 PHC string.
    pub hash: String,
    /// The admin user's passwords only: the value, sealed under the master key.
    pub sealed: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeMapRow {
    pub name: String,
    pub description: String,
    pub actions: Vec<String>,
    pub system: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignmentRow {
    pub id: String,
    pub principal: String,
    pub role: String,
    /// `""` for the whole registry, else a repository pattern.
    pub scope: String,
    pub created_at: i64,
}

/// A token-signing key, sealed (or, if stored by a Berth older than sealing, PKCS#8 DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub id: String,
    pub private_key: Vec<u8>,
    pub created_at: i64,
    /// `None` for the current key; for a rotated one, when it stops verifying.
    pub retires_at: Option<i64>,
}

/// Every identity table, read in one transaction.
#[derive(Debug, Clone, Default)]
pub struct IdentityRows {
    pub principals: Vec<PrincipalRow>,
    pub secrets: Vec<SecretRow>,
    pub scope_maps: Vec<ScopeMapRow>,
    pub roles: Vec<RoleAssignmentRow>,
    pub settings: Vec<(String, String)>,
    /// The signing keys not yet retired, the current one first.
    pub signing_keys: Vec<SigningKeyRow>,
    /// The identity tables' change counter when they were read (every change bumps it, on
    /// whichever node it is made).
    pub generation: i64,
}

fn principal(r: &AnyRow) -> PrincipalRow {
    PrincipalRow {
        name: r.get("name"),
        kind: r.get("kind"),
        enabled: r.get::<i64, _>("enabled") != 0,
        expires_at: r.get("expires_at"),
        scope_map: r.get("scope_map"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

fn scope_map(r: &AnyRow) -> ScopeMapRow {
    let actions: String = r.get("actions");
    ScopeMapRow {
        name: r.get("name"),
        description: r.get("description"),
        actions: actions.lines().map(str::to_owned).collect(),
        system: r.get::<i64, _>("system") != 0,
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

const GENERATION: &str = "SELECT value FROM generations WHERE name = 'identity'";

impl MetaStore {
    /// All identity rows, consistent with each other.
    pub async fn load_identities(&self) -> Result<IdentityRows> {
        let mut tx = self.reader.begin().await?;
        if self.engine == super::Engine::Postgres {
            // One snapshot for every statement below (SQLite's transactions are one already).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
        }
        let principals = sqlx::query("SELECT * FROM principals ORDER BY name").fetch_all(&mut *tx).await?;
        let secrets = sqlx::query("SELECT * FROM secrets ORDER BY principal, name").fetch_all(&mut *tx).await?;
        let maps = sqlx::query("SELECT * FROM scope_maps ORDER BY name").fetch_all(&mut *tx).await?;
        let roles = sqlx::query("SELECT * FROM role_assignments ORDER BY created_at, id").fetch_all(&mut *tx).await?;
        let settings = sqlx::query("SELECT name, value FROM settings").fetch_all(&mut *tx).await?;
        let keys = sqlx::query(
            "SELECT id, private_key, created_at, retires_at FROM signing_keys
             WHERE retires_at IS NULL OR retires_at > $1 ORDER BY retires_at IS NOT NULL, created_at DESC, id",
        )
        .bind(now_ms())
        .fetch_all(&mut *tx)
        .await?;
        let generation = sqlx::query(GENERATION).fetch_one(&mut *tx).await?.get(0);
        tx.commit().await?;
        Ok(IdentityRows {
            principals: principals.iter().map(principal).collect(),
            secrets: secrets
                .iter()
                .map(|r| SecretRow {
                    id: r.get("id"),
                    principal: r.get("principal"),
                    name: r.get("name"),
                    hash: r.get("hash"),
                    sealed: r.get("sealed"),
                    expires_at: r.get("expires_at"),
                    created_at: r.get("created_at"),
                })
                .collect(),
            scope_maps: maps.iter().map(scope_map).collect(),
            roles: roles
                .iter()
                .map(|r| RoleAssignmentRow {
                    id: r.get("id"),
                    principal: r.get("principal"),
                    role: r.get("role"),
                    scope: r.get("scope"),
                    created_at: r.get("created_at"),
                })
                .collect(),
            settings: settings.iter().map(|r| (r.get(0), r.get(1))).collect(),
            signing_keys: keys
                .iter()
                .map(|r| SigningKeyRow {
                    id: r.get(0),
                    private_key: r.get(1),
                    created_at: r.get(2),
                    retires_at: r.get(3),
                })
                .collect(),
            generation,
        })
    }

    /// The identity tables' change counter now.
    pub async fn identity_generation(&self) -> Result<i64> {
        Ok(sqlx::query(GENERATION).fetch_one(&self.reader).await?.get(0))
    }

    /// Counts a failed sign-in against each of `keys` (the throttle's rows): in its current
    /// window if that began less than `window_ms` ago, else in a new one. Returns (failures in
    /// the window, its start) of each key, as every node sees them. One transaction.
    pub async fn sign_in_failed(&self, keys: &[String], window_ms: i64) -> Result<Vec<(u32, i64)>> {
        let now = now_ms();
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE since <= $1").bind(now - window_ms).execute(&mut *tx).await?;
        let mut counts = Vec::with_capacity(keys.len());
        for key in keys {
            let row = sqlx::query(
                "INSERT INTO sign_in_failures (client, failures, since) VALUES ($1, 1, $2)
                 ON CONFLICT (client) DO UPDATE SET failures = sign_in_failures.failures + 1
                 RETURNING failures, since",
            )
            .bind(key)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            counts.push((row.get::<i64, _>(0).clamp(0, i64::from(u32::MAX)) as u32, row.get(1)));
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Forgets the failures counted against `key` (a successful sign-in clears its pair's).
    pub async fn sign_in_cleared(&self, key: &str) -> Result<()> {
        self.execute(sqlx::query("DELETE FROM sign_in_failures WHERE client = $1").bind(key)).await?;
        Ok(())
    }

    /// Records that the portal session `id` (a token's `jti`) ended, until `expires_at` (ms),
    /// and forgets the sessions that have expired since: they end by themselves.
    pub async fn end_session(&self, id: &str, expires_at: i64) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM ended_sessions WHERE expires_at <= $1").bind(now_ms()).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO ended_sessions (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the portal session `id` was ended by signing out.
    pub async fn session_ended(&self, id: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM ended_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(found.is_some())
    }

    /// Creates a principal with (for a token) a new scope map, its secrets and role
    /// assignments, all or nothing. `Error::Duplicate` if a name is taken, `Referenced` if the
    /// scope map does not exist.
    pub async fn insert_principal(
        &self,
        p: &PrincipalRow,
        new_map: Option<&ScopeMapRow>,
        secrets: &[SecretRow],
        roles: &[RoleAssignmentRow],
    ) -> Result<()> {
        let mut tx = self.write().await?;
        if let Some(m) = new_map {
            insert_scope_map(&mut tx, m, false).await?;
        }
        sqlx::query(
            "INSERT INTO principals (name, kind, enabled, expires_at, scope_map, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&p.name)
        .bind(&p.kind)
        .bind(i64::from(p.enabled))
        .bind(p.expires_at)
        .bind(&p.scope_map)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(constraint)?;
        for s in secrets {
            put_secret(&mut tx, s).await?;
        }
        for r in roles {
            insert_role(&mut tx, r).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Changes a principal's status, expiry and scope map. False if it does not exist.
    pub async fn update_principal(&self, p: &PrincipalRow) -> Result<bool> {
        let done = self.execute(sqlx::query(
            "UPDATE principals SET enabled = $2, expires_at = $3, scope_map = $4, updated_at = $5 WHERE name = $1",
        )
        .bind(&p.name)
        .bind(i64::from(p.enabled))
        .bind(p.expires_at)
        .bind(&p.scope_map)
        .bind(now_ms())
        )
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a principal with its secrets and role assignments. False if it did not exist.
    pub async fn delete_principal(&self, name: &str) -> Result<bool> {
        let done = self.execute(sqlx::query("DELETE FROM principals WHERE name = $1").bind(name)).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores secrets, each replacing the principal's secret of the same name (with a new id,
    /// which revokes the tokens the old one yielded), in one transaction.
    pub async fn put_secrets(&self, secrets: &[SecretRow]) -> Result<()> {
        let mut tx = self.write().await?;
        for s in secrets {
            put_secret(&mut tx, s).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes one named secret. False if there was none.
    pub async fn delete_secret(&self, principal: &str, name: &str) -> Result<bool> {
        let done = self
            .execute(sqlx::query("DELETE FROM secrets WHERE principal = $1 AND name = $2").bind(principal).bind(name))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates a scope map, or (`replace`) overwrites a user-defined one's description and
    /// actions. `Duplicate` if it exists and `replace` is false.
    pub async fn put_scope_map(&self, m: &ScopeMapRow, replace: bool) -> Result<()> {
        let mut tx = self.write().await?;
        insert_scope_map(&mut tx, m, replace).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a user-defined scope map. False if there is none; `Referenced` while a token uses it.
    pub async fn delete_scope_map(&self, name: &str) -> Result<bool> {
        let done =
            self.execute(sqlx::query("DELETE FROM scope_maps WHERE name = $1 AND system = 0").bind(name)).await?;
        Ok(done.rows_affected() == 1)
    }

    /// `Duplicate` if the principal has this role on this scope already.
    pub async fn insert_role_assignment(&self, r: &RoleAssignmentRow) -> Result<()> {
        let mut tx = self.write().await?;
        insert_role(&mut tx, r).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_role_assignment(&self, id: &str) -> Result<bool> {
        let done = self.execute(sqlx::query("DELETE FROM role_assignments WHERE id = $1").bind(id)).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        self.execute(
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2",
            )
            .bind(name)
            .bind(value),
        )
        .await?;
        Ok(())
    }

    /// Stores `row` as the current signing key if there is none yet (the first writer wins, so
    /// every node signs with the same key).
    pub async fn add_first_signing_key(&self, row: &SigningKeyRow) -> Result<()> {
        let mut tx = self.write().await?;
        let current =
            sqlx::query("SELECT 1 FROM signing_keys WHERE retires_at IS NULL").fetch_optional(&mut *tx).await?;
        if current.is_none() {
            insert_signing_key(&mut tx, row).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes `row` the current signing key: the current one keeps verifying until
    /// `retires_at`, and keys retired before now are deleted. One transaction.
    pub async fn rotate_signing_key(&self, row: &SigningKeyRow, retires_at: i64) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM signing_keys WHERE retires_at <= $1").bind(now_ms()).execute(&mut *tx).await?;
        sqlx::query("UPDATE signing_keys SET retires_at = $1 WHERE retires_at IS NULL")
            .bind(retires_at)
            .execute(&mut *tx)
            .await?;
        insert_signing_key(&mut tx, row).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a secret's sealed value (the same value, sealed anew).
    pub async fn reseal_secret(&self, id: &str, sealed: &str) -> Result<()> {
        self.execute(sqlx::query("UPDATE secrets SET sealed = $2 WHERE id = $1").bind(id).bind(sealed)).await?;
        Ok(())
    }

    /// Replaces a signing key's stored bytes (the same key, sealed anew).
    pub async fn reseal_signing_key(&self, id: &str, private_key: &[u8]) -> Result<()> {
        self.execute(sqlx::query("UPDATE signing_keys SET private_key = $2 WHERE id = $1").bind(id).bind(private_key))
            .await?;
        Ok(())
    }
}

async fn insert_signing_key(tx: &mut sqlx::AnyConnection, row: &SigningKeyRow) -> Result<()> {
    sqlx::query("INSERT INTO signing_keys (id, private_key, created_at, retires_at) VALUES ($1, $2, $3, $4)")
        .bind(&row.id)
        .bind(&row.private_key)
        .bind(row.created_at)
        .bind(row.retires_at)
        .execute(&mut *tx)
        .await
        .map_err(constraint)?;
    Ok(())
}

async fn put_secret(tx: &mut sqlx::AnyConnection, s: &SecretRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO secrets (id, principal, name, hash, expires_at, created_at, sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (principal, name) DO UPDATE SET id = $1, hash = $4, expires_at = $5, created_at = $6,
             sealed = $7",
    )
    .bind(&s.id)
    .bind(&s.principal)
    .bind(&s.name)
    .bind(&s.hash)
    .bind(s.expires_at)
    .bind(s.created_at)
    .bind(&s.sealed)
    .execute(&mut *tx)
    .await
    .map_err(constraint)?;
    Ok(())
}

async fn insert_role(tx: &mut sqlx::AnyConnection, r: &RoleAssignmentRow) -> Result<()> {
    sqlx::query("INSERT INTO role_assignments (id, principal, role, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&r.id)
        .bind(&r.principal)
        .bind(&r.role)
        .bind(&r.scope)
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(constraint)?;
    Ok(())
}

async fn insert_scope_map(tx: &mut sqlx::AnyConnection, m: &ScopeMapRow, replace: bool) -> Result<()> {
    let sql = if replace {
        "INSERT INTO scope_maps (name, description, actions, system, created_at, updated_at)
         VALUES ($1, $2, $3, 0, $4, $4)
         ON CONFLICT (name) DO UPDATE SET description = $2, actions = $3, updated_at = $4
         WHERE scope_maps.system = 0"
    } else {
        "INSERT INTO scope_maps (name, description, actions, system, created_at, updated_at)
         VALUES ($1, $2, $3, 0, $4, $4)"
    };
    sqlx::query(sql)
        .bind(&m.name)
        .bind(&m.description)
        .bind(m.actions.join("\n"))
        .bind(m.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(constraint)?;
    Ok(())
}

//! The metadata store: every SQL statement lives in this module. One code path over two
//! engines, through sqlx's `Any` driver with `$N` placeholders and SQL both accept:
//!
//! - SQLite (the default): WAL, one writer connection, a pool of read-only connections. One
//!   Berth process owns the database (a lock file says so), which lets it cache manifests.
//! - PostgreSQL (`postgres://…`): shared by any number of Berth nodes. Every write transaction
//!   first takes one advisory lock, so writes are serialized exactly as SQLite serializes them
//!   and the check-then-write logic below holds across nodes.
//!
//! Flags are stored as integers 0/1 on both engines, so the same SQL compares and binds them.
//!
//! Contracts: every method that changes more than one row does so in one transaction; lookups
//! return `Ok(None)` (or `false`) for "not found" and reserve `Err` for real failures.

mod attributes;
mod audit;
mod blobs;
mod cache;
mod error;
mod events;
mod identity;
mod listings;
mod manifests;
mod quarantine;
mod scans;
mod storage;
mod tasks;
mod usage;
mod vulns;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyArguments, AnyPoolOptions, AnyQueryResult, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

pub use attributes::{Attributes, AttributesPatch, DeletedRepository, RepositoryRow};
pub use audit::{AuditCursor, AuditEntry, AuditFilter, AuditPage};
pub use blobs::UploadRow;
pub use error::{Error, Result};
pub use events::{Actor, DeliveryRow, DeliveryState, EventRow, WebhookRow, WebhookSettings};
pub use identity::{IdentityRows, PrincipalRow, RoleAssignmentRow, ScopeMapRow, SecretRow, SigningKeyRow};
pub use listings::{ManifestMetaRow, ManifestSummary, Order, StoredSummary, TagRow, Unsummarized};
pub use manifests::{Counts, ManifestRow, NewManifest, ReferrerRow};
pub use quarantine::{QUARANTINE_ENABLED, Visibility};
pub use scans::{ScanEnd, ScanRow};
pub use storage::Untagged;
pub use tasks::{BaseUpdate, LOG_PIECE, NewRun, RUN_STATUSES, RunFilter, RunRow, TaskRow};
pub use usage::{StoredBytes, UsageRecount};
pub use vulns::{NewVuln, StoredVulns, VulnImport, VulnSummary};

/// PostgreSQL advisory lock keys (arbitrary, fixed): the one all write transactions take, and
/// the one that fences blob commits from garbage collection's object deletions.
const WRITE_LOCK: i64 = 0x6265_7274_6801;
const BLOB_FENCE: i64 = 0x6265_7274_6802;
/// Blob commits one node may run at once on PostgreSQL (each holds a connection meanwhile).
const FENCE_CONNECTIONS: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct MetaStore {
    engine: Engine,
    writer: AnyPool,
    reader: AnyPool,
    /// Only where this process owns the database (SQLite): elsewhere another node may change
    /// what a tag names at any moment.
    manifests: Option<Arc<cache::ManifestCache>>,
    fence: Fence,
    /// Notified after a change that wrote events committed: wakes this node's webhook delivery.
    events: Arc<tokio::sync::Notify>,
    /// Held open while the store lives: the flock that makes this process a SQLite database's
    /// only user.
    _owner: Option<Arc<std::fs::File>>,
}

/// Where the blob fence is kept: in this process for SQLite, which no other process can use,
/// or in PostgreSQL as [`BLOB_FENCE`], on a pool of its own so that holding it never starves
/// the statements run while it is held.
#[derive(Debug, Clone)]
enum Fence {
    Local(Arc<tokio::sync::RwLock<()>>),
    Database(AnyPool),
}

/// One connection pool's use, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolUse {
    pub name: &'static str,
    /// Connections open, idle or in use.
    pub open: u32,
    pub idle: usize,
    pub max: u32,
}

/// Held while blob objects are written (shared) or garbage collection deletes them
/// (exclusive); released when dropped. On PostgreSQL it is a transaction holding an advisory
/// lock, so it fences every node, and a node that dies releases it with its connection.
pub struct BlobFence {
    _held: Box<dyn Send>,
}

impl MetaStore {
    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    /// Fails with `Error::InUse` if another process has the database open.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let owner = claim(path)?;
        let url = sqlite_url(path);
        let writer = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // NORMAL in WAL mode loses nothing when the process dies; only a power
                    // cut can drop the last transactions.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;
                         PRAGMA foreign_keys = ON",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect(&format!("{url}?mode=rwc"))
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let readers = std::thread::available_parallelism().map_or(4, |n| n.get() * 2) as u32;
        let reader = AnyPoolOptions::new()
            .max_connections(readers)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    Ok(())
                })
            })
            .connect(&format!("{url}?mode=ro"))
            .await?;
        Ok(Self {
            engine: Engine::Sqlite,
            writer,
            reader,
            manifests: Some(Arc::default()),
            fence: Fence::Local(Arc::default()),
            events: Arc::default(),
            _owner: Some(Arc::new(owner)),
        })
    }

    /// Connects to the PostgreSQL database at `url` and applies the migrations (under a lock,
    /// so nodes starting together apply them once).
    pub async fn open_postgres(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = |size| AnyPoolOptions::new().max_connections(size).acquire_timeout(Duration::from_secs(30));
        let main = pool(max_connections).connect(url).await?;
        sqlx::migrate!("migrations/postgres").run(&main).await?;
        let fences = pool(FENCE_CONNECTIONS).connect_lazy(url)?;
        Ok(Self {
            engine: Engine::Postgres,
            writer: main.clone(),
            reader: main,
            manifests: None,
            fence: Fence::Database(fences),
            events: Arc::default(),
            _owner: None,
        })
    }

    /// Opens the store a `sqlite://PATH` or `postgres://…` URL names; `max_connections`
    /// applies to PostgreSQL.
    pub async fn open_url(url: &str, max_connections: u32) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::open_postgres(url, max_connections).await;
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        Self::open_sqlite(Path::new(path)).await
    }

    /// Answers whether the database answers: one trivial query on a reader connection.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// How full each connection pool is, now.
    pub fn pools(&self) -> Vec<PoolUse> {
        let of = |name, pool: &AnyPool| PoolUse {
            name,
            open: pool.size(),
            idle: pool.num_idle(),
            max: pool.options().get_max_connections(),
        };
        let mut pools = match self.engine {
            Engine::Sqlite => vec![of("writer", &self.writer), of("reader", &self.reader)],
            // One pool reads and writes.
            Engine::Postgres => vec![of("main", &self.writer)],
        };
        if let Fence::Database(fences) = &self.fence {
            pools.push(of("fence", fences));
        }
        pools
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
        if let Fence::Database(pool) = &self.fence {
            pool.close().await;
        }
    }

    /// Begins a write transaction. On PostgreSQL it waits for the write lock first (released
    /// at commit or rollback); SQLite's single writer connection serializes writes already.
    async fn write(&self) -> Result<Transaction<'static, Any>> {
        let mut tx = self.writer.begin().await?;
        if self.engine == Engine::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// Runs one writing statement in its own write transaction; constraint violations come
    /// back as `Duplicate` / `Referenced`.
    async fn execute<'q>(&self, query: Query<'q, Any, AnyArguments<'q>>) -> Result<AnyQueryResult> {
        if self.engine == Engine::Sqlite {
            // A statement is its own transaction, and the one writer connection serializes it:
            // no BEGIN and COMMIT round trips to SQLite's thread.
            return query.execute(&self.writer).await.map_err(error::constraint);
        }
        let mut tx = self.write().await?;
        let done = query.execute(&mut *tx).await.map_err(error::constraint)?;
        tx.commit().await?;
        Ok(done)
    }

    /// Shared hold on the blob fence: taken while a new blob's object and row are written.
    pub async fn blob_writes(&self) -> Result<BlobFence> {
        self.fence(false).await
    }

    /// Exclusive hold on the blob fence: taken while garbage collection deletes objects, so an
    /// object written again under a collected digest is never deleted.
    pub async fn blob_deletions(&self) -> Result<BlobFence> {
        self.fence(true).await
    }

    async fn fence(&self, exclusive: bool) -> Result<BlobFence> {
        let held: Box<dyn Send> = match (&self.fence, exclusive) {
            (Fence::Local(lock), false) => Box::new(lock.clone().read_owned().await),
            (Fence::Local(lock), true) => Box::new(lock.clone().write_owned().await),
            (Fence::Database(pool), _) => {
                let mut tx = pool.begin().await?;
                let sql = if exclusive {
                    "SELECT pg_advisory_xact_lock($1)"
                } else {
                    "SELECT pg_advisory_xact_lock_shared($1)"
                };
                sqlx::query(sql).bind(BLOB_FENCE).execute(&mut *tx).await?;
                // Dropping the transaction rolls it back, which releases the lock.
                Box::new(tx)
            }
        };
        Ok(BlobFence { _held: held })
    }

    /// What is notified after events committed here.
    pub fn events_committed(&self) -> Arc<tokio::sync::Notify> {
        self.events.clone()
    }

    /// Clears the manifest cache after a committed change to manifests, tags or locks, and
    /// wakes webhook delivery: every change that writes events ends here.
    fn manifests_changed(&self) {
        self.events.notify_one();
        if let Some(cache) = &self.manifests {
            cache.invalidate();
        }
    }
}

/// A SQLite URL for `path`, with the characters a URL would misread escaped.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => url.push_str(&format!("%{:02X}", c as u32)),
            c => url.push(c),
        }
    }
    url
}

/// A 0/1 column as a flag.
fn flag(r: &AnyRow, index: usize) -> bool {
    r.get::<i64, _>(index) != 0
}

/// Takes the exclusive lock `<database>.lock` (released by the kernel when the process ends),
/// and makes the database and its files readable by this user only: the database is created
/// 0600 before SQLite opens it, and SQLite gives its WAL and shared-memory files the database's
/// permissions.
fn claim(db: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let lock_error = |e| Error::Lock(name.clone().into(), e);
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(lock_error)?;
    }
    let private = |path: &Path, create: bool| -> std::io::Result<()> {
        match std::fs::OpenOptions::new().write(true).create(create).truncate(false).mode(0o600).open(path) {
            Ok(file) => file.set_permissions(std::fs::Permissions::from_mode(0o600)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => Ok(()),
            Err(e) => Err(e),
        }
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&name)
        .map_err(lock_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(Error::InUse(db.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(e)),
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(lock_error)?;
    private(db, true).map_err(lock_error)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        private(Path::new(&side), false).map_err(lock_error)?;
    }
    Ok(file)
}

/// Setting `name`, read inside `tx`.
async fn setting_in(tx: &mut Transaction<'static, Any>, name: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(&mut **tx).await?;
    Ok(row.map(|r| r.get(0)))
}

/// Sets setting `name` inside `tx`.
async fn set_setting_in(tx: &mut Transaction<'static, Any>, name: &str, value: &str) -> Result<()> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2")
        .bind(name)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Now, in Unix milliseconds: the time unit of every stored timestamp.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

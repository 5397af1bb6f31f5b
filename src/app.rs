//! The application state every handler shares, and how it is built from a [`Config`].

use std::ops::Deref;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::access::{self, Access, SecretValue};
use crate::api::UploadSlots;
use crate::auth::seal::{self, MasterKeys};
use crate::blob::{self, BlobStore};
use crate::config::{Config, ConfigError, StorageBackend};
use crate::events::Webhooks;
use crate::events::audit::Auditor;
use crate::events::metrics::Metrics;
use crate::meta::{self, MetaStore};
use crate::registry::Registry;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create data directory: {0}")]
    DataDir(std::io::Error),
    #[error("master key file {0}: {1}")]
    KeyFile(std::path::PathBuf, std::io::Error),
    #[error("master key ({0}): {1}")]
    MasterKey(&'static str, seal::Error),
    #[error(
        "the database's secrets are sealed with master key {id}, which {holder} does not hold: restore that key (see docs/security.md)"
    )]
    WrongMasterKey { id: String, holder: String },
    #[error("metadata store: {0}")]
    Meta(#[from] meta::Error),
    #[error("metadata store ({setting}): {source}")]
    Database { setting: String, source: meta::Error },
    #[error("blob store: {0}")]
    Blob(#[from] blob::Error),
    #[error("the blob store does not work ({setting}): writing, reading and deleting a probe object failed: {source}")]
    StorageProbe { setting: String, source: blob::Error },
    #[error("identities: {0}")]
    Access(#[from] access::Error),
    #[error("audit.file: {0}")]
    AuditFile(std::io::Error),
    #[error("summarizing stored manifests: {0}")]
    Registry(#[from] crate::registry::Error),
}

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub registry: Registry,
    /// The offline vulnerability database (OSV records) and matching against it.
    pub vulndb: crate::trust::VulnDb,
    pub access: Access,
    pub webhooks: Webhooks,
    /// Build tasks and their runs.
    pub tasks: crate::tasks::Tasks,
    /// The audit log's writer (see `events::audit`).
    pub auditor: Auditor,
    /// Uploads in progress, bounded overall and per identity.
    pub(crate) uploads: Arc<UploadSlots>,
    /// What `/metrics` exports; every request and job records into it.
    pub metrics: Arc<Metrics>,
    /// The admin passwords generated at first start, until `berth serve` prints them once.
    first_start: Mutex<Option<Vec<SecretValue>>>,
}

/// Which background jobs a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Jobs {
    /// A registry node: all of them.
    Node,
    /// A `berth agent`: queued runs only.
    Agent,
}

/// Cheap to clone; what axum hands to handlers.
#[derive(Debug, Clone)]
pub struct AppState(Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// 32 random bytes; empty if the system generator fails (the key is then refused at use).
fn random_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key) {
        Ok(()) => key,
        Err(_) => Vec::new(),
    }
}

impl App {
    /// Opens the stores the configuration names (creating them on first start) and starts the
    /// background jobs of a registry node.
    pub async fn build(config: Config) -> Result<AppState, BuildError> {
        Self::open(config, Jobs::Node).await
    }

    /// Opens the stores for a `berth agent`: a worker that serves nothing and runs only queued
    /// runs (the registry's other jobs are its nodes').
    pub async fn agent(config: Config) -> Result<AppState, BuildError> {
        Self::open(config, Jobs::Agent).await
    }

    async fn open(config: Config, jobs: Jobs) -> Result<AppState, BuildError> {
        config.validate()?;
        private_dir(&config.data_dir).map_err(BuildError::DataDir)?;
        let (master, created) = master_keys(&config)?;
        let url = config.database_url()?;
        let meta = MetaStore::open_url(&url, config.database.max_connections.unwrap_or(16))
            .await
            .map_err(|source| BuildError::Database { setting: database_setting(&url), source })?;
        let backend = config.storage_backend()?;
        let mut blobs = match &backend {
            StorageBackend::File(root) => BlobStore::filesystem(root)?,
            StorageBackend::S3 { bucket } => BlobStore::s3(bucket, &config.storage.s3)?,
            StorageBackend::Azure { container } => BlobStore::azure(container, &config.storage.azure)?,
        };
        if let Err(source) = blobs.probe().await {
            return Err(BuildError::StorageProbe { setting: storage_setting(&backend), source });
        }
        let policy = config.auth.admin_policy;
        let master = Arc::new(master);
        let access = match Access::open(meta.clone(), config.auth.admin_username.clone(), policy, master.clone()).await
        {
            Err(access::Error::Sealed(seal::Error::UnknownKey(id))) => {
                let holder = match &config.secrets.key {
                    Some(_) => "BERTH_SECRET_KEY".to_owned(),
                    None => config.key_file().display().to_string(),
                };
                if created {
                    // A key made just now is no one's: leave no wrong key behind.
                    let _ = std::fs::remove_file(config.key_file());
                }
                return Err(BuildError::WrongMasterKey { id, holder });
            }
            opened => opened?,
        };
        if config.storage.redirect {
            let key = access.sealed_setting("storage_url_key", random_key).await?;
            blobs = blobs.with_url_key(&key);
        }
        let first_start = access.bootstrap_admin(config.auth.admin_password.clone()).await?;
        access.enforce_admin_policy().await?;
        let metrics = Arc::new(Metrics::default());
        let tasks = crate::tasks::Tasks::new(meta.clone(), blobs.clone(), master.clone(), config.tasks.clone());
        let webhooks = Webhooks::new(meta.clone(), master, &config.webhooks, metrics.clone());
        let auditor = Auditor::start(&config.audit, meta.clone()).map_err(BuildError::AuditFile)?;
        let vulndb =
            crate::trust::VulnDb::new(meta.clone(), config.data_dir.join("tmp"), config.vulndb.max_record_size);
        let registry = Registry::new(meta, blobs, config.limits.clone());
        let summarized = registry.summarize_stored_manifests().await?;
        if summarized > 0 {
            tracing::info!(manifests = summarized, "recorded what listings show of manifests stored before");
        }
        let gc = config.gc.enabled.then_some(config.gc.interval.0);
        let uploads = UploadSlots::new(config.http.max_uploads, config.http.max_uploads_per_identity);
        let audit_retention = config.audit.enabled.then_some(config.audit.retention.0);
        let scan = config.scan.enabled.then_some(config.scan.timeout.0);
        let tasks_enabled = config.tasks.enabled.then_some(config.tasks.concurrency);
        let app = Arc::new(App {
            config,
            registry,
            vulndb,
            access,
            webhooks,
            tasks,
            auditor,
            uploads,
            metrics,
            first_start: Mutex::new(first_start),
        });
        if jobs == Jobs::Agent {
            crate::jobs::run_tasks(Arc::downgrade(&app), app.config.tasks.concurrency);
            crate::jobs::watch_identities(Arc::downgrade(&app));
            return Ok(AppState(app));
        }
        if let Some(interval) = gc {
            crate::jobs::collect_garbage(Arc::downgrade(&app), interval);
        }
        if let Some(retention) = audit_retention {
            crate::jobs::prune_audit(Arc::downgrade(&app), retention);
        }
        if let Some(timeout) = scan {
            crate::jobs::scan_images(Arc::downgrade(&app), timeout);
        }
        crate::jobs::trigger_tasks(Arc::downgrade(&app));
        if let Some(concurrency) = tasks_enabled {
            crate::jobs::run_tasks(Arc::downgrade(&app), concurrency);
        }
        crate::jobs::watch_identities(Arc::downgrade(&app));
        crate::jobs::deliver_webhooks(Arc::downgrade(&app));
        Ok(AppState(app))
    }

    /// Offline recovery of a registry whose admin passwords are lost: new values for the admin
    /// user's passwords `names`, in the stores `config` names (a running server on the same
    /// SQLite database refuses it: stop it first; on PostgreSQL the other nodes pick it up).
    pub async fn reset_admin_passwords(config: Config, names: &[String]) -> Result<Vec<SecretValue>, BuildError> {
        config.validate()?;
        let url = config.database_url()?;
        if let Some(path) = url.strip_prefix("sqlite://").filter(|p| !std::path::Path::new(p).exists()) {
            return Err(ConfigError::Invalid(format!("no registry database at {path}: nothing to reset")).into());
        }
        let (master, _) = master_keys(&config)?;
        let meta = MetaStore::open_url(&url, 2)
            .await
            .map_err(|source| BuildError::Database { setting: database_setting(&url), source })?;
        let policy = config.auth.admin_policy;
        let access = Access::open(meta.clone(), config.auth.admin_username.clone(), policy, Arc::new(master)).await?;
        let owner = crate::auth::Permissions { grants: Vec::new(), manage: crate::auth::Manage::Owner };
        let admin = access.admin_name().to_owned();
        let fresh = access.renew_secrets(&owner, &admin, access::PrincipalKind::Admin, names, None).await;
        meta.close().await;
        Ok(fresh?)
    }

    /// The admin user's passwords if this start created it; `None` ever after.
    pub fn take_first_start_credentials(&self) -> Option<Vec<SecretValue>> {
        self.first_start.lock().ok()?.take()
    }
}

/// `database.url` as an error names it: the password left out.
fn database_setting(url: &str) -> String {
    let shown = match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_owned(),
    };
    format!("database.url = {shown}")
}

/// The settings a failing blob store depends on, as an error names them.
fn storage_setting(backend: &StorageBackend) -> String {
    match backend {
        StorageBackend::File(root) => format!("storage.url = file://{}", root.display()),
        StorageBackend::S3 { bucket } => format!(
            "storage.url = s3://{bucket}; check storage.s3.endpoint, region and credentials (or AWS_ENDPOINT, \
             AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), and for an http:// endpoint \
             storage.s3.allow_http = true or AWS_ALLOW_HTTP=true"
        ),
        StorageBackend::Azure { container } => format!(
            "storage.url = az://{container}; check storage.azure.account, access_key and endpoint (or \
             AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY), and for an http:// endpoint \
             storage.azure.allow_http = true or AZURE_ALLOW_HTTP=true"
        ),
    }
}

/// Creates `dir` (and its parents) if missing, and makes it readable by this user only.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "data directory was open to others: now 0700");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The master keys: `secrets.key` (`BERTH_SECRET_KEY`) if given, else the key file, which is made
/// (0600, with a new key) if missing; and whether it was made now.
fn master_keys(config: &Config) -> Result<(MasterKeys, bool), BuildError> {
    if let Some(keys) = &config.secrets.key {
        let keys = MasterKeys::parse(keys).map_err(|e| BuildError::MasterKey("BERTH_SECRET_KEY", e))?;
        return Ok((keys, false));
    }
    let path = config.key_file();
    let io = |e| BuildError::KeyFile(path.clone(), e);
    let mut created = false;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKeys::generate().map_err(|e| BuildError::MasterKey("new key", e))?;
            let text = format!(
                "# Berth's master key: it seals the secrets in the database (signing keys, URL keys,\n\
                 # admin passwords). Back it up apart from the database; without it they are lost.\n{key}\n"
            );
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
            std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(file = %path.display(), "created a master key: back it up apart from the database");
            created = true;
            text
        }
        Err(e) => return Err(io(e)),
    };
    let mode = std::fs::metadata(&path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(file = %path.display(), mode = format!("{mode:o}"), "master key file was open to others: now 0600");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok((MasterKeys::parse(&text).map_err(|e| BuildError::MasterKey("key file", e))?, created))
}

//! The application state every handler shares, and how it is built from a [`Config`].

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use crate::access::{self, Access, SecretValue};
use crate::blob::{self, BlobStore};
use crate::config::{Config, ConfigError, StorageBackend};
use crate::meta::{self, MetaStore};
use crate::registry::Registry;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create data directory: {0}")]
    DataDir(std::io::Error),
    #[error("metadata store: {0}")]
    Meta(#[from] meta::Error),
    #[error("blob store: {0}")]
    Blob(#[from] blob::Error),
    #[error("identities: {0}")]
    Access(#[from] access::Error),
}

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub registry: Registry,
    pub access: Access,
    /// The admin passwords generated at first start, until `berth serve` prints them once.
    first_start: Mutex<Option<Vec<SecretValue>>>,
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
    /// Opens the stores the configuration names (creating them on first start).
    pub async fn build(config: Config) -> Result<AppState, BuildError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(BuildError::DataDir)?;
        let meta = MetaStore::open_url(&config.database_url()?, config.database.max_connections.unwrap_or(16)).await?;
        let mut blobs = match config.storage_backend()? {
            StorageBackend::File(root) => BlobStore::filesystem(&root)?,
            StorageBackend::S3 { bucket } => BlobStore::s3(&bucket, &config.storage.s3)?,
            StorageBackend::Azure { container } => BlobStore::azure(&container, &config.storage.azure)?,
        };
        if config.storage.redirect {
            let key = meta.secret_setting("storage_url_key", random_key).await?;
            blobs = blobs.with_url_key(&key);
        }
        let access = Access::open(meta.clone(), config.auth.admin_username.clone()).await?;
        let first_start = access.bootstrap_admin(config.auth.admin_password.clone()).await?;
        let registry = Registry::new(meta, blobs, config.limits.clone());
        let gc = config.gc.enabled.then_some(config.gc.interval.0);
        let app = Arc::new(App { config, registry, access, first_start: Mutex::new(first_start) });
        if let Some(interval) = gc {
            crate::jobs::collect_garbage(Arc::downgrade(&app), interval);
        }
        crate::jobs::watch_identities(Arc::downgrade(&app));
        Ok(AppState(app))
    }

    /// The admin user's passwords if this start created it; `None` ever after.
    pub fn take_first_start_credentials(&self) -> Option<Vec<SecretValue>> {
        self.first_start.lock().ok()?.take()
    }
}

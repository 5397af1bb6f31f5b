//! Berth's configuration: one serde struct with defaults, read from a TOML file (`--config`),
//! then overridden by `BERTH_*` environment variables, then by command-line flags, and
//! validated before anything binds or opens.
//!
//! | setting        | TOML            | environment          | default                     |
//! |----------------|-----------------|----------------------|-----------------------------|
//! | listen address | `listen`        | `BERTH_LISTEN`       | `127.0.0.1:5000`            |
//! | data directory | `data_dir`      | `BERTH_DATA_DIR`     | `./berth-data`              |
//! | metadata store | `database.url`  | `BERTH_DATABASE_URL` | `sqlite://<data_dir>/berth.db` |
//! | blob store     | `storage.url`   | `BERTH_STORAGE_URL`  | `file://<data_dir>/storage` |
//! | admin password | `auth.admin_password` | `BERTH_ADMIN_PASSWORD` | generated at first start |
//! | login server   | `auth.login_server` | `BERTH_LOGIN_SERVER` | the request's `Host`     |
//! | TLS            | `tls.cert`, `tls.key`, `tls.self_signed`, `tls.min_version` | | plain HTTP |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the registry listens on.
    pub listen: SocketAddr,
    /// Directory holding all state that `database.url` and `storage.url` do not place elsewhere.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The admin user's login name.
    pub admin_username: String,
    /// The admin user's first password, used only when the admin user is created (first start).
    /// Never printed.
    #[serde(skip_serializing)]
    pub admin_password: Option<String>,
    /// ACR's built-in policy on the admin user: `allow`, `deny` (enabling it is refused) or
    /// `audit` (allowed, and logged).
    pub admin_policy: AdminPolicy,
    /// The registry's name in tokens and challenges (`service`), e.g. `registry.example.com`.
    /// Unset: the `Host` the client used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_server: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            admin_username: "admin".into(),
            admin_password: None,
            admin_policy: AdminPolicy::Allow,
            login_server: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminPolicy {
    Allow,
    Deny,
    Audit,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain; with `key`, the registry serves HTTPS only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Serve HTTPS with a certificate generated at start for localhost and 127.0.0.1 (development).
    pub self_signed: bool,
    /// Lowest TLS version accepted: `1.2` (default) or `1.3`.
    pub min_version: TlsVersion,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsVersion {
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.self_signed || self.cert.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Metadata store, `sqlite://PATH`. Unset: `<data_dir>/berth.db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Blob store, `file://PATH`. Unset: `<data_dir>/storage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("berth-data"),
            database: DatabaseConfig::default(),
            storage: StorageConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

impl Config {
    /// Defaults, then the TOML file if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })?
            }
            None => Self::default(),
        };
        config.apply_env(|var| std::env::var(var).ok())?;
        Ok(config)
    }

    /// Applies `BERTH_*` overrides, reading variables through `lookup`.
    fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = lookup("BERTH_LISTEN") {
            self.listen =
                v.parse().map_err(|e| ConfigError::Env { var: "BERTH_LISTEN", message: format!("{v:?}: {e}") })?;
        }
        if let Some(v) = lookup("BERTH_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = lookup("BERTH_DATABASE_URL") {
            self.database.url = Some(v);
        }
        if let Some(v) = lookup("BERTH_STORAGE_URL") {
            self.storage.url = Some(v);
        }
        if let Some(v) = lookup("BERTH_ADMIN_PASSWORD") {
            self.auth.admin_password = Some(v);
        }
        if let Some(v) = lookup("BERTH_LOGIN_SERVER") {
            self.auth.login_server = Some(v);
        }
        Ok(())
    }

    /// Checks what can be checked before start-up.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database_url()?;
        self.storage_root()?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid("tls.cert and tls.key go together".into()));
        }
        if self.tls.self_signed && self.tls.cert.is_some() {
            return Err(ConfigError::Invalid("tls.self_signed and tls.cert exclude each other".into()));
        }
        if self.auth.admin_password.as_deref().is_some_and(|p| p.len() < 8) {
            return Err(ConfigError::Invalid("auth.admin_password must have at least 8 characters".into()));
        }
        if self.auth.admin_username.is_empty()
            || !self.auth.admin_username.chars().all(|c| c.is_ascii_alphanumeric() || "-._@".contains(c))
        {
            return Err(ConfigError::Invalid(format!(
                "auth.admin_username {:?}: use A-Z a-z 0-9 - . _ @",
                self.auth.admin_username
            )));
        }
        Ok(())
    }

    /// The SQLite database URL in effect.
    pub fn database_url(&self) -> Result<String, ConfigError> {
        match &self.database.url {
            None => Ok(format!("sqlite://{}", self.data_dir.join("berth.db").display())),
            Some(url) if url.starts_with("sqlite://") || url.starts_with("sqlite:") => Ok(url.clone()),
            Some(url) => Err(ConfigError::Invalid(format!("database.url {url:?}: only sqlite:// is supported"))),
        }
    }

    /// The directory of the filesystem blob store in effect.
    pub fn storage_root(&self) -> Result<PathBuf, ConfigError> {
        match &self.storage.url {
            None => Ok(self.data_dir.join("storage")),
            Some(url) => match url.strip_prefix("file://") {
                Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
                _ => Err(ConfigError::Invalid(format!("storage.url {url:?}: only file://PATH is supported"))),
            },
        }
    }

    /// A configuration with everything under `dir`, listening on an ephemeral loopback port.
    pub fn for_tests(dir: &Path) -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 0)), data_dir: dir.to_path_buf(), ..Self::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        let mut c: Config =
            toml::from_str("listen = \"0.0.0.0:6000\"\n[storage]\nurl = \"file:///srv/blobs\"").expect("toml");
        assert_eq!(c.listen.port(), 6000);
        c.apply_env(|v| (v == "BERTH_LISTEN").then(|| "127.0.0.1:7000".to_owned())).expect("env");
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.storage_root().expect("root"), PathBuf::from("/srv/blobs"));
        assert_eq!(c.database_url().expect("db"), "sqlite://berth-data/berth.db");
    }

    #[test]
    fn bad_settings_are_rejected_with_their_name() {
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err(), "unknown keys are refused");
        let mut c = Config::default();
        let err = c.apply_env(|v| (v == "BERTH_LISTEN").then(|| "nope".to_owned())).expect_err("bad address");
        assert!(err.to_string().contains("BERTH_LISTEN"));
        c.storage.url = Some("s4://bucket".into());
        assert!(c.validate().expect_err("bad scheme").to_string().contains("storage.url"));
    }
}

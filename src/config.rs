//! Berth's configuration: one serde struct with defaults, read from a TOML file (`--config`),
//! then overridden by `BERTH_*` environment variables, then by command-line flags, and
//! validated before anything binds or opens.
//!
//! | setting        | TOML            | environment          | default                     |
//! |----------------|-----------------|----------------------|-----------------------------|
//! | listen address | `listen`        | `BERTH_LISTEN`       | `127.0.0.1:5000`            |
//! | data directory | `data_dir`      | `BERTH_DATA_DIR`     | `./berth-data`              |
//! | metadata store | `database.url` (`sqlite://PATH`, `postgres://…`), `database.max_connections` | `BERTH_DATABASE_URL` | `sqlite://<data_dir>/berth.db`, 16 |
//! | blob store     | `storage.url` (`file://`, `s3://`, `az://`), `storage.s3.*`, `storage.azure.*` | `BERTH_STORAGE_URL`, `AWS_*`, `AZURE_STORAGE_*` | `file://<data_dir>/storage` |
//! | admin password | `auth.admin_password` | `BERTH_ADMIN_PASSWORD` | generated at first start |
//! | login server   | `auth.login_server` | `BERTH_LOGIN_SERVER` | the request's `Host`     |
//! | TLS            | `tls.cert`, `tls.key`, `tls.self_signed`, `tls.min_version` | | plain HTTP |
//! | tier and quota | `limits.sku` (`Basic`, `Standard`, `Premium`), `limits.storage_quota` (bytes) | | `Standard`, the tier's |
//! | signed blob URLs | `storage.redirect`, `storage.redirect_ttl`, `storage.redirect_to` (`registry`, `store`) | | off, `20m`, `registry` |
//! | garbage collection | `gc.interval`, `gc.grace`, `gc.upload_ttl` (`30s`, `10m`, `1h`, `2d`), `gc.enabled` | | `1h`, `1h`, `24h`, on |
//! | slow clients   | `http.header_timeout`, `http.body_timeout`, `http.min_body_rate`, `http.idle_timeout` | | `30s`, `60s`, 1024 B/s, `90s` |
//! | uploads at once | `http.max_uploads`, `http.max_uploads_per_identity` | | 256, 32 |
//! | webhooks       | `webhooks.deny`, `webhooks.allow` (CIDRs), `webhooks.timeout`, `webhooks.max_attempts`, `webhooks.retry_max`, `webhooks.log_retention` | | link-local denied, `10s`, 12, `10m`, `30d` |
//! | master key     | `secrets.key_file`, `secrets.key` | `BERTH_SECRET_KEY_FILE`, `BERTH_SECRET_KEY` | `<data_dir>/berth.key` |
//! | audit log      | `audit.enabled`, `audit.pulls`, `audit.retention`, `audit.file` (a path, or `-` for stderr) | | on, on, `90d`, none |
//! | web portal     | `portal.enabled`, `portal.path` (`/` or a prefix such as `/portal`) | | on, `/` |
//! | vulnerability database imports | `vulndb.max_import_size`, `vulndb.max_record_size` (bytes) | | 2 GiB, 4 MiB |

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
    pub limits: LimitsConfig,
    pub gc: GcConfig,
    pub scan: ScanConfig,
    pub tasks: TasksConfig,
    pub http: HttpConfig,
    pub secrets: SecretsConfig,
    pub webhooks: WebhooksConfig,
    pub audit: AuditConfig,
    pub portal: PortalConfig,
    pub vulndb: VulndbConfig,
}

/// Imports into the offline vulnerability database (`trust::vulndb`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VulndbConfig {
    /// Largest upload `POST /berth/v1/vulndb` takes (it is spooled to `<data_dir>/tmp`).
    pub max_import_size: u64,
    /// Largest record (a zip entry inflated, a JSON record or array element) an import takes;
    /// a zip entry inflating past it is refused as a decompression bomb.
    pub max_record_size: u64,
}

impl Default for VulndbConfig {
    fn default() -> Self {
        // OSV's largest export (all ecosystems) is a few GiB; one ecosystem's fits in 2 GiB.
        Self { max_import_size: 2 << 30, max_record_size: 4 << 20 }
    }
}

/// The web portal (`api::portal`): server-rendered pages for browsing the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// Whether the pages are served; off, their paths answer 404 as any unknown path.
    pub enabled: bool,
    /// Where the pages live: `/`, or a prefix such as `/portal`.
    pub path: String,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self { enabled: true, path: "/".into() }
    }
}

/// Webhook delivery. A webhook makes the registry send requests where its owner says, so the
/// addresses it may reach are limited: link-local ones (cloud metadata endpoints) are refused
/// unless allowed, and `deny` can refuse more (private ranges on a shared host, say).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Addresses webhooks may not reach, besides link-local ones.
    pub deny: Vec<ipnet::IpNet>,
    /// Addresses webhooks may reach even if denied (a link-local receiver, say).
    pub allow: Vec<ipnet::IpNet>,
    /// Time to connect; the whole attempt (connect, send, read the answer) gets `timeout`.
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Attempts at one event before it is given up (it stays redeliverable by hand).
    pub max_attempts: u32,
    /// Retries wait 1 s, 2 s, 4 s… up to this.
    pub retry_max: Duration,
    /// How long delivery attempts are listed (`webhook list-events`), and events kept for
    /// `webhook redeliver`.
    pub log_retention: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            deny: Vec::new(),
            allow: Vec::new(),
            connect_timeout: Duration(std::time::Duration::from_secs(5)),
            timeout: Duration(std::time::Duration::from_secs(10)),
            max_attempts: 12,
            retry_max: Duration(std::time::Duration::from_secs(600)),
            log_retention: Duration(std::time::Duration::from_secs(30 * 86_400)),
        }
    }
}

/// The audit log of sign-ins and repository operations (see `events::audit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Whether anything is recorded.
    pub enabled: bool,
    /// Whether manifest pulls are recorded (the most frequent event by far).
    pub pulls: bool,
    /// Entries older than this are deleted (hourly, by one node).
    pub retention: Duration,
    /// Also write each entry as one JSON line to this file (appended), or to stderr with `-`
    /// or `stderr`, for log shippers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            pulls: true,
            retention: Duration(std::time::Duration::from_secs(90 * 86_400)),
            file: None,
        }
    }
}

/// Limits on slow, idle and greedy clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Time to send the request line and headers (and to finish a TLS handshake).
    pub header_timeout: Duration,
    /// Longest pause between two pieces of a request body (nginx's `client_body_timeout`), and
    /// the window over which `min_body_rate` is measured. A response the client stops reading
    /// for this long is cut off too.
    pub body_timeout: Duration,
    /// Bytes a second a request body must average over each `body_timeout` window (0: none).
    pub min_body_rate: u64,
    /// A connection with no request in flight for this long is closed (HTTP/1.1 keep-alive and
    /// HTTP/2 alike).
    pub idle_timeout: Duration,
    /// Uploads (blob and manifest bodies) in progress at once, in all.
    pub max_uploads: usize,
    /// Uploads in progress at once by one identity (user, token, or anonymous address).
    pub max_uploads_per_identity: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration(std::time::Duration::from_secs(30)),
            body_timeout: Duration(std::time::Duration::from_secs(60)),
            min_body_rate: 1024,
            idle_timeout: Duration(std::time::Duration::from_secs(90)),
            max_uploads: 256,
            max_uploads_per_identity: 32,
        }
    }
}

/// Where the master key that seals secrets at rest comes from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// A file of master keys (base64, one a line, the sealing one first), made with a new key
    /// at first start if missing. Unset: `<data_dir>/berth.key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The master keys themselves, instead of a file (`BERTH_SECRET_KEY`). Never printed.
    #[serde(skip_serializing)]
    pub key: Option<String>,
}

/// ACR's service tiers: they set the included storage and the limits on webhooks, tokens and
/// scope maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sku {
    Basic,
    #[default]
    Standard,
    Premium,
}

impl Sku {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "basic" => Some(Self::Basic),
            "standard" => Some(Self::Standard),
            "premium" => Some(Self::Premium),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "Basic",
            Self::Standard => "Standard",
            Self::Premium => "Premium",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The tier at first start (`berth update --sku` changes it later).
    pub sku: Sku,
    /// Storage limit in bytes, instead of the tier's included storage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_quota: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    /// Whether garbage collection runs in the background.
    pub enabled: bool,
    /// Time between passes.
    pub interval: Duration,
    /// Unreferenced blobs younger than this are kept (a layer pushed just before its manifest).
    pub grace: Duration,
    /// Upload sessions idle this long are dropped and their bytes freed.
    pub upload_ttl: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration(std::time::Duration::from_secs(3600)),
            grace: Duration(std::time::Duration::from_secs(3600)),
            upload_ttl: Duration(std::time::Duration::from_secs(86_400)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Whether this node scans pushed images in the background (any node may; one scans each).
    pub enabled: bool,
    /// The longest one image's scan may take before it is reported unscannable.
    pub timeout: Duration,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self { enabled: true, timeout: Duration(std::time::Duration::from_secs(600)) }
    }
}

/// Build tasks (`tasks/`): how this node runs them with buildah, and the bounds every run keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TasksConfig {
    /// Whether this node runs queued runs (any node may; one runs each).
    pub enabled: bool,
    /// Runs this node runs at once.
    pub concurrency: u32,
    /// The unprivileged user builds run as when Berth runs as root (rootless buildah: the user
    /// needs `/etc/subuid` and `/etc/subgid` ranges). Empty: as Berth's own user.
    pub user: String,
    /// Where runs get their working directories (outside `data_dir`, which builds never see).
    pub work_dir: PathBuf,
    /// The registry address builds pull from and push to (`{{.Run.Registry}}`); empty: this
    /// node's listen address, with 127.0.0.1 for an unspecified one.
    pub registry: String,
    /// The buildah program.
    pub buildah: PathBuf,
    /// Largest build context: an upload, a downloaded tarball (compressed and unpacked), a clone.
    pub max_context: u64,
    /// Files a context may hold.
    pub max_context_entries: u64,
    /// Largest log kept of one run; the rest is dropped, and the log says so.
    pub max_log: u64,
    /// A run's time limit when its request names none, and the most a request may ask for.
    pub timeout: Duration,
    pub max_timeout: Duration,
    /// Address space each build process may use (RLIMIT_AS).
    pub max_memory: u64,
    /// Disk a run's working directory may fill (context, image storage, files it writes).
    pub max_disk: u64,
    /// How long a run and its log are kept after it ended (ACR keeps 30 days).
    pub retention: Duration,
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 2,
            user: "berth-build".into(),
            work_dir: std::env::temp_dir().join("berth-tasks"),
            registry: String::new(),
            buildah: PathBuf::from("buildah"),
            max_context: 512 << 20,
            max_context_entries: 100_000,
            max_log: 8 << 20,
            timeout: Duration(std::time::Duration::from_secs(3600)),
            max_timeout: Duration(std::time::Duration::from_secs(8 * 3600)),
            max_memory: 8 << 30,
            max_disk: 20 << 30,
            retention: Duration(std::time::Duration::from_secs(30 * 86_400)),
        }
    }
}

/// A duration written `30s`, `10m`, `1h`, `2d` or combined (`1d12h`), as `acr purge --ago`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut total = 0u64;
        let mut number = String::new();
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return Err(format!("{s:?}: use a number with s, m, h or d, e.g. 10m or 1d12h")),
            };
            let n: u64 = number.parse().map_err(|_| format!("{s:?}: a number must come before {c:?}"))?;
            total = total.saturating_add(n.saturating_mul(unit));
            number.clear();
        }
        if !number.is_empty() || s.trim().is_empty() {
            return Err(format!("{s:?}: every number needs a unit (s, m, h or d)"));
        }
        Ok(Self(std::time::Duration::from_secs(total)))
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
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
    /// Metadata store, `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    /// Unset: `<data_dir>/berth.db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// PostgreSQL connections this node keeps at most (blob commits hold a few more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Blob store: `file://PATH` or `s3://BUCKET` (with `[storage.s3]`). Unset: `<data_dir>/storage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// S3 settings; unset ones come from the standard `AWS_*` environment variables.
    pub s3: S3Config,
    /// Azure Blob settings; unset ones come from the `AZURE_STORAGE_*` environment variables.
    pub azure: AzureConfig,
    /// Answer blob GETs with `307` to a signed, time-limited URL.
    pub redirect: bool,
    /// How long a signed URL works.
    pub redirect_ttl: Duration,
    /// Where redirects point: Berth's own `/_storage/…` URLs, or the store's own (S3
    /// presigned URLs, Azure SAS URLs).
    pub redirect_to: RedirectTo,
}

/// Where `storage.redirect` sends blob GETs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedirectTo {
    /// `/_storage/…` on Berth, HMAC-signed: works with every backend, and whatever
    /// `Authorization` header the client resends.
    #[default]
    Registry,
    /// Straight to the object store (S3 presigned, Azure SAS), which then serves the bytes. The
    /// filesystem has no such URLs and stays with `registry`. Clients must not resend their
    /// `Authorization` header to the store: docker, containerd, podman, skopeo, oras and curl
    /// 7.83 or newer do not.
    Store,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            s3: S3Config::default(),
            azure: AzureConfig::default(),
            redirect: false,
            redirect_ttl: Duration(std::time::Duration::from_secs(1200)),
            redirect_to: RedirectTo::Registry,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint of an S3-compatible server (MinIO, Ceph, …), path-style addressing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Never printed.
    #[serde(skip_serializing)]
    pub secret_access_key: Option<String>,
    /// Allow an `http://` endpoint. Unset: `AWS_ALLOW_HTTP` decides (as every unset S3 setting
    /// leaves it to its `AWS_*` variable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    /// Storage account name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Account key. Never printed.
    #[serde(skip_serializing)]
    pub access_key: Option<String>,
    /// Account URL instead of `https://<account>.blob.core.windows.net`, e.g. Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Allow an `http://` endpoint. Unset: `AZURE_ALLOW_HTTP` decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
}

/// Where blobs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    File(PathBuf),
    S3 { bucket: String },
    Azure { container: String },
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
            limits: LimitsConfig::default(),
            gc: GcConfig::default(),
            scan: ScanConfig::default(),
            tasks: TasksConfig::default(),
            http: HttpConfig::default(),
            secrets: SecretsConfig::default(),
            webhooks: WebhooksConfig::default(),
            audit: AuditConfig::default(),
            portal: PortalConfig::default(),
            vulndb: VulndbConfig::default(),
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
        if let Some(v) = lookup("BERTH_SECRET_KEY") {
            self.secrets.key = Some(v);
        }
        if let Some(v) = lookup("BERTH_SECRET_KEY_FILE") {
            self.secrets.key_file = Some(v.into());
        }
        Ok(())
    }

    /// Checks what can be checked before start-up.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.portal.path;
        if !p.starts_with('/') || (p.len() > 1 && p.ends_with('/')) || p.contains(['{', '}', '*']) {
            return Err(ConfigError::Invalid(format!("portal.path {p:?}: a path such as / or /portal")));
        }
        self.database_url()?;
        self.storage_backend()?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid("tls.cert and tls.key go together".into()));
        }
        if self.tls.self_signed && self.tls.cert.is_some() {
            return Err(ConfigError::Invalid("tls.self_signed and tls.cert exclude each other".into()));
        }
        if self.vulndb.max_import_size == 0 || self.vulndb.max_record_size == 0 {
            return Err(ConfigError::Invalid(
                "vulndb.max_import_size and vulndb.max_record_size must be at least 1".into(),
            ));
        }
        let t = &self.tasks;
        if t.concurrency == 0 || t.max_context == 0 || t.max_log == 0 || t.timeout.0 > t.max_timeout.0 {
            return Err(ConfigError::Invalid(
                "tasks.concurrency, tasks.max_context and tasks.max_log must be at least 1, and tasks.timeout at most tasks.max_timeout".into(),
            ));
        }
        if !t.registry.is_empty() && !crate::api::valid_authority(&t.registry) {
            return Err(ConfigError::Invalid(format!("tasks.registry {:?}: give a host and port", t.registry)));
        }
        if t.work_dir.starts_with(&self.data_dir) {
            return Err(ConfigError::Invalid(
                "tasks.work_dir must be outside data_dir: builds never see the registry's data".into(),
            ));
        }
        if self.http.max_uploads == 0 || self.http.max_uploads_per_identity == 0 {
            return Err(ConfigError::Invalid(
                "http.max_uploads and http.max_uploads_per_identity must be at least 1".into(),
            ));
        }
        if self.http.body_timeout.0.as_secs() == 0 || self.http.idle_timeout.0.as_secs() == 0 {
            return Err(ConfigError::Invalid("http.body_timeout and http.idle_timeout must be at least 1s".into()));
        }
        if let Some(login) = &self.auth.login_server
            && !crate::api::valid_authority(login)
        {
            return Err(ConfigError::Invalid(format!(
                "auth.login_server {login:?}: give a host name and optional port"
            )));
        }
        if self.audit.retention.0.as_secs() == 0 {
            return Err(ConfigError::Invalid("audit.retention must be at least 1s".into()));
        }
        if self.gc.interval.0.as_secs() == 0 {
            return Err(ConfigError::Invalid("gc.interval must be at least 1s".into()));
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

    /// The metadata store URL in effect.
    pub fn database_url(&self) -> Result<String, ConfigError> {
        const SCHEMES: [&str; 4] = ["sqlite://", "sqlite:", "postgres://", "postgresql://"];
        match &self.database.url {
            None => Ok(format!("sqlite://{}", self.data_dir.join("berth.db").display())),
            Some(url) if SCHEMES.iter().any(|s| url.starts_with(s)) => Ok(url.clone()),
            Some(url) => Err(ConfigError::Invalid(format!(
                "database.url: {:?} is neither sqlite://PATH nor postgres://…",
                url.split('@').next_back().unwrap_or_default()
            ))),
        }
    }

    /// The blob store in effect.
    pub fn storage_backend(&self) -> Result<StorageBackend, ConfigError> {
        let Some(url) = &self.storage.url else { return Ok(StorageBackend::File(self.data_dir.join("storage"))) };
        if let Some(path) = url.strip_prefix("file://").filter(|p| !p.is_empty()) {
            return Ok(StorageBackend::File(PathBuf::from(path)));
        }
        let name = |prefix: &str| {
            url.strip_prefix(prefix).map(|b| b.trim_end_matches('/')).filter(|b| !b.is_empty() && !b.contains('/'))
        };
        if let Some(bucket) = name("s3://") {
            return Ok(StorageBackend::S3 { bucket: bucket.into() });
        }
        if let Some(container) = name("az://") {
            return Ok(StorageBackend::Azure { container: container.into() });
        }
        Err(ConfigError::Invalid(format!("storage.url {url:?}: use file://PATH, s3://BUCKET or az://CONTAINER")))
    }

    /// The master-key file in effect (when `secrets.key` does not give the keys).
    pub fn key_file(&self) -> PathBuf {
        self.secrets.key_file.clone().unwrap_or_else(|| self.data_dir.join("berth.key"))
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
        assert_eq!(c.storage_backend().expect("root"), StorageBackend::File(PathBuf::from("/srv/blobs")));
        c.storage.url = Some("s3://registry-blobs".into());
        assert_eq!(c.storage_backend().expect("s3"), StorageBackend::S3 { bucket: "registry-blobs".into() });
        c.storage.url = Some("az://blobs".into());
        assert_eq!(c.storage_backend().expect("azure"), StorageBackend::Azure { container: "blobs".into() });
        c.storage.url = Some("az://a/b".into());
        assert!(c.storage_backend().is_err());
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
        assert!(toml::from_str::<Config>("[gc]\ninterval = \"10 minutes\"").is_err());
    }

    #[test]
    fn durations_read_like_acr_purge_ago() {
        let secs = |s: &str| Duration::parse(s).map(|d| d.0.as_secs());
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs("1d12h"), Ok(129_600));
        assert_eq!(secs("2d3h6m"), Ok(183_960));
        assert!(secs("10").is_err() && secs("h").is_err() && secs("").is_err() && secs("1w").is_err());
        let c: Config = toml::from_str("[gc]\ninterval = \"10m\"\n[limits]\nsku = \"Basic\"").expect("toml");
        assert_eq!((c.gc.interval.0.as_secs(), c.limits.sku), (600, Sku::Basic));
    }
}

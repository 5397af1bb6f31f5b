//! Test harness: `TestApp::spawn()` runs the server in-process on 127.0.0.1:0 over a temporary
//! data directory (SQLite + filesystem blobs, the embedded defaults); `BerthProcess` runs the
//! real `berth` binary. Plus helpers to push blobs and manifests over plain HTTP.

#![allow(dead_code)] // each test module uses its own subset of the helpers

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use berth::{App, Config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The admin user every `TestApp` is created with (through `auth.admin_password`).
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "test-admin-password";

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// `len` bytes of a pattern that `seed` makes distinct: a layer of its own.
pub fn layer(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// A server running in this process. Dropping it stops the server and removes its data.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// Served over HTTPS with a self-signed certificate (`DATA_DIR/tls/self-signed.crt`).
    pub tls: bool,
    /// The server's blob store, as a client of our own sees it.
    store: std::sync::Arc<dyn object_store::ObjectStore>,
    config: Config,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server on HTTPS, for clients that speak nothing else (ACR's SDKs).
    pub async fn spawn_tls() -> Self {
        Self::spawn_with(|c| c.tls.self_signed = true).await
    }

    /// A server with the test configuration changed by `adjust` (kept across restarts). With
    /// `BERTH_TEST_STORAGE=s3` (or `azure`), blobs go to a bucket on `BERTH_TEST_S3_ENDPOINT`
    /// (or a container on `BERTH_TEST_AZURE_ENDPOINT`) of its own, unless `adjust` chose a store.
    /// With `BERTH_TEST_DATABASE=postgres`, metadata goes to a database of its own on
    /// `BERTH_TEST_POSTGRES_URL`.
    pub async fn spawn_with(adjust: fn(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        config.database.url = postgres_database(dir.path()).await;
        match std::env::var("BERTH_TEST_STORAGE").as_deref() {
            Ok("s3") => use_new_bucket(&mut config).await,
            Ok("azure") => use_new_container(&mut config).await,
            _ => {}
        }
        adjust(&mut config);
        let tls = config.tls.self_signed;
        let store = client_store(&config);
        let (addr, stop, task) = start_with(config.clone()).await;
        let mut client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if tls {
            let pem = std::fs::read(dir.path().join("tls/self-signed.crt")).expect("certificate");
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"));
        }
        Self {
            addr,
            client: client.build().expect("client"),
            tls,
            store,
            config,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server (letting requests in flight finish) and starts a new one over the same
    /// data directory and blob store, on a new port.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        let (addr, stop, task) = start_with(self.config.clone()).await;
        self.addr = addr;
        self.stop = Some(stop);
        self.task = Some(task);
    }

    /// Changes the configuration the next [`restart`](Self::restart) uses.
    pub fn set_config(&mut self, adjust: impl FnOnce(&mut Config)) {
        adjust(&mut self.config);
    }

    /// Keys of the objects the blob store holds under `prefix` (`blobs`, `uploads`).
    pub async fn stored(&self, prefix: &str) -> Vec<String> {
        use futures_util::TryStreamExt;
        let prefix = object_store::path::Path::from(prefix);
        let metas: Vec<object_store::ObjectMeta> =
            self.store.list(Some(&prefix)).try_collect().await.expect("list the blob store");
        metas.into_iter().map(|m| m.location.to_string()).collect()
    }

    /// Whether the blob store holds the object of blob `digest`.
    pub async fn blob_stored(&self, digest: &str) -> bool {
        let hex = digest.trim_start_matches("sha256:");
        let key = object_store::path::Path::from(format!("blobs/sha256/{}/{hex}", &hex[..2]));
        self.store.head(&key).await.is_ok()
    }

    /// Writes an object straight into the blob store, behind the registry's back.
    pub async fn put_object(&self, key: &str, bytes: &'static [u8]) {
        let key = object_store::path::Path::from(key);
        self.store.put(&key, bytes::Bytes::from_static(bytes).into()).await.expect("put object");
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }

    /// The metadata store's URL.
    pub fn database_url(&self) -> String {
        self.config.database_url().expect("database URL")
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `host:port`, as registry clients take it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", if self.tls { "https" } else { "http" }, self.addr, path)
    }

    /// A request as the admin user (Basic credentials).
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.anon(method, path).basic_auth(ADMIN, Some(ADMIN_PASSWORD))
    }

    /// A request without credentials.
    pub fn anon(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Calls the management API (`/berth/v1<path>`) as the admin user; the JSON answer
    /// (`null` for none), after asserting success.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.req(method, &format!("/berth/v1{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("management request");
        let status = res.status();
        let text = res.text().await.expect("body");
        assert!(status.is_success(), "{path}: {status} {text}");
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("json") }
    }

    /// Storage used, as `show-usage` reports it.
    pub async fn used(&self) -> u64 {
        let usage = self.admin(Method::GET, "/usage", None).await;
        let items = usage["value"].as_array().expect("value");
        items.iter().find(|i| i["name"] == "Size").and_then(|i| i["currentValue"].as_u64()).expect("Size")
    }

    /// Asserts that the usage counters equal a recount of the stored blobs and manifests (the
    /// usage check repairs nothing); returns the bytes stored.
    pub async fn assert_usage_consistent(&self) -> u64 {
        let check = self.admin(Method::POST, "/usage/check", None).await;
        assert_eq!(check["counted"], check["recomputed"], "the counters drifted from the tables: {check}");
        assert_eq!(check["repaired"], false, "{check}");
        check["recomputed"]["totalBytes"].as_u64().expect("totalBytes")
    }

    /// Runs `sql` on the server's metadata database, behind the server's back.
    pub async fn execute_sql(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.database_url()).await.expect("open the database");
        sqlx::query(sql).execute(&pool).await.expect("statement");
        pool.close().await;
    }

    /// A containers-auth.json (`REGISTRY_AUTH_FILE`, docker's config.json format) holding the
    /// admin credentials for this registry.
    pub fn auth_file(&self) -> PathBuf {
        let path = self.dir.path().join("auth.json");
        let auth = base64_encode(&format!("{ADMIN}:{ADMIN_PASSWORD}"));
        let json = json!({"auths": {self.host(): {"auth": auth}}});
        std::fs::write(&path, serde_json::to_vec(&json).expect("json")).expect("write auth file");
        path
    }

    /// Pushes `data` as a blob of `repo` with a monolithic POST; returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let res = self
            .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/?digest={digest}"))
            .body(data.to_vec())
            .send()
            .await
            .expect("push blob");
        assert_eq!(res.status(), StatusCode::CREATED, "push blob: {}", res.text().await.unwrap_or_default());
        digest
    }

    /// PUTs manifest bytes under `reference` with `media_type`; returns the response.
    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> reqwest::Response {
        self.req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .expect("put manifest")
    }

    /// Pushes a config and one layer per entry of `layers`, then an OCI image manifest tagged
    /// `tag`. Returns (manifest bytes, manifest digest).
    pub async fn push_image(&self, repo: &str, tag: &str, layers: &[&[u8]]) -> (Vec<u8>, String) {
        let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}});
        let config = serde_json::to_vec(&config).expect("json");
        let config_digest = self.push_blob(repo, &config).await;
        let mut descs = Vec::new();
        for layer in layers {
            let d = self.push_blob(repo, layer).await;
            descs
                .push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": layer.len()}));
        }
        let manifest = image_manifest(&config_digest, config.len(), descs);
        let res = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(res.status(), StatusCode::CREATED, "push manifest: {}", res.text().await.unwrap_or_default());
        let digest = sha256(&manifest);
        (manifest, digest)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The access token the token server gives `user` for `scope` (space-separated scopes).
pub async fn token(app: &TestApp, user: &str, pass: &str, scope: &str) -> String {
    let url = format!("/oauth2/token?service={}&scope={scope}", app.host());
    let res = app.anon(Method::GET, &url).basic_auth(user, Some(pass)).send().await.expect("token");
    assert_eq!(res.status(), StatusCode::OK, "token for {user}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token"], body["access_token"], "docker reads token, ACR clients access_token");
    body["access_token"].as_str().expect("access_token").to_owned()
}

/// The value of the password `name` in a management answer (shown once, when made).
pub fn password(v: &Value, name: &str) -> String {
    let list = v["credentials"]["passwords"].as_array().or_else(|| v["passwords"].as_array()).expect("passwords");
    let p = list.iter().find(|p| p["name"] == name).expect("named password");
    p["value"].as_str().expect("value shown once").to_owned()
}

/// The claims of a JWT, unverified.
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64");
    serde_json::from_slice(&bytes).expect("claims")
}

/// Creates a user with registry-wide `roles`; returns its password.
pub async fn user_with(app: &TestApp, name: &str, roles: &[&str]) -> String {
    let created = app.admin(Method::POST, "/users", Some(json!({"name": name, "roles": roles}))).await;
    password(&created, "password")
}

/// Creates a repository token with `actions` on `repository`; returns its `password1`.
pub async fn token_with(app: &TestApp, name: &str, repository: &str, actions: &[&str]) -> String {
    let body = json!({"name": name, "repositories": [{"repository": repository, "actions": actions}]});
    password(&app.admin(Method::POST, "/tokens", Some(body)).await, "password1")
}

/// `(path, methods)` of each `.route("…", get(…).post(…))` in router source.
pub fn routes_in(source: &str, prefix: &str) -> Vec<(String, Vec<String>)> {
    let source = source.split("#[cfg(test)]").next().unwrap_or(source);
    source
        .split(".route(")
        .skip(1)
        .filter_map(|chunk| {
            let path = chunk.trim_start().strip_prefix('"')?.split('"').next()?;
            let handlers = chunk.split(".nest(").next().unwrap_or(chunk);
            let handlers = handlers.split("\n}").next().unwrap_or(handlers);
            let methods = ["get", "post", "patch", "put", "delete"]
                .into_iter()
                .filter(|m| {
                    handlers
                        .match_indices(&format!("{m}("))
                        .any(|(i, _)| !handlers[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
                })
                .map(str::to_owned)
                .collect();
            Some((format!("{prefix}{path}"), methods))
        })
        .collect()
}

pub fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// With `BERTH_TEST_DATABASE=postgres`: the URL of a database on `BERTH_TEST_POSTGRES_URL`'s
/// server that belongs to `data_dir` (made on first use, so a restart finds it again).
pub async fn postgres_database(data_dir: &Path) -> Option<String> {
    if std::env::var("BERTH_TEST_DATABASE").as_deref() != Ok("postgres") {
        return None;
    }
    let server = std::env::var("BERTH_TEST_POSTGRES_URL")
        .expect("BERTH_TEST_DATABASE=postgres needs BERTH_TEST_POSTGRES_URL (postgres://USER@HOST:PORT/DB)");
    Some(create_postgres_database(&server, &data_dir.to_string_lossy()).await)
}

/// Creates (if new) the database named after `key` on the PostgreSQL server at `server`;
/// returns its URL.
pub async fn create_postgres_database(server: &str, key: &str) -> String {
    use sqlx::Connection;
    let name = format!("berth_{}", &sha256(key.as_bytes())["sha256:".len()..][..16]);
    let mut conn = sqlx::postgres::PgConnection::connect(server).await.expect("connect to the test PostgreSQL");
    match sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await {
        Ok(_) => {}
        Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42P04") => {}
        Err(e) => panic!("create database {name}: {e}"),
    }
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    format!("{base}/{name}")
}

/// [`postgres_database`] for code that cannot await.
pub fn postgres_database_blocking(data_dir: &Path) -> Option<String> {
    let data_dir = data_dir.to_path_buf();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(postgres_database(&data_dir))
    })
    .join()
    .expect("create database")
}

/// A fresh bucket on the test S3 server for `config`'s blobs.
async fn use_new_bucket(config: &mut Config) {
    let endpoint = std::env::var("BERTH_TEST_S3_ENDPOINT").expect("BERTH_TEST_STORAGE=s3 needs BERTH_TEST_S3_ENDPOINT");
    use_bucket(config, &endpoint).await;
}

/// Points `config`'s blobs at a new bucket on the S3 server at `endpoint`.
pub async fn use_bucket(config: &mut Config, endpoint: &str) {
    let bucket = format!("berth-{}", uuid::Uuid::new_v4().simple());
    let res = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.expect("create bucket");
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    config.storage.url = Some(format!("s3://{bucket}"));
    let s3 = &mut config.storage.s3;
    s3.endpoint = Some(endpoint.to_owned());
    s3.region = Some("us-east-1".into());
    s3.access_key_id = Some("test".into());
    s3.secret_access_key = Some("test".into());
    s3.allow_http = Some(true);
}

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Creates a container on the Azure Blob server at `endpoint` (an account URL), signing the
/// request with the account key (SharedKey), as Azure's REST API requires.
pub async fn create_azure_container(endpoint: &str, container: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let version = "2021-08-06";
    let path = reqwest::Url::parse(endpoint).expect("endpoint").path().trim_end_matches('/').to_owned();
    let string_to_sign = format!(
        "PUT{}x-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}{path}/{container}\nrestype:container",
        "\n".repeat(12)
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &b64.decode(AZURITE_KEY).expect("key"));
    let signature = b64.encode(ring::hmac::sign(&key, string_to_sign.as_bytes()));
    let res = reqwest::Client::new()
        .put(format!("{endpoint}/{container}?restype=container"))
        .header("x-ms-date", date)
        .header("x-ms-version", version)
        .header("content-length", "0")
        .header("authorization", format!("SharedKey {AZURITE_ACCOUNT}:{signature}"))
        .send()
        .await
        .expect("create container");
    assert!(res.status().is_success(), "create container: {} {}", res.status(), res.text().await.unwrap_or_default());
}

/// A fresh container on the test Azure Blob server (Azurite) for `config`'s blobs.
async fn use_new_container(config: &mut Config) {
    let endpoint =
        std::env::var("BERTH_TEST_AZURE_ENDPOINT").expect("BERTH_TEST_STORAGE=azure needs BERTH_TEST_AZURE_ENDPOINT");
    let container = format!("berth-{}", uuid::Uuid::new_v4().simple());
    create_azure_container(&endpoint, &container).await;
    config.storage.url = Some(format!("az://{container}"));
    let azure = &mut config.storage.azure;
    azure.account = Some(AZURITE_ACCOUNT.into());
    azure.access_key = Some(AZURITE_KEY.into());
    azure.endpoint = Some(endpoint);
    azure.allow_http = Some(true);
}

/// A client of our own on the store `config` names.
pub fn client_store(config: &Config) -> std::sync::Arc<dyn object_store::ObjectStore> {
    match config.storage_backend().expect("storage") {
        berth::config::StorageBackend::File(root) => {
            std::fs::create_dir_all(&root).expect("storage dir");
            std::sync::Arc::new(object_store::local::LocalFileSystem::new_with_prefix(root).expect("local store"))
        }
        berth::config::StorageBackend::S3 { bucket } => {
            let s3 = &config.storage.s3;
            let store = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_endpoint(s3.endpoint.clone().unwrap_or_default())
                .with_region(s3.region.clone().unwrap_or_default())
                .with_access_key_id(s3.access_key_id.clone().unwrap_or_default())
                .with_secret_access_key(s3.secret_access_key.clone().unwrap_or_default())
                .with_allow_http(s3.allow_http.unwrap_or(false))
                .build()
                .expect("S3 client");
            std::sync::Arc::new(store)
        }
        berth::config::StorageBackend::Azure { container } => {
            let azure = &config.storage.azure;
            let store = object_store::azure::MicrosoftAzureBuilder::new()
                .with_container_name(container)
                .with_account(azure.account.clone().unwrap_or_default())
                .with_access_key(azure.access_key.clone().unwrap_or_default())
                .with_endpoint(azure.endpoint.clone().unwrap_or_default())
                .with_allow_http(azure.allow_http.unwrap_or(false))
                .build()
                .expect("Azure client");
            std::sync::Arc::new(store)
        }
    }
}

/// The test configuration: everything under `dir`, the admin password known.
pub fn test_config(dir: &Path) -> Config {
    let mut config = Config::for_tests(dir);
    config.auth.admin_password = Some(ADMIN_PASSWORD.into());
    config
}

pub async fn start_with(config: Config) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    // After a restart, a background job of the stopped server may still hold its application
    // (and so its SQLite database) for the rest of a round: wait for it.
    let mut tries = 0;
    let state = loop {
        match App::build(config.clone()).await {
            Err(berth::app::BuildError::Database { source: berth::meta::Error::InUse(_), .. }) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            built => break built.expect("app builds"),
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let tls = state.config.tls.enabled().then(|| {
        berth::tls::server_config(&state.config.tls, &state.config.data_dir, vec![addr.ip().to_string()]).expect("tls")
    });
    let task = tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        berth::serve(listener, state.clone(), tls, stopped).await.expect("serve");
        state.auditor.shutdown().await;
        state.registry.meta().close().await;
    });
    (addr, stop, task)
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn image_manifest(config_digest: &str, config_size: usize, layers: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layers,
    }))
    .expect("json")
}

/// The OCI error code of a JSON error body.
pub async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.expect("error body is JSON");
    body["errors"][0]["code"].as_str().expect("errors[0].code").to_owned()
}

/// Sends `GET <path>` byte for byte (no client normalises it) and returns the status and body.
pub async fn raw_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let auth = base64_encode(&format!("{ADMIN}:{ADMIN_PASSWORD}"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n");
    let (status, response) = raw_request(addr, request.as_bytes()).await;
    assert_ne!(status, 0, "no status line: {response}");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Sends `request` as is, then reads until the server closes or 10 s pass; returns the
/// response's status (0 if the server closed without answering) and the whole response.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before it has read everything: a failed write is fine.
    let _ = tcp.write_all(request).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Whether an external tool is on PATH. Without it a test is skipped, except under CI (the
/// `CI` variable set), where a missing tool fails the test.
pub fn have_tool(name: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{name} is required under CI but is not installed");
        eprintln!("skipping: {name} is not installed");
    }
    found
}

/// A Python that can import `module`: `BERTH_TEST_PYTHON`, else the repository's `.venv`
/// (made by `.ci/run`), else `python3`. `None` (a failure under CI) if none can.
pub fn python_with(module: &str) -> Option<String> {
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let python = std::env::var("BERTH_TEST_PYTHON")
        .unwrap_or_else(|_| if Path::new(venv).exists() { venv.into() } else { "python3".into() });
    let found =
        Command::new(&python).args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "Python module {module} is required under CI (.ci/run installs it into .venv)"
        );
        eprintln!("skipping: Python module {module} is not installed");
    }
    found.then_some(python)
}

/// The real `berth` binary, started with `serve --listen 127.0.0.1:0` plus `args` in `cwd`; the
/// port is read from its log. Killed when dropped.
pub struct BerthProcess {
    pub child: Child,
    pub addr: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl BerthProcess {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        let dir = data_dir.to_str().expect("utf-8 path");
        Self::spawn(data_dir, &[&["--data-dir", dir], extra].concat(), true)
    }

    /// `keep_log`: false closes the server's stderr once its address is known.
    /// Started with `BERTH_ADMIN_PASSWORD` = [`ADMIN_PASSWORD`]. With
    /// `BERTH_TEST_DATABASE=postgres`, its metadata goes to the database that belongs to its
    /// data directory (see [`postgres_database`]).
    pub fn spawn(cwd: &Path, args: &[&str], keep_log: bool) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD);
        let data_dir = args.iter().position(|a| *a == "--data-dir").and_then(|i| args.get(i + 1));
        match postgres_database_blocking(&data_dir.map_or(cwd.join("berth-data"), |d| cwd.join(d))) {
            Some(url) => cmd.env("BERTH_DATABASE_URL", url),
            None => cmd.env_remove("BERTH_DATABASE_URL"),
        };
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args).current_dir(cwd);
        Self::run(cmd, keep_log)
    }

    /// Runs `cmd` (a `berth serve` with `--listen 127.0.0.1:0`) and waits for its address.
    pub fn run(mut cmd: Command, keep_log: bool) -> Self {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("berth starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let found =
                    line.split("listening on ").nth(1).and_then(|a| a.split_whitespace().next()).map(str::to_owned);
                sink.lock().expect("log lock").push(line);
                if let Some(addr) = found {
                    let _ = tx.send(addr);
                    if !keep_log {
                        return;
                    }
                }
            }
        });
        let addr = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap_or_else(|e| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            panic!("berth did not report its address ({e}): {}", log.lock().expect("log lock").join("\n"))
        });
        Self { child, addr: addr.parse().expect("address"), log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }
}

impl Drop for BerthProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory path that lives as long as the returned guard.
pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    (dir, path)
}

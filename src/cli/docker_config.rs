//! Docker's client configuration (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//! where `berth login` stores credentials, so docker, podman, skopeo, oras and the other `berth`
//! commands find them. Other keys in the file are kept as they are.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::client::Creds;

/// The user name ACR (and Berth) pairs with a refresh token used as a password.
pub(crate) const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

pub(crate) fn path() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").context("neither DOCKER_CONFIG nor HOME is set")?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

fn read() -> anyhow::Result<Value> {
    let path = path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The credentials stored for `server`: `auth` (base64 `user:password`), or an `identitytoken`
/// (a refresh token, which docker login stores), used under the null-GUID user name.
pub(crate) fn credentials(server: &str) -> anyhow::Result<Option<Creds>> {
    let config = read()?;
    let Some(entry) = config["auths"].get(server) else { return Ok(None) };
    if let Some(token) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
        return Ok(Some(Creds { username: REFRESH_TOKEN_USER.into(), password: token.into() }));
    }
    let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) else { return Ok(None) };
    let decoded = STANDARD.decode(auth).ok().and_then(|b| String::from_utf8(b).ok());
    let (user, pass) = decoded
        .as_deref()
        .and_then(|d| d.split_once(':'))
        .with_context(|| format!("the stored credentials for {server} are not base64 \"user:password\""))?;
    Ok(Some(Creds { username: user.into(), password: pass.into() }))
}

/// Stores `creds` for `server`, replacing what was there; the file is written whole and renamed
/// into place, readable by its owner only. Returns the file's path.
pub(crate) fn store(server: &str, creds: &Creds) -> anyhow::Result<PathBuf> {
    let path = path()?;
    let mut config = read()?;
    if config["credsStore"].is_string() || config["credHelpers"].get(server).is_some() {
        eprintln!(
            "WARNING: {} names a credential helper; docker may read it instead of the credentials stored here",
            path.display()
        );
    }
    let auth = STANDARD.encode(format!("{}:{}", creds.username, creds.password));
    let root = config.as_object_mut().with_context(|| format!("{} is not a JSON object", path.display()))?;
    let auths = root.entry("auths").or_insert_with(|| json!({}));
    let auths = auths.as_object_mut().with_context(|| format!("\"auths\" in {} is not an object", path.display()))?;
    auths.insert(server.to_owned(), json!({ "auth": auth }));
    let dir = path.parent().context("config path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    write_private(&tmp, &serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(path)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

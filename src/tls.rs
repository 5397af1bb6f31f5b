//! HTTPS with rustls: TLS 1.2 minimum by construction (rustls has nothing older), 1.3 only by
//! setting. The certificate comes from PEM files, or is generated for development
//! (`tls.self_signed`): written to `<data_dir>/tls/self-signed.crt` for clients to trust, with its
//! key (0600) beside it, and kept across restarts so that clients keep trusting it. It is made
//! anew only when it is missing, its names change, or it has less than 30 days to run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::{TlsConfig, TlsVersion};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{0} holds no PEM private key")]
    NoKey(PathBuf),
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server configuration `tls` asks for; `data_dir` receives a generated certificate.
pub fn server_config(tls: &TlsConfig, data_dir: &Path, names: Vec<String>) -> Result<Arc<ServerConfig>, Error> {
    let (certs, key) = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => (read_certs(cert)?, read_key(key)?),
        _ => self_signed(data_dir, names)?,
    };
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = std::fs::read(path).map_err(|e| Error::Read(path.into(), e))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice()).filter_map(Result::ok).collect();
    if certs.is_empty() { Err(Error::NoCertificate(path.into())) } else { Ok(certs) }
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let pem = std::fs::read(path).map_err(|e| Error::Read(path.into(), e))?;
    rustls_pemfile::private_key(&mut pem.as_slice()).ok().flatten().ok_or_else(|| Error::NoKey(path.into()))
}

/// How long a generated certificate runs, and how close to its end it is made anew.
const SELF_SIGNED_DAYS: i64 = 365;
const RENEW_WITHIN_DAYS: i64 = 30;

/// What a generated certificate was made for: kept beside it to decide whether it still fits.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Made {
    names: Vec<String>,
    /// Unix milliseconds.
    not_after: i64,
}

/// The development certificate for `names` (plus localhost and 127.0.0.1) under
/// `<data_dir>/tls/`: the one made before if it still fits, else a new one.
fn self_signed(
    data_dir: &Path,
    mut names: Vec<String>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
    names.sort();
    names.dedup();
    let dir = data_dir.join("tls");
    let (cert_path, key_path, made_path) =
        (dir.join("self-signed.crt"), dir.join("self-signed.key"), dir.join("self-signed.json"));
    let now = crate::meta::now_ms();
    let made: Option<Made> = std::fs::read(&made_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let reason = match &made {
        _ if !cert_path.exists() || !key_path.exists() => "there was none".to_owned(),
        None => "what it was made for is not recorded".to_owned(),
        Some(m) if m.names != names => format!("its names changed from {:?} to {names:?}", m.names),
        Some(m) if m.not_after - now < RENEW_WITHIN_DAYS * 86_400_000 => "it expires within 30 days".to_owned(),
        Some(_) => {
            tracing::info!(certificate = %cert_path.display(), "TLS: the self-signed certificate made before still fits");
            return Ok((read_certs(&cert_path)?, read_key(&key_path)?));
        }
    };
    let not_after = now + SELF_SIGNED_DAYS * 86_400_000;
    let day = |ms: i64| {
        let (year, month, day) = crate::api::time::civil_date(ms);
        rcgen::date_time_ymd(year as i32, month as u8, day as u8)
    };
    let mut params = rcgen::CertificateParams::new(names.clone())?;
    params.not_before = day(now - 86_400_000);
    params.not_after = day(not_after);
    let key_pair = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key_pair)?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::Write(dir.clone(), e))?;
    private_file(&key_path, key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem()).map_err(|e| Error::Write(cert_path.clone(), e))?;
    let record = serde_json::to_vec(&Made { names, not_after }).unwrap_or_default();
    std::fs::write(&made_path, record).map_err(|e| Error::Write(made_path.clone(), e))?;
    tracing::warn!(
        certificate = %cert_path.display(),
        "TLS: made a new self-signed certificate because {reason}: clients must trust it anew"
    );
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    Ok((vec![cert.der().clone()], key))
}

/// Writes `bytes` to a new file at `path` readable by this user only.
fn private_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Write(path.into(), e))?;
    file.write_all(bytes).map_err(|e| Error::Write(path.into(), e))
}

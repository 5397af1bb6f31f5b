//! HTTPS with rustls: TLS 1.2 minimum by construction (rustls has nothing older), 1.3 only by
//! setting. The certificate comes from PEM files, or is generated at start for development
//! (`tls.self_signed`, written to `<data_dir>/tls/self-signed.crt` for clients to trust).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::{TlsConfig, TlsVersion};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
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

/// A certificate for `names` (plus localhost and 127.0.0.1), its PEM written under `data_dir`.
fn self_signed(
    data_dir: &Path,
    mut names: Vec<String>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
    names.dedup();
    let certified = rcgen::generate_simple_self_signed(names)?;
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Read(dir.clone(), e))?;
    let path = dir.join("self-signed.crt");
    std::fs::write(&path, certified.cert.pem()).map_err(|e| Error::Read(path, e))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    Ok((vec![certified.cert.der().clone()], key))
}

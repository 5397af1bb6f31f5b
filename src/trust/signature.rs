//! Shared pieces of image-signature verification: the trust store, the
//! outcome types, and the small amount of X.509/SPKI parsing that
//! rustls-webpki does not expose (key type and size, subject names, validity).

use std::time::{SystemTime, UNIX_EPOCH};

use ring::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use sha2::{Digest, Sha256};

use super::Error;

/// Longest certificate chain accepted from a signature (leaf included).
pub const MAX_CHAIN: usize = 10;
/// Largest single certificate accepted from a signature.
const MAX_CERT: usize = 64 * 1024;

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER contents.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A signature that verified and whose signer is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// "cosign" or "notation".
    pub scheme: &'static str,
    /// The signing certificate's subject (or, when it has none, its first
    /// e-mail/URI SAN), or "sha256:<hex of SPKI DER>" for a bare key.
    pub signer: String,
}

/// Why a signature was not accepted. The text is meant for end users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("signature is larger than the {0} limit")]
    TooLarge(&'static str),
    #[error("unsupported signature algorithm or key: {0}")]
    UnsupportedAlgorithm(String),
    #[error("key is too weak: {0}")]
    WeakKey(String),
    #[error("signature header {0:?} is marked critical but is not understood")]
    UnknownCritical(String),
    #[error("signature does not match the signed content and the signing key")]
    BadSignature,
    #[error("signer is not trusted: {0}")]
    UntrustedSigner(String),
    #[error("signing certificate chain is invalid: {0}")]
    InvalidCertificate(String),
    #[error("certificate {0} has expired")]
    CertificateExpired(String),
    #[error("certificate {0} is not valid yet")]
    CertificateNotYetValid(String),
    #[error("signature expired at {0} (unix time)")]
    SignatureExpired(i64),
    #[error("signature is for {signed}, not for {expected}")]
    DigestMismatch { signed: String, expected: String },
}

pub(crate) fn malformed(what: impl Into<String>) -> Refusal {
    Refusal::Malformed(what.into())
}

/// Trusted CA certificates and bare public keys.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    certs: Vec<CertificateDer<'static>>,
    keys: Vec<PublicKey>,
}

impl TrustStore {
    /// Reads any number of `CERTIFICATE` and `PUBLIC KEY` PEM blocks. Other
    /// blocks (notably private keys) are an error rather than skipped, so a
    /// misplaced file is noticed.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let mut store = TrustStore::default();
        let mut reader = pem.as_bytes();
        for item in rustls_pemfile::read_all(&mut reader) {
            match item.map_err(|e| Error::TrustStore(format!("bad PEM: {e}")))? {
                rustls_pemfile::Item::X509Certificate(der) => {
                    // webpki accepts only what it can turn into an anchor; check now.
                    webpki::anchor_from_trusted_cert(&der)
                        .map_err(|e| Error::TrustStore(format!("bad certificate: {e}")))?;
                    store.certs.push(der);
                }
                rustls_pemfile::Item::SubjectPublicKeyInfo(der) => {
                    let key = PublicKey::from_spki(der.as_ref())
                        .map_err(|r| Error::TrustStore(format!("bad public key: {r}")))?;
                    store.keys.push(key);
                }
                _ => {
                    return Err(Error::TrustStore("only CERTIFICATE and PUBLIC KEY blocks are allowed".into()));
                }
            }
        }
        if store.certs.is_empty() && store.keys.is_empty() {
            return Err(Error::TrustStore("no CERTIFICATE or PUBLIC KEY block found".into()));
        }
        Ok(store)
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.keys.is_empty()
    }

    pub(crate) fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub(crate) fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

/// Kind of a public key, as far as signature algorithms care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa { bits: usize },
    P256,
    P384,
    P521,
    Ed25519,
}

/// A parsed SubjectPublicKeyInfo.
#[derive(Debug, Clone)]
pub(crate) struct PublicKey {
    pub kind: KeyKind,
    /// The BIT STRING contents, which is what ring takes for every key type
    /// (RSAPublicKey DER, uncompressed EC point, raw Ed25519 key).
    raw: Vec<u8>,
    /// "sha256:<hex>" of the whole SPKI DER.
    pub fingerprint: String,
}

impl PublicKey {
    pub(crate) fn from_spki(spki: &[u8]) -> Result<Self, Refusal> {
        let bad = || malformed("bad SubjectPublicKeyInfo");
        let mut outer = Der::new(spki);
        let body = outer.expect(TAG_SEQUENCE).map_err(|_| bad())?;
        if !outer.is_empty() {
            return Err(bad());
        }
        let mut body = Der::new(body);
        let mut alg = Der::new(body.expect(TAG_SEQUENCE).map_err(|_| bad())?);
        let bits = body.expect(TAG_BIT_STRING).map_err(|_| bad())?;
        let oid = alg.expect(TAG_OID).map_err(|_| bad())?;
        // First byte of a BIT STRING counts unused bits; keys use whole bytes.
        let raw = match bits.split_first() {
            Some((0, rest)) => rest,
            _ => return Err(bad()),
        };
        let kind = if oid == OID_RSA {
            KeyKind::Rsa { bits: rsa_modulus_bits(raw).ok_or_else(bad)? }
        } else if oid == OID_EC {
            let curve = alg.expect(TAG_OID).map_err(|_| bad())?;
            if curve == OID_P256 {
                KeyKind::P256
            } else if curve == OID_P384 {
                KeyKind::P384
            } else if curve == OID_P521 {
                KeyKind::P521
            } else {
                return Err(Refusal::UnsupportedAlgorithm("EC curve".into()));
            }
        } else if oid == OID_ED25519 {
            KeyKind::Ed25519
        } else {
            return Err(Refusal::UnsupportedAlgorithm("public key type".into()));
        };
        if let KeyKind::Rsa { bits } = kind
            && bits < 2048
        {
            return Err(Refusal::WeakKey(format!("{bits}-bit RSA, need 2048 or more")));
        }
        Ok(PublicKey { kind, raw: raw.to_vec(), fingerprint: format!("sha256:{}", hex::encode(Sha256::digest(spki))) })
    }

    /// Verifies `signature` over `message` with one of ring's algorithms.
    pub(crate) fn verify(
        &self,
        alg: &'static dyn VerificationAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), Refusal> {
        UnparsedPublicKey::new(alg, &self.raw).verify(message, signature).map_err(|_| Refusal::BadSignature)
    }
}

/// Bit length of an RSAPublicKey's modulus.
fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Option<usize> {
    let mut outer = Der::new(rsa_public_key);
    let mut seq = Der::new(outer.expect(TAG_SEQUENCE).ok()?);
    let n = seq.expect(TAG_INTEGER).ok()?;
    let pos = n.iter().position(|&b| b != 0)?;
    let first = *n.get(pos)?;
    Some((n.len() - pos - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// The parts of a certificate this module needs beyond what webpki checks.
pub(crate) struct CertInfo {
    pub key: PublicKey,
    /// Subject DN as "CN=..,O=..", or else the first e-mail/URI SAN.
    pub name: String,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertInfo {
    pub(crate) fn parse(der: &[u8]) -> Result<Self, Refusal> {
        let bad = || malformed("bad X.509 certificate");
        if der.len() > MAX_CERT {
            return Err(Refusal::TooLarge("certificate size"));
        }
        let mut outer = Der::new(der);
        let mut cert = Der::new(outer.expect(TAG_SEQUENCE).map_err(|_| bad())?);
        let mut tbs = Der::new(cert.expect(TAG_SEQUENCE).map_err(|_| bad())?);
        if tbs.peek_tag() == Some(0xa0) {
            tbs.read().map_err(|_| bad())?; // version
        }
        tbs.expect(TAG_INTEGER).map_err(|_| bad())?; // serial
        tbs.expect(TAG_SEQUENCE).map_err(|_| bad())?; // signature algorithm
        tbs.expect(TAG_SEQUENCE).map_err(|_| bad())?; // issuer
        let mut validity = Der::new(tbs.expect(TAG_SEQUENCE).map_err(|_| bad())?);
        let not_before = der_time(&mut validity).ok_or_else(bad)?;
        let not_after = der_time(&mut validity).ok_or_else(bad)?;
        let subject = tbs.expect(TAG_SEQUENCE).map_err(|_| bad())?;
        let (_, _, spki) = tbs.read().map_err(|_| bad())?;
        let key = PublicKey::from_spki(spki)?;
        let mut name = dn_string(subject).unwrap_or_default();
        if name.is_empty() {
            // Fulcio certificates carry the identity only in the SAN.
            name = san_identity(&mut tbs).unwrap_or_else(|| key.fingerprint.clone());
        }
        Ok(CertInfo { key, name, not_before, not_after })
    }

    /// Checks the validity window at `at` (unix seconds).
    pub(crate) fn check_time(&self, at: i64) -> Result<(), Refusal> {
        if at < self.not_before {
            return Err(Refusal::CertificateNotYetValid(format!("{:?}", self.name)));
        }
        if at > self.not_after {
            return Err(Refusal::CertificateExpired(format!("{:?}", self.name)));
        }
        Ok(())
    }
}

/// Builds and verifies a path from `leaf` through `intermediates` to one of
/// `anchors` at time `at`. The leaf must allow code signing if it restricts
/// its extended key usage (RFC 5280; what Go's verifier, used by both cosign
/// and notation, does too).
pub(crate) fn verify_chain(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'_>],
    at: i64,
) -> Result<(), Refusal> {
    let anchors: Vec<TrustAnchor<'_>> =
        anchors.iter().filter_map(|c| webpki::anchor_from_trusted_cert(c).ok()).collect();
    if anchors.is_empty() {
        return Err(Refusal::UntrustedSigner(
            "no trusted certificate matches the signature's certificate chain".into(),
        ));
    }
    let ee = webpki::EndEntityCert::try_from(leaf).map_err(|e| webpki_refusal(e, "leaf"))?;
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(u64::try_from(at).unwrap_or(0)));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        intermediates,
        time,
        webpki::KeyUsage::required_if_present(EKU_CODE_SIGNING),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| webpki_refusal(e, "chain"))
}

fn webpki_refusal(e: webpki::Error, what: &str) -> Refusal {
    match e {
        webpki::Error::UnknownIssuer => {
            Refusal::UntrustedSigner("certificate chain does not lead to a trusted certificate".into())
        }
        webpki::Error::CertExpired { .. } => Refusal::CertificateExpired(format!("in the {what}")),
        webpki::Error::CertNotValidYet { .. } => Refusal::CertificateNotYetValid(format!("in the {what}")),
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            Refusal::InvalidCertificate("signing certificate is not for code signing".into())
        }
        other => Refusal::InvalidCertificate(format!("{other}")),
    }
}

/// ring's algorithm for an ASN.1 (DER) encoded signature by `kind`, as
/// cosign makes them: ECDSA with the curve's usual hash, RSA PKCS#1 v1.5
/// with SHA-256, pure Ed25519.
pub(crate) fn cosign_algorithms(kind: KeyKind) -> Vec<&'static dyn VerificationAlgorithm> {
    match kind {
        KeyKind::P256 => vec![&sig::ECDSA_P256_SHA256_ASN1],
        // cosign hashed with SHA-256 for every key before v2.2; newer
        // releases use SHA-384 with P-384. Both hashes are strong, so accept either.
        KeyKind::P384 => vec![&sig::ECDSA_P384_SHA384_ASN1, &sig::ECDSA_P384_SHA256_ASN1],
        KeyKind::Rsa { .. } => vec![&sig::RSA_PKCS1_2048_8192_SHA256],
        KeyKind::Ed25519 => vec![&sig::ED25519],
        KeyKind::P521 => Vec::new(),
    }
}

/// Current time as unix seconds (clamped at the epoch).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Unix seconds for a proleptic Gregorian UTC date and time, or None if a
/// field is out of range.
pub(crate) fn unix_from_civil(y: i64, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = crate::calendar::days_from_civil(y, m, d);
    Some(days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss))
}

/// Parses fixed-width ASCII digits.
pub(crate) fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| acc.checked_mul(10)?.checked_add(u32::from(b - b'0')))
}

/// Reads a UTCTime or GeneralizedTime (the forms RFC 5280 allows: Z, whole seconds).
fn der_time(d: &mut Der<'_>) -> Option<i64> {
    let (tag, v, _) = d.read().ok()?;
    let (year, rest) = match (tag, v.len()) {
        (TAG_UTC_TIME, 13) => {
            let yy = i64::from(digits(v.get(..2)?)?);
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, v.get(2..)?)
        }
        (TAG_GENERALIZED_TIME, 15) => (i64::from(digits(v.get(..4)?)?), v.get(4..)?),
        _ => return None,
    };
    if rest.get(10) != Some(&b'Z') {
        return None;
    }
    let f = |i: usize| digits(rest.get(i..i + 2)?);
    unix_from_civil(year, f(0)?, f(2)?, f(4)?, f(6)?, f(8)?)
}

/// Renders a Name as "CN=..,O=.." in the order it is encoded.
fn dn_string(name: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    let mut rdns = Der::new(name);
    while !rdns.is_empty() {
        let mut set = Der::new(rdns.expect(TAG_SET).ok()?);
        while !set.is_empty() {
            let mut atv = Der::new(set.expect(TAG_SEQUENCE).ok()?);
            let oid = atv.expect(TAG_OID).ok()?;
            let (_, value, _) = atv.read().ok()?;
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            parts.push(format!("{label}={}", String::from_utf8_lossy(value)));
        }
    }
    Some(parts.join(","))
}

/// First rfc822Name or URI in the subjectAltName extension, if any.
fn san_identity(tbs: &mut Der<'_>) -> Option<String> {
    while !tbs.is_empty() {
        let (tag, v, _) = tbs.read().ok()?;
        if tag != 0xa3 {
            continue;
        }
        let mut wrapper = Der::new(v);
        let mut exts = Der::new(wrapper.expect(TAG_SEQUENCE).ok()?);
        while !exts.is_empty() {
            let mut ext = Der::new(exts.expect(TAG_SEQUENCE).ok()?);
            if ext.expect(TAG_OID).ok()? != [0x55, 0x1d, 0x11] {
                continue;
            }
            if ext.peek_tag() == Some(TAG_BOOLEAN) {
                ext.read().ok()?;
            }
            let mut value = Der::new(ext.expect(TAG_OCTET_STRING).ok()?);
            let mut names = Der::new(value.expect(TAG_SEQUENCE).ok()?);
            while !names.is_empty() {
                let (tag, v, _) = names.read().ok()?;
                // [1] rfc822Name, [6] uniformResourceIdentifier
                if tag == 0x81 || tag == 0x86 {
                    return Some(String::from_utf8_lossy(v).into_owned());
                }
            }
        }
    }
    None
}

pub(crate) const TAG_BOOLEAN: u8 = 0x01;
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_UTC_TIME: u8 = 0x17;
pub(crate) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;

/// Minimal DER reader: single-byte tags, definite lengths, no allocation.
pub(crate) struct Der<'a> {
    buf: &'a [u8],
}

impl<'a> Der<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Der { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Returns (tag, contents, whole TLV).
    pub(crate) fn read(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), ()> {
        let (&tag, rest) = self.buf.split_first().ok_or(())?;
        if tag & 0x1f == 0x1f {
            return Err(()); // high tag numbers never occur in what we read
        }
        let (&first, mut rest) = rest.split_first().ok_or(())?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(()); // indefinite or absurd lengths
            }
            let (bytes, after) = rest.split_at_checked(n).ok_or(())?;
            rest = after;
            bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let header = self.buf.len() - rest.len();
        let contents = rest.get(..len).ok_or(())?;
        let whole = self.buf.get(..header + len).ok_or(())?;
        self.buf = rest.get(len..).ok_or(())?;
        Ok((tag, contents, whole))
    }

    pub(crate) fn expect(&mut self, want: u8) -> Result<&'a [u8], ()> {
        match self.read()? {
            (tag, contents, _) if tag == want => Ok(contents),
            _ => Err(()),
        }
    }
}

/// Splits a PEM text into certificates, refusing anything else and bounding
/// the count.
pub(crate) fn pem_certs(pem: &str, limit: usize) -> Result<Vec<CertificateDer<'static>>, Refusal> {
    let mut out = Vec::new();
    let mut reader = pem.as_bytes();
    for item in rustls_pemfile::read_all(&mut reader) {
        match item.map_err(|_| malformed("bad PEM in certificate"))? {
            rustls_pemfile::Item::X509Certificate(der) => {
                if out.len() >= limit {
                    return Err(Refusal::TooLarge("certificate chain length"));
                }
                out.push(der);
            }
            _ => return Err(malformed("unexpected PEM block in certificate chain")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(unix_from_civil(1970, 1, 1, 0, 0, 0), Some(0));
        assert_eq!(unix_from_civil(2000, 3, 1, 0, 0, 0), Some(951_868_800));
        assert_eq!(unix_from_civil(2023, 5, 9, 4, 55, 12), Some(1_683_608_112));
        assert_eq!(unix_from_civil(2023, 13, 1, 0, 0, 0), None);
    }

    #[test]
    fn der_reader_rejects_truncation() {
        assert!(Der::new(&[0x30, 0x05, 0x01]).read().is_err());
        assert!(Der::new(&[0x30, 0x80]).read().is_err());
        assert!(Der::new(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).read().is_err());
        assert!(Der::new(&[0x1f, 0x00]).read().is_err());
    }

    #[test]
    fn key_types_and_sizes() {
        let rsa1024 = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCyKeCma9c8A0YrQNxAi34qdBPj
ysAWj4E7JzJQhKswNf7VsVblj0gn2T2nX73Mds1XQdRYY3FOsmHwUojxw4bjC55o
zY65UIdf9or2WuMl54H+X1vwjYNuXgDp/qUxfrwb/abIVPUf1ceesnwqtnpdS15w
SsxMEOSYI0RSem0mqQIDAQAB
-----END PUBLIC KEY-----
";
        let err = TrustStore::from_pem(rsa1024).expect_err("refused").to_string();
        assert!(err.contains("1024-bit RSA"), "{err}");
        let ed = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGkjmmW2r9wd7sNc8daV0aISdjcPvBVcRehF2k1msGAA=
-----END PUBLIC KEY-----
";
        let store = TrustStore::from_pem(ed).expect("ed25519 key");
        assert_eq!(store.keys()[0].kind, KeyKind::Ed25519);
    }

    #[test]
    fn trust_store_rejects_private_keys_and_empty() {
        assert!(TrustStore::from_pem("").is_err());
        let pk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(TrustStore::from_pem(pk).is_err());
    }
}

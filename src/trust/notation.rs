//! Notary Project (notation) signature envelopes, JWS and COSE_Sign1.
//!
//! Checks, in notation's order: integrity (the signature verifies with the
//! leaf of the envelope's chain, and the algorithm matches that key exactly
//! as notation derives it), authenticity (the chain's root is a trust-store
//! certificate and the path verifies), expiry, certificate validity, and
//! finally that the signed target digest is the subject's.
//!
//! Time rules follow notation-go's verifier: for `notary.x509` the signer's
//! `signingTime` is self-asserted, so notation checks the chain at the
//! current time unless an RFC 3161 timestamp countersignature was verified
//! against a TSA trust store; RFC 3161 is not implemented here, so the chain
//! is checked at `now`. For `notary.x509.signingAuthority` the
//! `authenticSigningTime` comes from a trusted signing authority and the
//! chain is checked at that time, as notation does. Not supported: timestamp
//! countersignatures (ignored), verification plugins (their critical headers
//! are refused), revocation, ES512 (ring has no P-521).
//!
//! The CBOR decoder is a small bounded one written here rather than
//! `ciborium`: COSE_Sign1 needs only a handful of major types, the raw bytes
//! of the protected header must be kept for the Sig_structure, and a hand
//! decoder can cap depth and allocation on hostile input.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{self as sig, VerificationAlgorithm};
use rustls_pki_types::CertificateDer;
use serde::Deserialize;

use super::signature::{
    CertInfo, KeyKind, MAX_CHAIN, Refusal, TrustStore, Verified, digits, malformed, unix_from_civil, unix_seconds,
    verify_chain,
};

pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// Notation envelopes are a few KiB; timestamp tokens add a few more.
pub const MAX_ENVELOPE: usize = 4 * 1024 * 1024;

const PAYLOAD_CTY: &str = "application/vnd.cncf.notary.payload.v1+json";
const H_SCHEME: &str = "io.cncf.notary.signingScheme";
const H_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const H_EXPIRY: &str = "io.cncf.notary.expiry";
const H_AUTHENTIC_TIME: &str = "io.cncf.notary.authenticSigningTime";
/// The only critical headers understood; anything else (such as the
/// verification-plugin headers) must be refused.
const KNOWN_CRIT: [&str; 3] = [H_SCHEME, H_EXPIRY, H_AUTHENTIC_TIME];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
}

impl Alg {
    fn from_jws(s: &str) -> Result<Self, Refusal> {
        Ok(match s {
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "ES512" => Alg::Es512,
            other => return Err(Refusal::UnsupportedAlgorithm(format!("alg {other:?}"))),
        })
    }

    fn from_cose(v: i64) -> Result<Self, Refusal> {
        Ok(match v {
            -37 => Alg::Ps256,
            -38 => Alg::Ps384,
            -39 => Alg::Ps512,
            -7 => Alg::Es256,
            -35 => Alg::Es384,
            -36 => Alg::Es512,
            other => return Err(Refusal::UnsupportedAlgorithm(format!("COSE alg {other}"))),
        })
    }

    /// notation derives the one algorithm a key may use from its type and
    /// size (RSA 2048/3072/4096, P-256/384/521) and refuses any other.
    fn for_key(kind: KeyKind) -> Result<Self, Refusal> {
        Ok(match kind {
            KeyKind::Rsa { bits: 2048 } => Alg::Ps256,
            KeyKind::Rsa { bits: 3072 } => Alg::Ps384,
            KeyKind::Rsa { bits: 4096 } => Alg::Ps512,
            KeyKind::P256 => Alg::Es256,
            KeyKind::P384 => Alg::Es384,
            KeyKind::P521 => Alg::Es512,
            other => {
                return Err(Refusal::UnsupportedAlgorithm(format!("{other:?} signing key")));
            }
        })
    }

    /// JWS and COSE both carry ECDSA signatures as fixed-width r||s.
    fn ring(self) -> Result<&'static dyn VerificationAlgorithm, Refusal> {
        Ok(match self {
            Alg::Ps256 => &sig::RSA_PSS_2048_8192_SHA256,
            Alg::Ps384 => &sig::RSA_PSS_2048_8192_SHA384,
            Alg::Ps512 => &sig::RSA_PSS_2048_8192_SHA512,
            Alg::Es256 => &sig::ECDSA_P256_SHA256_FIXED,
            Alg::Es384 => &sig::ECDSA_P384_SHA384_FIXED,
            Alg::Es512 => return Err(Refusal::UnsupportedAlgorithm("ES512 (P-521)".into())),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    X509,
    SigningAuthority,
}

/// What either envelope format yields for the common checks.
struct Envelope {
    alg: Alg,
    scheme: Scheme,
    signing_time: Option<i64>,
    authentic_time: Option<i64>,
    expiry: Option<i64>,
    payload: Vec<u8>,
    signed_bytes: Vec<u8>,
    signature: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "targetArtifact")]
    target: Target,
}

#[derive(Deserialize)]
struct Target {
    digest: String,
}

/// Verifies a notation signature envelope of `media_type`
/// (`application/jose+json` or `application/cose`) for the manifest
/// `subject_digest`.
pub fn verify(
    envelope: &[u8],
    media_type: &str,
    subject_digest: &str,
    trust: &TrustStore,
    now: SystemTime,
) -> Result<Verified, Refusal> {
    if envelope.len() > MAX_ENVELOPE {
        return Err(Refusal::TooLarge("envelope size"));
    }
    let env = match media_type {
        MEDIA_TYPE_JWS => parse_jws(envelope)?,
        MEDIA_TYPE_COSE => parse_cose(envelope)?,
        other => return Err(malformed(format!("unknown envelope media type {other:?}"))),
    };
    check(env, subject_digest, trust, unix_seconds(now))
}

fn check(env: Envelope, subject_digest: &str, trust: &TrustStore, now: i64) -> Result<Verified, Refusal> {
    let (leaf, rest) = env.chain.split_first().ok_or_else(|| malformed("no certificate chain"))?;
    let infos = env.chain.iter().map(|c| CertInfo::parse(c)).collect::<Result<Vec<_>, _>>()?;
    let leaf_info = infos.first().ok_or_else(|| malformed("no certificate chain"))?;

    // Integrity.
    let expected = Alg::for_key(leaf_info.key.kind)?;
    if expected != env.alg {
        return Err(Refusal::UnsupportedAlgorithm(format!(
            "envelope says {:?} but the signing key requires {expected:?}",
            env.alg
        )));
    }
    leaf_info.key.verify(env.alg.ring()?, &env.signed_bytes, &env.signature)?;

    // Authenticity: the chain must end in a trust-store certificate, and
    // only that certificate anchors the path.
    let root = rest.last().unwrap_or(leaf);
    let anchors: Vec<CertificateDer<'_>> =
        trust.certs().iter().filter(|c| c.as_ref() == root.as_ref()).cloned().collect();
    if anchors.is_empty() {
        return Err(Refusal::UntrustedSigner(format!(
            "root certificate {:?} is not in the trust store",
            infos.last().map(|i| i.name.as_str()).unwrap_or_default()
        )));
    }

    // Expiry, then the time the chain must be valid at.
    if let (Some(signed), Some(expiry)) = (env.signing_time.or(env.authentic_time), env.expiry)
        && expiry <= signed
    {
        return Err(malformed("expiry is not after the signing time"));
    }
    if let Some(expiry) = env.expiry
        && now >= expiry
    {
        return Err(Refusal::SignatureExpired(expiry));
    }
    let at = match env.scheme {
        Scheme::X509 if env.signing_time.is_none() => {
            return Err(malformed("notary.x509 signature without signingTime"));
        }
        Scheme::X509 => now,
        Scheme::SigningAuthority => {
            env.authentic_time.ok_or_else(|| malformed("signingAuthority scheme without authenticSigningTime"))?
        }
    };
    // webpki does not check the anchor's own dates; notation checks every
    // certificate in the chain.
    for info in &infos {
        info.check_time(at)?;
    }
    verify_chain(leaf, rest, &anchors, at)?;

    let payload: Payload =
        serde_json::from_slice(&env.payload).map_err(|e| malformed(format!("notation payload: {e}")))?;
    if payload.target.digest != subject_digest {
        return Err(Refusal::DigestMismatch { signed: payload.target.digest, expected: subject_digest.to_owned() });
    }
    Ok(Verified { scheme: "notation", signer: leaf_info.name.clone() })
}

/// Checks the critical list against the present headers, and that every
/// notation header that must be critical is listed.
fn check_crit(crit: &[String], present: impl Fn(&str) -> bool) -> Result<(), Refusal> {
    for c in crit {
        if !KNOWN_CRIT.contains(&c.as_str()) {
            return Err(Refusal::UnknownCritical(c.clone()));
        }
        if !present(c) {
            return Err(malformed(format!("critical header {c:?} is missing")));
        }
    }
    for h in KNOWN_CRIT {
        if present(h) && !crit.iter().any(|c| c == h) {
            return Err(malformed(format!("header {h:?} must be marked critical")));
        }
    }
    Ok(())
}

fn parse_scheme(s: &str) -> Result<Scheme, Refusal> {
    match s {
        "notary.x509" => Ok(Scheme::X509),
        "notary.x509.signingAuthority" => Ok(Scheme::SigningAuthority),
        other => Err(malformed(format!("unknown signing scheme {other:?}"))),
    }
}

fn check_chain_len(n: usize) -> Result<(), Refusal> {
    match n {
        0 => Err(malformed("no certificate chain")),
        n if n > MAX_CHAIN => Err(Refusal::TooLarge("certificate chain length")),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------- JWS

#[derive(Deserialize)]
struct Jws {
    payload: String,
    protected: String,
    header: JwsHeader,
    signature: String,
}

#[derive(Deserialize)]
struct JwsHeader {
    #[serde(default)]
    x5c: Vec<String>,
}

fn parse_jws(envelope: &[u8]) -> Result<Envelope, Refusal> {
    let jws: Jws = serde_json::from_slice(envelope).map_err(|e| malformed(format!("JWS JSON serialization: {e}")))?;
    let b64 =
        |s: &str, what: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| malformed(format!("JWS {what} is not base64url")));
    let protected_raw = b64(&jws.protected, "protected header")?;
    let protected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&protected_raw).map_err(|e| malformed(format!("JWS protected header: {e}")))?;
    let text = |k: &str| protected.get(k).and_then(serde_json::Value::as_str);

    let crit: Vec<String> = match protected.get("crit") {
        None => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| malformed("JWS crit is not a list of names"))?,
    };
    check_crit(&crit, |h| protected.contains_key(h))?;
    if text("cty") != Some(PAYLOAD_CTY) {
        return Err(malformed("JWS cty is not the notation payload type"));
    }
    let alg = Alg::from_jws(text("alg").ok_or_else(|| malformed("JWS alg missing"))?)?;
    let scheme = parse_scheme(text(H_SCHEME).ok_or_else(|| malformed("signing scheme missing"))?)?;
    let time = |k: &str| -> Result<Option<i64>, Refusal> {
        match protected.get(k) {
            None => Ok(None),
            Some(v) => {
                v.as_str().and_then(rfc3339).map(Some).ok_or_else(|| malformed(format!("{k} is not an RFC 3339 time")))
            }
        }
    };
    check_chain_len(jws.header.x5c.len())?;
    let chain = jws
        .header
        .x5c
        .iter()
        .map(|c| STANDARD.decode(c).map(CertificateDer::from).map_err(|_| malformed("x5c entry is not base64")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Envelope {
        alg,
        scheme,
        signing_time: time(H_SIGNING_TIME)?,
        authentic_time: time(H_AUTHENTIC_TIME)?,
        expiry: time(H_EXPIRY)?,
        payload: b64(&jws.payload, "payload")?,
        signed_bytes: format!("{}.{}", jws.protected, jws.payload).into_bytes(),
        signature: b64(&jws.signature, "signature")?,
        chain,
    })
}

/// Parses an RFC 3339 date-time ("2023-03-14T16:10:02+08:00", optional
/// fraction, which is dropped) to unix seconds.
fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let n = |r: std::ops::Range<usize>| digits(b.get(r)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't')) {
        return None;
    }
    let base = unix_from_civil(i64::from(n(0..4)?), n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?)?;
    let mut rest = b.get(19..)?;
    if let Some((b'.', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        rest = frac.get(len..)?;
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let mins = i64::from(digits(&[*h1, *h2])?) * 60 + i64::from(digits(&[*m1, *m2])?);
            if *sign == b'+' { mins * 60 } else { -mins * 60 }
        }
        _ => return None,
    };
    Some(base - offset)
}

// ---------------------------------------------------------------- COSE

fn parse_cose(envelope: &[u8]) -> Result<Envelope, Refusal> {
    let bad = |m: &str| malformed(format!("COSE_Sign1: {m}"));
    let top = Cbor::decode_all(envelope).map_err(bad)?;
    let items = match top {
        Cbor::Tag(18, inner) => match *inner {
            Cbor::Array(items) => items,
            _ => return Err(bad("not an array")),
        },
        _ => return Err(bad("not a tagged COSE_Sign1")),
    };
    let [protected_raw, unprotected, payload, signature] =
        <[Cbor<'_>; 4]>::try_from(items).map_err(|_| bad("not four elements"))?;
    let (Cbor::Bytes(protected_raw), Cbor::Map(unprotected), Cbor::Bytes(signature)) =
        (protected_raw, unprotected, signature)
    else {
        return Err(bad("wrong element types"));
    };
    let Cbor::Bytes(payload) = payload else {
        return Err(bad("detached payloads are not supported"));
    };
    let Cbor::Map(protected) = Cbor::decode_all(protected_raw).map_err(bad)? else {
        return Err(bad("protected header is not a map"));
    };

    let get = |label: Label<'_>| protected.iter().find(|(k, _)| k.label() == Some(label)).map(|(_, v)| v);
    let text = |label: &str| match get(Label::Text(label)) {
        Some(Cbor::Text(s)) => Ok(Some(*s)),
        None => Ok(None),
        Some(_) => Err(bad("header is not text")),
    };
    let time = |label: &str| match get(Label::Text(label)) {
        None => Ok(None),
        Some(Cbor::Tag(1, t)) => match **t {
            Cbor::Int(secs) => Ok(Some(secs)),
            _ => Err(bad("time is not an integer")),
        },
        Some(_) => Err(bad("time is not a tag-1 epoch time")),
    };

    let crit: Vec<String> = match get(Label::Int(2)) {
        None => Vec::new(),
        Some(Cbor::Array(labels)) => labels
            .iter()
            .map(|l| match l {
                Cbor::Text(s) => s.to_string(),
                Cbor::Int(i) => i.to_string(),
                _ => String::from("?"),
            })
            .collect(),
        Some(_) => return Err(bad("crit is not an array")),
    };
    check_crit(&crit, |h| get(Label::Text(h)).is_some())?;
    if get(Label::Int(3)) != Some(&Cbor::Text(PAYLOAD_CTY)) {
        return Err(bad("content type is not the notation payload type"));
    }
    let alg = match get(Label::Int(1)) {
        Some(Cbor::Int(v)) => Alg::from_cose(*v)?,
        _ => return Err(bad("alg missing or not an integer")),
    };
    let scheme = parse_scheme(text(H_SCHEME)?.ok_or_else(|| bad("signing scheme missing"))?)?;

    // x5chain (label 33): one bstr or an array of them; notation uses the
    // unprotected header.
    let chain: Vec<CertificateDer<'static>> = match unprotected.iter().find(|(k, _)| k.label() == Some(Label::Int(33)))
    {
        Some((_, Cbor::Bytes(one))) => vec![CertificateDer::from(one.to_vec())],
        Some((_, Cbor::Array(many))) => {
            check_chain_len(many.len())?;
            many.iter()
                .map(|c| match c {
                    Cbor::Bytes(b) => Ok(CertificateDer::from(b.to_vec())),
                    _ => Err(bad("x5chain entry is not bytes")),
                })
                .collect::<Result<_, _>>()?
        }
        _ => return Err(bad("x5chain missing")),
    };

    // Sig_structure = ["Signature1", protected, external_aad = h'', payload]
    let mut signed_bytes = Vec::with_capacity(protected_raw.len() + payload.len() + 32);
    signed_bytes.push(0x84);
    cbor_head(&mut signed_bytes, 3, 10);
    signed_bytes.extend_from_slice(b"Signature1");
    cbor_head(&mut signed_bytes, 2, protected_raw.len() as u64);
    signed_bytes.extend_from_slice(protected_raw);
    cbor_head(&mut signed_bytes, 2, 0);
    cbor_head(&mut signed_bytes, 2, payload.len() as u64);
    signed_bytes.extend_from_slice(payload);

    Ok(Envelope {
        alg,
        scheme,
        signing_time: time(H_SIGNING_TIME)?,
        authentic_time: time(H_AUTHENTIC_TIME)?,
        expiry: time(H_EXPIRY)?,
        payload: payload.to_vec(),
        signed_bytes,
        signature: signature.to_vec(),
        chain,
    })
}

/// Writes a CBOR head in its shortest form.
fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label<'a> {
    Int(i64),
    Text(&'a str),
}

/// A decoded CBOR item borrowing from the input.
#[derive(Debug, PartialEq)]
enum Cbor<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Text(&'a str),
    Array(Vec<Cbor<'a>>),
    Map(Vec<(Cbor<'a>, Cbor<'a>)>),
    Tag(u64, Box<Cbor<'a>>),
    /// false, true, null, undefined, floats: never needed, kept opaque.
    Simple,
}

const MAX_DEPTH: usize = 16;

impl<'a> Cbor<'a> {
    fn label(&self) -> Option<Label<'a>> {
        match self {
            Cbor::Int(i) => Some(Label::Int(*i)),
            Cbor::Text(s) => Some(Label::Text(s)),
            _ => None,
        }
    }

    /// Decodes exactly one item filling `input`.
    fn decode_all(input: &'a [u8]) -> Result<Self, &'static str> {
        let mut rest = input;
        let item = Self::decode(&mut rest, 0)?;
        if !rest.is_empty() {
            return Err("trailing bytes");
        }
        Ok(item)
    }

    fn decode(input: &mut &'a [u8], depth: usize) -> Result<Self, &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        let (&initial, rest) = input.split_first().ok_or("truncated")?;
        *input = rest;
        let major = initial >> 5;
        let info = initial & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let n = 1usize << (info - 24);
                let (bytes, rest) = input.split_at_checked(n).ok_or("truncated")?;
                *input = rest;
                bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
            }
            _ => return Err("indefinite lengths are not supported"),
        };
        // Every element takes at least one byte, so a count larger than the
        // remaining input is a lie; this also bounds allocations.
        let count = |n: u64, per: usize, input: &[u8]| -> Result<usize, &'static str> {
            usize::try_from(n).ok().filter(|&n| n.saturating_mul(per) <= input.len()).ok_or("length exceeds input")
        };
        Ok(match major {
            0 => Cbor::Int(i64::try_from(arg).map_err(|_| "integer too large")?),
            1 => Cbor::Int(-1 - i64::try_from(arg).map_err(|_| "integer too large")?),
            2 | 3 => {
                let n = count(arg, 1, input)?;
                let (bytes, rest) = input.split_at_checked(n).ok_or("truncated")?;
                *input = rest;
                if major == 2 {
                    Cbor::Bytes(bytes)
                } else {
                    Cbor::Text(std::str::from_utf8(bytes).map_err(|_| "text is not UTF-8")?)
                }
            }
            4 => {
                let n = count(arg, 1, input)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Self::decode(input, depth + 1)?);
                }
                Cbor::Array(items)
            }
            5 => {
                let n = count(arg, 2, input)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = Self::decode(input, depth + 1)?;
                    let v = Self::decode(input, depth + 1)?;
                    entries.push((k, v));
                }
                Cbor::Map(entries)
            }
            6 => Cbor::Tag(arg, Box::new(Self::decode(input, depth + 1)?)),
            _ => Cbor::Simple,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(rfc3339("1970-01-01T00:00:00.123456789Z"), Some(0));
        assert_eq!(rfc3339("1970-01-01 00:00:00Z"), None);
        assert_eq!(rfc3339("1970-01-01T00:00:00"), None);
    }

    #[test]
    fn cbor_is_bounded() {
        // array claiming 2^32 elements in a 6-byte input
        assert!(Cbor::decode_all(&[0x9a, 0xff, 0xff, 0xff, 0xff, 0x00]).is_err());
        // deep nesting
        assert!(Cbor::decode_all(&[0x81; 64]).is_err());
        // indefinite length
        assert!(Cbor::decode_all(&[0x9f, 0xff]).is_err());
        assert_eq!(Cbor::decode_all(&[0x38, 0x24]), Ok(Cbor::Int(-37)));
        assert_eq!(Cbor::decode_all(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Err("integer too large"));
    }

    #[test]
    fn sig_structure_head() {
        let mut v = Vec::new();
        cbor_head(&mut v, 2, 300);
        assert_eq!(v, [0x59, 0x01, 0x2c]);
    }
}

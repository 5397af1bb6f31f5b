//! cosign "simple signing" image signatures: a JSON payload naming the image
//! digest, signed as a whole (ECDSA/RSA PKCS#1 v1.5 over SHA-256, or Ed25519)
//! with either a bare key or a certificate's key.
//!
//! Not covered: Rekor bundles and RFC 3161 timestamps. cosign checks a
//! certificate's validity at the Rekor entry's integrated time (or a TSA
//! time); here it is checked at `now`, so a caller that has verified such a
//! time may pass it as `now`. Short-lived Fulcio certificates fail otherwise.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::signature::{
    CertInfo, MAX_CHAIN, PublicKey, Refusal, TrustStore, Verified, cosign_algorithms, malformed, pem_certs,
    unix_seconds, verify_chain,
};

/// Largest simple-signing payload accepted; real ones are a few hundred bytes
/// plus optional annotations.
const MAX_PAYLOAD: usize = 1024 * 1024;
const MAX_SIGNATURE_B64: usize = 8 * 1024;
const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// Verifies a cosign signature over `payload` (the simple-signing layer
/// blob). `signature_b64` is the `dev.cosignproject.cosign/signature`
/// annotation; `certificate_pem`/`chain_pem` are the
/// `dev.sigstore.cosign/certificate`/`chain` annotations when present.
/// Without a certificate the signature must verify with one of the trust
/// store's bare public keys; with one, its chain must lead to a trusted
/// certificate and the certificate must be valid at `now`.
pub fn verify(
    payload: &[u8],
    signature_b64: &str,
    certificate_pem: Option<&str>,
    chain_pem: Option<&str>,
    subject_digest: &str,
    trust: &TrustStore,
    now: SystemTime,
) -> Result<Verified, Refusal> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Refusal::TooLarge("payload size"));
    }
    if signature_b64.len() > MAX_SIGNATURE_B64 {
        return Err(Refusal::TooLarge("signature size"));
    }
    // cosign writes RSA signatures wrapped in lines; Go's decoder skips newlines.
    let compact: String = signature_b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let signature = STANDARD.decode(compact).map_err(|_| malformed("signature is not base64"))?;

    let signer = match certificate_pem {
        Some(pem) => {
            let mut certs = pem_certs(pem, 1)?; // more than one is refused
            let leaf = certs.pop().ok_or_else(|| malformed("no signing certificate"))?;
            let info = CertInfo::parse(&leaf)?;
            verify_with(&info.key, payload, &signature)?;
            let chain = match chain_pem {
                Some(pem) => pem_certs(pem, MAX_CHAIN - 1)?, // leaf + chain <= MAX_CHAIN
                None => Vec::new(),
            };
            let at = unix_seconds(now);
            info.check_time(at)?;
            verify_chain(&leaf, &chain, trust.certs(), at)?;
            info.name
        }
        None => {
            if trust.keys().is_empty() {
                return Err(Refusal::UntrustedSigner("no certificate given and no trusted public keys".into()));
            }
            // A bare signature does not name its key, so try each trusted one.
            trust
                .keys()
                .iter()
                .find(|k| verify_with(k, payload, &signature).is_ok())
                .map(|k| k.fingerprint.clone())
                .ok_or_else(|| {
                    Refusal::UntrustedSigner("signature does not verify with any trusted public key".into())
                })?
        }
    };

    // Only an authentic payload is worth interpreting.
    let parsed: Payload =
        serde_json::from_slice(payload).map_err(|e| malformed(format!("simple-signing payload: {e}")))?;
    if parsed.critical.kind != SIMPLE_SIGNING_TYPE {
        return Err(malformed(format!("payload type {:?} is not {SIMPLE_SIGNING_TYPE:?}", parsed.critical.kind)));
    }
    if parsed.critical.image.digest != subject_digest {
        return Err(Refusal::DigestMismatch {
            signed: parsed.critical.image.digest,
            expected: subject_digest.to_owned(),
        });
    }
    Ok(Verified { scheme: "cosign", signer })
}

fn verify_with(key: &PublicKey, payload: &[u8], signature: &[u8]) -> Result<(), Refusal> {
    let algs = cosign_algorithms(key.kind);
    if algs.is_empty() {
        return Err(Refusal::UnsupportedAlgorithm(format!("{:?} key", key.kind)));
    }
    if algs.iter().any(|alg| key.verify(*alg, payload, signature).is_ok()) {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

//! Verifies signatures made by the real cosign and notation tools (see
//! tests/data/signatures/README.md), and that altered or mistrusted ones are refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth::trust::signature::{Refusal, TrustStore};
use berth::trust::{cosign, notation};
use sha2::{Digest, Sha256};

fn data(path: &str) -> Vec<u8> {
    let p = format!("{}/tests/data/signatures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn text(path: &str) -> String {
    String::from_utf8(data(path)).expect("fixture")
}

fn store(paths: &[&str]) -> TrustStore {
    let pem: String = paths.iter().map(|p| text(p)).collect();
    TrustStore::from_pem(&pem).expect("fixture")
}

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

/// 2026-01-01, inside every fixture certificate's validity except Fulcio's.
fn today() -> SystemTime {
    at(1_767_225_600)
}

fn manifest_digest(dir: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data(&format!("{dir}/manifest.json")))))
}

/// A containers/image cosign signature file.
struct CosignSig {
    payload: Vec<u8>,
    signature: String,
    cert: Option<String>,
    chain: Option<String>,
}

fn cosign_sig(dir: &str) -> CosignSig {
    let raw = data(&format!("{dir}/signature-1"));
    let json = raw.strip_prefix(b"\0sigstore-json\n").expect("fixture");
    let v: serde_json::Value = serde_json::from_slice(json).expect("fixture");
    let ann = &v["annotations"];
    let s = |k: &str| ann[k].as_str().map(str::to_owned);
    CosignSig {
        payload: STANDARD.decode(v["payload"].as_str().expect("fixture")).expect("fixture"),
        signature: s("dev.cosignproject.cosign/signature").expect("fixture"),
        cert: s("dev.sigstore.cosign/certificate"),
        chain: s("dev.sigstore.cosign/chain"),
    }
}

fn cosign_verify(
    sig: &CosignSig,
    digest: &str,
    trust: &TrustStore,
    now: SystemTime,
) -> Result<berth::trust::signature::Verified, Refusal> {
    cosign::verify(&sig.payload, &sig.signature, sig.cert.as_deref(), sig.chain.as_deref(), digest, trust, now)
}

// ------------------------------------------------------------- cosign

const KEY_DIR: &str = "cosign/dir-img-cosign-valid";
const PKI_DIR: &str = "cosign/dir-img-cosign-pki-valid";
const FULCIO_DIR: &str = "cosign/dir-img-cosign-fulcio-rekor-valid";

#[test]
fn cosign_bare_key_signature_verifies() {
    let sig = cosign_sig(KEY_DIR);
    let trust = store(&["cosign/cosign.pub"]);
    let v = cosign_verify(&sig, &manifest_digest(KEY_DIR), &trust, today()).expect("fixture");
    assert_eq!(v.scheme, "cosign");
    assert!(v.signer.starts_with("sha256:") && v.signer.len() == 71, "{}", v.signer);
}

#[test]
fn cosign_other_key_is_refused() {
    let sig = cosign_sig(KEY_DIR);
    let trust = store(&["cosign/cosign2.pub"]);
    let err = cosign_verify(&sig, &manifest_digest(KEY_DIR), &trust, today()).expect_err("refused");
    assert!(matches!(err, Refusal::UntrustedSigner(_)), "{err}");
    // Trusting both keys still finds the right one.
    let both = store(&["cosign/cosign2.pub", "cosign/cosign.pub"]);
    assert!(cosign_verify(&sig, &manifest_digest(KEY_DIR), &both, today()).is_ok());
}

#[test]
fn cosign_tampered_payload_is_refused() {
    let mut sig = cosign_sig(KEY_DIR);
    let pos = sig.payload.iter().position(|&b| b == b'6').expect("fixture");
    sig.payload[pos] = b'7';
    let trust = store(&["cosign/cosign.pub"]);
    assert!(cosign_verify(&sig, &manifest_digest(KEY_DIR), &trust, today()).is_err());

    // With a certificate the refusal is precise.
    let mut pki = cosign_sig(PKI_DIR);
    pki.payload.push(b' ');
    let trust = store(&["cosign/pki_root_crts.pem"]);
    let err = cosign_verify(&pki, &manifest_digest(PKI_DIR), &trust, today()).expect_err("refused");
    assert_eq!(err, Refusal::BadSignature);
}

#[test]
fn cosign_digest_mismatch_is_refused() {
    let sig = cosign_sig(KEY_DIR);
    let trust = store(&["cosign/cosign.pub"]);
    let other = manifest_digest(PKI_DIR);
    let err = cosign_verify(&sig, &other, &trust, today()).expect_err("refused");
    assert!(matches!(err, Refusal::DigestMismatch { .. }), "{err}");
}

#[test]
fn cosign_certificate_chain_verifies() {
    let sig = cosign_sig(PKI_DIR);
    let trust = store(&["cosign/pki_root_crts.pem"]);
    let v = cosign_verify(&sig, &manifest_digest(PKI_DIR), &trust, today()).expect("fixture");
    assert_eq!(v.signer, "C=ES,L=Valencia,O=IT,OU=Security,CN=Team A Cosign Certificate");
}

#[test]
fn cosign_certificate_from_untrusted_root_is_refused() {
    let sig = cosign_sig(PKI_DIR);
    let trust = store(&["notation/NotationTestRoot.pem", "cosign/cosign.pub"]);
    let err = cosign_verify(&sig, &manifest_digest(PKI_DIR), &trust, today()).expect_err("refused");
    assert!(matches!(err, Refusal::UntrustedSigner(_)), "{err}");
}

#[test]
fn cosign_fulcio_keyless_verifies_at_rekor_time_only() {
    let sig = cosign_sig(FULCIO_DIR);
    let chain = text("cosign/fulcio-chain");
    let root_at = chain.rfind("-----BEGIN CERTIFICATE-----").expect("fixture");
    let trust = TrustStore::from_pem(&chain[root_at..]).expect("fixture");
    let digest = manifest_digest(FULCIO_DIR);
    // integratedTime of the Rekor entry in the bundle annotation.
    let v = cosign_verify(&sig, &digest, &trust, at(1_674_247_893)).expect("fixture");
    assert_eq!(v.signer, "mitr@redhat.com");
    let err = cosign_verify(&sig, &digest, &trust, today()).expect_err("refused");
    assert!(matches!(err, Refusal::CertificateExpired(_)), "{err}");
}

#[test]
fn cosign_garbage_is_refused_not_panicking() {
    let sig = cosign_sig(KEY_DIR);
    let trust = store(&["cosign/cosign.pub", "cosign/pki_root_crts.pem"]);
    let d = manifest_digest(KEY_DIR);
    for bad_sig in ["", "!!!", "AAAA", &"A".repeat(100_000)] {
        assert!(cosign::verify(&sig.payload, bad_sig, None, None, &d, &trust, today()).is_err());
    }
    let junk_cert = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
    let r = cosign::verify(&sig.payload, &sig.signature, Some(junk_cert), None, &d, &trust, today());
    assert!(matches!(r, Err(Refusal::Malformed(_))), "{r:?}");
    let many = text("cosign/pki_root_crts.pem").repeat(11);
    let r = cosign::verify(&sig.payload, &sig.signature, Some(&many), None, &d, &trust, today());
    assert!(r.is_err());
}

// ------------------------------------------------------------- notation

const JWS: &str = notation::MEDIA_TYPE_JWS;
const COSE: &str = notation::MEDIA_TYPE_COSE;
const ALPINE_DIGEST: &str = "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda";
const MOCK_DIGEST: &str = "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e";
const ALPINE: &str = "C=US,ST=WA,L=Seattle,O=Notary,CN=alpine";

#[test]
fn notation_jws_verifies() {
    let trust = store(&["notation/TestTimestamp.crt"]);
    let env = data("notation/jws-withoutTimestamp.sig");
    let v = notation::verify(&env, JWS, ALPINE_DIGEST, &trust, today()).expect("fixture");
    assert_eq!((v.scheme, v.signer.as_str()), ("notation", ALPINE));
}

#[test]
fn notation_cose_verifies() {
    let trust = store(&["notation/TestTimestamp.crt"]);
    let env = data("notation/cose-withTimestamp.sig");
    let v = notation::verify(&env, COSE, ALPINE_DIGEST, &trust, today()).expect("fixture");
    assert_eq!(v.signer, ALPINE);
}

#[test]
fn notation_chain_to_trusted_root_verifies() {
    let trust = store(&["notation/NotationTestRoot.pem"]);
    let env = data("notation/ca_valid_sig_env.json");
    let v = notation::verify(&env, JWS, MOCK_DIGEST, &trust, today()).expect("fixture");
    assert_eq!(v.signer, "C=US,ST=WA,L=Seattle,O=Notary,CN=Notation Test Root");
}

#[test]
fn notation_signing_authority_uses_authentic_time() {
    let trust = store(&["notation/NotationTestRoot.pem"]);
    let env = data("notation/sa_valid_sig_env.json");
    // The chain is checked at authenticSigningTime (2020-11-09), so a "now"
    // of 2020-09-01, before the leaf's notBefore (2020-10-09), passes...
    let early = at(1_598_918_400);
    assert!(notation::verify(&env, JWS, MOCK_DIGEST, &trust, early).is_ok());
    // ...while a notary.x509 envelope with the same chain is checked at now.
    let env = data("notation/ca_valid_sig_env.json");
    let err = notation::verify(&env, JWS, MOCK_DIGEST, &trust, early).expect_err("refused");
    assert!(matches!(err, Refusal::CertificateNotYetValid(_)), "{err}");
}

#[test]
fn notation_expired_signature_is_refused() {
    let trust = store(&["notation/NotationTestRoot.pem"]);
    let env = data("notation/ca_expired_sig_env.json");
    let err = notation::verify(&env, JWS, MOCK_DIGEST, &trust, today()).expect_err("refused");
    assert!(matches!(err, Refusal::SignatureExpired(_)), "{err}");
}

#[test]
fn notation_untrusted_root_is_refused() {
    let trust = store(&["notation/wabbit-networks.io.crt", "cosign/cosign.pub"]);
    for (file, mt, digest) in [
        ("notation/jws-withoutTimestamp.sig", JWS, ALPINE_DIGEST),
        ("notation/cose-withTimestamp.sig", COSE, ALPINE_DIGEST),
        ("notation/ca_valid_sig_env.json", JWS, MOCK_DIGEST),
    ] {
        let err = notation::verify(&data(file), mt, digest, &trust, today()).expect_err("refused");
        assert!(matches!(err, Refusal::UntrustedSigner(_)), "{file}: {err}");
    }
}

#[test]
fn notation_digest_mismatch_is_refused() {
    let trust = store(&["notation/TestTimestamp.crt"]);
    for (file, mt) in [("notation/jws-withoutTimestamp.sig", JWS), ("notation/cose-withTimestamp.sig", COSE)] {
        let err = notation::verify(&data(file), mt, MOCK_DIGEST, &trust, today()).expect_err("refused");
        assert!(matches!(err, Refusal::DigestMismatch { .. }), "{file}: {err}");
    }
}

#[test]
fn notation_tampered_payload_is_refused() {
    let trust = store(&["notation/TestTimestamp.crt"]);
    // JWS: swap the payload for one naming another digest.
    let mut jws: serde_json::Value =
        serde_json::from_slice(&data("notation/jws-withoutTimestamp.sig")).expect("fixture");
    let forged = format!(
        r#"{{"targetArtifact":{{"digest":"{MOCK_DIGEST}","mediaType":"application/vnd.oci.image.manifest.v1+json","size":1}}}}"#
    );
    jws["payload"] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged).into();
    let env = serde_json::to_vec(&jws).expect("fixture");
    let err = notation::verify(&env, JWS, MOCK_DIGEST, &trust, today()).expect_err("refused");
    assert_eq!(err, Refusal::BadSignature);

    // COSE: flip one byte of the digest inside the payload.
    let mut cose = data("notation/cose-withTimestamp.sig");
    let at = cose.windows(14).position(|w| w == b"sha256:c0669ef").expect("fixture");
    cose[at + 7] = b'd';
    let err = notation::verify(&cose, COSE, ALPINE_DIGEST, &trust, today()).expect_err("refused");
    assert_eq!(err, Refusal::BadSignature);
}

#[test]
fn notation_unknown_critical_header_is_refused() {
    // Re-sign is impossible, so this checks the header gate runs before the
    // signature: add an unknown crit entry to the protected header.
    let trust = store(&["notation/TestTimestamp.crt"]);
    let mut jws: serde_json::Value =
        serde_json::from_slice(&data("notation/jws-withoutTimestamp.sig")).expect("fixture");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut prot: serde_json::Value =
        serde_json::from_slice(&b64.decode(jws["protected"].as_str().expect("fixture")).expect("fixture"))
            .expect("fixture");
    prot["crit"].as_array_mut().expect("fixture").push("io.cncf.notary.verificationPlugin".into());
    prot["io.cncf.notary.verificationPlugin"] = "com.example.plugin".into();
    jws["protected"] = b64.encode(serde_json::to_vec(&prot).expect("fixture")).into();
    let env = serde_json::to_vec(&jws).expect("fixture");
    let err = notation::verify(&env, JWS, ALPINE_DIGEST, &trust, today()).expect_err("refused");
    assert!(matches!(err, Refusal::UnknownCritical(_)), "{err}");
}

#[test]
fn notation_alg_not_matching_key_is_refused() {
    // The leaf is RSA-2048, for which notation allows only PS256.
    let trust = store(&["notation/TestTimestamp.crt"]);
    let mut jws: serde_json::Value =
        serde_json::from_slice(&data("notation/jws-withoutTimestamp.sig")).expect("fixture");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut prot: serde_json::Value =
        serde_json::from_slice(&b64.decode(jws["protected"].as_str().expect("fixture")).expect("fixture"))
            .expect("fixture");
    prot["alg"] = "PS384".into();
    jws["protected"] = b64.encode(serde_json::to_vec(&prot).expect("fixture")).into();
    let env = serde_json::to_vec(&jws).expect("fixture");
    let err = notation::verify(&env, JWS, ALPINE_DIGEST, &trust, today()).expect_err("refused");
    assert!(matches!(err, Refusal::UnsupportedAlgorithm(_)), "{err}");
}

#[test]
fn notation_garbage_is_refused_not_panicking() {
    let trust = store(&["notation/TestTimestamp.crt"]);
    let cose = data("notation/cose-withTimestamp.sig");
    // Every truncation of a real envelope must be refused cleanly.
    for n in (0..cose.len()).step_by(7) {
        assert!(notation::verify(&cose[..n], COSE, ALPINE_DIGEST, &trust, today()).is_err());
    }
    let jws = data("notation/jws-withoutTimestamp.sig");
    for n in (0..jws.len()).step_by(13) {
        assert!(notation::verify(&jws[..n], JWS, ALPINE_DIGEST, &trust, today()).is_err());
    }
    assert!(notation::verify(&jws, COSE, ALPINE_DIGEST, &trust, today()).is_err());
    assert!(notation::verify(&cose, JWS, ALPINE_DIGEST, &trust, today()).is_err());
    assert!(notation::verify(&jws, "text/plain", ALPINE_DIGEST, &trust, today()).is_err());
    let huge = vec![b' '; notation::MAX_ENVELOPE + 1];
    let err = notation::verify(&huge, JWS, ALPINE_DIGEST, &trust, today()).expect_err("refused");
    assert!(matches!(err, Refusal::TooLarge(_)));
}

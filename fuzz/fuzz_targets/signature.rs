//! Signature envelopes: no notation envelope (JWS or COSE) or cosign signature panics the
//! verifier; every one is verified or refused.
#![no_main]

use berth::trust::signature::TrustStore;
use berth::trust::{cosign, notation};
use libfuzzer_sys::fuzz_target;

const ROOT: &str = include_str!("../../tests/data/signatures/notation/TestTimestamp.crt");
const KEY: &str = include_str!("../../tests/data/signatures/cosign/cosign.pub");
const SUBJECT: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fuzz_target!(|data: &[u8]| {
    let Ok(trust) = TrustStore::from_pem(&format!("{ROOT}\n{KEY}")) else { return };
    let now = std::time::SystemTime::now();
    for media_type in ["application/jose+json", "application/cose"] {
        let _ = notation::verify(data, media_type, SUBJECT, &trust, now);
    }
    let text = String::from_utf8_lossy(data);
    let (sig, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = cosign::verify(rest.as_bytes(), sig, Some(rest), Some(rest), SUBJECT, &trust, now);
});

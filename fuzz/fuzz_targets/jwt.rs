//! Bearer tokens: no input panics, and none verifies unless this key signed it.
#![no_main]

use std::sync::LazyLock;

use berth::auth::jwt::SigningKey;
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<SigningKey> = LazyLock::new(|| {
    let der = SigningKey::generate().expect("key");
    SigningKey::from_pkcs8(&der).expect("key")
});

fuzz_target!(|s: &str| {
    assert!(KEY.verify(s, "registry.example").is_err(), "a token nobody signed was accepted: {s:?}");
});

//! Sealed secrets read back from the database: no stored value panics, and none opens unless
//! this key sealed it for that label.
#![no_main]

use std::sync::LazyLock;

use berth::auth::seal::MasterKeys;
use libfuzzer_sys::fuzz_target;

static KEYS: LazyLock<MasterKeys> =
    LazyLock::new(|| MasterKeys::parse(&MasterKeys::generate().expect("key")).expect("key"));

fuzz_target!(|s: &str| {
    assert!(KEYS.open("signing-key:es256", s).is_err(), "a value nobody sealed opened: {s:?}");
    let _ = MasterKeys::parse(s);
});

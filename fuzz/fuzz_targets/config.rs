//! Configuration files: no input panics when parsed and validated.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(config) = toml::from_str::<berth::Config>(s) {
        let _ = config.validate();
        let _ = config.database_url();
        let _ = config.storage_backend();
    }
});

//! `Content-Range` of upload chunks: no input panics, and a range is never backwards.
#![no_main]

use berth::oci::parse_content_range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Some((first, last)) = parse_content_range(s) {
        assert!(first <= last);
    }
});

//! `Content-Range` of upload chunks: no input panics, a range is never backwards, and its length
//! always fits in 64 bits.
#![no_main]

use berth::oci::parse_content_range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Some((first, last)) = parse_content_range(s) {
        assert!(first <= last);
        assert!(last.checked_sub(first).and_then(|n| n.checked_add(1)).is_some(), "{s:?}");
    }
});

//! Repository names, tags, digests and references: no input panics, and whatever parses prints
//! back as the same text (so a stored name always means what the client sent).
#![no_main]

use berth::oci::{Digest, Reference, RepoName, Tag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(n) = RepoName::parse(s) {
        assert_eq!(n.as_str(), s);
        assert!(n.as_str().split('/').all(|part| !part.is_empty() && part != ".." && part != "."));
    }
    if let Ok(t) = Tag::parse(s) {
        assert_eq!(t.as_str(), s);
        assert!(!t.as_str().contains(':') && !t.as_str().contains('/'));
    }
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.to_string(), s);
        assert!(d.hex().bytes().all(|b| b.is_ascii_hexdigit()));
    }
    if let Ok(r) = Reference::parse(s) {
        assert_eq!(r.to_string(), s);
    }
});

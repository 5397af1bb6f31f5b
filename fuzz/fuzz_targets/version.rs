//! Version ordering: no pair of version strings panics a comparator, and each one is
//! antisymmetric (comparing b with a gives the reverse of comparing a with b).
#![no_main]

use berth::trust::version::compare;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let (a, b) = s.split_once('\u{0}').unwrap_or((s, ""));
    for ecosystem in ["Debian:12", "Alpine:v3.19", "Red Hat", "crates.io", "Go", "PyPI"] {
        let ab = compare(ecosystem, a, b);
        let ba = compare(ecosystem, b, a);
        assert_eq!(ab, ba.map(std::cmp::Ordering::reverse), "{ecosystem}: {a:?} vs {b:?}");
    }
});

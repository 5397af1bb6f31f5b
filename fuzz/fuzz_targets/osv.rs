//! OSV records: no record panics the parser or the matching of packages against it.
#![no_main]

use berth::trust::inventory::Package;
use berth::trust::osv::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::parse(data) {
        let packages: Vec<Package> = ["Debian:12", "Alpine:v3.19", "PyPI", "npm", "Go", "crates.io", "Red Hat"]
            .iter()
            .map(|e| Package {
                ecosystem: (*e).into(),
                name: "p".into(),
                source: Some("p".into()),
                version: "1.0-1".into(),
                path: "/x".into(),
            })
            .collect();
        let _ = record.findings(&packages);
    }
});

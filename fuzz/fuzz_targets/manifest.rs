//! Manifests and indexes as clients push them: no input panics, under any Content-Type.
#![no_main]

use berth::oci::ManifestInfo;
use libfuzzer_sys::fuzz_target;

const TYPES: [Option<&str>; 5] = [
    None,
    Some("application/vnd.oci.image.manifest.v1+json"),
    Some("application/vnd.oci.image.index.v1+json"),
    Some("application/vnd.docker.distribution.manifest.v2+json"),
    Some("application/vnd.docker.distribution.manifest.list.v2+json"),
];

fuzz_target!(|data: &[u8]| {
    for content_type in TYPES {
        let _ = ManifestInfo::parse(data, content_type);
    }
});

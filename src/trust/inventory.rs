//! An image's package inventory. Placeholder: only the type matching takes; the inventory
//! reader (dpkg, apk, lock files) lands here from the scanner's branch.

/// One installed package, as the scanner found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// OSV's ecosystem, with the release where it has one: `Debian:12`, `Alpine:v3.20`, `PyPI`.
    pub ecosystem: String,
    /// The installed (binary) package's name.
    pub name: String,
    /// The source package it was built from (dpkg's `Source:`, apk's `o:`), where known: OSV's
    /// Debian and Alpine records name source packages.
    pub source: Option<String>,
    pub version: String,
    /// Where in the image the package was recorded (`var/lib/dpkg/status`, a lock file).
    pub path: String,
}

//! The two documents a scan attaches to an image as referrers: its package inventory as an
//! SPDX 2.3 SBOM, and its vulnerability report (Berth's own JSON, listed below). Pure: the
//! caller stores them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::inventory::{Inventory, Package};
use super::osv::{Finding, Severity};

/// Artifact type of the SBOM referrer (SPDX's registered media type).
pub const SBOM_TYPE: &str = "application/spdx+json";
/// Artifact type of the vulnerability report referrer.
pub const REPORT_TYPE: &str = "application/vnd.berth.vulnerability.report.v1+json";

/// What a report says in numbers; stored on the manifest and shown by `/acr/v1`, the CLI and
/// the portal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub packages: u64,
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub unknown: u64,
}

impl Summary {
    pub fn of(packages: usize, findings: &[Finding]) -> Self {
        let mut s = Summary { packages: packages as u64, ..Summary::default() };
        for f in findings {
            *match f.severity {
                Severity::Critical => &mut s.critical,
                Severity::High => &mut s.high,
                Severity::Medium => &mut s.medium,
                Severity::Low => &mut s.low,
                Severity::Unknown => &mut s.unknown,
            } += 1;
        }
        s
    }

    /// Whether some finding is at `severity` or above.
    pub fn at_or_above(&self, severity: Severity) -> bool {
        [
            (Severity::Unknown, self.unknown),
            (Severity::Low, self.low),
            (Severity::Medium, self.medium),
            (Severity::High, self.high),
            (Severity::Critical, self.critical),
        ]
        .iter()
        .any(|&(s, n)| s >= severity && n > 0)
    }
}

/// Characters escaped in a purl's name and version (RFC 3986 unreserved pass through).
const PURL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_').remove(b'~');

/// The package URL (github.com/package-url/purl-spec) of `p`, where its ecosystem has a type.
pub fn purl(p: &Package, distro: Option<&str>) -> Option<String> {
    let enc = |s: &str| utf8_percent_encode(s, PURL).to_string();
    let base = p.ecosystem.split(':').next().unwrap_or_default();
    let (kind, namespace) = match base {
        "Debian" => ("deb", Some("debian")),
        "Ubuntu" => ("deb", Some("ubuntu")),
        "Alpine" => ("apk", Some("alpine")),
        "Red Hat" => ("rpm", Some("redhat")),
        "AlmaLinux" => ("rpm", Some("almalinux")),
        "Rocky Linux" => ("rpm", Some("rocky")),
        "openSUSE" | "SUSE" => ("rpm", Some("opensuse")),
        "crates.io" => ("cargo", None),
        "npm" => ("npm", None),
        "PyPI" => ("pypi", None),
        "Go" => ("golang", None),
        _ => return None,
    };
    // npm scopes and Go module paths keep their slashes as purl namespaces.
    let name = p.name.split('/').map(enc).collect::<Vec<_>>().join("/");
    let mut purl = match namespace {
        Some(ns) => format!("pkg:{kind}/{ns}/{name}@{}", enc(&p.version)),
        None => format!("pkg:{kind}/{name}@{}", enc(&p.version)),
    };
    if let (Some(d), "deb" | "apk" | "rpm") = (distro, kind) {
        purl.push_str(&format!("?distro={}", enc(d)));
    }
    Some(purl)
}

/// The SPDX 2.3 document of an image's inventory.
pub fn spdx(image: &str, namespace: &str, created: &str, inventory: &Inventory) -> Value {
    let distro = inventory.distro.as_ref().map(|d| format!("{}-{}", d.id, d.version_id));
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": image,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut relationships = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"}),
    ];
    for (i, p) in inventory.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        let mut package = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "sourceInfo": format!("found in {}", p.path),
        });
        if let Some(purl) = purl(p, distro.as_deref()) {
            package["externalRefs"] =
                json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}]);
        }
        packages.push(package);
        relationships
            .push(json!({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": id}));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image,
        "documentNamespace": namespace,
        "creationInfo": {"created": created, "creators": [concat!("Tool: berth-", env!("CARGO_PKG_VERSION"))]},
        "packages": packages,
        "relationships": relationships,
    })
}

/// The vulnerability report of an image: what was matched, against which database, and when.
pub fn report(image: &str, created: &str, database: &Value, inventory: &Inventory, findings: &[Finding]) -> Value {
    let summary = Summary::of(inventory.packages.len(), findings);
    json!({
        "image": image,
        "scanner": {"name": "berth", "version": env!("CARGO_PKG_VERSION")},
        "database": database,
        "created": created,
        "distro": inventory.distro.as_ref().map(|d| json!({"id": d.id, "versionId": d.version_id})),
        "summary": summary,
        "findings": findings.iter().map(|f| json!({
            "id": f.id,
            "aliases": f.aliases,
            "package": f.package,
            "installed": f.installed,
            "fixedIn": f.fixed,
            "severity": f.severity,
            "summary": f.summary,
        })).collect::<Vec<_>>(),
        "notes": inventory.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_follow_the_purl_spec_per_ecosystem() {
        let cases = [
            (
                Package::of("Debian:12", "libssl3", None, "3.0.11-1~deb12u2"),
                Some("debian-12"),
                "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12",
            ),
            (
                Package::of("Alpine:v3.19", "busybox", None, "1.36.1-r15"),
                Some("alpine-3.19.1"),
                "pkg:apk/alpine/busybox@1.36.1-r15?distro=alpine-3.19.1",
            ),
            (Package::of("npm", "@babel/core", None, "7.0.0"), None, "pkg:npm/%40babel/core@7.0.0"),
            (Package::of("Go", "golang.org/x/net", None, "v0.17.0"), None, "pkg:golang/golang.org/x/net@v0.17.0"),
            (Package::of("Debian:12", "openssl", None, "1:3.0+x"), None, "pkg:deb/debian/openssl@1%3A3.0%2Bx"),
        ];
        for (p, distro, want) in cases {
            assert_eq!(purl(&p, distro).as_deref(), Some(want));
        }
        assert_eq!(purl(&Package::of("Maven", "a", None, "1"), None), None);
    }

    #[test]
    fn a_summary_counts_by_severity_and_compares_with_thresholds() {
        let finding = |severity| Finding {
            id: "X".into(),
            aliases: vec![],
            package: "p".into(),
            installed: "1".into(),
            fixed: None,
            severity,
            summary: String::new(),
        };
        let s = Summary::of(3, &[finding(Severity::High), finding(Severity::Low), finding(Severity::High)]);
        assert_eq!((s.packages, s.high, s.low, s.critical), (3, 2, 1, 0));
        assert!(s.at_or_above(Severity::High) && s.at_or_above(Severity::Low));
        assert!(!s.at_or_above(Severity::Critical));
        assert!(!Summary::of(1, &[]).at_or_above(Severity::Unknown));
    }
}

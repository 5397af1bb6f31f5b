//! Range evaluation by the schema's rules, on hand-made entries and on real records
//! (`tests/data/osv/`).

use super::*;

fn record(json: &str) -> Record {
    Record::parse(json.as_bytes()).expect("valid record")
}

fn real(name: &str) -> Record {
    let path = format!("{}/tests/data/osv/{name}", env!("CARGO_MANIFEST_DIR"));
    Record::parse(&std::fs::read(&path).expect("fixture")).expect("real record parses")
}

/// One crates.io entry with `ranges` and `versions` as given.
fn entry(ranges: &str, versions: &str) -> Record {
    record(&format!(
        r#"{{"id": "T-1", "modified": "2024-01-01T00:00:00Z", "affected": [{{
            "package": {{"ecosystem": "crates.io", "name": "x"}}, "ranges": {ranges}, "versions": {versions}}}]}}"#
    ))
}

/// The fixed version reported if `version` of crate `x` is affected, else `None`.
fn check(r: &Record, version: &str) -> Option<Option<String>> {
    let found = r.findings(&[Package::of("crates.io", "x", None, version)]);
    found.first().map(|f| f.fixed.clone())
}

#[test]
fn introduced_zero_and_fixed_bound_the_affected_versions() {
    let r = entry(r#"[{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.5.5"}]}]"#, "[]");
    assert_eq!(check(&r, "0.0.1"), Some(Some("1.5.5".into())));
    assert_eq!(check(&r, "1.5.4"), Some(Some("1.5.5".into())));
    assert_eq!(check(&r, "1.5.5-rc.1"), Some(Some("1.5.5".into())), "a pre-release precedes its release");
    assert_eq!(check(&r, "1.5.5"), None);
    assert_eq!(check(&r, "2.0.0"), None);
}

#[test]
fn several_introduced_fixed_pairs_and_unsorted_events() {
    let r = entry(
        r#"[{"type": "SEMVER", "events": [{"fixed": "2.3.1"}, {"introduced": "2.0.0"}, {"fixed": "1.2.9"}, {"introduced": "1.0.0"}]}]"#,
        "[]",
    );
    assert_eq!(check(&r, "0.9.0"), None);
    assert_eq!(check(&r, "1.0.0"), Some(Some("1.2.9".into())));
    assert_eq!(check(&r, "1.5.0"), None);
    assert_eq!(check(&r, "2.1.0"), Some(Some("2.3.1".into())));
    assert_eq!(check(&r, "2.3.1"), None);
}

#[test]
fn last_affected_includes_its_version_and_nothing_after() {
    let r = entry(r#"[{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"last_affected": "1.4.0"}]}]"#, "[]");
    assert_eq!(check(&r, "1.4.0"), Some(None));
    assert_eq!(check(&r, "1.4.1"), None);
    let open = entry(r#"[{"type": "SEMVER", "events": [{"introduced": "1.0.0"}]}]"#, "[]");
    assert_eq!(check(&open, "99.0.0"), Some(None), "no fix yet: every later version");
}

#[test]
fn limits_stop_a_range() {
    let r = entry(r#"[{"type": "SEMVER", "events": [{"introduced": "0"}, {"limit": "2.0.0"}]}]"#, "[]");
    assert_eq!(check(&r, "1.9.9"), Some(None));
    assert_eq!(check(&r, "2.0.0"), None);
    let star = entry(r#"[{"type": "SEMVER", "events": [{"introduced": "0"}, {"limit": "*"}]}]"#, "[]");
    assert_eq!(check(&star, "9.0.0"), Some(None));
}

#[test]
fn any_range_or_listed_version_matches_and_git_ranges_never_do() {
    let r = entry(
        r#"[{"type": "GIT", "repo": "https://example.org/x", "events": [{"introduced": "0"}]},
            {"type": "SEMVER", "events": [{"introduced": "3.0.0"}, {"fixed": "3.0.2"}]}]"#,
        r#"["1.0.0"]"#,
    );
    assert_eq!(check(&r, "1.0.0"), Some(None));
    assert_eq!(check(&r, "3.0.1"), Some(Some("3.0.2".into())));
    assert_eq!(check(&r, "2.0.0"), None);
}

#[test]
fn an_ecosystem_without_ordering_matches_listed_versions_only() {
    let r = record(
        r#"{"id": "T-2", "modified": "2024-01-01T00:00:00Z", "affected": [{
            "package": {"ecosystem": "Nowhere:1", "name": "y"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            "versions": ["1.0"]}]}"#,
    );
    assert_eq!(r.findings(&[Package::of("Nowhere:1", "y", None, "1.0")]).len(), 1);
    assert!(r.findings(&[Package::of("Nowhere:1", "y", None, "0.9")]).is_empty());
}

#[test]
fn unparseable_versions_match_nothing_and_withdrawn_records_find_nothing() {
    let r = entry(r#"[{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.0"}]}]"#, "[]");
    assert_eq!(check(&r, "not-a-version"), None);
    let mut w = entry(r#"[{"type": "SEMVER", "events": [{"introduced": "0"}]}]"#, "[]");
    assert_eq!(check(&w, "1.0.0"), Some(None));
    w.withdrawn = Some("2024-02-01T00:00:00Z".into());
    assert_eq!(check(&w, "1.0.0"), None);
}

#[test]
fn debian_records_name_the_source_package_of_the_release() {
    let dsa = real("DSA-3029-1.json");
    let vulnerable = Package::of("Debian:7", "nginx-full", Some("nginx"), "1.2.1-2.2+wheezy2");
    let found = dsa.findings(std::slice::from_ref(&vulnerable));
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(
        (f.id.as_str(), f.package.as_str(), f.installed.as_str()),
        ("DSA-3029-1", "nginx-full", "1.2.1-2.2+wheezy2")
    );
    assert_eq!(f.fixed.as_deref(), Some("1.2.1-2.2+wheezy3"));
    assert_eq!(f.aliases, ["CVE-2014-3616"]);
    assert_eq!(f.summary, "nginx - security update");
    assert!(dsa.findings(&[Package::of("Debian:7", "nginx-full", Some("nginx"), "1.2.1-2.2+wheezy3")]).is_empty());
    assert!(
        dsa.findings(&[Package::of("Debian:8", "nginx-full", Some("nginx"), "1.2.1-2.2")]).is_empty(),
        "another release"
    );
    assert!(dsa.findings(&[Package::of("Debian:7", "nginx-full", None, "1.2.1-2.2")]).is_empty(), "binary name alone");
}

#[test]
fn alpine_records_match_per_branch() {
    let r = real("CVE-2022-27449.json");
    let found = r.findings(&[
        Package::of("Alpine:v3.12", "mariadb", None, "10.4.24-r0"),
        Package::of("Alpine:v3.15", "mariadb", None, "10.6.8-r0"),
    ]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].fixed.as_deref(), Some("10.4.25-r0"));
    assert_eq!(found[0].severity, Severity::Unknown);
}

#[test]
fn pypi_names_are_normalized_and_github_severities_read() {
    let r = real("GHSA-j8r2-6x86-q33q.json");
    let found = r.findings(&[Package::of("PyPI", "Requests", None, "2.30.0")]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].fixed.as_deref(), Some("2.31.0"));
    assert_eq!(found[0].severity, Severity::Medium, "database_specific MODERATE");
    assert!(r.findings(&[Package::of("PyPI", "requests", None, "2.31.0")]).is_empty());
    assert!(r.findings(&[Package::of("PyPI", "requests", None, "2.2.1")]).is_empty());
    let regex = real("GHSA-m5pq-gvj9-9vr8.json");
    let found = regex.findings(&[Package::of("crates.io", "regex", None, "1.5.4")]);
    assert_eq!((found[0].severity, found[0].fixed.as_deref()), (Severity::High, Some("1.5.5")));
}

#[test]
fn severity_falls_back_from_labels_to_cvss() {
    let r = record(
        r#"{"id": "T-3", "modified": "2024-01-01T00:00:00Z",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [
              {"package": {"ecosystem": "Debian:12", "name": "a"}, "ecosystem_specific": {"urgency": "low"}},
              {"package": {"ecosystem": "Debian:12", "name": "b"}, "ecosystem_specific": {"urgency": "not yet assigned"}}]}"#,
    );
    assert_eq!(r.severity_for(&r.affected[0]), Severity::Low);
    assert_eq!(r.severity_for(&r.affected[1]), Severity::Critical, "CVSS 9.8");
    assert_eq!(r.to_row("{}".into()).severity, "CRITICAL");
    assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
    assert_eq!(Severity::from_label("Important"), Some(Severity::High));
    assert_eq!(Severity::from_label("unimportant"), Some(Severity::Low));
}

#[test]
fn rows_index_each_package_once_by_base_ecosystem() {
    let row = real("CVE-2022-27449.json").to_row(String::new());
    assert_eq!(row.packages, [("Alpine".to_owned(), "mariadb".to_owned())]);
    assert_eq!(row.modified_at, rfc3339_ms("2022-10-07T18:59:00Z").expect("time"));
    assert_eq!(normalize("PyPI", "Zope.Interface__x"), "zope-interface-x");
}

#[test]
fn timestamps_parse_as_rfc3339() {
    assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(rfc3339_ms("2023-09-20T19:19:30Z"), Some(1_695_237_570_000));
    assert_eq!(rfc3339_ms("2025-10-13T15:48:05.749899Z"), Some(1_760_370_485_749));
    assert_eq!(rfc3339_ms("2023-09-20T21:19:30+02:00"), Some(1_695_237_570_000));
    assert_eq!(rfc3339_ms("2023-09-20"), None);
    assert_eq!(rfc3339_ms("2023-13-20T19:19:30Z"), None);
    assert!(Record::parse(br#"{"id": "X", "modified": "yesterday"}"#).is_err());
    assert!(Record::parse(br#"{"modified": "2023-09-20T19:19:30Z"}"#).is_err());
}

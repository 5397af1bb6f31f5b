//! One manifest as its bytes say it: media type, config, layers, an index's children with
//! their platforms, annotations, and the artifacts that refer to it as a tree (a signature of
//! an SBOM of an image under the SBOM), grouped by artifact type at each level; its quarantine
//! state, with Release and Fail buttons for callers with quarantine/write.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::repository::{need, parse_digest, parse_name, quarantine_cell, short};
use super::{PageResult, PortalError, Session, bytes, link};
use crate::app::AppState;
use crate::auth::Action;
use crate::meta::{ReferrerRow, Visibility};
use crate::oci::{Digest, Reference, RepoName};

#[derive(Deserialize)]
pub(super) struct ManifestQuery {
    name: String,
    digest: String,
}

/// GET /manifest?name=NAME&digest=DIGEST — needs what pulling the manifest needs (a
/// quarantined one: quarantine/read too).
pub(super) async fn show_manifest(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ManifestQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    let repo = parse_name(&query.name)?;
    let digest = parse_digest(&query.digest)?;
    session.check(&need(&repo, Action::ContentRead))?;
    let sees = session.caller.sees(repo.as_str());
    let stored = app.registry.get_manifest(&repo, &Reference::Digest(digest.clone()), sees).await?;
    let json: Value = serde_json::from_slice(&stored.content).unwrap_or(Value::Null);
    let tree = referrer_tree(&app, &repo, &digest, sees).await?;
    let details = match stored.quarantine_state {
        Some(_) => app.registry.manifest_detail(&repo, &digest, sees).await?.row.quarantine_details,
        None => None,
    };
    let may_release = session.caller.on(repo.as_str()).has(Action::QuarantineWrite);
    let signed = app.registry.is_signed(&repo, &digest).await?;
    let scan = app.registry.scan_of(&repo, &digest).await?;
    let report = match &scan {
        Some(s) => app.registry.scan_report(&repo, s).await?,
        None => None,
    };
    let (base, name) = (&session.base, repo.as_str());
    let to = |d: &str| link(base, "/manifest", &[("name", name), ("digest", d)]);
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let size = |v: &Value| v.get("size").and_then(Value::as_u64).map(bytes).unwrap_or_default();
    let body = html! {
        h1 { (name) " " span.digest { (short(&stored.digest.to_string())) } }
        p { a href=(link(base, "/repository", &[("name", name)])) { "Back to " (name) } }
        dl {
            dt { "Digest" } dd.digest { (stored.digest) }
            dt { "Media type" } dd { (stored.media_type) }
            dt { "Manifest size" } dd { (bytes(stored.content.len() as u64)) }
            @if let Some(subject) = &stored.subject {
                dt { "Subject" } dd.digest { a href=(to(&subject.to_string())) { (subject) } }
            }
            @if let Some(state) = stored.quarantine_state.as_deref() {
                dt { "Quarantine" }
                dd #quarantine {
                    form.inline method="post" action=(format!("{base}/repository/quarantine")) {
                        (session.csrf_field())
                        input type="hidden" name="name" value=(name);
                        input type="hidden" name="from" value="manifest";
                        (quarantine_cell(base, Some(state), &stored.digest.to_string(), may_release))
                    }
                    @if let Some(details) = &details { " " span.quarantine-details { (details) } }
                }
            }
            dt { "Signed" } dd #signed { @if signed { "yes (notation or cosign)" } @else { "no" } }
            @if let Some(config) = json.get("config") {
                dt { "Config" }
                dd { span.digest { (text(config, "digest")) } " " (text(config, "mediaType")) " (" (size(config)) ")" }
            }
        }
        @if let Some(layers) = json.get("layers").and_then(Value::as_array) {
            h2 #layers-title { "Layers" }
            table #layers aria-labelledby="layers-title" {
                thead { tr { th { "Digest" } th { "Media type" } th { "Size" } } }
                tbody {
                    @for l in layers {
                        tr { td.digest { (text(l, "digest")) } td { (text(l, "mediaType")) } td { (size(l)) } }
                    }
                }
            }
        }
        @if let Some(children) = json.get("manifests").and_then(Value::as_array) {
            h2 #platforms-title { "Platforms" }
            table #platforms aria-labelledby="platforms-title" {
                thead { tr { th { "Platform" } th { "Manifest" } th { "Size" } } }
                tbody {
                    @for c in children {
                        @let platform = c.get("platform").cloned().unwrap_or(Value::Null);
                        tr {
                            td { (text(&platform, "os")) "/" (text(&platform, "architecture")) }
                            td.digest { a href=(to(&text(c, "digest"))) { (short(&text(c, "digest"))) } }
                            td { (size(c)) }
                        }
                    }
                }
            }
        }
        @if let Some(scan) = &scan { (scan_section(scan, report.as_ref())) }
        @if let Some(annotations) = json.get("annotations").and_then(Value::as_object) {
            h2 #annotations-title { "Annotations" }
            dl #annotations aria-labelledby="annotations-title" {
                @for (key, value) in annotations {
                    dt { (key) } dd { (value.as_str().map_or_else(|| value.to_string(), str::to_owned)) }
                }
            }
        }
        h2 #referrers-title { "Referrers" }
        @if tree.get(&digest.to_string()).is_none_or(Vec::is_empty) {
            p.muted { "Nothing refers to this manifest." }
        } @else {
            div #referrers { (referrer_list(&tree, &digest.to_string(), &to)) }
        }
        (raw_manifest(&stored.content))
    };
    Ok(session.page(name, body))
}

/// The image's scan: its state, counts by severity and the report's findings.
fn scan_section(scan: &crate::meta::ScanRow, report: Option<&Value>) -> Markup {
    let summary: Value = scan.summary.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null);
    let count = |k: &str| summary.get(k).and_then(Value::as_u64).unwrap_or(0);
    let findings = report.and_then(|r| r.get("findings")).and_then(Value::as_array);
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    html! {
        h2 #scan-title { "Vulnerability scan" }
        dl #scan aria-labelledby="scan-title" {
            dt { "Status" } dd { (scan.status) @if let Some(r) = &scan.reason { ": " (r) } }
            @if let Some(at) = scan.scanned_at { dt { "Scanned" } dd { (super::when(at)) } }
            @if !summary.is_null() {
                dt { "Packages" } dd { (count("packages")) }
                dt { "Findings" }
                dd {
                    (count("critical")) " critical, " (count("high")) " high, " (count("medium")) " medium, "
                    (count("low")) " low, " (count("unknown")) " unknown"
                }
            }
        }
        @if let Some(findings) = findings.filter(|f| !f.is_empty()) {
            table #findings aria-labelledby="scan-title" {
                thead { tr { th { "Package" } th { "Installed" } th { "Fixed in" } th { "Advisory" } th { "Severity" } } }
                tbody {
                    @for f in findings.iter().take(500) {
                        tr {
                            td { (text(f, "package")) } td { (text(f, "installed")) } td { (text(f, "fixedIn")) }
                            td { (text(f, "id")) } td { (text(f, "severity")) }
                        }
                    }
                }
            }
        }
    }
}

/// How many levels of referrers the tree shows (an image, its SBOM, the SBOM's signature and
/// so on), and how many referrers in all: each level is one query per subject.
const TREE_DEPTH: usize = 4;
const TREE_MAX: usize = 200;

/// The referrers of `root`, of those, and so on, by subject digest.
async fn referrer_tree(
    app: &AppState,
    repo: &RepoName,
    root: &Digest,
    visible: Visibility,
) -> Result<HashMap<String, Vec<ReferrerRow>>, PortalError> {
    let mut tree = HashMap::new();
    let mut level = vec![root.clone()];
    let mut shown = 0;
    for _ in 0..TREE_DEPTH {
        let mut next = Vec::new();
        for subject in level {
            if shown >= TREE_MAX {
                break;
            }
            let rows = app.registry.referrers(repo, &subject, None, visible).await?;
            shown += rows.len();
            next.extend(rows.iter().map(|r| r.digest.clone()));
            tree.insert(subject.to_string(), rows);
        }
        level = next;
    }
    Ok(tree)
}

/// The referrers of `subject` grouped by artifact type, each with its own below it.
fn referrer_list(tree: &HashMap<String, Vec<ReferrerRow>>, subject: &str, to: &dyn Fn(&str) -> String) -> Markup {
    let mut by_type: BTreeMap<&str, Vec<&ReferrerRow>> = BTreeMap::new();
    for r in tree.get(subject).into_iter().flatten() {
        by_type.entry(r.artifact_type.as_deref().unwrap_or("(none)")).or_default().push(r);
    }
    html! {
        @if !by_type.is_empty() {
            ul.referrers {
                @for (artifact_type, group) in &by_type {
                    li {
                        strong.artifact-type { (artifact_type) }
                        ul {
                            @for r in group {
                                @let digest = r.digest.to_string();
                                li {
                                    a.digest href=(to(&digest)) { (short(&digest)) } " (" (bytes(r.size)) ")"
                                    (referrer_list(tree, &digest, to))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The manifest's bytes, folded away.
fn raw_manifest(content: &[u8]) -> Markup {
    let pretty = serde_json::from_slice::<Value>(content)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(content).into_owned());
    html! { details { summary { "Manifest JSON" } pre { code { (pretty) } } } }
}

//! One manifest as its bytes say it: media type, config, layers, an index's children with
//! their platforms, annotations, and the artifacts that refer to it, grouped by type.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::repository::{need, parse_digest, parse_name, short};
use super::{PageResult, Session, bytes, link};
use crate::app::AppState;
use crate::auth::Action;
use crate::oci::Reference;

#[derive(Deserialize)]
pub(super) struct ManifestQuery {
    name: String,
    digest: String,
}

/// GET /manifest?name=NAME&digest=DIGEST — needs what pulling the manifest needs.
pub(super) async fn show_manifest(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ManifestQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    let repo = parse_name(&query.name)?;
    let digest = parse_digest(&query.digest)?;
    session.check(&need(&repo, Action::ContentRead))?;
    let stored = app.registry.get_manifest(&repo, &Reference::Digest(digest.clone())).await?;
    let json: Value = serde_json::from_slice(&stored.content).unwrap_or(Value::Null);
    let referrers = app.registry.referrers(&repo, &digest, None).await?;
    let mut by_type: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in referrers {
        by_type.entry(r.artifact_type.clone().unwrap_or_else(|| "(none)".into())).or_default().push(r);
    }
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
        @if let Some(annotations) = json.get("annotations").and_then(Value::as_object) {
            h2 #annotations-title { "Annotations" }
            dl #annotations aria-labelledby="annotations-title" {
                @for (key, value) in annotations {
                    dt { (key) } dd { (value.as_str().map_or_else(|| value.to_string(), str::to_owned)) }
                }
            }
        }
        h2 #referrers-title { "Referrers" }
        @if by_type.is_empty() { p.muted { "Nothing refers to this manifest." } }
        @for (artifact_type, group) in &by_type {
            h3 { (artifact_type) }
            ul.referrers {
                @for r in group {
                    li { a.digest href=(to(&r.digest.to_string())) { (short(&r.digest.to_string())) } " (" (bytes(r.size)) ")" }
                }
            }
        }
        (raw_manifest(&stored.content))
    };
    Ok(session.page(name, body))
}

/// The manifest's bytes, folded away.
fn raw_manifest(content: &[u8]) -> Markup {
    let pretty = serde_json::from_slice::<Value>(content)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(content).into_owned());
    html! { details { summary { "Manifest JSON" } pre { code { (pretty) } } } }
}

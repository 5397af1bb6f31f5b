//! Repositories: the list the caller may see (searched by name prefix, paged by the last name
//! shown, so a page costs the same among 100,000), and one repository's tags and manifests as
//! `/acr/v1` lists them, with the command to pull each tag.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;

use super::{PAGE, PageResult, PortalError, Session, bytes, link};
use crate::api::auth::Origin;
use crate::api::time::iso8601_z;
use crate::app::AppState;
use crate::auth::{Action, Actions, Need};
use crate::meta::Attributes;
use crate::oci::RepoName;
use crate::registry;
use crate::registry::Order;

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    last: Option<String>,
    /// `updated`: most recently updated first; else by name.
    #[serde(default)]
    sort: String,
}

/// GET /repositories?q=PREFIX&sort=name|updated&last=NAME
pub(super) async fn list_repositories(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    let prefix: String = query.q.trim().to_ascii_lowercase().chars().take(256).collect();
    let last = query.last.as_deref().filter(|l| !l.is_empty());
    let by_time = query.sort == "updated";
    // (name, last update if the listing has it)
    let (rows, more): (Vec<(String, Option<i64>)>, bool) = match (session.caller.catalog(), by_time) {
        (true, false) => {
            let page = app.registry.catalog_prefixed(&prefix, PAGE, last).await?;
            (page.items.into_iter().map(|n| (n, None)).collect(), page.more)
        }
        (true, true) => {
            let page = app.registry.catalog_by_time(&prefix, PAGE, last).await?;
            (page.items.into_iter().map(|(n, t)| (n, Some(t))).collect(), page.more)
        }
        (false, _) => (named_repositories(&app, &session, &prefix, by_time).await?, false),
    };
    let base = &session.base;
    let sort = if by_time { "updated" } else { "name" };
    let body = html! {
        h1 { "Repositories" }
        form method="get" action=(format!("{base}/repositories")) role="search" {
            label for="q" { "Name starts with" }
            input #q type="search" name="q" value=(prefix);
            label for="sort" { "Sort by" }
            select #sort name="sort" {
                option value="name" selected[!by_time] { "Name" }
                option value="updated" selected[by_time] { "Last update, newest first" }
            }
            button type="submit" { "Search" }
        }
        @if rows.is_empty() {
            p #none { "No repositories to show." }
        } @else {
            ul #repositories {
                @for (name, updated) in &rows {
                    li {
                        a href=(link(base, "/repository", &[("name", name)])) { (name) }
                        @if let Some(t) = updated { " " span.muted { "updated " (iso8601_z(*t)) } }
                    }
                }
            }
        }
        @if let (true, Some((last, _))) = (more, rows.last()) {
            p {
                a rel="next" href=(link(base, "/repositories", &[("q", &prefix), ("sort", sort), ("last", last)])) {
                    "Next page"
                }
            }
        }
    };
    Ok(session.page("Repositories", body))
}

/// For a caller without catalog rights (a repository token): the repositories its rights name
/// one by one and that exist, as it could learn them by asking for each.
async fn named_repositories(
    app: &AppState,
    session: &Session,
    prefix: &str,
    by_time: bool,
) -> Result<Vec<(String, Option<i64>)>, PortalError> {
    let readable = Actions::of(&[Action::ContentRead, Action::MetadataRead]);
    let mut names: Vec<String> = session
        .caller
        .effective()
        .grants
        .iter()
        .map(|g| g.pattern.as_str().to_owned())
        .filter(|p| !p.contains('*') && p.starts_with(prefix))
        .filter(|p| !session.caller.on(p).intersect(readable).is_empty())
        .collect();
    names.sort();
    names.dedup();
    let mut rows = Vec::with_capacity(names.len());
    for name in names.into_iter().take(PAGE as usize) {
        let Ok(repo) = RepoName::parse(&name) else { continue };
        match app.registry.repository(&repo).await {
            Ok(row) if row.attributes.list_enabled => rows.push((name, Some(row.updated_at))),
            Ok(_) | Err(registry::Error::NameUnknown(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if by_time {
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    Ok(rows)
}

#[derive(Deserialize)]
pub(super) struct RepositoryQuery {
    name: String,
    tag_last: Option<String>,
    manifest_last: Option<String>,
}

/// GET /repository?name=NAME — what `/acr/v1/NAME`, `…/_tags` and `…/_manifests` show.
pub(super) async fn show_repository(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RepositoryQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    let repo = RepoName::parse(&query.name).map_err(|e| PortalError::BadRequest(e.to_string()))?;
    session.check(&Need::Repository { name: repo.clone(), actions: Actions::of(&[Action::MetadataRead]) })?;
    let row = app.registry.repository(&repo).await?;
    let tags = app.registry.tag_details(&repo, None, Order::Name, query.tag_last.as_deref(), PAGE as usize).await?;
    let manifests =
        app.registry.manifest_details(&repo, Order::Name, query.manifest_last.as_deref(), PAGE as usize).await?;
    let server = Origin::of(&app, &headers).service;
    let (base, name) = (&session.base, repo.as_str());
    let manifest_link = |digest: &str| link(base, "/manifest", &[("name", name), ("digest", digest)]);
    let body = html! {
        h1 { (name) }
        dl {
            dt { "Created" } dd { (iso8601_z(row.created_at)) }
            dt { "Updated" } dd { (iso8601_z(row.updated_at)) }
            dt { "Tags" } dd { (row.tag_count) }
            dt { "Manifests" } dd { (row.manifest_count) }
            dt { "Locks" } dd { (locks(&row.attributes)) }
        }
        h2 #tags-title { "Tags" }
        table #tags aria-labelledby="tags-title" {
            thead { tr { th { "Tag" } th { "Digest" } th { "Updated" } th { "Locks" } th { "Pull" } } }
            tbody {
                @for t in &tags.items {
                    tr {
                        td { (t.name) }
                        td.digest { a href=(manifest_link(&t.digest)) { (short(&t.digest)) } }
                        td { (iso8601_z(t.updated_at)) }
                        td { (locks(&t.attributes)) }
                        td { code { "docker pull " (server) "/" (name) ":" (t.name) } }
                    }
                }
            }
        }
        @if let (true, Some(last)) = (tags.more, tags.items.last()) {
            p { a href=(link(base, "/repository", &[("name", name), ("tag_last", &last.name)])) { "More tags" } }
        }
        h2 #manifests-title { "Manifests" }
        table #manifests aria-labelledby="manifests-title" {
            thead { tr { th { "Digest" } th { "Size" } th { "Platforms" } th { "Tags" } th { "Created" } th { "Updated" } th { "Locks" } } }
            tbody {
                @for m in &manifests.items {
                    tr {
                        td.digest { a href=(manifest_link(&m.row.digest)) { (short(&m.row.digest)) } }
                        td { (bytes(m.image_size)) }
                        td { (platforms(m)) }
                        td { (m.row.tags.join(", ")) }
                        td { (iso8601_z(m.row.created_at)) }
                        td { (iso8601_z(m.row.updated_at)) }
                        td { (locks(&m.row.attributes)) }
                    }
                }
            }
        }
        @if let (true, Some(last)) = (manifests.more, manifests.items.last()) {
            p { a href=(link(base, "/repository", &[("name", name), ("manifest_last", &last.row.digest)])) { "More manifests" } }
        }
    };
    Ok(session.page(name, body))
}

/// `os/arch` of an image, or of each child of an index.
fn platforms(m: &crate::registry::ManifestDetails) -> Markup {
    let one = |os: &Option<String>, arch: &Option<String>| match (os, arch) {
        (Some(os), Some(arch)) => format!("{os}/{arch}"),
        _ => String::new(),
    };
    let list: Vec<String> = if m.platforms.is_empty() {
        vec![one(&m.row.os, &m.row.architecture)]
    } else {
        m.platforms.iter().map(|p| one(&p.os, &p.architecture)).collect()
    };
    html! { (list.join(", ")) }
}

/// The locks set (ACR's changeable attributes that are off), or "none".
fn locks(a: &Attributes) -> String {
    let off: Vec<&str> =
        [(a.write_enabled, "write"), (a.delete_enabled, "delete"), (a.read_enabled, "read"), (a.list_enabled, "list")]
            .into_iter()
            .filter(|(on, _)| !on)
            .map(|(_, name)| name)
            .collect();
    if off.is_empty() { "none".into() } else { format!("{} locked", off.join(", ")) }
}

/// A digest shortened for a table: the algorithm and 12 hex digits.
pub(super) fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.to_owned(),
    }
}

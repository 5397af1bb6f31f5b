//! Repositories: the list the caller may see, searched by name prefix (as you type, with the
//! page's one script; without it, by the form) and paged by the last name shown, so a page
//! costs the same among 100,000.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use maud::html;
use serde::Deserialize;

use super::{PAGE, PageResult, PortalError, Session, link, when};
use crate::app::AppState;
use crate::auth::{Action, Actions};
use crate::oci::RepoName;
use crate::registry;

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
    let by_time = query.sort == "updated" && session.caller.catalog();
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
        // By name only: what a token may read is a few names and prefixes, not a catalog to sort.
        (false, _) => named_repositories(&app, &session, &prefix, last).await?,
    };
    let base = &session.base;
    let sort = if by_time { "updated" } else { "name" };
    let body = html! {
        h1 { "Repositories" }
        form method="get" action=(format!("{base}/repositories")) role="search" {
            label for="q" { "Name starts with" }
            input #q type="search" name="q" value=(prefix) autocomplete="off";
            label for="sort" { "Sort by" }
            select #sort name="sort" {
                option value="name" selected[!by_time] { "Name" }
                option value="updated" selected[by_time] { "Last update, newest first" }
            }
            button type="submit" { "Search" }
        }
        section #results aria-live="polite" {
            @if rows.is_empty() {
                p #none { "No repositories to show." }
            } @else {
                ul #repositories {
                    @for (name, updated) in &rows {
                        li {
                            a href=(link(base, "/repository", &[("name", name)])) { (name) }
                            @if let Some(t) = updated { " " span.muted { "updated " (when(*t)) } }
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
        }
        script src=(format!("{base}/portal.js")) defer {}
    };
    Ok(session.page("Repositories", body))
}

/// For a caller without catalog rights (a repository token): the repositories its rights
/// cover, as it could learn them by asking for each: those named one by one that exist, and
/// those under a `prefix*` pattern (from the catalog, from the narrower of that prefix and the
/// search's). A page of them after `last`, by name, and whether there are more.
async fn named_repositories(
    app: &AppState,
    session: &Session,
    prefix: &str,
    last: Option<&str>,
) -> Result<(Vec<(String, Option<i64>)>, bool), PortalError> {
    let readable = Actions::of(&[Action::ContentRead, Action::MetadataRead]);
    let after = |name: &str| last.is_none_or(|l| name > l);
    let mut names = std::collections::BTreeSet::new();
    for grant in &session.caller.effective().grants {
        if grant.actions.intersect(readable).is_empty() {
            continue;
        }
        let pattern = grant.pattern.as_str();
        match pattern.strip_suffix('*') {
            None if pattern.starts_with(prefix) && after(pattern) => drop(names.insert(pattern.to_owned())),
            None => {}
            Some(covered) => {
                let narrower = match (covered.starts_with(prefix), prefix.starts_with(covered)) {
                    (true, _) => covered,
                    (_, true) => prefix,
                    _ => continue,
                };
                names.extend(app.registry.catalog_prefixed(narrower, PAGE + 1, last).await?.items);
            }
        }
    }
    let mut rows = Vec::new();
    for name in names {
        if rows.len() > PAGE as usize {
            break;
        }
        let Ok(repo) = RepoName::parse(&name) else { continue };
        if session.caller.on(&name).intersect(readable).is_empty() {
            continue;
        }
        match app.registry.repository(&repo).await {
            Ok(row) if row.attributes.list_enabled => rows.push((name, Some(row.updated_at))),
            Ok(_) | Err(registry::Error::NameUnknown(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    Ok((rows, more))
}

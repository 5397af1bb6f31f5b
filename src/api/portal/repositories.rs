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

//! The overview: the registry's name, and for callers with management read its tier, storage
//! against the limit, counted resources and the last garbage collection (`show-usage`).

use axum::extract::State;
use axum::http::HeaderMap;
use maud::{Markup, html};

use super::{PageResult, Session, bytes};
use crate::api::auth::Origin;
use crate::api::time::iso8601_z;
use crate::app::AppState;
use crate::auth::Manage;

/// GET / — the overview.
pub(super) async fn show_overview(State(app): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    let login_server = Origin::of(&app, &headers).service;
    let repositories = match session.caller.catalog() {
        true => Some(app.registry.repository_count().await?),
        false => None,
    };
    let management = match session.caller.manage() >= Manage::Read {
        true => Some(management(&app).await?),
        false => None,
    };
    let base = &session.base;
    let body = html! {
        h1 { "Overview" }
        dl {
            dt { "Login server" } dd { code { (login_server) } }
            @if let Some(n) = repositories { dt { "Repositories" } dd { (n) } }
        }
        p { a href=(format!("{base}/repositories")) { "Browse repositories" } }
        @match management {
            Some(figures) => (figures),
            None => p.muted #no-management { "Usage and settings need management rights (the Reader role or more)." },
        }
    };
    Ok(session.page("Overview", body))
}

/// The figures only management readers see.
pub(super) async fn management(app: &AppState) -> Result<Markup, super::PortalError> {
    let limits = app.registry.limits().await?;
    let usage = app.registry.usage().await?;
    let gc = app.registry.last_gc().await?;
    Ok(html! {
        section #management aria-labelledby="usage-title" {
            h2 #usage-title { "Usage" }
            dl {
                dt { "Tier" } dd { (limits.sku.as_str()) }
                @for item in &usage {
                    @if item.unit == "Bytes" {
                        dt { label for="storage" { "Storage" } }
                        dd {
                            meter #storage min="0" max=(item.limit) value=(item.current) { (bytes(item.current)) }
                            " " (bytes(item.current)) " of " (bytes(item.limit))
                        }
                    } @else if item.limit > 0 {
                        dt { (item.name) } dd { (item.current) " of " (item.limit) }
                    }
                }
                dt { "Last garbage collection" }
                dd {
                    @match &gc {
                        Some(r) => {
                            (iso8601_z(r.finished_at)) ": " (r.manifests_deleted) " manifests and "
                            (r.blobs_deleted) " blobs deleted, " (bytes(r.bytes_freed)) " freed"
                            @if r.dry_run { " (dry run)" }
                        }
                        None => "never",
                    }
                }
            }
        }
    })
}

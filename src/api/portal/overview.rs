//! The overview: the registry's name, what it holds (for callers that may list it), and for
//! callers with management read what `show-usage` shows (storage against the limit as a gauge,
//! webhooks, scope maps and tokens against the tier's) and the last garbage collection.

use axum::extract::State;
use axum::http::HeaderMap;
use maud::{Markup, html};

use super::{PageResult, Session, bytes, when};
use crate::api::auth::Origin;
use crate::app::AppState;

/// GET / — the overview.
pub(super) async fn show_overview(State(app): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    let login_server = Origin::of(&app, &headers).service;
    let counts = match session.caller.catalog() {
        true => Some(app.registry.counts().await?),
        false => None,
    };
    let management = match session.manages() {
        true => Some(management(&app).await?),
        false => None,
    };
    let base = &session.base;
    let body = html! {
        h1 { "Overview" }
        dl {
            dt { "Login server" } dd { code { (login_server) } }
            @if let Some(n) = counts {
                dt { "Repositories" } dd #count-repositories { (n.repositories) }
                dt { "Manifests" } dd #count-manifests { (n.manifests) }
                dt { "Tags" } dd #count-tags { (n.tags) }
            }
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
                        dt #storage-label { "Storage" }
                        dd {
                            meter #storage aria-labelledby="storage-label" min="0" max=(item.limit) value=(item.current) { (bytes(item.current)) }
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
                            (when(r.finished_at)) ": " (r.manifests_deleted) " manifests and "
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

//! The Settings page: the registry's settings (anonymous pull, the admin user, tier and storage
//! quota), the retention of untagged manifests, storage with a garbage-collection pass on
//! demand, and the webhooks (`webhooks.rs`). Each change calls what the management API's
//! handler calls, with the same rights: Reader to see, Contributor to change (and what the
//! access layer refuses a Contributor, such as the admin user, it refuses here too).

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{PageResult, PortalError, Session, bytes, see_other};
use crate::api::admin::{SettingsPatch, change_retention, change_settings, collect_garbage_now};
use crate::app::AppState;
use crate::auth::Manage;
use crate::config::Sku;
use crate::registry::{GcReport, Limits};

/// A form of the Settings page, from a caller who may change settings (Contributor).
pub(super) async fn write_form<T: DeserializeOwned>(app: &AppState, req: Request) -> Result<(Session, T), PortalError> {
    let (session, form) = Session::form(app, req).await?;
    session.check_manage(Manage::Write)?;
    Ok((session, form))
}

/// GET /settings
pub(super) async fn show_settings(State(app): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    session.check_manage(Manage::Read)?;
    settings_page(&app, &session, None).await
}

/// The page, with the report of the pass just run if there was one.
async fn settings_page(app: &AppState, session: &Session, gc: Option<&GcReport>) -> PageResult {
    let registry = registry_section(app, session).await?;
    let retention = retention_section(app, session).await?;
    let usage = super::overview::management(app).await?;
    let webhooks = super::webhooks::webhooks_section(app, session).await?;
    let body = html! {
        h1 { "Settings" }
        // First: after the POST the page opens at its top.
        @if let Some(r) = gc { (gc_report(r)) }
        @if session.caller.manage() < Manage::Write {
            p.muted #read-only { "Changing settings needs the Contributor role." }
        }
        (registry)
        (retention)
        (usage)
        (gc_section(session))
        (webhooks)
    };
    Ok(session.page("Settings", body))
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// A form that turns setting `field` of `/settings/registry` to the other state.
fn toggle(session: &Session, id: &str, field: &str, on: bool, what: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("{}/settings/registry", session.base)) {
            (session.csrf_field())
            input type="hidden" name=(field) value=(on_off(!on));
            button #(id) type="submit" { "Turn " (what) " " (on_off(!on)) }
        }
    }
}

async fn registry_section(app: &AppState, session: &Session) -> Result<Markup, PortalError> {
    let settings = app.access.snapshot().settings.clone();
    let quarantine = app.registry.quarantine_enabled().await?;
    let limits = app.registry.limits().await?;
    let included = Limits::of(limits.sku, None).storage_bytes;
    let custom = limits.storage_bytes != included;
    let write = session.caller.manage() >= Manage::Write;
    let action = format!("{}/settings/registry", session.base);
    Ok(html! {
        section #registry aria-labelledby="registry-title" {
            h2 #registry-title { "Registry" }
            dl {
                dt { "Anonymous pull" }
                dd #anonymous-pull { (on_off(settings.anonymous_pull)) " "
                    @if write { (toggle(session, "anonymous-pull-toggle", "anonymous_pull", settings.anonymous_pull, "anonymous pull")) }
                }
                dt { "Quarantine of new images" }
                dd #quarantine-setting { (on_off(quarantine)) " "
                    @if write { (toggle(session, "quarantine-toggle", "quarantine", quarantine, "quarantine")) }
                }
                dt { "Admin user" }
                dd #admin-user { (on_off(settings.admin_enabled)) " "
                    // The API lets only a caller with all of the admin user's rights change it.
                    @if session.caller.manage() >= Manage::Owner {
                        (toggle(session, "admin-user-toggle", "admin_user", settings.admin_enabled, "the admin user"))
                    }
                }
                dt { "Tier" } dd #tier { (limits.sku.as_str()) }
                dt { "Storage quota" }
                dd #quota { (bytes(limits.storage_bytes)) @if !custom { " (the tier's included storage)" } }
            }
            @if write {
                form #limits method="post" action=(action) {
                    (session.csrf_field())
                    label for="sku" { "Tier" }
                    select #sku name="sku" {
                        @for sku in [Sku::Basic, Sku::Standard, Sku::Premium] {
                            option value=(sku.as_str()) selected[sku == limits.sku] { (sku.as_str()) }
                        }
                    }
                    fieldset {
                        legend { "Storage quota" }
                        label.check for="quota-default" {
                            input #quota-default type="radio" name="quota_mode" value="default" checked[!custom];
                            " The tier's included storage"
                        }
                        label.check for="quota-custom" {
                            input #quota-custom type="radio" name="quota_mode" value="custom" checked[custom];
                            " A quota of my own"
                        }
                        label for="quota-bytes" { "Quota in bytes" }
                        input #quota-bytes type="number" name="quota" min="0" value=[custom.then_some(limits.storage_bytes)];
                    }
                    button type="submit" { "Save tier and quota" }
                }
            }
        }
    })
}

/// What the forms of `/settings/registry` send: each form its own fields.
#[derive(Deserialize)]
pub(super) struct RegistryForm {
    anonymous_pull: Option<String>,
    quarantine: Option<String>,
    admin_user: Option<String>,
    sku: Option<String>,
    /// `default`: the tier's included storage; `custom`: `quota` bytes.
    quota_mode: Option<String>,
    #[serde(default)]
    quota: String,
}

fn switch(value: Option<&str>, what: &str) -> Result<Option<bool>, PortalError> {
    match value {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(PortalError::BadRequest(format!("{what} {other:?}: use on or off"))),
    }
}

/// POST /settings/registry — as `PATCH /berth/v1/settings`.
pub(super) async fn update_registry(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, RegistryForm) = write_form(&app, req).await?;
    let storage_quota_bytes = match form.quota_mode.as_deref() {
        None => None,
        Some("default") => Some(None),
        Some("custom") => match form.quota.trim().parse::<u64>() {
            Ok(q) => Some(Some(q)),
            Err(_) => return Err(PortalError::BadRequest("the quota is a whole number of bytes".into())),
        },
        Some(other) => return Err(PortalError::BadRequest(format!("quota {other:?}: use default or custom"))),
    };
    let patch = SettingsPatch {
        admin_user_enabled: switch(form.admin_user.as_deref(), "admin user")?,
        anonymous_pull_enabled: switch(form.anonymous_pull.as_deref(), "anonymous pull")?,
        sku: form.sku,
        storage_quota_bytes,
    };
    // As `PATCH /berth/v1/quarantine`: the same Contributor right the form already needed.
    if let Some(on) = switch(form.quarantine.as_deref(), "quarantine")? {
        app.registry.set_quarantine_enabled(on).await?;
    }
    change_settings(&app, &session.caller.effective(), patch).await?;
    Ok(see_other(format!("{}/settings", session.base)))
}

async fn retention_section(app: &AppState, session: &Session) -> Result<Markup, PortalError> {
    let retention = app.registry.retention().await?;
    Ok(html! {
        section #retention aria-labelledby="retention-title" {
            h2 #retention-title { "Retention of untagged manifests" }
            p.muted { "Garbage collection deletes manifests that have had no tag for this many days." }
            dl {
                dt { "Status" } dd #retention-status { @if retention.enabled { "enabled" } @else { "disabled" } }
                dt { "Days" } dd #retention-days-shown { (retention.days) }
            }
            @if session.caller.manage() >= Manage::Write {
                form #retention-form method="post" action=(format!("{}/settings/retention", session.base)) {
                    (session.csrf_field())
                    label.check for="retention-enabled" {
                        input #retention-enabled type="checkbox" name="enabled" value="on" checked[retention.enabled];
                        " Delete untagged manifests"
                    }
                    label for="retention-days" { "After days (0 to 365)" }
                    input #retention-days type="number" name="days" min="0" max="365" required value=(retention.days);
                    button type="submit" { "Save retention" }
                }
            }
        }
    })
}

#[derive(Deserialize)]
pub(super) struct RetentionForm {
    enabled: Option<String>,
    #[serde(default)]
    days: String,
}

/// POST /settings/retention — as `PATCH /berth/v1/retention`.
pub(super) async fn update_retention(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, RetentionForm) = write_form(&app, req).await?;
    let days = form
        .days
        .trim()
        .parse::<u32>()
        .map_err(|_| PortalError::BadRequest("days: a whole number from 0 to 365".into()))?;
    let status = if form.enabled.is_some() { "enabled" } else { "disabled" };
    change_retention(&app, Some(days), Some(status)).await?;
    Ok(see_other(format!("{}/settings", session.base)))
}

/// What the pass just run did (or, dry, would do).
fn gc_report(r: &GcReport) -> Markup {
    html! {
        div.notice #gc-report role="status" {
            p { @if r.dry_run { "A dry run of garbage collection found:" } @else { "Garbage collection just ran:" } }
            dl {
                dt { "Manifests deleted" } dd #gc-manifests { (r.manifests_deleted) }
                dt { "Uploads expired" } dd { (r.uploads_expired) }
                dt { "Blobs deleted" } dd #gc-blobs { (r.blobs_deleted) }
                dt { "Bytes freed" } dd #gc-bytes { (bytes(r.bytes_freed)) }
                dt { "Blobs waiting" } dd #gc-waiting { (r.blobs_waiting) }
                dt { "Orphans deleted" } dd { (r.orphans_deleted) }
            }
            p.muted { "Blobs waiting are unreferenced but still in their grace period, or in a repository receiving uploads." }
        }
    }
}

/// The "GC now" form.
fn gc_section(session: &Session) -> Markup {
    html! {
        section #gc aria-labelledby="gc-title" {
            h2 #gc-title { "Garbage collection" }
            @if session.caller.manage() >= Manage::Write {
                form #gc-form method="post" action=(format!("{}/settings/gc", session.base)) {
                    (session.csrf_field())
                    label.check for="gc-dry-run" {
                        input #gc-dry-run type="checkbox" name="dry_run" value="on";
                        " Dry run: report only, delete nothing"
                    }
                    label for="gc-grace" { "Grace period for unreferenced blobs (30s, 10m, 1h; empty: the configured one)" }
                    input #gc-grace type="text" name="grace";
                    button type="submit" { "Run garbage collection now" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct GcForm {
    dry_run: Option<String>,
    #[serde(default)]
    grace: String,
}

/// POST /settings/gc — one pass as `POST /berth/v1/gc` runs it; the page with its report.
pub(super) async fn run_gc(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, GcForm) = write_form(&app, req).await?;
    let grace = Some(form.grace.trim()).filter(|g| !g.is_empty());
    let report = collect_garbage_now(&app, form.dry_run.is_some(), grace).await?;
    settings_page(&app, &session, Some(&report)).await
}

//! The Settings page's webhooks: the list, creating one, enabling and disabling, deleting
//! (after a confirmation), a ping, and each webhook's delivery log with redelivery. Calls what
//! `/berth/v1/webhooks` calls, with its rights: the callback settings (URI, headers, secret)
//! are Contributor's to see, as `get-config` is; secret values are never shown at all.

use std::collections::BTreeMap;

use axum::extract::{Query, Request, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;

use super::settings::write_form;
use super::{PageResult, PortalError, Session, confirmed, link, see_other, when};
use crate::api::admin::{LISTED_EVENTS, add_webhook};
use crate::api::auth::Origin;
use crate::app::AppState;
use crate::auth::Manage;
use crate::events::WebhookSpec;
use crate::events::webhooks::{ACTIONS, Callback};
use crate::meta::DeliveryRow;

/// The host (and port) of a service URI: where events go, without credentials or path.
fn host_of(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        },
        Err(_) => String::new(),
    }
}

fn scope_text(scope: &str) -> &str {
    if scope.is_empty() { "every repository" } else { scope }
}

/// The webhooks' part of the Settings page.
pub(super) async fn webhooks_section(app: &AppState, session: &Session) -> Result<Markup, PortalError> {
    let write = session.caller.manage() >= Manage::Write;
    let mut rows = Vec::new();
    for hook in app.webhooks.list().await? {
        let host = match write {
            true => Some(host_of(&app.webhooks.callback(&hook.name).await?.service_uri)),
            false => None,
        };
        rows.push((hook, host));
    }
    let base = &session.base;
    Ok(html! {
        section #webhooks aria-labelledby="webhooks-title" {
            h2 #webhooks-title { "Webhooks" }
            @if rows.is_empty() {
                p #no-webhooks { "No webhooks." }
            } @else {
                table #webhook-list aria-labelledby="webhooks-title" {
                    thead { tr {
                        th { "Name" } th { "Service host" } th { "Actions" } th { "Scope" } th { "Status" }
                        @if write { th { "Change" } }
                    } }
                    tbody {
                        @for (hook, host) in &rows {
                            tr {
                                td { a href=(link(base, "/settings/webhook", &[("name", &hook.name)])) { (hook.name) } }
                                td { @match host { Some(h) => code { (h) }, None => span.muted { "shown to Contributors" } } }
                                td { (hook.actions.join(", ")) }
                                td { (scope_text(&hook.scope)) }
                                td.status { @if hook.enabled { "enabled" } @else { "disabled" } }
                                @if write { td { (row_forms(session, &hook.name, hook.enabled)) } }
                            }
                        }
                    }
                }
            }
            @if write { (create_form(session)) }
        }
    })
}

/// Enable or disable, ping and delete, for one webhook.
fn row_forms(session: &Session, name: &str, enabled: bool) -> Markup {
    let action = |path: &str| format!("{}/settings/webhook/{path}", session.base);
    let (status, verb) = if enabled { ("disabled", "Disable") } else { ("enabled", "Enable") };
    html! {
        form.inline method="post" action=(action("status")) {
            (session.csrf_field())
            input type="hidden" name="name" value=(name);
            input type="hidden" name="status" value=(status);
            button.toggle type="submit" aria-label=(format!("{verb} {name}")) { (verb) }
        }
        form.inline method="post" action=(action("ping")) {
            (session.csrf_field())
            input type="hidden" name="name" value=(name);
            button.ping type="submit" aria-label=(format!("Ping {name}")) { "Ping" }
        }
        form.inline method="post" action=(action("delete")) {
            (session.csrf_field())
            input type="hidden" name="name" value=(name);
            button.danger type="submit" aria-label=(format!("Delete {name}")) { "Delete" }
        }
    }
}

fn create_form(session: &Session) -> Markup {
    html! {
        form #create-webhook method="post" action=(format!("{}/settings/webhooks", session.base)) {
            h3 { "New webhook" }
            (session.csrf_field())
            label for="webhook-name" { "Name (5 to 50 letters and digits)" }
            input #webhook-name type="text" name="name" required;
            label for="webhook-uri" { "Service URI (http or https)" }
            input #webhook-uri type="url" name="uri" required;
            fieldset {
                legend { "Actions" }
                @for a in ACTIONS {
                    label.check for=(format!("action-{a}")) {
                        input id=(format!("action-{a}")) type="checkbox" name="actions" value=(a) checked[*a == "push"];
                        " " (a)
                    }
                }
            }
            label for="webhook-scope" { "Scope: REPOSITORY[:TAG] with * wildcards (empty: every repository)" }
            input #webhook-scope type="text" name="scope";
            label for="webhook-headers" { "Custom headers, one " code { "Name: value" } " a line (optional)" }
            textarea #webhook-headers name="headers" rows="3" {}
            label for="webhook-secret" { "Signing secret (optional: signs each body with HMAC-SHA256)" }
            input #webhook-secret type="password" name="secret" autocomplete="new-password";
            button type="submit" { "Create webhook" }
        }
    }
}

/// `Name: value` lines as headers.
fn parse_headers(text: &str) -> Result<BTreeMap<String, String>, PortalError> {
    let mut headers = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(PortalError::BadRequest(format!("custom header {line:?}: write Name: value")));
        };
        headers.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    Ok(headers)
}

/// POST /settings/webhooks — as `POST /berth/v1/webhooks`.
pub(super) async fn create_webhook(State(app): State<AppState>, req: Request) -> PageResult {
    // Pairs: the action checkboxes repeat one name.
    let (session, form): (Session, Vec<(String, String)>) = write_form(&app, req).await?;
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or_default();
    let actions: Vec<String> = form.iter().filter(|(k, _)| k == "actions").map(|(_, v)| v.clone()).collect();
    let spec = WebhookSpec {
        service_uri: Some(field("uri").to_owned()).filter(|u| !u.is_empty()),
        custom_headers: Some(parse_headers(field("headers"))?),
        actions: Some(actions),
        scope: Some(field("scope").to_owned()),
        status: None,
        secret: Some(field("secret").to_owned()).filter(|s| !s.is_empty()),
    };
    add_webhook(&app, field("name"), spec).await?;
    Ok(see_other(format!("{}/settings", session.base)))
}

/// What the forms on one webhook send (each its own fields), and the page's query.
#[derive(Deserialize)]
pub(super) struct WebhookForm {
    #[serde(default)]
    name: String,
    /// `enabled` or `disabled`.
    #[serde(default)]
    status: String,
    /// An event's id, to send again.
    #[serde(default)]
    id: String,
    confirm: Option<String>,
}

/// GET /settings/webhook?name=NAME — the webhook and its delivery log.
pub(super) async fn show_webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<WebhookForm>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    session.check_manage(Manage::Read)?;
    webhook_page(&app, &session, &query.name, None).await
}

/// The result of an attempt, as the log says it.
fn outcome(d: &DeliveryRow) -> String {
    match d.status {
        Some(s) if (200..300).contains(&s) => "delivered".to_owned(),
        Some(_) => "failed".to_owned(),
        None => {
            let response: serde_json::Value = serde_json::from_str(&d.response).unwrap_or_default();
            match response["error"].as_str() {
                Some(e) => format!("failed: {e}"),
                None => "failed".to_owned(),
            }
        }
    }
}

fn http_status(d: &DeliveryRow) -> String {
    d.status.map_or_else(|| "none".to_owned(), |s| s.to_string())
}

/// A webhook's page; `notice` says what a ping or redelivery just did.
async fn webhook_page(app: &AppState, session: &Session, name: &str, notice: Option<Markup>) -> PageResult {
    let hook = app.webhooks.show(name).await?;
    let log = app.webhooks.deliveries(name, LISTED_EVENTS).await?;
    let write = session.caller.manage() >= Manage::Write;
    let callback: Option<Callback> = match write {
        true => Some(app.webhooks.callback(name).await?),
        false => None,
    };
    let base = &session.base;
    let body = html! {
        h1 { "Webhook " (hook.name) }
        @if let Some(n) = notice { div.notice #result role="status" { (n) } }
        dl {
            dt { "Status" } dd #webhook-status { @if hook.enabled { "enabled" } @else { "disabled" } }
            dt { "Actions" } dd { (hook.actions.join(", ")) }
            dt { "Scope" } dd { (scope_text(&hook.scope)) }
            dt { "Created" } dd { (when(hook.created_at)) }
            dt { "Updated" } dd { (when(hook.updated_at)) }
            @if let Some(c) = &callback {
                dt { "Service host" } dd { code { (host_of(&c.service_uri)) } }
                // Names only: header values and the secret are often credentials.
                dt { "Custom headers" }
                dd #webhook-headers {
                    @if c.custom_headers.is_empty() { "none" }
                    @for name in c.custom_headers.keys() { code { (name) } " (set) " }
                }
                dt { "Signing secret" } dd #webhook-secret { @if c.secret.is_some() { "set" } @else { "not set" } }
            }
        }
        @if write {
            form method="post" action=(format!("{base}/settings/webhook/ping")) {
                (session.csrf_field())
                input type="hidden" name="name" value=(hook.name);
                button #ping type="submit" { "Send a ping" }
            }
        }
        p { a href=(format!("{base}/settings")) { "Back to settings" } }
        h2 #log-title { "Delivery log" }
        @if log.is_empty() {
            p #no-deliveries { "Nothing sent yet." }
        } @else {
            table #deliveries aria-labelledby="log-title" {
                thead { tr {
                    th { "Time" } th { "Event" } th { "Action" } th { "Attempt" } th { "Result" } th { "HTTP status" }
                    th { "Duration" } @if write { th { "Again" } }
                } }
                tbody {
                    @for d in &log {
                        tr {
                            td { (when(d.at)) }
                            td.digest { (d.event_id) }
                            td.action { (d.action) }
                            td { @if d.attempt == 0 { "by hand" } @else { (d.attempt) } }
                            td.result { (outcome(d)) }
                            td.http { (http_status(d)) }
                            td { (d.duration_ms) " ms" }
                            @if write {
                                td {
                                    // A ping is no stored event: there is nothing to send again.
                                    @if d.action != "ping" {
                                        form.inline method="post" action=(format!("{base}/settings/webhook/redeliver")) {
                                            (session.csrf_field())
                                            input type="hidden" name="name" value=(hook.name);
                                            input type="hidden" name="id" value=(d.event_id);
                                            button type="submit" aria-label=(format!("Redeliver {}", d.event_id)) { "Redeliver" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(session.page(&format!("Webhook {}", hook.name), body))
}

/// What an attempt just did, for the notice.
fn attempt_notice(what: &str, d: &DeliveryRow) -> Markup {
    html! { (what) ": " span #result-outcome { (outcome(d)) } ", HTTP status " (http_status(d)) ", " (d.duration_ms) " ms." }
}

/// POST /settings/webhook/status — enables or disables, as `PATCH /berth/v1/webhooks/{name}`.
pub(super) async fn set_webhook_status(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, WebhookForm) = write_form(&app, req).await?;
    app.webhooks.update(&form.name, WebhookSpec { status: Some(form.status), ..WebhookSpec::default() }).await?;
    Ok(see_other(format!("{}/settings", session.base)))
}

/// POST /settings/webhook/ping — as `POST /berth/v1/webhooks/{name}/ping`; the webhook's page
/// with the attempt's result.
pub(super) async fn ping_webhook(State(app): State<AppState>, req: Request) -> PageResult {
    let host = Origin::of(&app, req.headers()).service;
    let (session, form): (Session, WebhookForm) = write_form(&app, req).await?;
    let id = app.webhooks.ping(&form.name, &host).await?;
    let log = app.webhooks.deliveries(&form.name, LISTED_EVENTS).await?;
    let notice = match log.iter().find(|d| d.event_id == id) {
        Some(d) => attempt_notice("Ping sent", d),
        None => html! { "Ping sent." },
    };
    webhook_page(&app, &session, &form.name, Some(notice)).await
}

/// POST /settings/webhook/redeliver — as `POST /berth/v1/webhooks/{name}/events/{id}/redeliver`.
pub(super) async fn redeliver_event(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, WebhookForm) = write_form(&app, req).await?;
    let attempt = app.webhooks.redeliver(&form.name, &form.id).await?;
    let notice = attempt_notice(&format!("Event {} sent again", form.id), &attempt);
    webhook_page(&app, &session, &form.name, Some(notice)).await
}

/// POST /settings/webhook/delete — after a confirmation, as `DELETE /berth/v1/webhooks/{name}`.
pub(super) async fn delete_webhook(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, WebhookForm) = write_form(&app, req).await?;
    if !confirmed(&form.confirm) {
        // An unknown webhook is a 404 now, not after the question.
        app.webhooks.show(&form.name).await?;
        let question =
            format!("Delete the webhook {:?}? Its events stop, and its delivery log goes with it.", form.name);
        let back = format!("{}/settings", session.base);
        return Ok(session.confirm(&question, "/settings/webhook/delete", &[("name", &form.name)], &back));
    }
    app.webhooks.delete(&form.name).await?;
    Ok(see_other(format!("{}/settings", session.base)))
}

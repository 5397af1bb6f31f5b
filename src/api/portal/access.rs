//! Access: the admin user, users and service principals, role assignments, repository tokens
//! and scope maps (ACR's "Access keys", "Access control (IAM)", "Tokens" and "Scope maps").
//!
//! Every change calls what `/berth/v1` calls, with the caller's effective rights, so the same
//! rules hold: no caller grants more than it holds, only Owner writes role assignments or
//! touches the admin user. A new password is shown once, on the page that answers the POST
//! (never in a URL); every other change redirects back to the page.

use axum::extract::{Query, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{PageResult, PortalError, Session, confirmed, link, see_other, when};
use crate::access::{NewPrincipal, PrincipalKind, SecretValue, Snapshot, TokenScope, role_scope};
use crate::api::time::iso8601_z;
use crate::app::AppState;
use crate::auth::{Actions, Manage, Role};
use crate::meta::PrincipalRow;

const TOKEN: PrincipalKind = PrincipalKind::Token;

/// Tokens a page (a tier allows up to 50,000; each row carries its forms).
const TOKENS_PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub(super) struct AccessQuery {
    /// The last token of the previous page of tokens.
    tokens_last: Option<String>,
}

/// GET /access?tokens_last=NAME
pub(super) async fn show_access(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<AccessQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    session.check_manage(Manage::Read)?;
    Ok(page(&app, &session, None, &query))
}

/// Passwords just generated for `whose`, shown once.
struct Fresh<'a> {
    whose: &'a str,
    secrets: &'a [SecretValue],
}

/// The page, with the sections' forms as far as the caller may use them.
fn page(app: &AppState, session: &Session, fresh: Option<Fresh>, query: &AccessQuery) -> Response {
    let snapshot = app.access.snapshot();
    let body = html! {
        h1 { "Access" }
        @if let Some(f) = fresh {
            div.notice #new-password role="status" {
                p { "New password for " strong { (f.whose) } ". Copy it now: it is not shown again." }
                dl {
                    @for s in f.secrets {
                        dt { (s.name) }
                        dd { code.secret { (s.value.as_deref().unwrap_or_default()) } }
                    }
                }
            }
        }
        nav aria-label="Sections" {
            a href="#admin" { "Admin user" } " · "
            a href="#users" { "Users" } " · "
            a href="#roles" { "Role assignments" } " · "
            a href="#tokens" { "Tokens" } " · "
            a href="#scope-maps" { "Scope maps" }
        }
        (admin_section(app, session, &snapshot))
        (users_section(session, &snapshot))
        (roles_section(session, &snapshot))
        (tokens_section(session, &snapshot, query.tokens_last.as_deref()))
        (scope_maps_section(session, &snapshot))
    };
    session.page("Access", body)
}

/// A one-button form POSTing `fields` to `path` (under the portal's base): `label` on the
/// button, and what it acts `on` too for a screen reader, among a table's many alike.
fn action(session: &Session, path: &str, fields: &[(&str, &str)], label: &str, on: &str, danger: bool) -> Markup {
    let aria = format!("{label} {on}");
    html! {
        form.inline method="post" action=(format!("{}{path}", session.base)) {
            (session.csrf_field())
            @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
            @if danger {
                button.danger type="submit" aria-label=(aria) { (label) }
            } @else {
                button type="submit" aria-label=(aria) { (label) }
            }
        }
    }
}

fn status(enabled: bool) -> &'static str {
    if enabled { "enabled" } else { "disabled" }
}

/// The button that turns a principal the other way.
fn toggle(session: &Session, path: &str, name: &str, enabled: bool) -> Markup {
    let (label, value) = if enabled { ("Disable", "false") } else { ("Enable", "true") };
    action(session, path, &[("name", name), ("enabled", value)], label, name, false)
}

/// The button that deletes `name` (after a confirmation).
fn delete(session: &Session, path: &str, name: &str) -> Markup {
    action(session, path, &[("name", name)], "Delete", name, true)
}

fn admin_section(app: &AppState, session: &Session, snapshot: &Snapshot) -> Markup {
    let admin = app.access.admin_name();
    let enabled = snapshot.settings.admin_enabled;
    let owner = session.caller.manage() >= Manage::Owner;
    html! {
        section #admin aria-labelledby="admin-title" {
            h2 #admin-title { "Admin user" }
            dl {
                dt { "User name" } dd { code { (admin) } }
                dt { "Status" } dd #admin-status { (status(enabled)) }
            }
            @if owner {
                table #admin-passwords aria-label="Admin user passwords" {
                    thead { tr { th { "Password" } th { "Created" } th { "Renew" } } }
                    tbody {
                        @for s in snapshot.rows.secrets.iter().filter(|s| s.principal == admin) {
                            tr {
                                td { (s.name) }
                                td { (when(s.created_at)) }
                                @let fields = [("name", s.name.as_str())];
                                td { (action(session, "/access/admin/renew", &fields, "Renew", &s.name, false)) }
                            }
                        }
                    }
                }
                div {
                    @let (label, value) = if enabled { ("Disable", "false") } else { ("Enable", "true") };
                    (action(session, "/access/admin/status", &[("enabled", value)], label, "the admin user", false))
                }
            } @else {
                p.muted { "Only Owner sees or changes the admin user's passwords." }
            }
        }
    }
}

fn kind_label(kind: &str) -> &str {
    match kind {
        "servicePrincipal" => "Service principal",
        "user" => "User",
        other => other,
    }
}

fn users(snapshot: &Snapshot) -> impl Iterator<Item = &PrincipalRow> {
    let kinds = [PrincipalKind::User.as_str(), PrincipalKind::ServicePrincipal.as_str()];
    snapshot.rows.principals.iter().filter(move |p| kinds.contains(&p.kind.as_str()))
}

fn users_section(session: &Session, snapshot: &Snapshot) -> Markup {
    let level = session.caller.manage();
    let (write, owner) = (level >= Manage::Write, level >= Manage::Owner);
    html! {
        section #users aria-labelledby="users-title" {
            h2 #users-title { "Users and service principals" }
            @if users(snapshot).next().is_none() {
                p.muted { "None yet." }
            } @else {
                table aria-labelledby="users-title" {
                    thead { tr {
                        th { "Name" } th { "Kind" } th { "Status" } th { "Expiry" } th { "Created" }
                        @if write { th { "Change" } }
                    } }
                    tbody {
                        @for p in users(snapshot) {
                            tr data-name=(p.name) {
                                td { (p.name) }
                                td { (kind_label(&p.kind)) }
                                td { (status(p.enabled)) }
                                td { @match p.expires_at { Some(t) => (when(t)), None => "never" } }
                                td { (when(p.created_at)) }
                                @if write {
                                    td {
                                        (toggle(session, "/access/users/status", &p.name, p.enabled))
                                        @let (fields, of) = ([("name", p.name.as_str())], format!("for {}", p.name));
                                        (action(session, "/access/users/renew", &fields, "New password", &of, false))
                                        (delete(session, "/access/users/delete", &p.name))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if write {
                form #new-user method="post" action=(format!("{}/access/users", session.base)) {
                    h3 { "New user or service principal" }
                    (session.csrf_field())
                    label for="user-name" { "Name" }
                    input #user-name type="text" name="name" required maxlength="64" autocomplete="off";
                    label for="user-kind" { "Kind" }
                    select #user-kind name="kind" {
                        option value="user" { "User" }
                        option value="servicePrincipal" { "Service principal" }
                    }
                    // Roles at creation are role assignments: Owner's to make, as in the API.
                    @if owner {
                        label for="user-role" { "Role on the whole registry (optional)" }
                        select #user-role name="role" {
                            option value="" { "None" }
                            @for r in Role::ALL { option value=(r.as_str()) { (r.as_str()) } }
                        }
                    }
                    button type="submit" { "Create" }
                    p.muted { "A password is generated and shown once." }
                }
            }
        }
    }
}

fn roles_section(session: &Session, snapshot: &Snapshot) -> Markup {
    let owner = session.caller.manage() >= Manage::Owner;
    let roles = &snapshot.rows.roles;
    html! {
        section #roles aria-labelledby="roles-title" {
            h2 #roles-title { "Role assignments" }
            @if roles.is_empty() {
                p.muted { "None yet." }
            } @else {
                table aria-labelledby="roles-title" {
                    thead { tr {
                        th { "Principal" } th { "Role" } th { "Scope" } th { "Created" }
                        @if owner { th { "Remove" } }
                    } }
                    tbody {
                        @for r in roles {
                            tr data-name=(r.principal) data-role=(r.role) {
                                td { (r.principal) }
                                td { (r.role) }
                                td { (scope_label(&r.scope)) }
                                td { (when(r.created_at)) }
                                @if owner {
                                    @let of = format!("{} from {}", r.role, r.principal);
                                    td {
                                        (action(session, "/access/roles/delete", &[("id", &r.id)], "Remove", &of, true))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !owner {
                p.muted { "Only Owner assigns or removes roles." }
            } @else if users(snapshot).next().is_none() {
                p.muted { "Create a user or service principal to assign it a role." }
            } @else {
                form #new-role method="post" action=(format!("{}/access/roles", session.base)) {
                    h3 { "Assign a role" }
                    (session.csrf_field())
                    label for="role-principal" { "User or service principal" }
                    select #role-principal name="principal" {
                        @for p in users(snapshot) { option value=(p.name) { (p.name) } }
                    }
                    label for="role-role" { "Role" }
                    select #role-role name="role" {
                        @for r in Role::ALL { option value=(r.as_str()) { (r.as_str()) } }
                    }
                    label for="role-scope" { "Scope" }
                    input #role-scope type="text" name="scope" aria-describedby="role-scope-hint";
                    p.muted #role-scope-hint {
                        "Empty for the whole registry, or repositories such as team/app or team/*."
                    }
                    button type="submit" { "Assign" }
                }
            }
        }
    }
}

fn scope_label(scope: &str) -> String {
    if scope.is_empty() { "whole registry".into() } else { format!("repositories/{scope}") }
}

/// A page of tokens by name, after `last`.
fn tokens_section(session: &Session, snapshot: &Snapshot, last: Option<&str>) -> Markup {
    let write = session.caller.manage() >= Manage::Write;
    let mut tokens: Vec<&PrincipalRow> = snapshot
        .rows
        .principals
        .iter()
        .filter(|p| p.kind == TOKEN.as_str() && last.is_none_or(|l| p.name.as_str() > l))
        .collect();
    tokens.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let more = tokens.len() > TOKENS_PAGE;
    tokens.truncate(TOKENS_PAGE);
    html! {
        section #tokens aria-labelledby="tokens-title" {
            h2 #tokens-title { "Tokens" }
            @if tokens.is_empty() {
                p.muted { "None yet." }
            } @else {
                table aria-labelledby="tokens-title" {
                    thead { tr {
                        th { "Name" } th { "Scope map" } th { "Status" } th { "Passwords" } th { "Created" }
                        @if write { th { "Change" } }
                    } }
                    tbody {
                        @for t in &tokens {
                            tr data-name=(t.name) {
                                td { (t.name) }
                                td { (t.scope_map.as_deref().unwrap_or_default()) }
                                td { (status(t.enabled)) }
                                td {
                                    @let secrets: Vec<String> = snapshot.rows.secrets.iter()
                                        .filter(|s| s.principal == t.name)
                                        .map(|s| format!("{} ({})", s.name, iso8601_z(s.created_at)))
                                        .collect();
                                    @if secrets.is_empty() { "none" } @else { (secrets.join(", ")) }
                                }
                                td { (when(t.created_at)) }
                                @if write {
                                    td {
                                        (toggle(session, "/access/tokens/status", &t.name, t.enabled))
                                        @for p in TOKEN.secret_names() {
                                            @let fields = [("name", t.name.as_str()), ("password", p)];
                                            @let (label, of) = (format!("New {p}"), format!("for {}", t.name));
                                            (action(session, "/access/tokens/renew", &fields, &label, &of, false))
                                        }
                                        (delete(session, "/access/tokens/delete", &t.name))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let (true, Some(t)) = (more, tokens.last()) {
                p { a rel="next" href=(format!("{}#tokens", link(&session.base, "/access", &[("tokens_last", &t.name)]))) { "More tokens" } }
            }
            @if write {
                form #new-token method="post" action=(format!("{}/access/tokens", session.base)) {
                    h3 { "New token" }
                    (session.csrf_field())
                    label for="token-name" { "Name" }
                    input #token-name type="text" name="name" required maxlength="64" autocomplete="off";
                    fieldset {
                        legend { "What it may do: a scope map, or actions on one repository" }
                        label for="token-scope-map" { "Scope map" }
                        select #token-scope-map name="scope_map" {
                            option value="" { "None: the repository below" }
                            @for m in &snapshot.rows.scope_maps { option value=(m.name) { (m.name) } }
                        }
                        label for="token-repository" { "Repository" }
                        input #token-repository type="text" name="repository" placeholder="team/app";
                        @for a in Actions::ALL_REPOSITORY.iter() {
                            @let id = format!("token-action-{}", a.as_str().replace('/', "-"));
                            label.check for=(id) {
                                input #(id) type="checkbox" name="action" value=(a.as_str());
                                " " (a.as_str())
                            }
                        }
                    }
                    button type="submit" { "Create token" }
                    p.muted { "Then generate its passwords above: each is shown once." }
                }
            }
        }
    }
}

fn scope_maps_section(session: &Session, snapshot: &Snapshot) -> Markup {
    let write = session.caller.manage() >= Manage::Write;
    html! {
        section #scope-maps aria-labelledby="scope-maps-title" {
            h2 #scope-maps-title { "Scope maps" }
            table aria-labelledby="scope-maps-title" {
                thead { tr {
                    th { "Name" } th { "Description" } th { "Actions" } th { "Type" } th { "Created" }
                    @if write { th { "Delete" } }
                } }
                tbody {
                    @for m in &snapshot.rows.scope_maps {
                        tr data-name=(m.name) {
                            td { (m.name) }
                            td { (m.description) }
                            td { ul { @for a in &m.actions { li { code { (a) } } } } }
                            td { @if m.system { "system" } @else { "user-defined" } }
                            // System scope maps come with the registry: no creation time.
                            td { @if m.system { "—" } @else { (when(m.created_at)) } }
                            @if write {
                                td {
                                    @if !m.system {
                                        (delete(session, "/access/scopemaps/delete", &m.name))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if write {
                form #new-scope-map method="post" action=(format!("{}/access/scopemaps", session.base)) {
                    h3 { "New scope map" }
                    (session.csrf_field())
                    label for="map-name" { "Name" }
                    input #map-name type="text" name="name" required maxlength="64" autocomplete="off";
                    label for="map-description" { "Description" }
                    input #map-description type="text" name="description";
                    label for="map-actions" { "Actions, one a line" }
                    textarea #map-actions name="actions" rows="4" required aria-describedby="map-actions-hint" {}
                    p.muted #map-actions-hint {
                        "Such as " code { "repositories/app/content/read" } " or "
                        code { "repositories/team/*/content/write" } "."
                    }
                    button type="submit" { "Create scope map" }
                }
            }
        }
    }
}

/// Back to the page at `anchor`, after a change that reveals nothing.
fn back(session: &Session, anchor: &str) -> Response {
    see_other(format!("{}/access#{anchor}", session.base))
}

fn parse_role(name: &str) -> Result<Role, PortalError> {
    name.parse().map_err(PortalError::BadRequest)
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    #[serde(default)]
    name: String,
    enabled: bool,
}

#[derive(Deserialize)]
pub(super) struct NameForm {
    name: String,
    confirm: Option<String>,
}

/// POST /access/admin/status — turns the admin user on or off (Owner: it has Owner's rights).
pub(super) async fn set_admin_status(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, StatusForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Owner)?;
    app.access.update_settings(&session.caller.effective(), Some(form.enabled), None).await?;
    Ok(back(&session, "admin"))
}

/// POST /access/admin/renew — a new value for the admin user's `password` or `password2`.
pub(super) async fn renew_admin_password(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, NameForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Owner)?;
    let admin = app.access.admin_name().to_owned();
    let actor = session.caller.effective();
    let fresh = app.access.renew_secrets(&actor, &admin, PrincipalKind::Admin, &[form.name], None).await?;
    Ok(page(&app, &session, Some(Fresh { whose: &admin, secrets: &fresh }), &AccessQuery::default()))
}

#[derive(Deserialize)]
pub(super) struct NewUserForm {
    name: String,
    kind: String,
    #[serde(default)]
    role: String,
}

/// POST /access/users — a user or service principal with a generated password, shown once;
/// with a role only if the caller is Owner (role assignments are Owner's, as in the API).
pub(super) async fn create_user(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, NewUserForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    let kind = PrincipalKind::of_user(Some(&form.kind))?;
    let roles = match form.role.as_str() {
        "" => Vec::new(),
        role => vec![parse_role(role)?],
    };
    let name = form.name.trim();
    let new = NewPrincipal::user(name.to_owned(), kind, None, roles);
    let fresh = app.access.create_principal(&session.caller.effective(), new).await?;
    Ok(page(&app, &session, Some(Fresh { whose: name, secrets: &fresh }), &AccessQuery::default()))
}

/// POST /access/users/status
pub(super) async fn set_user_status(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, StatusForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    let kind = app.access.user_kind(&form.name)?;
    app.access.update_principal(&session.caller.effective(), &form.name, kind, Some(form.enabled), None, None).await?;
    Ok(back(&session, "users"))
}

/// POST /access/users/renew — a new generated password, shown once.
pub(super) async fn renew_user_password(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, NameForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    let kind = app.access.user_kind(&form.name)?;
    let actor = session.caller.effective();
    let fresh = app.access.renew_secrets(&actor, &form.name, kind, &["password".into()], None).await?;
    Ok(page(&app, &session, Some(Fresh { whose: &form.name, secrets: &fresh }), &AccessQuery::default()))
}

/// POST /access/users/delete — after a confirmation.
pub(super) async fn delete_user(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, NameForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    let kind = app.access.user_kind(&form.name)?;
    if !confirmed(&form.confirm) {
        let question = format!(
            "Delete {} {:?}? Its password and role assignments go with it.",
            kind_label(kind.as_str()).to_lowercase(),
            form.name
        );
        let back = format!("{}/access#users", session.base);
        return Ok(session.confirm(&question, "/access/users/delete", &[("name", &form.name)], &back));
    }
    app.access.delete_principal(&session.caller.effective(), &form.name, kind).await?;
    Ok(back(&session, "users"))
}

#[derive(Deserialize)]
pub(super) struct NewRoleForm {
    principal: String,
    role: String,
    #[serde(default)]
    scope: String,
}

/// POST /access/roles — Owner only.
pub(super) async fn assign_role(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, NewRoleForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Owner)?;
    let role = parse_role(&form.role)?;
    let scope = role_scope(&form.scope);
    app.access.assign_role(&session.caller.effective(), &form.principal, role, scope).await?;
    Ok(back(&session, "roles"))
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    id: String,
    confirm: Option<String>,
}

/// POST /access/roles/delete — Owner only, after a confirmation.
pub(super) async fn remove_role(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, RoleForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Owner)?;
    if !confirmed(&form.confirm) {
        let snapshot = app.access.snapshot();
        let Some(row) = snapshot.rows.roles.iter().find(|r| r.id == form.id) else {
            return Err(crate::access::Error::NotFound(format!("role assignment {:?} does not exist", form.id)).into());
        };
        let question =
            format!("Remove the role {} of {:?} on the {}?", row.role, row.principal, scope_label(&row.scope));
        let back = format!("{}/access#roles", session.base);
        return Ok(session.confirm(&question, "/access/roles/delete", &[("id", &form.id)], &back));
    }
    app.access.unassign_role(&session.caller.effective(), &form.id).await?;
    Ok(back(&session, "roles"))
}

/// POST /access/tokens — a token without passwords (generated one at a time afterwards), on an
/// existing scope map or on actions on one repository. Read as pairs: `action` repeats.
pub(super) async fn create_token(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, Vec<(String, String)>) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.trim());
    let actions: Vec<String> = form.iter().filter(|(k, _)| k == "action").map(|(_, v)| v.clone()).collect();
    let scope = match (field("scope_map"), field("repository")) {
        (map, "") if !map.is_empty() => TokenScope::Map(map.to_owned()),
        ("", repo) if !repo.is_empty() && !actions.is_empty() => {
            TokenScope::Repositories(vec![(repo.to_owned(), actions)])
        }
        _ => {
            return Err(PortalError::BadRequest(
                "choose either a scope map, or a repository and at least one action on it".into(),
            ));
        }
    };
    app.registry.check_room(false).await?;
    if matches!(scope, TokenScope::Repositories(_)) {
        app.registry.check_room(true).await?;
    }
    let new = NewPrincipal::token(field("name").to_owned(), scope, Vec::new());
    app.access.create_principal(&session.caller.effective(), new).await?;
    Ok(back(&session, "tokens"))
}

/// POST /access/tokens/status
pub(super) async fn set_token_status(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, StatusForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    app.access.update_principal(&session.caller.effective(), &form.name, TOKEN, Some(form.enabled), None, None).await?;
    Ok(back(&session, "tokens"))
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    name: String,
    password: String,
}

/// POST /access/tokens/renew — a new `password1` or `password2`, shown once.
pub(super) async fn renew_token_password(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, PasswordForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    let actor = session.caller.effective();
    let fresh = app.access.renew_secrets(&actor, &form.name, TOKEN, &[form.password], None).await?;
    Ok(page(&app, &session, Some(Fresh { whose: &form.name, secrets: &fresh }), &AccessQuery::default()))
}

/// POST /access/tokens/delete — after a confirmation.
pub(super) async fn delete_token(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, NameForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    app.access.principal_of_kind(&form.name, TOKEN)?;
    if !confirmed(&form.confirm) {
        let question = format!("Delete token {:?}? Clients using its passwords are refused from then on.", form.name);
        let back = format!("{}/access#tokens", session.base);
        return Ok(session.confirm(&question, "/access/tokens/delete", &[("name", &form.name)], &back));
    }
    app.access.delete_principal(&session.caller.effective(), &form.name, TOKEN).await?;
    Ok(back(&session, "tokens"))
}

#[derive(Deserialize)]
pub(super) struct NewScopeMapForm {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    actions: String,
}

/// POST /access/scopemaps — actions one a line.
pub(super) async fn create_scope_map(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, NewScopeMapForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    let actions: Vec<String> =
        form.actions.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    app.registry.check_room(true).await?;
    let actor = session.caller.effective();
    app.access.put_scope_map(&actor, form.name.trim(), form.description.trim(), actions, true).await?;
    Ok(back(&session, "scope-maps"))
}

/// POST /access/scopemaps/delete — after a confirmation; refused while a token uses it.
pub(super) async fn delete_scope_map(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form): (Session, NameForm) = Session::form(&app, req).await?;
    session.check_manage(Manage::Write)?;
    if !confirmed(&form.confirm) {
        let question = format!("Delete scope map {:?}?", form.name);
        let back = format!("{}/access#scope-maps", session.base);
        return Ok(session.confirm(&question, "/access/scopemaps/delete", &[("name", &form.name)], &back));
    }
    app.access.delete_scope_map(&form.name).await?;
    Ok(back(&session, "scope-maps"))
}

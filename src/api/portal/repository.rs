//! One repository: its tags and manifests as `/acr/v1` lists them, with the command to pull
//! each tag; toggles for the four locks of the repository, each tag and each manifest; untag,
//! delete a manifest and delete the repository, each after a confirmation; a manifest's
//! quarantine state, with Release and Fail buttons. Every action needs what its `/acr/v1`
//! request needs: `metadata/write` for locks, `content/delete` for deletes, `quarantine/write`
//! to release or fail; quarantined manifests are listed only to callers with `quarantine/read`.

use axum::extract::{Query, Request, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;

use super::{PAGE, PageResult, PortalError, Session, bytes, confirmed, link, see_other, when};
use crate::api::auth::Origin;
use crate::app::AppState;
use crate::auth::{Action, Actions, Need};
use crate::meta::{Attributes, AttributesPatch, TagRow};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::{ManifestDetails, Order, Page, QuarantineState};

#[derive(Deserialize)]
pub(super) struct RepositoryQuery {
    name: String,
    /// `manifests`: the manifests; else the tags.
    #[serde(default)]
    view: String,
    /// The last tag or digest of the previous page.
    last: Option<String>,
}

/// The four locks, as forms name them, with the attribute each one turns off.
const LOCKS: [&str; 4] = ["write", "delete", "read", "list"];

/// GET /repository?name=NAME&view=tags|manifests — what `/acr/v1/NAME` shows, then a page
/// of what `…/_tags` or `…/_manifests` lists. One table per page keeps a page of 100 rows,
/// with a toggle per lock on each, light (one form around the table, a button per action).
pub(super) async fn show_repository(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RepositoryQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    let repo = parse_name(&query.name)?;
    session.check(&need(&repo, Action::MetadataRead))?;
    let row = app.registry.repository(&repo).await?;
    let view = if query.view == "manifests" { View::Manifests } else { View::Tags };
    let last = query.last.as_deref().filter(|l| !l.is_empty());
    let (base, name) = (&session.base, repo.as_str());
    let may = |action| !session.caller.on(name).intersect(Actions::of(&[action])).is_empty();
    let rights = Rights {
        lock: may(Action::MetadataWrite),
        delete: may(Action::ContentDelete),
        quarantine: may(Action::QuarantineWrite),
    };
    let sees = session.caller.sees(name);
    let table = match view {
        View::Tags => {
            let server = Origin::of(&app, &headers).service;
            let tags = app.registry.tag_details(&repo, None, Order::Name, sees, last, PAGE as usize).await?;
            tags_table(&session, &repo, &server, rights, &tags)
        }
        View::Manifests => {
            let manifests = app.registry.manifest_details(&repo, Order::Name, sees, last, PAGE as usize).await?;
            manifests_table(&session, &repo, rights, &manifests)
        }
    };
    let tab = |v: View, label: &str, count: u64| {
        let href = link(base, "/repository", &[("name", name), ("view", v.as_str())]);
        html! { a href=(href) aria-current=[(v == view).then_some("page")] { (label) " (" (count) ")" } }
    };
    let body = html! {
        h1 { (name) }
        dl {
            dt { "Created" } dd { (when(row.created_at)) }
            dt { "Updated" } dd { (when(row.updated_at)) }
            dt { "Locks" }
            dd #repository-locks {
                @if rights.lock {
                    form.inline method="post" action=(format!("{base}/repository/locks")) {
                        (hidden_fields(&session, name, "repository"))
                        (lock_toggles(&row.attributes, ""))
                    }
                } @else { (locks(&row.attributes)) }
            }
        }
        @if rights.delete {
            form.inline method="post" action=(format!("{base}/repository/delete")) {
                (session.csrf_field())
                input type="hidden" name="name" value=(name);
                button.danger #delete-repository type="submit" { "Delete repository" }
            }
        }
        nav.tabs aria-label="Repository contents" {
            (tab(View::Tags, "Tags", row.tag_count)) (tab(View::Manifests, "Manifests", row.manifest_count))
        }
        (table)
    };
    Ok(session.page(name, body))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Tags,
    Manifests,
}

impl View {
    fn as_str(self) -> &'static str {
        match self {
            View::Tags => "tags",
            View::Manifests => "manifests",
        }
    }
}

/// What the caller may do here, as `/acr/v1` would let it.
#[derive(Clone, Copy)]
struct Rights {
    lock: bool,
    delete: bool,
    /// Release or fail quarantined manifests.
    quarantine: bool,
}

/// The fields every form of this page carries; `target` says what its lock buttons change.
fn hidden_fields(session: &Session, name: &str, target: &str) -> Markup {
    html! {
        (session.csrf_field())
        input type="hidden" name="name" value=(name);
        input type="hidden" name="target" value=(target);
    }
}

fn tags_table(session: &Session, repo: &RepoName, server: &str, rights: Rights, tags: &Page<TagRow>) -> Markup {
    let (base, name) = (&session.base, repo.as_str());
    let table = html! {
        table #tags aria-label="Tags" {
            thead { tr { th { "Tag" } th { "Digest" } th { "Updated" } th { "Locks" } th { "Pull" } @if rights.delete { th { "Untag" } } } }
            tbody {
                @for t in &tags.items {
                    tr data-tag=(t.name) {
                        th scope="row" { (t.name) }
                        td.digest { a href=(manifest_link(base, name, &t.digest)) { (short(&t.digest)) } }
                        td { (when(t.updated_at)) }
                        td.locks { @if rights.lock { (lock_toggles(&t.attributes, &t.name)) } @else { (locks(&t.attributes)) } }
                        td { code.pull { "docker pull " (server) "/" (name) ":" (t.name) } }
                        @if rights.delete {
                            td { button.untag type="submit" formaction=(format!("{base}/repository/untag")) name="tag" value=(t.name) { "Untag" } }
                        }
                    }
                }
            }
        }
    };
    html! {
        (in_form(session, name, "tag", rights, table))
        @if let (true, Some(last)) = (tags.more, tags.items.last()) {
            p { a rel="next" href=(link(base, "/repository", &[("name", name), ("view", "tags"), ("last", &last.name)])) { "More tags" } }
        }
    }
}

fn manifests_table(session: &Session, repo: &RepoName, rights: Rights, manifests: &Page<ManifestDetails>) -> Markup {
    let (base, name) = (&session.base, repo.as_str());
    let table = html! {
        table #manifests aria-label="Manifests" {
            thead {
                tr {
                    th { "Digest" } th { "Size" } th { "Platforms" } th { "Tags" } th { "Created" } th { "Updated" }
                    th { "Locks" } th { "Quarantine" } @if rights.delete { th { "Delete" } }
                }
            }
            tbody {
                @for m in &manifests.items {
                    tr data-digest=(m.row.digest) {
                        th.digest scope="row" { a href=(manifest_link(base, name, &m.row.digest)) { (short(&m.row.digest)) } }
                        td { (bytes(m.image_size)) }
                        td { (platforms(m)) }
                        td { (m.row.tags.join(", ")) }
                        td { (when(m.row.created_at)) }
                        td { (when(m.row.updated_at)) }
                        td.locks { @if rights.lock { (lock_toggles(&m.row.attributes, &m.row.digest)) } @else { (locks(&m.row.attributes)) } }
                        td.quarantine { (quarantine_cell(base, m.row.quarantine_state.as_deref(), &m.row.digest, rights.quarantine)) }
                        @if rights.delete {
                            td { button.delete type="submit" formaction=(format!("{base}/repository/delete-manifest")) name="digest" value=(m.row.digest) { "Delete" } }
                        }
                    }
                }
            }
        }
    };
    html! {
        (in_form(session, name, "manifest", rights, table))
        @if let (true, Some(last)) = (manifests.more, manifests.items.last()) {
            p { a rel="next" href=(link(base, "/repository", &[("name", name), ("view", "manifests"), ("last", &last.row.digest)])) { "More manifests" } }
        }
    }
}

/// `table` inside the one form its buttons submit, if the caller may change anything.
fn in_form(session: &Session, name: &str, target: &str, rights: Rights, table: Markup) -> Markup {
    match rights.lock || rights.delete || rights.quarantine {
        true => html! {
            form method="post" action=(format!("{}/repository/locks", session.base)) {
                (hidden_fields(session, name, target)) (table)
            }
        },
        false => table,
    }
}

/// A manifest's quarantine state ("none" if it never was quarantined) and, for a caller who
/// may, the buttons that set it `Passed` (Release) or `Failed`; they submit to
/// `/repository/quarantine` from whichever form holds them.
pub(super) fn quarantine_cell(base: &str, state: Option<&str>, digest: &str, may: bool) -> Markup {
    let action = format!("{base}/repository/quarantine");
    html! {
        span.quarantine-state { (state.unwrap_or("none")) }
        @if may && state.is_some() {
            @for (value, label) in [("Passed", "Release"), ("Failed", "Fail")] {
                @if state != Some(value) {
                    " "
                    button type="submit" formaction=(action) name="state" value=(format!("{value}:{digest}")) { (label) }
                }
            }
        }
    }
}

fn manifest_link(base: &str, name: &str, digest: &str) -> String {
    link(base, "/manifest", &[("name", name), ("digest", digest)])
}

/// One button per lock, each turning it on or off (`aria-pressed` says which it is now);
/// its value names the lock, the change and the tag or digest (`id`) it applies to.
fn lock_toggles(a: &Attributes, id: &str) -> Markup {
    let on = [!a.write_enabled, !a.delete_enabled, !a.read_enabled, !a.list_enabled];
    html! {
        @for (lock, locked) in LOCKS.iter().zip(on) {
            button type="submit" name="lock" value=(format!("{lock}:{}:{id}", if locked { "off" } else { "on" }))
                aria-pressed=(locked) {
                (lock) @if locked { " locked" }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct LockForm {
    name: String,
    /// `repository`, `tag` or `manifest`.
    target: String,
    /// `LOCK:on:ID` sets a lock (`write:on:v1`: `writeEnabled: false` on tag v1), `LOCK:off:ID`
    /// clears it; ID is the tag or digest, empty for the repository.
    lock: String,
}

/// POST /repository/locks — sets or clears one lock of the repository, a tag or a manifest.
pub(super) async fn set_lock(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form) = Session::form::<LockForm>(&app, req).await?;
    let repo = parse_name(&form.name)?;
    session.check(&need(&repo, Action::MetadataWrite))?;
    let sees = session.caller.sees(repo.as_str());
    let bad = || PortalError::BadRequest(format!("lock {:?}: use write, delete, read or list, :on or :off", form.lock));
    let mut parts = form.lock.splitn(3, ':');
    let (lock, state, id) = (parts.next().unwrap_or_default(), parts.next(), parts.next().unwrap_or_default());
    let enabled = match state {
        Some("on") => Some(false),
        Some("off") => Some(true),
        _ => return Err(bad()),
    };
    let patch = match lock {
        "write" => AttributesPatch { write_enabled: enabled, ..AttributesPatch::default() },
        "delete" => AttributesPatch { delete_enabled: enabled, ..AttributesPatch::default() },
        "read" => AttributesPatch { read_enabled: enabled, ..AttributesPatch::default() },
        "list" => AttributesPatch { list_enabled: enabled, ..AttributesPatch::default() },
        _ => return Err(bad()),
    };
    match form.target.as_str() {
        "repository" => drop(app.registry.update_repository(&repo, &patch).await?),
        "tag" => drop(app.registry.update_tag(&repo, &parse_tag(id)?, &patch, sees).await?),
        "manifest" => drop(app.registry.update_manifest(&repo, &parse_digest(id)?, &patch, sees).await?),
        other => return Err(PortalError::BadRequest(format!("target {other:?}: use repository, tag or manifest"))),
    }
    Ok(see_other(back_to(&session, &repo, &form.target)))
}

/// The page a form of this page came from: its repository, on the tab of `target`.
fn back_to(session: &Session, repo: &RepoName, target: &str) -> String {
    let view = if target == "manifest" { "manifests" } else { "tags" };
    link(&session.base, "/repository", &[("name", repo.as_str()), ("view", view)])
}

#[derive(Deserialize)]
pub(super) struct QuarantineForm {
    name: String,
    /// `Passed:DIGEST` or `Failed:DIGEST`.
    state: String,
    /// Where the form came from: `manifest` goes back to the manifest's page.
    #[serde(default)]
    from: String,
}

/// POST /repository/quarantine — releases (`Passed`) or fails a manifest, as a PATCH of its
/// `quarantineState` through `/acr/v1` does.
pub(super) async fn set_quarantine(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form) = Session::form::<QuarantineForm>(&app, req).await?;
    let repo = parse_name(&form.name)?;
    session.check(&need(&repo, Action::QuarantineWrite))?;
    let (state, digest) = form.state.split_once(':').unwrap_or_default();
    let state: QuarantineState = state.parse().map_err(PortalError::BadRequest)?;
    let digest = parse_digest(digest)?;
    let by = format!("set in the portal by {}", session.caller.name.as_deref().unwrap_or_default());
    app.registry.set_quarantine(&repo, &digest, state, Some(&by), &session.actor).await?;
    Ok(see_other(match form.from.as_str() {
        "manifest" => manifest_link(&session.base, repo.as_str(), &digest.to_string()),
        _ => back_to(&session, &repo, "manifest"),
    }))
}

#[derive(Deserialize)]
pub(super) struct UntagForm {
    name: String,
    tag: String,
    confirm: Option<String>,
}

/// POST /repository/untag — removes a tag (its manifest stays), once confirmed.
pub(super) async fn untag(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form) = Session::form::<UntagForm>(&app, req).await?;
    let repo = parse_name(&form.name)?;
    let tag = parse_tag(&form.tag)?;
    session.check(&need(&repo, Action::ContentDelete))?;
    let back = back_to(&session, &repo, "tag");
    if !confirmed(&form.confirm) {
        let question = format!("Remove the tag {}:{}? The manifest it names stays.", repo.as_str(), tag.as_str());
        return Ok(session.confirm(&question, "/repository/untag", &[("name", &form.name), ("tag", &form.tag)], &back));
    }
    app.registry.untag(&repo, &tag, &session.actor).await?;
    Ok(see_other(back))
}

#[derive(Deserialize)]
pub(super) struct DeleteManifestForm {
    name: String,
    digest: String,
    confirm: Option<String>,
}

/// POST /repository/delete-manifest — deletes a manifest and every tag naming it, once
/// confirmed; its layers go with the next garbage collection unless shared.
pub(super) async fn delete_manifest(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form) = Session::form::<DeleteManifestForm>(&app, req).await?;
    let repo = parse_name(&form.name)?;
    let digest = parse_digest(&form.digest)?;
    session.check(&need(&repo, Action::ContentDelete))?;
    let back = back_to(&session, &repo, "manifest");
    if !confirmed(&form.confirm) {
        let question = format!(
            "Delete the manifest {}@{digest} and every tag that names it? This cannot be undone.",
            repo.as_str()
        );
        let fields = [("name", form.name.as_str()), ("digest", form.digest.as_str())];
        return Ok(session.confirm(&question, "/repository/delete-manifest", &fields, &back));
    }
    app.registry.delete_manifest(&repo, &Reference::Digest(digest), &session.actor).await?;
    Ok(see_other(back))
}

#[derive(Deserialize)]
pub(super) struct DeleteRepositoryForm {
    name: String,
    confirm: Option<String>,
}

/// POST /repository/delete — deletes the repository with all its manifests and tags, once
/// confirmed (refused, like the API, while anything in it is locked against deletes).
pub(super) async fn delete_repository(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form) = Session::form::<DeleteRepositoryForm>(&app, req).await?;
    let repo = parse_name(&form.name)?;
    session.check(&need(&repo, Action::ContentDelete))?;
    if !confirmed(&form.confirm) {
        let question =
            format!("Delete the repository {} with all its manifests and tags? This cannot be undone.", repo.as_str());
        let back = link(&session.base, "/repository", &[("name", repo.as_str())]);
        return Ok(session.confirm(&question, "/repository/delete", &[("name", &form.name)], &back));
    }
    app.registry.delete_repository(&repo, &session.actor).await?;
    Ok(see_other(format!("{}/repositories", session.base)))
}

pub(super) fn need(repo: &RepoName, action: Action) -> Need {
    Need::Repository { name: repo.clone(), actions: Actions::of(&[action]) }
}

pub(super) fn parse_name(name: &str) -> Result<RepoName, PortalError> {
    RepoName::parse(name).map_err(|e| PortalError::BadRequest(e.to_string()))
}

fn parse_tag(tag: &str) -> Result<Tag, PortalError> {
    Tag::parse(tag).map_err(|e| PortalError::BadRequest(e.to_string()))
}

pub(super) fn parse_digest(digest: &str) -> Result<Digest, PortalError> {
    Digest::parse(digest).map_err(|e| PortalError::BadRequest(e.to_string()))
}

/// `os/arch` of an image, or of each child of an index.
fn platforms(m: &ManifestDetails) -> Markup {
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
    let on = [!a.write_enabled, !a.delete_enabled, !a.read_enabled, !a.list_enabled];
    let set: Vec<&str> = LOCKS.iter().zip(on).filter(|(_, locked)| *locked).map(|(name, _)| *name).collect();
    if set.is_empty() { "none".into() } else { format!("{} locked", set.join(", ")) }
}

/// A digest shortened for a table: the algorithm and 12 hex digits.
pub(super) fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.to_owned(),
    }
}

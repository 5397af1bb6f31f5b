//! One repository: its tags and manifests as `/acr/v1` lists them, with the command to pull
//! each tag; toggles for the four locks of the repository, each tag and each manifest; untag,
//! delete a manifest and delete the repository, each after a confirmation. Every action needs
//! what its `/acr/v1` request needs: `metadata/write` for locks, `content/delete` for deletes.

use axum::extract::{Query, Request, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;

use super::{PAGE, PageResult, PortalError, Session, bytes, confirmed, link, see_other};
use crate::api::auth::Origin;
use crate::api::time::iso8601_z;
use crate::app::AppState;
use crate::auth::{Action, Actions, Need};
use crate::meta::{Attributes, AttributesPatch};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::{ManifestDetails, Order};

#[derive(Deserialize)]
pub(super) struct RepositoryQuery {
    name: String,
    tag_last: Option<String>,
    manifest_last: Option<String>,
}

/// The four locks, as forms name them, with the attribute each one turns off.
const LOCKS: [&str; 4] = ["write", "delete", "read", "list"];

/// GET /repository?name=NAME — what `/acr/v1/NAME`, `…/_tags` and `…/_manifests` show.
pub(super) async fn show_repository(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RepositoryQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    let repo = parse_name(&query.name)?;
    session.check(&need(&repo, Action::MetadataRead))?;
    let row = app.registry.repository(&repo).await?;
    let tags = app.registry.tag_details(&repo, None, Order::Name, query.tag_last.as_deref(), PAGE as usize).await?;
    let manifests =
        app.registry.manifest_details(&repo, Order::Name, query.manifest_last.as_deref(), PAGE as usize).await?;
    let server = Origin::of(&app, &headers).service;
    let (base, name) = (&session.base, repo.as_str());
    let may = |action| !session.caller.on(name).intersect(Actions::of(&[action])).is_empty();
    let (may_lock, may_delete) = (may(Action::MetadataWrite), may(Action::ContentDelete));
    let manifest_link = |digest: &str| link(base, "/manifest", &[("name", name), ("digest", digest)]);
    let lock_form = |target: Target<'_>, attributes: &Attributes| match may_lock {
        true => lock_toggles(&session, name, target, attributes),
        false => html! { (locks(attributes)) },
    };
    let body = html! {
        h1 { (name) }
        dl {
            dt { "Created" } dd { (iso8601_z(row.created_at)) }
            dt { "Updated" } dd { (iso8601_z(row.updated_at)) }
            dt { "Tags" } dd { (row.tag_count) }
            dt { "Manifests" } dd { (row.manifest_count) }
            dt { "Locks" } dd #repository-locks { (lock_form(Target::Repository, &row.attributes)) }
        }
        @if may_delete {
            form.inline method="post" action=(format!("{base}/repository/delete")) {
                (session.csrf_field())
                input type="hidden" name="name" value=(name);
                button.danger #delete-repository type="submit" { "Delete repository" }
            }
        }
        h2 #tags-title { "Tags" }
        table #tags aria-labelledby="tags-title" {
            thead { tr { th { "Tag" } th { "Digest" } th { "Updated" } th { "Locks" } th { "Pull" } @if may_delete { th { "Untag" } } } }
            tbody {
                @for t in &tags.items {
                    tr data-tag=(t.name) {
                        td { (t.name) }
                        td.digest { a href=(manifest_link(&t.digest)) { (short(&t.digest)) } }
                        td { (iso8601_z(t.updated_at)) }
                        td.locks { (lock_form(Target::Tag(&t.name), &t.attributes)) }
                        td { code { "docker pull " (server) "/" (name) ":" (t.name) } }
                        @if may_delete {
                            td {
                                form.inline method="post" action=(format!("{base}/repository/untag")) {
                                    (session.csrf_field())
                                    input type="hidden" name="name" value=(name);
                                    input type="hidden" name="tag" value=(t.name);
                                    button.untag type="submit" aria-label=(format!("Untag {}", t.name)) { "Untag" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let (true, Some(last)) = (tags.more, tags.items.last()) {
            p { a href=(link(base, "/repository", &[("name", name), ("tag_last", &last.name)])) { "More tags" } }
        }
        h2 #manifests-title { "Manifests" }
        table #manifests aria-labelledby="manifests-title" {
            thead {
                tr {
                    th { "Digest" } th { "Size" } th { "Platforms" } th { "Tags" } th { "Created" } th { "Updated" }
                    th { "Locks" } @if may_delete { th { "Delete" } }
                }
            }
            tbody {
                @for m in &manifests.items {
                    tr data-digest=(m.row.digest) {
                        td.digest { a href=(manifest_link(&m.row.digest)) { (short(&m.row.digest)) } }
                        td { (bytes(m.image_size)) }
                        td { (platforms(m)) }
                        td { (m.row.tags.join(", ")) }
                        td { (iso8601_z(m.row.created_at)) }
                        td { (iso8601_z(m.row.updated_at)) }
                        td.locks { (lock_form(Target::Manifest(&m.row.digest), &m.row.attributes)) }
                        @if may_delete {
                            td {
                                form.inline method="post" action=(format!("{base}/repository/delete-manifest")) {
                                    (session.csrf_field())
                                    input type="hidden" name="name" value=(name);
                                    input type="hidden" name="digest" value=(m.row.digest);
                                    button.delete type="submit" aria-label=(format!("Delete {}", short(&m.row.digest))) { "Delete" }
                                }
                            }
                        }
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

/// What a lock toggle changes.
#[derive(Clone, Copy)]
enum Target<'a> {
    Repository,
    Tag(&'a str),
    Manifest(&'a str),
}

/// One button per lock, each turning it on or off (`aria-pressed` says which it is now).
fn lock_toggles(session: &Session, name: &str, target: Target<'_>, a: &Attributes) -> Markup {
    let on = [!a.write_enabled, !a.delete_enabled, !a.read_enabled, !a.list_enabled];
    let what = match target {
        Target::Repository => name.to_owned(),
        Target::Tag(t) => format!("tag {t}"),
        Target::Manifest(d) => short(d),
    };
    html! {
        form.inline.lock method="post" action=(format!("{}/repository/locks", session.base)) {
            (session.csrf_field())
            input type="hidden" name="name" value=(name);
            @match target {
                Target::Repository => {}
                Target::Tag(t) => input type="hidden" name="tag" value=(t);,
                Target::Manifest(d) => input type="hidden" name="digest" value=(d);,
            }
            @for (lock, locked) in LOCKS.iter().zip(on) {
                button type="submit" name="lock" value=(format!("{lock}:{}", if locked { "off" } else { "on" }))
                    aria-pressed=(locked) aria-label=(format!("{lock} lock of {what}"))
                    title=(if locked { format!("{lock} locked: click to unlock") } else { format!("click to lock {lock}") }) {
                    @if locked { "🔒 " } (lock)
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct LockForm {
    name: String,
    tag: Option<String>,
    digest: Option<String>,
    /// `write:on` locks writes (`writeEnabled: false`); `write:off` unlocks them.
    lock: String,
}

/// POST /repository/locks — sets one lock of the repository, a tag or a manifest.
pub(super) async fn set_lock(State(app): State<AppState>, req: Request) -> PageResult {
    let (session, form) = Session::form::<LockForm>(&app, req).await?;
    let repo = parse_name(&form.name)?;
    session.check(&need(&repo, Action::MetadataWrite))?;
    let bad =
        || PortalError::BadRequest(format!("lock {:?}: use write, delete, read or list, then :on or :off", form.lock));
    let (lock, state) = form.lock.split_once(':').ok_or_else(bad)?;
    let enabled = match state {
        "on" => Some(false),
        "off" => Some(true),
        _ => return Err(bad()),
    };
    let patch = match lock {
        "write" => AttributesPatch { write_enabled: enabled, ..AttributesPatch::default() },
        "delete" => AttributesPatch { delete_enabled: enabled, ..AttributesPatch::default() },
        "read" => AttributesPatch { read_enabled: enabled, ..AttributesPatch::default() },
        "list" => AttributesPatch { list_enabled: enabled, ..AttributesPatch::default() },
        _ => return Err(bad()),
    };
    match (non_empty(&form.tag), non_empty(&form.digest)) {
        (None, None) => drop(app.registry.update_repository(&repo, &patch).await?),
        (Some(tag), None) => drop(app.registry.update_tag(&repo, &parse_tag(tag)?, &patch).await?),
        (None, Some(digest)) => drop(app.registry.update_manifest(&repo, &parse_digest(digest)?, &patch).await?),
        (Some(_), Some(_)) => return Err(PortalError::BadRequest("a tag or a digest, not both".into())),
    }
    Ok(see_other(link(&session.base, "/repository", &[("name", repo.as_str())])))
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
    let back = link(&session.base, "/repository", &[("name", repo.as_str())]);
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
    let back = link(&session.base, "/repository", &[("name", repo.as_str())]);
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

fn need(repo: &RepoName, action: Action) -> Need {
    Need::Repository { name: repo.clone(), actions: Actions::of(&[action]) }
}

fn parse_name(name: &str) -> Result<RepoName, PortalError> {
    RepoName::parse(name).map_err(|e| PortalError::BadRequest(e.to_string()))
}

fn parse_tag(tag: &str) -> Result<Tag, PortalError> {
    Tag::parse(tag).map_err(|e| PortalError::BadRequest(e.to_string()))
}

fn parse_digest(digest: &str) -> Result<Digest, PortalError> {
    Digest::parse(digest).map_err(|e| PortalError::BadRequest(e.to_string()))
}

fn non_empty(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|v| !v.is_empty())
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

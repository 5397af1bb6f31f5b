//! `GET /acr/v1/<name>/_tags` and `GET|PATCH|DELETE /acr/v1/<name>/_tags/<tag>`: tags with
//! their attributes (locks).

use std::collections::HashSet;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Ctx, accepted, attributes_json, next_link, page};
use crate::api::ApiError;
use crate::api::time::iso8601_z;
use crate::meta::{AttributesPatch, TagRow};
use crate::oci::{Digest, ErrorCode, RepoName, Tag};

/// A tag as ACR lists it; `signed`: its manifest has a notation or cosign signature.
fn tag_json(t: &TagRow, signed: &HashSet<String>) -> Value {
    json!({
        "name": t.name,
        "digest": t.digest,
        "createdTime": iso8601_z(t.created_at),
        "lastUpdateTime": iso8601_z(t.updated_at),
        "signed": signed.contains(&t.digest.to_string()),
        "changeableAttributes": attributes_json(&t.attributes),
    })
}

/// GET /acr/v1/<name>/_tags — `n`, `last`, `orderby` (timedesc|timeasc) and `digest` (only
/// the tags on that manifest); list-disabled tags are left out.
pub(super) async fn list(ctx: &Ctx<'_>, name: &RepoName) -> Result<Response, ApiError> {
    let n = ctx.params.n()?;
    let order = ctx.params.order()?;
    let digest = match ctx.params.digest.as_deref() {
        Some(d) => Some(Digest::parse(d).map_err(|e| ApiError::new(ErrorCode::DigestInvalid, e.to_string()))?),
        None => None,
    };
    let last = ctx.params.last.as_deref();
    let listed = ctx.app.registry.tag_details(name, digest.as_ref(), order, ctx.sees, last, n).await?;
    let next = match (listed.more, listed.items.last()) {
        (true, Some(last)) => Some(next_link(&format!("/acr/v1/{name}/_tags"), &last.name, n, &ctx.params)),
        _ => None,
    };
    let digests: Vec<String> = listed.items.iter().map(|t| t.digest.to_string()).collect();
    let signed = ctx.app.registry.signed_of(name, &digests).await?;
    let body = json!({
        "registry": ctx.login_server,
        "imageName": name.as_str(),
        "tags": listed.items.iter().map(|t| tag_json(t, &signed)).collect::<Vec<_>>(),
    });
    Ok(page(body, next))
}

async fn one(ctx: &Ctx<'_>, name: &RepoName, t: &TagRow) -> Result<Response, ApiError> {
    let signed = ctx.app.registry.signed_of(name, &[t.digest.to_string()]).await?;
    let tag = tag_json(t, &signed);
    Ok(Json(json!({ "registry": ctx.login_server, "imageName": name.as_str(), "tag": tag })).into_response())
}

/// GET /acr/v1/<name>/_tags/<tag>
pub(super) async fn show(ctx: &Ctx<'_>, name: &RepoName, tag: &Tag) -> Result<Response, ApiError> {
    one(ctx, name, &ctx.app.registry.tag_detail(name, tag, ctx.sees).await?).await
}

/// PATCH /acr/v1/<name>/_tags/<tag> — sets the tag's changeable attributes (locks).
pub(super) async fn update(
    ctx: &Ctx<'_>,
    name: &RepoName,
    tag: &Tag,
    patch: AttributesPatch,
) -> Result<Response, ApiError> {
    one(ctx, name, &ctx.app.registry.update_tag(name, tag, &patch, ctx.sees).await?).await
}

/// DELETE /acr/v1/<name>/_tags/<tag> — untags (the manifest stays); 202.
pub(super) async fn delete(ctx: &Ctx<'_>, name: &RepoName, tag: &Tag) -> Result<Response, ApiError> {
    ctx.app.registry.untag(name, tag, &ctx.actor).await?;
    Ok(accepted())
}

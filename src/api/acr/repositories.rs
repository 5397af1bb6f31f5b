//! `GET /acr/v1/_catalog` and `GET|PATCH|DELETE /acr/v1/<name>`: ACR's repository listing and
//! repository attributes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Ctx, attributes_json, next_link, page};
use crate::api::ApiError;
use crate::api::time::iso8601_z;
use crate::meta::{AttributesPatch, RepositoryRow};
use crate::oci::RepoName;

fn repository_json(ctx: &Ctx<'_>, r: &RepositoryRow) -> Value {
    let mut attributes = attributes_json(&r.attributes);
    attributes["teleportEnabled"] = false.into();
    json!({
        "registry": ctx.login_server,
        "imageName": r.name,
        "createdTime": iso8601_z(r.created_at),
        "lastUpdateTime": iso8601_z(r.updated_at),
        "manifestCount": r.manifest_count,
        "tagCount": r.tag_count,
        "changeableAttributes": attributes,
    })
}

/// GET /acr/v1/_catalog — listed repositories in lexical order, `n` per page after `last`.
pub(super) async fn catalog(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let n = ctx.params.n()?;
    let listing =
        ctx.app.registry.catalog(Some(u32::try_from(n).unwrap_or(u32::MAX)), ctx.params.last.as_deref()).await?;
    let next = match (listing.more, listing.items.last()) {
        (true, Some(last)) => Some(next_link("/acr/v1/_catalog", last, n, &Default::default())),
        _ => None,
    };
    Ok(page(json!({ "repositories": listing.items }), next))
}

/// GET /acr/v1/<name>
pub(super) async fn show(ctx: &Ctx<'_>, name: &RepoName) -> Result<Response, ApiError> {
    let repo = ctx.app.registry.repository(name).await?;
    Ok(Json(repository_json(ctx, &repo)).into_response())
}

/// PATCH /acr/v1/<name> — sets the repository's changeable attributes (locks).
pub(super) async fn update(ctx: &Ctx<'_>, name: &RepoName, patch: AttributesPatch) -> Result<Response, ApiError> {
    let repo = ctx.app.registry.update_repository(name, &patch).await?;
    Ok(Json(repository_json(ctx, &repo)).into_response())
}

/// DELETE /acr/v1/<name> — 202 with what was deleted; refused if anything in it is locked.
pub(super) async fn delete(ctx: &Ctx<'_>, name: &RepoName) -> Result<Response, ApiError> {
    let deleted = ctx.app.registry.delete_repository(name, &ctx.actor).await?;
    let body = json!({ "manifestsDeleted": deleted.manifests, "tagsDeleted": deleted.tags });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

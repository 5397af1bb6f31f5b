//! `GET /acr/v1/<name>/_manifests` and `GET|PATCH|DELETE /acr/v1/<name>/_manifests/<digest>`:
//! manifests with their platform, size, tags and attributes (locks).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Ctx, Patch, accepted, attributes_json, next_link, page};
use crate::api::ApiError;
use crate::api::time::iso8601_z;
use crate::oci::{Digest, ErrorCode, Reference, RepoName};
use crate::registry::{ManifestDetails, QuarantineState};

/// A manifest as ACR lists it; absent values are left out, as ACR does.
fn manifest_json(m: &ManifestDetails) -> Value {
    let r = &m.row;
    let mut v = json!({
        "digest": r.digest,
        "imageSize": m.image_size,
        "createdTime": iso8601_z(r.created_at),
        "lastUpdateTime": iso8601_z(r.updated_at),
        "mediaType": r.media_type,
        "changeableAttributes": attributes_json(&r.attributes),
    });
    let optional = [
        ("architecture", r.architecture.clone()),
        ("os", r.os.clone()),
        ("configMediaType", r.summary.config_media_type.clone()),
        ("quarantineState", r.quarantine_state.clone()),
        ("quarantineDetails", r.quarantine_details.clone()),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            v[key] = value.into();
        }
    }
    if !r.tags.is_empty() {
        v["tags"] = r.tags.clone().into();
    }
    if !m.platforms.is_empty() {
        let refs: Vec<Value> = m
            .platforms
            .iter()
            .map(|p| json!({ "digest": p.digest, "architecture": p.architecture, "os": p.os }))
            .collect();
        v["references"] = refs.into();
    }
    v
}

/// GET /acr/v1/<name>/_manifests — `n`, `last` (a digest) and `orderby`; list-disabled
/// manifests are left out.
pub(super) async fn list(ctx: &Ctx<'_>, name: &RepoName) -> Result<Response, ApiError> {
    let n = ctx.params.n()?;
    let listed =
        ctx.app.registry.manifest_details(name, ctx.params.order()?, ctx.sees, ctx.params.last.as_deref(), n).await?;
    let next = match (listed.more, listed.items.last()) {
        (true, Some(last)) => Some(next_link(&format!("/acr/v1/{name}/_manifests"), &last.row.digest, n, &ctx.params)),
        _ => None,
    };
    let body = json!({
        "registry": ctx.login_server,
        "imageName": name.as_str(),
        "manifests": listed.items.iter().map(manifest_json).collect::<Vec<_>>(),
    });
    Ok(page(body, next))
}

/// One manifest, with its scan's summary (Berth's own field: `scan`).
async fn one(ctx: &Ctx<'_>, name: &RepoName, m: &ManifestDetails) -> Result<Response, ApiError> {
    let mut manifest = manifest_json(m);
    if let Ok(d) = Digest::parse(&m.row.digest)
        && let Some(scan) = ctx.app.registry.scan_of(name, &d).await?
    {
        let summary = scan.summary.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok());
        manifest["scan"] = json!({
            "status": scan.status,
            "scannedTime": scan.scanned_at.map(iso8601_z),
            "summary": summary,
            "sbom": scan.sbom_digest,
            "report": scan.report_digest,
            "reason": scan.reason,
        });
    }
    Ok(Json(json!({ "registry": ctx.login_server, "imageName": name.as_str(), "manifest": manifest })).into_response())
}

/// GET /acr/v1/<name>/_manifests/<digest>
pub(super) async fn show(ctx: &Ctx<'_>, name: &RepoName, digest: &Digest) -> Result<Response, ApiError> {
    one(ctx, name, &ctx.app.registry.manifest_detail(name, digest, ctx.sees).await?).await
}

/// PATCH /acr/v1/<name>/_manifests/<digest> — sets the manifest's changeable attributes and
/// its quarantine state (`quarantineState`, `quarantineDetails`: the need checked for
/// quarantine/write). The state is set first: releasing a manifest and locking it in one
/// request leaves it locked.
pub(super) async fn update(
    ctx: &Ctx<'_>,
    name: &RepoName,
    digest: &Digest,
    patch: Patch,
) -> Result<Response, ApiError> {
    let reg = &ctx.app.registry;
    if patch.quarantine() {
        let Some(state) = patch.quarantine_state.as_deref() else {
            return Err(ApiError::new(ErrorCode::RequestInvalid, "quarantineDetails needs a quarantineState"));
        };
        let state: QuarantineState = state.parse().map_err(|e: String| ApiError::new(ErrorCode::RequestInvalid, e))?;
        reg.set_quarantine(name, digest, state, patch.quarantine_details.as_deref(), &ctx.actor).await?;
    }
    let updated = match patch.locks() {
        true => reg.update_manifest(name, digest, &patch.attributes(), ctx.sees).await?,
        false => reg.manifest_detail(name, digest, ctx.sees).await?,
    };
    one(ctx, name, &updated).await
}

/// DELETE /acr/v1/<name>/_manifests/<digest> — the manifest and its tags; 202.
pub(super) async fn delete(ctx: &Ctx<'_>, name: &RepoName, digest: &Digest) -> Result<Response, ApiError> {
    ctx.app.registry.delete_manifest(name, &Reference::Digest(digest.clone()), &ctx.actor).await?;
    Ok(accepted())
}

//! Manifests — spec "Pulling manifests", "Pushing manifests", "Deleting tags/manifests".
//! Manifests are served from the metadata store: a GET never touches the blob store.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;

use super::{empty, respond};
use crate::api::ApiError;
use crate::blob::ByteStream;
use crate::meta::Actor;
use crate::oci::{Reference, RepoName};
use crate::registry::{self, MAX_MANIFEST_SIZE, Registry, Visibility};

/// GET|HEAD /v2/<name>/manifests/<reference>: the exact bytes pushed, with their media type;
/// a quarantined manifest is refused (`DENIED`) unless the caller sees it.
pub(super) async fn get_manifest(
    reg: &Registry,
    name: &RepoName,
    reference: &Reference,
    head: bool,
    visible: Visibility,
) -> Result<Response, ApiError> {
    let m = reg.get_manifest(name, reference, visible).await?;
    reg.check_policies(name, &m).await?;
    let len = m.content.len();
    let body = if head { Body::empty() } else { Body::from(m.content) };
    let headers = [
        ("content-type", m.media_type),
        ("content-length", len.to_string()),
        ("etag", format!("\"{}\"", m.digest)),
        ("docker-content-digest", m.digest.to_string()),
    ];
    Ok(respond(StatusCode::OK, body, &headers))
}

/// PUT /v2/<name>/manifests/<reference>: 201 with `Location`, `Docker-Content-Digest`, and
/// `OCI-Subject` when the manifest has a subject.
pub(super) async fn put_manifest(
    reg: &Registry,
    name: &RepoName,
    reference: &Reference,
    headers: &HeaderMap,
    mut body: ByteStream,
    actor: &Actor,
) -> Result<Response, ApiError> {
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_MANIFEST_SIZE as u64) {
        return Err(registry::Error::ManifestTooLarge.into());
    }
    let mut bytes = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| registry::Error::BlobUploadInvalid(format!("request body failed: {e}")))?;
        if bytes.len() + chunk.len() > MAX_MANIFEST_SIZE {
            return Err(registry::Error::ManifestTooLarge.into());
        }
        bytes.extend_from_slice(&chunk);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let stored = reg.put_manifest(name, reference, content_type, &bytes, actor).await?;
    let mut out = vec![
        ("location", format!("/v2/{name}/manifests/{}", stored.digest)),
        ("docker-content-digest", stored.digest.to_string()),
    ];
    if let Some(subject) = stored.subject {
        out.push(("oci-subject", subject.to_string()));
    }
    Ok(empty(StatusCode::CREATED, &out))
}

/// DELETE /v2/<name>/manifests/<reference>: a tag removes only the tag; a digest removes the
/// manifest and its tags. 202 either way.
pub(super) async fn delete_manifest(
    reg: &Registry,
    name: &RepoName,
    reference: &Reference,
    actor: &Actor,
) -> Result<Response, ApiError> {
    reg.delete_manifest(name, reference, actor).await?;
    Ok(empty(StatusCode::ACCEPTED, &[]))
}

//! Blob uploads — spec "Pushing blobs": POST (new session, monolithic with `?digest=`, or
//! cross-repository mount), PATCH chunks, PUT to finish, GET status, DELETE to cancel.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::endpoint::digest;
use super::{Params, empty, has_body};
use crate::api::ApiError;
use crate::api::error::upload_range;
use crate::blob::ByteStream;
use crate::oci::{Digest, ErrorCode, RepoName, parse_content_range};
use crate::registry::{Registry, UploadStatus};

/// POST /v2/<name>/blobs/uploads/ — `?mount=&from=` mounts (201) or falls back to a session;
/// `?digest=` stores the body as the whole blob (201); otherwise opens a session (202).
pub(super) async fn start_upload(
    reg: &Registry,
    name: &RepoName,
    q: &Params,
    headers: &HeaderMap,
    body: ByteStream,
) -> Result<Response, ApiError> {
    if let Some(mount) = &q.mount {
        let mount = digest(mount)?;
        if let Some(from) = &q.from {
            let from = RepoName::parse(from).map_err(ApiError::name)?;
            if reg.mount_blob(name, &from, &mount).await? {
                return Ok(created(name, &mount));
            }
        }
    } else if let Some(d) = &q.digest {
        let d = digest(d)?;
        reg.put_blob(name, &d, body).await?;
        return Ok(created(name, &d));
    } else if has_body(headers) {
        return Err(ApiError::new(ErrorCode::BlobUploadInvalid, "a POST with a body needs ?digest="));
    }
    let status = reg.start_upload(name).await?;
    Ok(session(StatusCode::ACCEPTED, name, &status))
}

/// GET /v2/<name>/blobs/uploads/<id>: 204 with the bytes received so far in `Range`.
pub(super) async fn upload_status(reg: &Registry, name: &RepoName, id: &uuid::Uuid) -> Result<Response, ApiError> {
    let status = reg.upload_status(name, id).await?;
    Ok(session(StatusCode::NO_CONTENT, name, &status))
}

/// PATCH /v2/<name>/blobs/uploads/<id>: appends a chunk. With `Content-Range`, the chunk must
/// start where the upload stands (else 416 with the current `Range`).
pub(super) async fn patch_upload(
    reg: &Registry,
    name: &RepoName,
    id: &uuid::Uuid,
    headers: &HeaderMap,
    body: ByteStream,
) -> Result<Response, ApiError> {
    let range = match headers.get(header::CONTENT_RANGE) {
        Some(v) => {
            let v = v.to_str().unwrap_or_default();
            let bad =
                || ApiError::new(ErrorCode::BlobUploadInvalid, format!("Content-Range {v:?} is not <first>-<last>"));
            Some(parse_content_range(v).ok_or_else(bad)?)
        }
        None => None,
    };
    let status = reg.append_chunk(name, id, range, body).await?;
    Ok(session(StatusCode::ACCEPTED, name, &status))
}

/// PUT /v2/<name>/blobs/uploads/<id>?digest=: appends the final chunk if any, verifies the
/// digest and makes the blob visible (201).
pub(super) async fn put_upload(
    reg: &Registry,
    name: &RepoName,
    id: &uuid::Uuid,
    q: &Params,
    headers: &HeaderMap,
    body: ByteStream,
) -> Result<Response, ApiError> {
    let d = q.digest.as_deref().ok_or_else(|| ApiError::new(ErrorCode::DigestInvalid, "PUT needs ?digest="))?;
    let d = digest(d)?;
    let last_chunk = has_body(headers).then_some(body);
    reg.finish_upload(name, id, &d, last_chunk).await?;
    Ok(created(name, &d))
}

/// DELETE /v2/<name>/blobs/uploads/<id>: cancels the session (204).
pub(super) async fn cancel_upload(reg: &Registry, name: &RepoName, id: &uuid::Uuid) -> Result<Response, ApiError> {
    reg.cancel_upload(name, id).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

fn session(status: StatusCode, name: &RepoName, s: &UploadStatus) -> Response {
    empty(
        status,
        &[
            ("location", format!("/v2/{name}/blobs/uploads/{}", s.id)),
            ("range", upload_range(s.size)),
            ("docker-upload-uuid", s.id.to_string()),
        ],
    )
}

fn created(name: &RepoName, digest: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        &[("location", format!("/v2/{name}/blobs/{digest}")), ("docker-content-digest", digest.to_string())],
    )
}

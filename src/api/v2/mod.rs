//! The OCI distribution API under `/v2/`: one catch-all route, parsed into an [`Endpoint`] and
//! dispatched by (method, endpoint) to small handlers, one module per area.

pub(super) mod blobs;
mod endpoint;
mod manifests;
mod referrers;
mod tags;
mod uploads;

use std::io;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::{ApiError, auth};
use crate::app::AppState;
use crate::auth::{Action, Need};
use crate::blob::ByteStream;
use crate::events::audit::{self, AuditEntry};
use crate::meta::{Actor, Visibility};
use crate::oci::{ErrorCode, Reference, RepoName};
use endpoint::{Endpoint, ManifestRef};

/// Query parameters any `/v2/` endpoint may take.
#[derive(Debug, Default, Deserialize)]
struct Params {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
    n: Option<String>,
    last: Option<String>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

/// GET /v2/ — spec "Determining support": any signed-in caller; the `401` here is what
/// `docker login` checks credentials against.
pub(super) async fn base(State(app): State<AppState>, req: Request) -> Response {
    match auth::authorize(&app, req.headers(), auth::client_ip(&req), &Need::Authenticated).await {
        Ok(_) => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Every other `/v2/…` request: parse, authorize, dispatch.
pub(super) async fn dispatch(State(app): State<AppState>, req: Request) -> Response {
    let client = auth::client_ip(&req);
    let (parts, body) = req.into_parts();
    let endpoint = super::decoded_path(parts.uri.path(), "/v2/").and_then(|rest| Endpoint::parse(&rest));
    let mut audited = endpoint.as_ref().ok().and_then(|e| manifest_event(&app, &parts.method, e));
    let result = match (endpoint, Query::<Params>::try_from_uri(&parts.uri)) {
        (Err(e), _) => Err(e),
        (_, Err(e)) => {
            Err(ApiError::new(ErrorCode::Unsupported, format!("bad query string: {e}")).with_status_bad_request())
        }
        (Ok(endpoint), Ok(Query(mut params))) => {
            let source = match (&endpoint, &params.mount, params.from.as_deref().map(RepoName::parse)) {
                (Endpoint::Uploads { .. }, Some(_), Some(Ok(from))) => Some(format!("repository:{from}:pull")),
                _ => None,
            };
            match auth::authorize_naming(&app, &parts.headers, client, &endpoint.need(&parts.method), source.as_deref())
                .await
            {
                Ok(caller) => {
                    if let Some(e) = &mut audited {
                        e.identity.clone_from(&caller.name);
                    }
                    // Changes name who made them in their events; reads need nothing of it.
                    let actor = match parts.method {
                        Method::PUT | Method::DELETE => super::actor(&app, &parts, &caller, client),
                        _ => Actor::default(),
                    };
                    // Bodies streamed into storage hold a slot while they last.
                    let _slot = match endpoint.uploads(&parts.method) {
                        true => {
                            let identity = caller.name.clone().unwrap_or_else(|| format!("anonymous {client}"));
                            match app.uploads.take(&identity) {
                                Ok(slot) => Some(slot),
                                Err(e) => return e.into_response(),
                            }
                        }
                        false => None,
                    };
                    // A mount needs pull on its source too; without it the POST opens a plain
                    // upload session (202), as the spec allows, and reveals nothing of the source.
                    let may_read_source = params
                        .from
                        .as_deref()
                        .and_then(|f| RepoName::parse(f).ok())
                        .is_some_and(|f| caller.on(f.as_str()).has(Action::ContentRead));
                    if !may_read_source {
                        params.mount = None;
                    }
                    let who =
                        Who { sees: endpoint.name().map_or(Visibility::Released, |n| caller.sees(n.as_str())), actor };
                    route(&app, parts.method.clone(), endpoint, params, &parts.headers, body, &who).await
                }
                Err(e) => Err(e),
            }
        }
    };
    super::audit::attach(result.unwrap_or_else(IntoResponse::into_response), audited)
}

/// The audit entry of a manifest pull (GET, when pulls are audited), push or delete (DELETE
/// by digest; untag by tag), for the request log to complete; `None` for anything else.
fn manifest_event(app: &AppState, method: &Method, endpoint: &Endpoint) -> Option<AuditEntry> {
    let Endpoint::Manifest { name, reference } = endpoint else { return None };
    let operation = match (method, reference) {
        (&Method::GET, _) if app.auditor.pulls() => "pull",
        (&Method::PUT, _) => "push",
        (&Method::DELETE, ManifestRef::Valid(Reference::Digest(_))) => "delete",
        (&Method::DELETE, _) => "untag",
        _ => return None,
    };
    if !app.auditor.enabled() {
        return None;
    }
    let mut e = audit::repository(operation, name.as_str());
    match reference {
        ManifestRef::Valid(Reference::Digest(d)) => e.digest = Some(d.to_string()),
        ManifestRef::Valid(Reference::Tag(t)) => e.tag = Some(t.as_str().to_owned()),
        ManifestRef::InvalidTag(t) => e.tag = Some(t.clone()),
    }
    Some(e)
}

/// Who makes the request: in its changes' events, and what of the repository they may see.
struct Who {
    actor: Actor,
    sees: Visibility,
}

async fn route(
    app: &AppState,
    method: Method,
    endpoint: Endpoint,
    q: Params,
    headers: &HeaderMap,
    body: Body,
    who: &Who,
) -> Result<Response, ApiError> {
    let (reg, actor) = (&app.registry, &who.actor);
    match (method, endpoint) {
        (Method::GET, Endpoint::Catalog) => tags::catalog(reg, &q).await,
        (Method::GET, Endpoint::Tags { name }) => tags::list_tags(reg, &name, &q, who.sees).await,
        (Method::GET, Endpoint::Manifest { name, reference }) => {
            manifests::get_manifest(reg, &name, reference.for_reading()?, false, who.sees).await
        }
        (Method::HEAD, Endpoint::Manifest { name, reference }) => {
            manifests::get_manifest(reg, &name, reference.for_reading()?, true, who.sees).await
        }
        (Method::PUT, Endpoint::Manifest { name, reference }) => {
            manifests::put_manifest(reg, &name, reference.for_pushing()?, headers, body_stream(body), actor).await
        }
        (Method::DELETE, Endpoint::Manifest { name, reference }) => {
            manifests::delete_manifest(reg, &name, reference.for_reading()?, actor).await
        }
        (Method::GET, Endpoint::Blob { name, digest }) => {
            blobs::get_blob(reg, &name, &digest, headers, false, Some(&app.config.storage)).await
        }
        (Method::HEAD, Endpoint::Blob { name, digest }) => {
            blobs::get_blob(reg, &name, &digest, headers, true, None).await
        }
        (Method::DELETE, Endpoint::Blob { name, digest }) => blobs::delete_blob(reg, &name, &digest).await,
        (Method::POST, Endpoint::Uploads { name }) => {
            uploads::start_upload(reg, &name, &q, headers, body_stream(body)).await
        }
        (Method::GET, Endpoint::Upload { name, id }) => uploads::upload_status(reg, &name, &id).await,
        (Method::PATCH, Endpoint::Upload { name, id }) => {
            uploads::patch_upload(reg, &name, &id, headers, body_stream(body)).await
        }
        (Method::PUT, Endpoint::Upload { name, id }) => {
            uploads::put_upload(reg, &name, &id, &q, headers, body_stream(body)).await
        }
        (Method::DELETE, Endpoint::Upload { name, id }) => uploads::cancel_upload(reg, &name, &id).await,
        (Method::GET, Endpoint::Referrers { name, digest }) => {
            referrers::list_referrers(reg, &name, &digest, &q, who.sees).await
        }
        (method, _) => {
            Err(ApiError::new(ErrorCode::Unsupported, format!("method {method} is not supported on this endpoint")))
        }
    }
}

/// The request body as a stream of chunks, never collected whole (paced by the router: a
/// body that stalls or trickles fails).
fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream().map_err(io::Error::other).boxed()
}

/// Whether the request announces a body (a non-zero `Content-Length`, or chunked encoding).
fn has_body(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().and_then(|s| s.parse::<u64>().ok()).is_some_and(|n| n > 0),
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// A response with `status`, `body` and the given headers (`Content-Length` among them, since
/// a HEAD or streamed body does not announce its own).
fn respond(status: StatusCode, body: Body, headers: &[(&'static str, String)]) -> Response {
    let mut res = (status, body).into_response();
    let map = res.headers_mut();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            map.insert(*name, v);
        }
    }
    res
}

/// A response with no body and the given headers.
fn empty(status: StatusCode, headers: &[(&'static str, String)]) -> Response {
    let mut res = respond(status, Body::empty(), headers);
    res.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    res
}

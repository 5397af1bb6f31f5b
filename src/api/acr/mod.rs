//! ACR's data-plane API under `/acr/v1/`: the catalog, and repository, tag and manifest
//! attributes with their locks, in ACR's JSON field names (what `azure-containerregistry` and
//! `az acr repository` read). One catch-all route, parsed into an [`Endpoint`], authorized like
//! `/v2/` (ACR's scopes: `metadata_read`, `metadata_write`, `delete`, and `quarantine_write`
//! for a manifest's quarantine state), then dispatched. Quarantined manifests, and the tags on
//! them, are shown only to callers with quarantine/read.

mod endpoint;
mod manifests;
mod repositories;
mod tags;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, auth};
use crate::app::AppState;
use crate::events::audit::{self, AuditEntry};
use crate::meta::{Actor, Attributes, AttributesPatch};
use crate::oci::ErrorCode;
use crate::registry::{Order, Visibility};
use endpoint::Endpoint;

/// ACR's default page size for `/acr/v1` listings.
const DEFAULT_PAGE: usize = 100;
/// The largest page served, whatever `n` asks for (a client follows `Link` for more).
const MAX_PAGE: usize = 1000;
/// Largest PATCH body accepted.
const MAX_BODY: usize = 64 << 10;

/// Query parameters of the listings.
#[derive(Debug, Default, Deserialize)]
struct Params {
    n: Option<String>,
    last: Option<String>,
    orderby: Option<String>,
    digest: Option<String>,
}

impl Params {
    fn n(&self) -> Result<usize, ApiError> {
        match self.n.as_deref() {
            None | Some("") => Ok(DEFAULT_PAGE),
            Some(s) => s.parse::<usize>().ok().filter(|n| *n > 0).map(|n| n.min(MAX_PAGE)).ok_or_else(|| {
                ApiError::new(ErrorCode::PaginationNumberInvalid, format!("n must be a positive integer, not {s:?}"))
            }),
        }
    }

    fn order(&self) -> Result<Order, ApiError> {
        let given = self.orderby.as_deref().unwrap_or_default();
        Order::parse(given).ok_or_else(|| {
            ApiError::new(ErrorCode::RequestInvalid, format!("orderby {given:?}: use timedesc or timeasc"))
        })
    }
}

/// The request's context the handlers share: the login server (ACR's `registry` field).
struct Ctx<'a> {
    app: &'a AppState,
    login_server: String,
    params: Params,
    /// Who makes the request's changes, for their events.
    actor: Actor,
    /// Which manifests of the repository the caller sees.
    sees: Visibility,
}

/// A PATCH body: changeable attributes and, for a manifest, its quarantine state (ACR's
/// field names); what is absent stays as it is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Patch {
    delete_enabled: Option<bool>,
    write_enabled: Option<bool>,
    read_enabled: Option<bool>,
    list_enabled: Option<bool>,
    quarantine_state: Option<String>,
    quarantine_details: Option<String>,
}

impl Patch {
    fn attributes(&self) -> AttributesPatch {
        AttributesPatch {
            delete_enabled: self.delete_enabled,
            write_enabled: self.write_enabled,
            read_enabled: self.read_enabled,
            list_enabled: self.list_enabled,
        }
    }

    /// Whether it changes any lock.
    fn locks(&self) -> bool {
        [self.delete_enabled, self.write_enabled, self.read_enabled, self.list_enabled].iter().any(Option::is_some)
    }

    fn quarantine(&self) -> bool {
        self.quarantine_state.is_some() || self.quarantine_details.is_some()
    }

    /// The attributes alone, for a repository or a tag (which have no quarantine state).
    fn locks_only(self) -> Result<AttributesPatch, ApiError> {
        if self.quarantine() {
            return Err(ApiError::new(
                ErrorCode::RequestInvalid,
                "quarantineState and quarantineDetails are set on a manifest (_manifests/<digest>)",
            ));
        }
        Ok(self.attributes())
    }
}

/// Every `/acr/v1/…` request: decode, parse, authorize, dispatch.
pub(super) async fn dispatch(State(app): State<AppState>, req: Request) -> Response {
    let client = auth::client_ip(&req);
    let (parts, body) = req.into_parts();
    let mut audited = None;
    let result = async {
        let rest = super::decoded_path(parts.uri.path(), "/acr/v1/")?;
        let endpoint = Endpoint::parse(&rest)?;
        audited = deletion_event(&app, &parts.method, &endpoint);
        let Query(params) = Query::<Params>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::new(ErrorCode::RequestInvalid, format!("bad query string: {e}")))?;
        // A PATCH needs what its fields change, so its (small) body is read first; a body that
        // fails to read or parse is answered after authorization, as the need of any PATCH.
        let patch = match parts.method {
            Method::PATCH => Some(patch(body).await),
            _ => None,
        };
        let need = endpoint.need(&parts.method, patch.as_ref().and_then(|p| p.as_ref().ok()));
        let caller = auth::authorize(&app, &parts.headers, client, &need).await?;
        let patch = patch.transpose()?;
        if let Some(e) = &mut audited {
            e.identity.clone_from(&caller.name);
        }
        let login_server = auth::Origin::of(&app, &parts.headers).service;
        let actor = super::actor(&app, &parts, &caller, client);
        let sees = endpoint.name().map_or(Visibility::Released, |n| caller.sees(n.as_str()));
        let ctx = Ctx { app: &app, login_server, params, actor, sees };
        route(&ctx, parts.method, endpoint, patch.unwrap_or_default()).await
    }
    .await;
    super::audit::attach(result.unwrap_or_else(IntoResponse::into_response), audited)
}

/// The audit entry of a DELETE of a manifest (`delete`), a tag (`untag`) or a repository
/// (`delete`, no digest), for the request log to record if it fails.
fn deletion_event(app: &AppState, method: &Method, endpoint: &Endpoint) -> Option<AuditEntry> {
    if method != Method::DELETE || !app.auditor.enabled() {
        return None;
    }
    let e = match endpoint {
        Endpoint::Repository { name } => audit::repository("delete", name.as_str()),
        Endpoint::Manifest { name, digest } => {
            AuditEntry { digest: Some(digest.to_string()), ..audit::repository("delete", name.as_str()) }
        }
        Endpoint::Tag { name, tag } => {
            AuditEntry { tag: Some(tag.as_str().to_owned()), ..audit::repository("untag", name.as_str()) }
        }
        _ => return None,
    };
    Some(e)
}

/// `patch`: a PATCH's body (empty for other methods).
async fn route(ctx: &Ctx<'_>, method: Method, endpoint: Endpoint, patch: Patch) -> Result<Response, ApiError> {
    match (method, endpoint) {
        (Method::GET, Endpoint::Catalog) => repositories::catalog(ctx).await,
        (Method::GET, Endpoint::Repository { name }) => repositories::show(ctx, &name).await,
        (Method::PATCH, Endpoint::Repository { name }) => repositories::update(ctx, &name, patch.locks_only()?).await,
        (Method::DELETE, Endpoint::Repository { name }) => repositories::delete(ctx, &name).await,
        (Method::GET, Endpoint::Tags { name }) => tags::list(ctx, &name).await,
        (Method::GET, Endpoint::Tag { name, tag }) => tags::show(ctx, &name, &tag).await,
        (Method::PATCH, Endpoint::Tag { name, tag }) => tags::update(ctx, &name, &tag, patch.locks_only()?).await,
        (Method::DELETE, Endpoint::Tag { name, tag }) => tags::delete(ctx, &name, &tag).await,
        (Method::GET, Endpoint::Manifests { name }) => manifests::list(ctx, &name).await,
        (Method::GET, Endpoint::Manifest { name, digest }) => manifests::show(ctx, &name, &digest).await,
        (Method::PATCH, Endpoint::Manifest { name, digest }) => manifests::update(ctx, &name, &digest, patch).await,
        (Method::DELETE, Endpoint::Manifest { name, digest }) => manifests::delete(ctx, &name, &digest).await,
        (method, _) => Err(ApiError::new(ErrorCode::Unsupported, format!("method {method} is not supported here"))),
    }
}

/// A PATCH body, with a `BAD_REQUEST` naming what is wrong.
async fn patch(body: Body) -> Result<Patch, ApiError> {
    let bytes = super::read_body(body, MAX_BODY).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::RequestInvalid,
            format!(
                "invalid attributes: {e} (expected deleteEnabled, writeEnabled, readEnabled, listEnabled; for a \
                 manifest also quarantineState, quarantineDetails)"
            ),
        )
    })
}

/// `changeableAttributes` as ACR writes them.
fn attributes_json(a: &Attributes) -> Value {
    json!({
        "deleteEnabled": a.delete_enabled,
        "writeEnabled": a.write_enabled,
        "readEnabled": a.read_enabled,
        "listEnabled": a.list_enabled,
    })
}

/// 200 with a JSON body, and `Link` to the next page when there is one.
fn page(body: Value, next: Option<String>) -> Response {
    let mut res = (StatusCode::OK, Json(body)).into_response();
    if let Some(link) = next.and_then(|l| HeaderValue::from_str(&format!("<{l}>; rel=\"next\"")).ok()) {
        res.headers_mut().insert(header::LINK, link);
    }
    res
}

/// The relative URL of the page after `last`, keeping `n` and the `orderby` and `digest` of
/// `params`.
fn next_link(path: &str, last: &str, n: usize, params: &Params) -> String {
    let mut query = vec![("last", last.to_owned()), ("n", n.to_string())];
    for (key, value) in [("orderby", &params.orderby), ("digest", &params.digest)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            query.push((key, v.to_owned()));
        }
    }
    format!("{path}?{}", serde_urlencoded::to_string(query).unwrap_or_default())
}

/// 202 with no body, as ACR answers DELETEs.
fn accepted() -> Response {
    (StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response()
}

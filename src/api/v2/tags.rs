//! Listings — spec "Listing tags" and the `_catalog` extension, both paged with `n`/`last`
//! and an RFC 5988 `Link` header to the next page.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Params;
use crate::api::ApiError;
use crate::oci::{ErrorCode, RepoName};
use crate::registry::{Page, Registry, Visibility};

/// GET /v2/<name>/tags/list?n=&last=
/// Tags on quarantined manifests are left out unless the caller sees those.
pub(super) async fn list_tags(
    reg: &Registry,
    name: &RepoName,
    q: &Params,
    visible: Visibility,
) -> Result<Response, ApiError> {
    let n = page_size(q)?;
    let page = reg.list_tags(name, n, q.last.as_deref(), visible).await?;
    let next = format!("/v2/{name}/tags/list");
    Ok(paged(Json(json!({ "name": name.as_str(), "tags": &page.items })), &page, &next, n))
}

/// GET /v2/_catalog?n=&last=
pub(super) async fn catalog(reg: &Registry, q: &Params) -> Result<Response, ApiError> {
    let n = page_size(q)?;
    let page = reg.catalog(n, q.last.as_deref()).await?;
    Ok(paged(Json(json!({ "repositories": &page.items })), &page, "/v2/_catalog", n))
}

fn page_size(q: &Params) -> Result<Option<u32>, ApiError> {
    q.n.as_deref()
        .map(|n| {
            n.parse::<u32>().map_err(|_| {
                ApiError::new(
                    ErrorCode::PaginationNumberInvalid,
                    format!("n={n:?} is not a whole number from 0 to {}", u32::MAX - 1),
                )
            })
        })
        .transpose()
        .map(|n| n.map(|n| n.min(u32::MAX - 1)))
}

fn paged(body: Json<serde_json::Value>, page: &Page, path: &str, n: Option<u32>) -> Response {
    let mut res = body.into_response();
    if let (true, Some(last), Some(n)) = (page.more, page.items.last(), n) {
        let link = format!("<{path}?n={n}&last={last}>; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    res
}

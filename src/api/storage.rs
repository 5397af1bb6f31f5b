//! `GET|HEAD /_storage/<blob key>?expires=…&signature=…`: the signed, time-limited blob URLs a
//! blob GET redirects to when `storage.redirect` is on. The signature is the authorization:
//! any `Authorization` header the client resends is ignored, so `curl -L` works either way.

use axum::extract::{Query, Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiError;
use super::v2::blobs::serve_blob;
use crate::app::AppState;
use crate::oci::ErrorCode;

#[derive(Deserialize)]
struct Signed {
    expires: Option<u64>,
    signature: Option<String>,
}

pub(super) async fn get_signed(State(app): State<AppState>, req: Request) -> Response {
    let (req, _) = req.into_parts();
    let result = async {
        let Ok(Query(q)) = Query::<Signed>::try_from_uri(&req.uri) else {
            return Err(ApiError::new(ErrorCode::Denied, "this storage URL is not signed by this registry"));
        };
        let (Some(expires), Some(signature)) = (q.expires, q.signature) else {
            return Err(ApiError::new(ErrorCode::Denied, "this storage URL is not signed by this registry"));
        };
        let (digest, size) = app.registry.signed_blob(req.uri.path(), expires, &signature).await?;
        serve_blob(&app.registry, &digest, size, &req.headers, req.method == Method::HEAD).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

//! GET /v2/<name>/referrers/<digest> — spec "Listing referrers": always 200 with an image index,
//! optionally filtered by `artifactType` (announced in `OCI-Filters-Applied`).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Params;
use crate::api::ApiError;
use crate::oci::{Digest, MediaType, RepoName};
use crate::registry::{Registry, Visibility};

pub(super) async fn list_referrers(
    reg: &Registry,
    name: &RepoName,
    digest: &Digest,
    q: &Params,
    visible: Visibility,
) -> Result<Response, ApiError> {
    let filter = q.artifact_type.as_deref().filter(|t| !t.is_empty());
    let rows = reg.referrers(name, digest, filter, visible).await?;
    let manifests: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut d = Map::new();
            d.insert("mediaType".into(), r.media_type.into());
            d.insert("digest".into(), r.digest.to_string().into());
            d.insert("size".into(), r.size.into());
            if let Some(t) = r.artifact_type {
                d.insert("artifactType".into(), t.into());
            }
            if let Some(a) = r.annotations.and_then(|a| serde_json::from_str::<Value>(&a).ok()) {
                d.insert("annotations".into(), a);
            }
            Value::Object(d)
        })
        .collect();
    let index = json!({ "schemaVersion": 2, "mediaType": MediaType::OCI_INDEX, "manifests": manifests });
    let mut res = ([(header::CONTENT_TYPE, MediaType::OCI_INDEX)], index.to_string()).into_response();
    if filter.is_some() {
        res.headers_mut().insert("oci-filters-applied", HeaderValue::from_static("artifactType"));
    }
    Ok(res)
}

//! The audit log (`berth audit list`): sign-ins and repository events, newest first.

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::identities::{invalid, managed};
use super::manager;
use crate::api::time::parse_rfc3339;
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::Manage;
use crate::events::audit::{AuditCursor, AuditFilter, to_json};

/// Entries per page unless `top` says otherwise, and the most a page holds.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    since: Option<String>,
    until: Option<String>,
    identity: Option<String>,
    repository: Option<String>,
    operation: Option<String>,
    result: Option<String>,
    category: Option<String>,
    top: Option<usize>,
    /// The continuation of a `nextLink`.
    after: Option<String>,
}

/// GET /berth/v1/audit — `since`, `until` (RFC 3339), `identity`, `repository`, `operation`,
/// `result`, `category`, `top` (at most 1000); `{"value": [...], "nextLink": …}` with the next
/// page also in `Link`.
pub(super) async fn list_audit(State(app): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let uri = req.uri().clone();
    managed!(app, req, Manage::Read);
    let Query(params) = Query::<Params>::try_from_uri(&uri).map_err(|e| invalid(format!("bad query: {e}")))?;
    let time = |name: &str, value: &Option<String>| -> Result<Option<i64>, ApiError> {
        value
            .as_deref()
            .map(|v| parse_rfc3339(v).ok_or_else(|| invalid(format!("{name} {v:?}: give an RFC 3339 time"))))
            .transpose()
    };
    let filter = AuditFilter {
        since: time("since", &params.since)?,
        until: time("until", &params.until)?,
        identity: params.identity.clone(),
        repository: params.repository.clone(),
        operation: params.operation.clone(),
        result: params.result.clone(),
        category: params.category.clone(),
    };
    let after = match params.after.as_deref() {
        Some(a) => Some(AuditCursor::parse(a).ok_or_else(|| invalid(format!("after {a:?} is not a continuation")))?),
        None => None,
    };
    let top = match params.top {
        Some(0) => return Err(invalid("top must be at least 1")),
        Some(n) => n.min(MAX_PAGE),
        None => DEFAULT_PAGE,
    };
    let page = app.auditor.list(&filter, after, top).await.map_err(ApiError::internal)?;
    let next = page.next.map(|cursor| {
        let mut query: Vec<(&str, String)> = [
            ("since", &params.since),
            ("until", &params.until),
            ("identity", &params.identity),
            ("repository", &params.repository),
            ("operation", &params.operation),
            ("result", &params.result),
            ("category", &params.category),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.clone()?)))
        .collect();
        query.push(("top", top.to_string()));
        query.push(("after", cursor.to_string()));
        format!("/berth/v1/audit?{}", serde_urlencoded::to_string(query).unwrap_or_default())
    });
    let body = json!({ "value": page.entries.iter().map(to_json).collect::<Vec<_>>(), "nextLink": next.clone() });
    let mut res = Json(body).into_response();
    if let Some(link) = next.and_then(|l| HeaderValue::from_str(&format!("<{l}>; rel=\"next\"")).ok()) {
        res.headers_mut().insert(header::LINK, link);
    }
    Ok(res)
}

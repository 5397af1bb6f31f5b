//! Supply-chain trust: scans of images (`berth scan`), and the scan and trust policies
//! (`berth policy scan|trust`), Berth's own (ACR uses external services for both).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::identities::{invalid, managed};
use super::{json_body, manager};
use crate::api::time::iso8601;
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::Manage;
use crate::meta::ScanRow;
use crate::oci::{Digest, ErrorCode, Reference, RepoName};
use crate::trust::policy::{ScanPolicy, TrustPolicy, valid_pattern};
use crate::trust::signature::TrustStore;

type Reply = Result<Response, ApiError>;

/// The longest `POST /scans` with `wait` waits for its scan.
const WAIT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScanRequest {
    image: String,
    #[serde(default)]
    wait: bool,
}

/// `REPO:TAG` or `REPO@DIGEST` (a bare `REPO` is `REPO:latest`), as `berth scan --image`.
fn parse_image(image: &str) -> Result<(RepoName, Reference), ApiError> {
    let (name, reference) = match image.split_once('@') {
        Some((n, d)) => (n, d.to_string()),
        None => match image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((n, t)) => (n, t.to_string()),
            None => (image, "latest".to_string()),
        },
    };
    let repo = RepoName::parse(name).map_err(|e| ApiError::new(ErrorCode::NameInvalid, e.to_string()))?;
    let reference = Reference::parse(&reference).map_err(|e| invalid(format!("image {image:?}: {e}")))?;
    Ok((repo, reference))
}

fn scan_json(s: &ScanRow, signed: bool) -> Value {
    let parse = |v: &Option<String>| v.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok());
    json!({
        "repository": s.repository,
        "digest": s.digest,
        "status": s.status,
        "queuedTime": iso8601(s.queued_at),
        "scannedTime": s.scanned_at.map(iso8601),
        "summary": parse(&s.summary),
        "sbom": s.sbom_digest,
        "report": s.report_digest,
        "reason": s.reason,
        "signed": signed,
    })
}

/// The image's digest (a tag resolved), refused as the API refuses it to this caller.
async fn resolve(app: &AppState, repo: &RepoName, reference: &Reference) -> Result<Digest, ApiError> {
    Ok(match reference {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(_) => app.registry.get_manifest(repo, reference, crate::meta::Visibility::All).await?.digest,
    })
}

/// POST /berth/v1/scans `{"image", "wait"}` — queues a scan of the image now (again if it was
/// scanned); with `wait`, answers when it ended (or with its state after five minutes).
pub(super) async fn scan_now(State(app): State<AppState>, req: Request) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let ask: ScanRequest = json_body(&body)?;
    let (repo, reference) = parse_image(&ask.image)?;
    let digest = resolve(&app, &repo, &reference).await?;
    app.registry.queue_scan(&repo, &digest).await?;
    let started = std::time::Instant::now();
    loop {
        let scan = app.registry.scan_of(&repo, &digest).await?;
        let ended = scan.as_ref().is_some_and(|s| !matches!(s.status.as_str(), "queued" | "running"));
        if ended || !ask.wait || started.elapsed() > WAIT {
            let Some(scan) = scan else { return Err(invalid("the scan was not queued")) };
            let signed = app.registry.is_signed(&repo, &digest).await?;
            return Ok(Json(scan_json(&scan, signed)).into_response());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[derive(Deserialize)]
pub(super) struct ImageQuery {
    image: String,
}

/// GET /berth/v1/scans?image=REPO:TAG — the image's scan, with its report's findings.
pub(super) async fn show_scan(
    State(app): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ImageQuery>,
    req: Request,
) -> Reply {
    managed!(app, req, Manage::Read);
    let (repo, reference) = parse_image(&q.image)?;
    let digest = resolve(&app, &repo, &reference).await?;
    let Some(scan) = app.registry.scan_of(&repo, &digest).await? else {
        return Err(ApiError::new(ErrorCode::ManifestUnknown, format!("{} has not been scanned", q.image)));
    };
    let signed = app.registry.is_signed(&repo, &digest).await?;
    let mut out = scan_json(&scan, signed);
    if let Some(report) = app.registry.scan_report(&repo, &scan).await? {
        out["findings"] = report["findings"].clone();
    }
    Ok(Json(out).into_response())
}

/// Policies by kind: their stored JSON is their API shape.
enum Kind {
    Scan,
    Trust,
}

fn kind(s: &str) -> Result<Kind, ApiError> {
    match s {
        "scan" => Ok(Kind::Scan),
        "trust" => Ok(Kind::Trust),
        _ => Err(ApiError::new(ErrorCode::NameUnknown, format!("no policies of kind {s:?}: scan or trust"))),
    }
}

/// GET /berth/v1/policies/{kind}
pub(super) async fn list_policies(State(app): State<AppState>, Path(k): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let listed: Vec<Value> = match kind(&k)? {
        Kind::Scan => app.registry.scan_policies().await?.iter().map(|p| json!(p)).collect(),
        Kind::Trust => app.registry.trust_policies().await?.iter().map(|p| json!(p)).collect(),
    };
    Ok(Json(listed).into_response())
}

/// PUT /berth/v1/policies/{kind}/{name} — creates or replaces a policy; the body's `name`, if
/// any, must be the path's.
pub(super) async fn put_policy(
    State(app): State<AppState>,
    Path((k, name)): Path<(String, String)>,
    req: Request,
) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let mut value: Value = json_body(&body)?;
    if value.get("name").is_some_and(|n| n != &Value::String(name.clone())) {
        return Err(invalid("the body's name differs from the path's"));
    }
    value["name"] = Value::String(name.clone());
    if name.is_empty() || name.len() > 50 || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Err(invalid("a policy name is 1 to 50 letters, digits, '-' or '_'"));
    }
    let (kind_name, stored) = match kind(&k)? {
        Kind::Scan => {
            let p: ScanPolicy = serde_json::from_value(value).map_err(|e| invalid(format!("scan policy: {e}")))?;
            check_pattern(&p.repository)?;
            ("scan", json!(p))
        }
        Kind::Trust => {
            let p: TrustPolicy = serde_json::from_value(value).map_err(|e| invalid(format!("trust policy: {e}")))?;
            check_pattern(&p.repository)?;
            if p.mode != crate::trust::policy::TrustMode::Skip {
                TrustStore::from_pem(&p.trusted).map_err(|e| invalid(format!("trusted: {e}")))?;
            }
            ("trust", json!(p))
        }
    };
    app.registry.put_policy(kind_name, &name, &stored).await?;
    Ok(Json(stored).into_response())
}

fn check_pattern(pattern: &str) -> Result<(), ApiError> {
    if valid_pattern(pattern) {
        Ok(())
    } else {
        Err(invalid(format!(
            "repository {pattern:?} is no repository pattern: lowercase letters, digits, '.', '_', '-', '/' and '*'"
        )))
    }
}

/// DELETE /berth/v1/policies/{kind}/{name}
pub(super) async fn delete_policy(
    State(app): State<AppState>,
    Path((k, name)): Path<(String, String)>,
    req: Request,
) -> Reply {
    managed!(app, req, Manage::Write);
    let kind_name = match kind(&k)? {
        Kind::Scan => "scan",
        Kind::Trust => "trust",
    };
    if app.registry.delete_policy(kind_name, &name).await? {
        Ok(axum::http::StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(ErrorCode::NameUnknown, format!("no {kind_name} policy {name:?}")))
    }
}

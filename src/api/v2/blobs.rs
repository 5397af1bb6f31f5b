//! Blob reads and deletes — spec "Pulling blobs" (with `Range`), "Deleting blobs".

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::{empty, respond};
use crate::api::ApiError;
use crate::config::{RedirectTo, StorageConfig};
use crate::oci::{Digest, RepoName};
use crate::registry::{self, Registry};

/// GET|HEAD /v2/<name>/blobs/<digest>: the whole blob (200) or one byte range (206); with
/// `redirect` on, a GET answers 307 to a signed URL.
pub(super) async fn get_blob(
    reg: &Registry,
    name: &RepoName,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
    redirect: Option<&StorageConfig>,
) -> Result<Response, ApiError> {
    let size = reg.blob_size(name, digest).await?;
    if let Some(storage) = redirect.filter(|s| s.redirect && !head) {
        let location = reg.blob_url(digest, storage.redirect_ttl.0, storage.redirect_to == RedirectTo::Store).await?;
        return Ok(empty(
            StatusCode::TEMPORARY_REDIRECT,
            &[("location", location), ("docker-content-digest", digest.to_string())],
        ));
    }
    serve_blob(reg, digest, size, headers, head).await
}

/// A blob's bytes (all, or the `Range` asked for), with the headers clients check.
pub(crate) async fn serve_blob(
    reg: &Registry,
    digest: &Digest,
    size: u64,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) => parse_range(spec, size)?,
        None => None,
    };
    let (status, span) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None => (StatusCode::OK, 0..size),
    };
    let body = if head { Body::empty() } else { Body::from_stream(reg.read_blob(digest, size, span.clone()).await?) };
    let mut headers = vec![
        ("content-length", (span.end - span.start).to_string()),
        ("content-type", "application/octet-stream".to_owned()),
        ("accept-ranges", "bytes".to_owned()),
        ("etag", format!("\"{digest}\"")),
        ("docker-content-digest", digest.to_string()),
    ];
    if status == StatusCode::PARTIAL_CONTENT {
        headers.push(("content-range", format!("bytes {}-{}/{size}", span.start, span.end.saturating_sub(1))));
    }
    Ok(respond(status, body, &headers))
}

/// Parses a single `bytes=` range (RFC 9110) against a blob of `size` bytes. Forms this server
/// does not serve (several ranges, other units, garbage) are ignored, as the RFC allows, and the
/// whole blob is sent; a well-formed range outside the blob is 416.
fn parse_range(spec: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ApiError> {
    let Some(r) = spec.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if r.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = r.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || ApiError::from(registry::Error::RangeNotSatisfiable { size });
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => {
            if start >= size {
                return Err(unsatisfiable());
            }
            start..end.saturating_add(1).min(size)
        }
        (Ok(start), Err(_)) if b.is_empty() => {
            if start >= size {
                return Err(unsatisfiable());
            }
            start..size
        }
        (Err(_), Ok(suffix)) if a.is_empty() => {
            if suffix == 0 {
                return Err(unsatisfiable());
            }
            size.saturating_sub(suffix)..size
        }
        _ => return Ok(None),
    };
    Ok(Some(range))
}

/// DELETE /v2/<name>/blobs/<digest>: 202; the bytes are freed once nothing references them.
pub(super) async fn delete_blob(reg: &Registry, name: &RepoName, digest: &Digest) -> Result<Response, ApiError> {
    reg.delete_blob(name, digest).await?;
    Ok(empty(StatusCode::ACCEPTED, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_as_rfc_9110_says() {
        let ok = |s: &str| parse_range(s, 100).expect(s);
        assert_eq!(ok("bytes=0-9"), Some(0..10));
        assert_eq!(ok("bytes=90-200"), Some(90..100));
        assert_eq!(ok("bytes=95-"), Some(95..100));
        assert_eq!(ok("bytes=-10"), Some(90..100));
        assert_eq!(ok("bytes=-1000"), Some(0..100));
        assert_eq!(ok("bytes=0-1,5-6"), None);
        assert_eq!(ok("items=0-1"), None);
        assert_eq!(ok("bytes=9-3"), None);
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=100-200", 100).is_err());
        assert!(parse_range("bytes=-0", 100).is_err());
    }
}

//! `ApiError`: the one place where errors of every layer become the OCI error JSON
//! (`{"errors":[{"code","message","detail"}]}`) with the spec's status and headers.
//! 5xx bodies say only "internal error"; the cause rides along as a response extension and is
//! logged once by the request-logging middleware.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::oci::{ErrorBody, ErrorCode, NameError};
use crate::{access, registry};

/// The internal cause of a 5xx, for the request log only.
#[derive(Debug, Clone)]
pub(crate) struct ErrorCause(pub(crate) String);

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    status: StatusCode,
    message: String,
    detail: Option<serde_json::Value>,
    headers: Vec<(HeaderName, String)>,
    cause: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { code, status, message: message.into(), detail: None, headers: Vec::new(), cause: None }
    }

    /// An internal failure: the client learns nothing of `cause`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(ErrorCode::Unknown, "internal error");
        e.cause = Some(cause.to_string());
        e
    }

    /// 507: the registry's disk (or database) is full. Nothing was stored; the client may
    /// retry once space is freed.
    fn storage_full(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(ErrorCode::Unknown, "the registry's storage is full: nothing was stored")
            .status(StatusCode::INSUFFICIENT_STORAGE);
        e.cause = Some(cause.to_string());
        e
    }

    pub(crate) fn set_message(&mut self, message: String) {
        self.message = message;
    }

    /// 413: a request body over the endpoint's limit.
    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::SizeInvalid, message).status(StatusCode::PAYLOAD_TOO_LARGE)
    }

    fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn with_status_bad_request(self) -> Self {
        self.status(StatusCode::BAD_REQUEST)
    }

    /// For a path that names no endpoint: 404, whatever the code's usual status.
    pub(crate) fn with_status_not_found(self) -> Self {
        self.status(StatusCode::NOT_FOUND)
    }

    #[cfg(test)]
    pub(crate) fn code_str(&self) -> &'static str {
        self.code.as_str()
    }

    pub(crate) fn code(&self) -> ErrorCode {
        self.code
    }

    /// What the client is told (for a 5xx, only "internal error" or the like).
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn status_code(&self) -> StatusCode {
        self.status
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// A repository-name error, reported as `NAME_INVALID` with what is wrong.
    pub fn name(e: NameError) -> Self {
        Self::new(ErrorCode::NameInvalid, format!("invalid repository name: {e}"))
    }

    /// A reference error: a bad digest is `DIGEST_INVALID`, a bad tag `TAG_INVALID`.
    pub fn reference(e: NameError) -> Self {
        match e {
            NameError::Digest(d) => Self::new(ErrorCode::DigestInvalid, d.to_string()),
            other => Self::new(ErrorCode::TagInvalid, other.to_string()),
        }
    }
}

impl From<registry::Error> for ApiError {
    fn from(e: registry::Error) -> Self {
        use registry::Error as E;
        let message = e.to_string();
        match e {
            E::BlobUnknown(d) => Self::new(ErrorCode::BlobUnknown, message).detail(serde_json::json!({ "digest": d })),
            E::BlobUploadUnknown => Self::new(ErrorCode::BlobUploadUnknown, message),
            E::BlobUploadInvalid(_) => Self::new(ErrorCode::BlobUploadInvalid, message),
            E::DigestInvalid { expected, actual } => Self::new(ErrorCode::DigestInvalid, message)
                .detail(serde_json::json!({ "expected": expected, "actual": actual })),
            E::RangeNotContinuing { size } => {
                Self::new(ErrorCode::RangeInvalid, message).header(header::RANGE, upload_range(size))
            }
            E::RangeNotSatisfiable { size } => {
                Self::new(ErrorCode::RangeInvalid, message).header(header::CONTENT_RANGE, format!("bytes */{size}"))
            }
            E::ManifestInvalid(_) => Self::new(ErrorCode::ManifestInvalid, message),
            E::ManifestBlobUnknown { digest, .. } => {
                Self::new(ErrorCode::ManifestBlobUnknown, message).detail(serde_json::json!({ "digest": digest }))
            }
            E::ManifestUnknown(_) => Self::new(ErrorCode::ManifestUnknown, message),
            E::ManifestTooLarge => Self::too_large(message),
            E::NameUnknown(_) => Self::new(ErrorCode::NameUnknown, message),
            E::TagUnknown(_) => Self::new(ErrorCode::TagUnknown, message),
            E::Locked(_)
            | E::Quarantined(_)
            | E::ListedByIndex { .. }
            | E::QuotaExceeded { .. }
            | E::LimitReached(_)
            | E::PolicyRefused(_)
            | E::Signed(_) => Self::new(ErrorCode::Denied, message),
            E::Meta(cause) if cause.is_storage_full() => Self::storage_full(cause),
            E::Blob(cause) if cause.is_storage_full() => Self::storage_full(cause),
            E::Meta(cause) => Self::internal(cause),
            E::Blob(cause) => Self::internal(cause),
        }
    }
}

impl From<access::Error> for ApiError {
    fn from(e: access::Error) -> Self {
        use access::Error as E;
        match e {
            E::Unauthorized(_) => Self::new(ErrorCode::Unauthorized, "invalid or expired credentials"),
            E::Throttled(refused) => Self::new(
                ErrorCode::TooManyRequests,
                format!("{}; try again in {} s", refused.reason, refused.retry_after),
            )
            .header(header::RETRY_AFTER, refused.retry_after.to_string()),
            E::Denied(m) => Self::new(ErrorCode::Denied, m),
            E::NotFound(m) => Self::new(ErrorCode::ResourceUnknown, m),
            E::Conflict(m) => Self::new(ErrorCode::Conflict, m),
            E::Invalid(m) => Self::new(ErrorCode::RequestInvalid, m),
            E::Meta(cause) => Self::internal(cause),
            E::Password(cause) => Self::internal(cause),
            E::Jwt(cause) => Self::internal(cause),
            E::Sealed(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::events::webhooks::Error> for ApiError {
    fn from(e: crate::events::webhooks::Error) -> Self {
        use crate::events::webhooks::Error as E;
        match e {
            E::NotFound(_) | E::EventNotFound(_) => Self::new(ErrorCode::ResourceUnknown, e.to_string()),
            E::Invalid(m) => Self::new(ErrorCode::RequestInvalid, m),
            E::Duplicate(_) => Self::new(ErrorCode::Conflict, e.to_string()),
            E::LimitReached { .. } => Self::new(ErrorCode::Denied, e.to_string()),
            E::Sealed(cause) => Self::internal(cause),
            E::Meta(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::tasks::Error> for ApiError {
    fn from(e: crate::tasks::Error) -> Self {
        use crate::tasks::Error as E;
        match e {
            E::Invalid(m) => Self::new(ErrorCode::RequestInvalid, m),
            E::NotFound(m) => Self::new(ErrorCode::ResourceUnknown, m),
            E::Conflict(m) => Self::new(ErrorCode::Conflict, m),
            E::TooLarge(m) => Self::too_large(m),
            E::Meta(cause) => Self::internal(cause),
            E::Blob(cause) => Self::internal(cause),
            E::Sealed(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::trust::Error> for ApiError {
    fn from(e: crate::trust::Error) -> Self {
        use crate::trust::Error as E;
        match e {
            E::Invalid(m) => Self::new(ErrorCode::RequestInvalid, m),
            E::TooLarge(m) => Self::too_large(m),
            E::Meta(cause) if cause.is_storage_full() => Self::storage_full(cause),
            E::Meta(cause) => Self::internal(cause),
            E::Io(cause) if cause.raw_os_error() == Some(28) => Self::storage_full(cause),
            E::Io(cause) | E::Read(cause) => Self::internal(cause),
            // What a layer, an rpm database or a trust store holds: bad input, said as it is.
            other => Self::new(ErrorCode::RequestInvalid, other.to_string()),
        }
    }
}

/// The `Range` an upload session reports: the bytes it holds, `0-<last>` (`0-0` when empty,
/// as CNCF Distribution does and clients expect).
pub(crate) fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let refusal = super::audit::Refusal(format!("{}: {}", self.code.as_str(), self.message));
        let body = ErrorBody::one(self.code, self.message, self.detail);
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status, [(header::CONTENT_TYPE, "application/json")], json).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(name, v);
            }
        }
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(ErrorCause(cause));
        }
        res.extensions_mut().insert(refusal);
        res
    }
}

//! The distribution-spec error codes and the JSON envelope they travel in:
//! `{"errors":[{"code":"BLOB_UNKNOWN","message":"…","detail":…}]}`.
//! Each code's string and default HTTP status sit side by side, declared once.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    /// CNCF Distribution's code for a `Content-Range` that does not continue the upload.
    RangeInvalid,
    /// CNCF Distribution's code for a manifest reference that is not a valid tag.
    TagInvalid,
    /// CNCF Distribution's code for a bad `n` in tag and catalog listings.
    PaginationNumberInvalid,
    /// ACR's code for a tag that does not exist (`/acr/v1/<name>/_tags/<tag>`).
    TagUnknown,
    /// Management API: no such resource (token, scope map, user, role assignment).
    ResourceUnknown,
    /// Management API: the resource exists already or is still in use.
    Conflict,
    /// Management API: a request body or parameter that is not valid.
    RequestInvalid,
    /// Anything the server did wrong; the message never says what.
    Unknown,
}

impl ErrorCode {
    /// (wire code, HTTP status) for each code.
    pub fn parts(self) -> (&'static str, u16) {
        match self {
            Self::BlobUnknown => ("BLOB_UNKNOWN", 404),
            Self::BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", 400),
            Self::BlobUploadUnknown => ("BLOB_UPLOAD_UNKNOWN", 404),
            Self::DigestInvalid => ("DIGEST_INVALID", 400),
            Self::ManifestBlobUnknown => ("MANIFEST_BLOB_UNKNOWN", 400),
            Self::ManifestInvalid => ("MANIFEST_INVALID", 400),
            Self::ManifestUnknown => ("MANIFEST_UNKNOWN", 404),
            Self::NameInvalid => ("NAME_INVALID", 400),
            Self::NameUnknown => ("NAME_UNKNOWN", 404),
            Self::SizeInvalid => ("SIZE_INVALID", 400),
            Self::Unauthorized => ("UNAUTHORIZED", 401),
            Self::Denied => ("DENIED", 403),
            Self::Unsupported => ("UNSUPPORTED", 405),
            Self::TooManyRequests => ("TOOMANYREQUESTS", 429),
            Self::RangeInvalid => ("RANGE_INVALID", 416),
            Self::TagInvalid => ("TAG_INVALID", 400),
            Self::PaginationNumberInvalid => ("PAGINATION_NUMBER_INVALID", 400),
            Self::TagUnknown => ("TAG_UNKNOWN", 404),
            Self::ResourceUnknown => ("NOT_FOUND", 404),
            Self::Conflict => ("CONFLICT", 409),
            Self::RequestInvalid => ("BAD_REQUEST", 400),
            Self::Unknown => ("UNKNOWN", 500),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.parts().0
    }

    pub fn status(self) -> u16 {
        self.parts().1
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The error envelope of every 4xx/5xx body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub errors: Vec<ErrorEntry>,
}

#[derive(Debug, Serialize)]
pub struct ErrorEntry {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl ErrorBody {
    pub fn one(code: ErrorCode, message: impl Into<String>, detail: Option<serde_json::Value>) -> Self {
        Self { errors: vec![ErrorEntry { code, message: message.into(), detail }] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_the_spec() {
        let body = ErrorBody::one(ErrorCode::BlobUnknown, "blob unknown to registry", None);
        let json = serde_json::to_string(&body).expect("serializes");
        assert_eq!(json, r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#);
        assert_eq!(ErrorCode::NameInvalid.status(), 400);
        assert_eq!(ErrorCode::Unsupported.status(), 405);
    }
}

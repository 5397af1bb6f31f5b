//! Time-limited signed URLs for blob reads (`storage.redirect`): a blob GET answers 307 to
//! `/_storage/<blob key>?expires=<unix seconds>&signature=<HMAC-SHA256>`, which Berth serves
//! to anyone holding it, whatever `Authorization` header the client resends (the `curl -L`
//! problem ACR's storage URLs have). The HMAC key lives in the metadata store, so every node
//! signs and checks alike. With `storage.redirect_to = "store"`, S3 and Azure Blob sign URLs
//! of their own instead, and serve the bytes themselves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::BlobStore;
use crate::oci::Digest;

/// Why a signed URL is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("this storage URL is not signed by this registry")]
    Invalid,
    #[error("this storage URL expired")]
    Expired,
    #[error("signed storage URLs are not enabled")]
    Disabled,
}

/// The signed message: the path and the expiry, so neither can change alone.
fn message(path: &str, expires: u64) -> String {
    format!("GET\n{path}\n{expires}")
}

impl BlobStore {
    /// Enables signed URLs with this HMAC key.
    pub fn with_url_key(mut self, key: &[u8]) -> Self {
        self.url_key = Some(hmac::Key::new(hmac::HMAC_SHA256, key));
        self
    }

    /// The store's own URL reading the blob for `ttl` (S3 presigned, Azure SAS); `None` where
    /// the store has none (the filesystem).
    pub async fn store_url(&self, digest: &Digest, ttl: std::time::Duration) -> super::Result<Option<String>> {
        let Some(signer) = &self.signer else { return Ok(None) };
        let url = signer.signed_url(axum::http::Method::GET, &Self::blob_key(digest), ttl).await?;
        Ok(Some(url.to_string()))
    }

    /// A relative URL that reads the blob until `expires` (Unix seconds).
    pub fn signed_url(&self, digest: &Digest, expires: u64) -> Result<String, SignError> {
        let key = self.url_key.as_ref().ok_or(SignError::Disabled)?;
        let path = format!("/_storage/{}", Self::blob_key(digest));
        let signature = URL_SAFE_NO_PAD.encode(hmac::sign(key, message(&path, expires).as_bytes()));
        Ok(format!("{path}?expires={expires}&signature={signature}"))
    }

    /// The blob a signed URL names, if its signature is this registry's (compared in constant
    /// time) and it has not expired at `now` (Unix seconds).
    pub fn check_signed(&self, path: &str, expires: u64, signature: &str, now: u64) -> Result<Digest, SignError> {
        let key = self.url_key.as_ref().ok_or(SignError::Disabled)?;
        let tag = URL_SAFE_NO_PAD.decode(signature).map_err(|_| SignError::Invalid)?;
        hmac::verify(key, message(path, expires).as_bytes(), &tag).map_err(|_| SignError::Invalid)?;
        if now > expires {
            return Err(SignError::Expired);
        }
        let rest = path.strip_prefix("/_storage/blobs/").ok_or(SignError::Invalid)?;
        let mut parts = rest.split('/');
        let (Some(algorithm), Some(_), Some(hex), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SignError::Invalid);
        };
        let digest = Digest::parse(&format!("{algorithm}:{hex}")).map_err(|_| SignError::Invalid)?;
        // The path must be exactly the key this store makes for that digest.
        if format!("/_storage/{}", Self::blob_key(&digest)) != path {
            return Err(SignError::Invalid);
        }
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> BlobStore {
        BlobStore::in_memory().with_url_key(b"0123456789abcdef0123456789abcdef")
    }

    fn split(url: &str) -> (String, u64, String) {
        let (path, query) = url.split_once('?').expect("query");
        let q: std::collections::HashMap<_, _> =
            serde_urlencoded::from_str::<Vec<(String, String)>>(query).expect("query").into_iter().collect();
        (path.to_owned(), q["expires"].parse().expect("expires"), q["signature"].clone())
    }

    #[test]
    fn signed_urls_check_signature_expiry_and_path() {
        let digest = Digest::sha256_of(b"blob");
        let (path, expires, sig) = split(&store().signed_url(&digest, 1000).expect("signed"));
        assert_eq!(store().check_signed(&path, expires, &sig, 999), Ok(digest.clone()));
        assert_eq!(store().check_signed(&path, expires, &sig, 1001), Err(SignError::Expired));
        assert_eq!(store().check_signed(&path, expires + 1, &sig, 999), Err(SignError::Invalid));
        let other = path.replace(&digest.hex()[..4], "0000");
        assert_eq!(store().check_signed(&other, expires, &sig, 999), Err(SignError::Invalid));
        let mut tampered = sig.clone();
        tampered.replace_range(0..1, if sig.starts_with('A') { "B" } else { "A" });
        assert_eq!(store().check_signed(&path, expires, &tampered, 999), Err(SignError::Invalid));
        let foreign = BlobStore::in_memory().with_url_key(b"another key, another registry!!!");
        assert_eq!(foreign.check_signed(&path, expires, &sig, 999), Err(SignError::Invalid));
        assert_eq!(BlobStore::in_memory().signed_url(&digest, 1), Err(SignError::Disabled));
    }
}

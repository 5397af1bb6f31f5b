//! Reading, mounting and deleting blobs — spec "Pulling blobs", "Mounting a blob from another
//! repository", "Deleting blobs".

use std::ops::Range;

use futures_util::TryStreamExt;

use super::{Error, Registry, Result};
use crate::blob::ByteStream;
use crate::oci::{Digest, RepoName};

impl Registry {
    /// Size of a blob `repo` may read; refused while the repository is read-locked.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        match self.meta.linked_blob_size(repo, digest).await? {
            Some((size, true)) => Ok(size),
            Some((_, false)) => Err(Error::Locked(format!(
                "repository {:?} is locked (readEnabled: false): nothing in it can be pulled",
                repo.as_str()
            ))),
            None => Err(Error::BlobUnknown(digest.clone())),
        }
    }

    /// A signed URL reading the blob for `ttl` (`storage.redirect`): the store's own if
    /// `to_store` and it has them, else Berth's.
    pub async fn blob_url(&self, digest: &Digest, ttl: std::time::Duration, to_store: bool) -> Result<String> {
        if to_store && let Some(url) = self.blobs.store_url(digest, ttl).await? {
            return Ok(url);
        }
        let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default() + ttl;
        Ok(self.blobs.signed_url(digest, expires.as_secs())?)
    }

    /// The blob a signed URL names and its size, once the signature and expiry check out.
    pub async fn signed_blob(&self, path: &str, expires: u64, signature: &str) -> Result<(Digest, u64)> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let digest = self.blobs.check_signed(path, expires, signature, now.as_secs())?;
        let size = self.meta.blob_size(&digest).await?.ok_or_else(|| Error::BlobUnknown(digest.clone()))?;
        Ok((digest, size))
    }

    /// Streams `range` of a blob, after checking it lies inside the blob's `size`.
    pub async fn read_blob(&self, digest: &Digest, size: u64, range: Range<u64>) -> Result<ByteStream> {
        if range.start > range.end || range.end > size {
            return Err(Error::RangeNotSatisfiable { size });
        }
        Ok(self.blobs.read(digest, range).await?)
    }

    /// Gives `repo` access to a blob `from` holds. False (and nothing changed) if `from` does
    /// not hold it; the client then uploads the blob normally.
    pub async fn mount_blob(&self, repo: &RepoName, from: &RepoName, digest: &Digest) -> Result<bool> {
        self.ensure_writable(repo).await?;
        self.note_activity(repo).await?;
        Ok(self.meta.mount_blob(repo, from, digest).await?)
    }

    /// Removes the blob from `repo`; its bytes are freed by garbage collection once nothing
    /// references them.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        if self.meta.unlink_blob(repo, digest).await? { Ok(()) } else { Err(Error::BlobUnknown(digest.clone())) }
    }

    /// The whole of a stored blob of `size` bytes that its caller bounded already (an image
    /// config, a signature envelope, a scan report): read into memory, as only small ones are.
    pub(super) async fn whole_blob(&self, digest: &Digest, size: u64) -> Result<Vec<u8>> {
        let chunks: Vec<bytes::Bytes> =
            self.blobs.read(digest, 0..size).await?.try_collect().await.map_err(|e| Error::Blob(e.into()))?;
        Ok(chunks.concat())
    }
}

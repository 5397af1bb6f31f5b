//! Upload sessions — spec "Pushing blobs": monolithic, POST then PUT, chunked PATCHes.
//!
//! A session is a metadata row (size, part names, SHA-256 state) plus part objects. Each PATCH
//! streams into a new part while hashing, then records it with a conditional update; so a
//! session survives restarts and continues on any node, and racing PATCHes cannot corrupt it.
//! A blob becomes visible (a `blobs` row) only after its digest was verified.

use super::{Error, Registry, Result};
use crate::blob::{BlobStore, ByteStream};
use crate::meta::{self, UploadRow};
use crate::oci::{Algorithm, Digest, Hasher, RepoName};

/// Where an upload session stands.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: uuid::Uuid,
    pub size: u64,
}

impl Registry {
    pub async fn start_upload(&self, repo: &RepoName) -> Result<UploadStatus> {
        self.ensure_writable(repo).await?;
        let id = uuid::Uuid::new_v4();
        let state = Hasher::new(Algorithm::Sha256).sha256_state().unwrap_or_default();
        let row = UploadRow {
            id: id.to_string(),
            repository: repo.to_string(),
            size: 0,
            parts: Vec::new(),
            hash_state: state,
        };
        self.meta.create_upload(&row).await?;
        Ok(UploadStatus { id, size: 0 })
    }

    async fn session(&self, repo: &RepoName, id: &uuid::Uuid) -> Result<UploadRow> {
        match self.meta.upload(&id.to_string()).await? {
            Some(row) if row.repository == repo.as_str() => Ok(row),
            _ => Err(Error::BlobUploadUnknown),
        }
    }

    pub async fn upload_status(&self, repo: &RepoName, id: &uuid::Uuid) -> Result<UploadStatus> {
        let row = self.session(repo, id).await?;
        Ok(UploadStatus { id: *id, size: row.size })
    }

    /// Appends a chunk. `range` is the `Content-Range` (first and last byte) if the client sent
    /// one: it must start where the upload stands and match the bytes received.
    pub async fn append_chunk(
        &self,
        repo: &RepoName,
        id: &uuid::Uuid,
        range: Option<(u64, u64)>,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        let row = self.session(repo, id).await?;
        if let Some((start, _)) = range
            && start != row.size
        {
            return Err(Error::RangeNotContinuing { size: row.size });
        }
        let next = self.store_chunk(id, &row, body).await?;
        if let Some((start, end)) = range
            && next.size - row.size != end - start + 1
        {
            self.blobs.discard(id, &next.parts[row.parts.len()..]).await?;
            return Err(Error::BlobUploadInvalid(format!(
                "Content-Range {start}-{end} announces {} bytes but the body had {}",
                end - start + 1,
                next.size - row.size
            )));
        }
        self.record_chunk(id, &row, &next).await?;
        Ok(UploadStatus { id: *id, size: next.size })
    }

    /// Streams a chunk into a new part; returns the session as it would be with the part.
    async fn store_chunk(&self, id: &uuid::Uuid, row: &UploadRow, body: ByteStream) -> Result<UploadRow> {
        let mut hasher = Hasher::resume_sha256(&row.hash_state)
            .ok_or_else(|| Error::Meta(meta::Error::Corrupt(format!("hash state of upload {id}"))))?;
        let part = BlobStore::new_part_name();
        let written = self.blobs.write_part(id, &part, body, &mut hasher).await?;
        let mut next = row.clone();
        next.size += written;
        next.parts.push(part);
        next.hash_state = hasher.sha256_state().unwrap_or_default();
        Ok(next)
    }

    /// Records a stored part; if another request changed the session meanwhile, the part is
    /// dropped and the client told where the upload really stands.
    async fn record_chunk(&self, id: &uuid::Uuid, row: &UploadRow, next: &UploadRow) -> Result<()> {
        match self.meta.advance_upload(&row.parts, next).await {
            Ok(()) => Ok(()),
            Err(meta::Error::Conflict(_)) => {
                self.blobs.discard(id, &next.parts[row.parts.len()..]).await?;
                let size = self.meta.upload(&row.id).await?.map_or(row.size, |r| r.size);
                Err(Error::RangeNotContinuing { size })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ends a session with its last chunk (if any) and the client's digest. The session is
    /// claimed first, so two racing PUTs cannot both commit it. On a digest mismatch the
    /// session and its bytes are dropped and nothing becomes visible.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &uuid::Uuid,
        digest: &Digest,
        last_chunk: Option<ByteStream>,
    ) -> Result<()> {
        let mut row = self.session(repo, id).await?;
        if let Some(body) = last_chunk {
            let next = self.store_chunk(id, &row, body).await?;
            self.record_chunk(id, &row, &next).await?;
            row = next;
        }
        if !self.meta.delete_upload(&row.id).await? {
            return Err(Error::BlobUploadUnknown);
        }
        let actual = match digest.algorithm() {
            Algorithm::Sha256 => Hasher::resume_sha256(&row.hash_state)
                .ok_or_else(|| Error::Meta(meta::Error::Corrupt(format!("hash state of upload {id}"))))?
                .finish(),
            other => self.blobs.hash_parts(id, &row.parts, other).await?,
        };
        self.commit_blob(repo, id, &row.parts, digest, actual, row.size).await
    }

    /// A whole blob in one request (`POST ?digest=`): streamed, hashed, verified, stored.
    pub async fn put_blob(&self, repo: &RepoName, digest: &Digest, body: ByteStream) -> Result<()> {
        self.ensure_writable(repo).await?;
        let id = uuid::Uuid::new_v4();
        let part = BlobStore::new_part_name();
        let mut hasher = Hasher::new(digest.algorithm());
        let size = self.blobs.write_part(&id, &part, body, &mut hasher).await?;
        self.commit_blob(repo, &id, &[part], digest, hasher.finish(), size).await
    }

    async fn commit_blob(
        &self,
        repo: &RepoName,
        id: &uuid::Uuid,
        parts: &[String],
        expected: &Digest,
        actual: Digest,
        size: u64,
    ) -> Result<()> {
        if &actual != expected {
            self.blobs.discard(id, parts).await?;
            return Err(Error::DigestInvalid { expected: expected.clone(), actual });
        }
        if self.meta.link_stored_blob(repo, expected).await? {
            // Already stored (pushed before, or by another repository): keep one copy.
            return Ok(self.blobs.discard(id, parts).await?);
        }
        if let Err(e) = self.check_quota(size).await {
            self.blobs.discard(id, parts).await?;
            return Err(e);
        }
        let _gc_waits = self.meta.blob_writes().await?;
        self.blobs.commit(id, parts, expected).await?;
        self.meta.add_blob(repo, expected, size).await?;
        Ok(())
    }

    /// Cancels a session and frees its bytes.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &uuid::Uuid) -> Result<()> {
        let row = self.session(repo, id).await?;
        if !self.meta.delete_upload(&row.id).await? {
            return Err(Error::BlobUploadUnknown);
        }
        Ok(self.blobs.discard(id, &row.parts).await?)
    }
}

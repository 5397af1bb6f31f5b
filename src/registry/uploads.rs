//! Upload sessions — spec "Pushing blobs": monolithic, POST then PUT, chunked PATCHes.
//!
//! A session is a metadata row (size, part names, SHA-256 state) plus its stored bytes. Each
//! PATCH streams onto them while hashing (extending the session's one file on the filesystem, as
//! a new part in object stores), then records the result with a conditional update; so a session
//! survives restarts and continues on any node, and racing PATCHes cannot corrupt it. A blob
//! becomes visible (a `blobs` row) only after its digest was verified.

use super::{Error, Registry, Result};
use crate::blob::{self, ByteStream, Chunk};
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
        self.note_activity(repo).await?;
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
        self.note_activity(repo).await?;
        let (next, chunk) = self.store_chunk(id, &row, self.while_active(repo, body)).await?;
        if let Some((start, end)) = range
            && chunk.size != end - start + 1
        {
            self.blobs.revert(id, &row.parts, row.size, &chunk).await?;
            return Err(Error::BlobUploadInvalid(format!(
                "Content-Range {start}-{end} announces {} bytes but the body had {}",
                end - start + 1,
                chunk.size
            )));
        }
        self.record_chunk(id, &row, &next, &chunk).await?;
        Ok(UploadStatus { id: *id, size: next.size })
    }

    /// Streams a chunk onto the session's bytes; returns the session as it would be with the
    /// chunk, and the chunk. A chunk racing another on the same session is told where the
    /// upload stands.
    async fn store_chunk(&self, id: &uuid::Uuid, row: &UploadRow, body: ByteStream) -> Result<(UploadRow, Chunk)> {
        let chunk = match self.blobs.append(id, &row.parts, row.size, body, session_hasher(row)?).await {
            Err(blob::Error::Claimed) => return Err(self.not_continuing(row).await?),
            stored => stored?,
        };
        let next = UploadRow {
            size: row.size + chunk.size,
            parts: chunk.parts.clone(),
            hash_state: chunk.hasher.sha256_state().unwrap_or_default(),
            ..row.clone()
        };
        Ok((next, chunk))
    }

    /// Records a stored chunk, or takes it back if that fails; if another request changed the
    /// session meanwhile, the client is told where the upload really stands.
    async fn record_chunk(&self, id: &uuid::Uuid, row: &UploadRow, next: &UploadRow, chunk: &Chunk) -> Result<()> {
        let Err(e) = self.meta.advance_upload(&row.parts, next).await else { return Ok(()) };
        self.blobs.revert(id, &row.parts, row.size, chunk).await?;
        match e {
            meta::Error::Conflict(_) => Err(self.not_continuing(row).await?),
            e => Err(e.into()),
        }
    }

    /// The error for a chunk that lost a race: where the session stands now, or that it ended.
    async fn not_continuing(&self, row: &UploadRow) -> Result<Error> {
        Ok(match self.meta.upload(&row.id).await? {
            Some(now) => Error::RangeNotContinuing { size: now.size },
            None => Error::BlobUploadUnknown,
        })
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
        self.note_activity(repo).await?;
        if let Some(body) = last_chunk {
            let (next, chunk) = self.store_chunk(id, &row, self.while_active(repo, body)).await?;
            self.record_chunk(id, &row, &next, &chunk).await?;
            row = next;
        }
        if !self.meta.delete_upload(&row.id).await? {
            return Err(Error::BlobUploadUnknown);
        }
        let actual = match digest.algorithm() {
            Algorithm::Sha256 => session_hasher(&row)?.finish(),
            other => self.blobs.hash_parts(id, &row.parts, other).await.map_err(taken)?,
        };
        self.commit_blob(repo, id, &row.parts, digest, actual, row.size).await
    }

    /// A whole blob in one request (`POST ?digest=`): streamed, hashed, verified, stored.
    pub async fn put_blob(&self, repo: &RepoName, digest: &Digest, body: ByteStream) -> Result<()> {
        self.ensure_writable(repo).await?;
        self.note_activity(repo).await?;
        let id = uuid::Uuid::new_v4();
        let body = self.while_active(repo, body);
        let chunk = self.blobs.append(&id, &[], 0, body, Hasher::new(digest.algorithm())).await?;
        self.commit_blob(repo, &id, &chunk.parts, digest, chunk.hasher.finish(), chunk.size).await
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
        self.note_activity(repo).await?;
        if self.meta.link_stored_blob(repo, expected).await? {
            // Already stored (pushed before, or by another repository): keep one copy.
            return Ok(self.blobs.discard(id, parts).await?);
        }
        let limit = self.limits().await?.storage_bytes;
        if let Err(e) = self.check_quota_early(size, limit).await {
            self.blobs.discard(id, parts).await?;
            return Err(e);
        }
        let gc_waits = self.meta.blob_writes().await?;
        self.blobs.commit(id, parts, expected).await.map_err(taken)?;
        let Err(e) = self.meta.add_blob(repo, expected, size, limit).await else { return Ok(()) };
        // Refused (another push took the room meanwhile) or failed: the object has no row.
        drop(gc_waits);
        if let Err(undo) = self.delete_unrecorded(expected).await {
            tracing::warn!(error = %undo, %expected, "cannot delete the object of a blob not recorded");
        }
        Err(e.into())
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

/// The SHA-256 state a session saved, resumed.
fn session_hasher(row: &UploadRow) -> Result<Hasher> {
    Hasher::resume_sha256(&row.hash_state)
        .ok_or_else(|| Error::Meta(meta::Error::Corrupt(format!("hash state of upload {}", row.id))))
}

/// A session's bytes missing at its end: a PATCH racing the PUT took the session's file.
fn taken(e: blob::Error) -> Error {
    match e {
        blob::Error::NotFound => Error::BlobUploadUnknown,
        e => e.into(),
    }
}

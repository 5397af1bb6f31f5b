//! The blob store: content-addressed blobs and upload parts over `object_store`. All object keys
//! are made here, only from validated digests and upload ids, so no client input reaches a path.
//!
//! Keys: `blobs/<algorithm>/<first 2 hex>/<hex>` for blobs, `uploads/<id>/<part>` for the parts
//! of an upload session. A blob key is written only by [`BlobStore::commit`], after the caller
//! verified the digest, so whatever sits at a blob key is complete and correct.

mod error;
mod signed;

use std::io;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

pub use error::{Error, Result};
pub use signed::SignError;

use crate::oci::{Algorithm, Digest, Hasher};

/// A stream of bytes in or out of the store; errors are I/O errors.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// Buffer of a streaming write: parts of this size go to the store while the next one fills.
const WRITE_BUFFER: usize = 1 << 20;
/// S3's smallest multipart part: an upload to S3 holds about 3 of these.
const S3_PART: usize = 5 << 20;
/// Parts of one write in flight at once. With the buffer, this bounds an upload's memory to
/// about 3 MiB however large the blob.
const WRITES_IN_FLIGHT: usize = 2;
/// Chunk size of filesystem reads.
const READ_CHUNK: usize = 256 << 10;

#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Set for the filesystem backend: reads go straight to the file (no per-chunk task hop).
    local_root: Option<PathBuf>,
    /// HMAC key of signed blob URLs, when they are enabled.
    url_key: Option<ring::hmac::Key>,
    /// The store itself, where it can sign URLs of its own (S3, Azure Blob).
    signer: Option<Arc<dyn Signer>>,
    /// Size of the parts a streaming write sends (S3 refuses parts under 5 MiB but the last).
    part_size: usize,
}

impl BlobStore {
    /// Blobs as files under `root` (created if missing).
    pub fn filesystem(root: &FsPath) -> Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        // Directories emptied by deletes (uploads/<id>/) are removed with their last file.
        let store = LocalFileSystem::new_with_prefix(&root)?.with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            local_root: Some(root),
            url_key: None,
            signer: None,
            part_size: WRITE_BUFFER,
        })
    }

    /// Blobs in an S3 bucket; what `s3` leaves unset comes from the `AWS_*` environment.
    pub fn s3(bucket: &str, s3: &crate::config::S3Config) -> Result<Self> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_allow_http(s3.allow_http);
        if let Some(endpoint) = &s3.endpoint {
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        if let Some(region) = &s3.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &s3.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &s3.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = Arc::new(builder.build()?);
        Ok(Self { store: store.clone(), local_root: None, url_key: None, signer: Some(store), part_size: S3_PART })
    }

    /// Blobs in an Azure Blob container; what `azure` leaves unset comes from the
    /// `AZURE_STORAGE_*` environment.
    pub fn azure(container: &str, azure: &crate::config::AzureConfig) -> Result<Self> {
        let mut builder =
            MicrosoftAzureBuilder::from_env().with_container_name(container).with_allow_http(azure.allow_http);
        if let Some(account) = &azure.account {
            builder = builder.with_account(account);
        }
        if let Some(key) = &azure.access_key {
            builder = builder.with_access_key(key);
        }
        if let Some(endpoint) = &azure.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        // Block blobs take blocks of any size; S3's 5 MiB keeps memory per upload the same.
        let store = Arc::new(builder.build()?);
        Ok(Self { store: store.clone(), local_root: None, url_key: None, signer: Some(store), part_size: S3_PART })
    }

    /// Blobs in memory, for tests.
    pub fn in_memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            local_root: None,
            url_key: None,
            signer: None,
            part_size: WRITE_BUFFER,
        }
    }

    fn blob_key(digest: &Digest) -> Path {
        let hex = digest.hex();
        Path::from(format!("blobs/{}/{}/{}", digest.algorithm().as_str(), &hex[..2], hex))
    }

    fn part_key(upload: &uuid::Uuid, part: &str) -> Path {
        Path::from(format!("uploads/{upload}/{part}"))
    }

    /// A fresh part name: every append writes under its own name, so two racing appends to one
    /// session never touch each other's bytes.
    pub fn new_part_name() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    fn writer(&self, key: Path) -> BufWriter {
        BufWriter::with_capacity(self.store.clone(), key, self.part_size).with_max_concurrency(WRITES_IN_FLIGHT)
    }

    /// The file behind `key`, for the filesystem backend.
    fn local_path(&self, key: &Path) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        Some(key.parts().fold(root.clone(), |p, part| p.join(part.as_ref())))
    }

    /// Streams `body` into the part `part` of an upload, feeding every byte to `hasher` on the
    /// way. Returns the number of bytes stored.
    pub async fn write_part(
        &self,
        upload: &uuid::Uuid,
        part: &str,
        body: ByteStream,
        hasher: &mut Hasher,
    ) -> Result<u64> {
        let key = Self::part_key(upload, part);
        match self.local_path(&key) {
            Some(path) => write_file(path, body, hasher).await,
            None => self.write_object(key, body, hasher).await,
        }
    }

    /// [`BlobStore::write_part`] through `object_store`, for every backend but the filesystem.
    async fn write_object(&self, key: Path, mut body: ByteStream, hasher: &mut Hasher) -> Result<u64> {
        let mut writer = self.writer(key);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(Error::Body(e));
                }
            };
            hasher.update(&chunk);
            written += chunk.len() as u64;
            if let Err(e) = writer.write_all(&chunk).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
        }
        writer.shutdown().await?;
        Ok(written)
    }

    /// Makes the `parts` of an upload the blob `digest` (already verified by the caller) and
    /// removes the parts. One part is renamed into place; several are concatenated.
    pub async fn commit(&self, upload: &uuid::Uuid, parts: &[String], digest: &Digest) -> Result<()> {
        let target = Self::blob_key(digest);
        match parts {
            [] => {
                self.store.put(&target, Bytes::new().into()).await?;
            }
            [only] => {
                self.store.rename(&Self::part_key(upload, only), &target).await?;
                // A rename leaves the session's directory behind, empty (deletes clean up).
                if let Some(dir) = self.local_path(&Path::from(format!("uploads/{upload}"))) {
                    let _ = tokio::fs::remove_dir(dir).await;
                }
            }
            [first, rest @ ..] if self.local_root.is_some() => {
                // Filesystem: append the other parts to the first in the kernel, then move it
                // into place. An interrupted commit leaves only unreferenced part files.
                let first_key = Self::part_key(upload, first);
                let first_path = self.local_path(&first_key).ok_or(Error::NotFound)?;
                let rest: Vec<PathBuf> =
                    rest.iter().filter_map(|p| self.local_path(&Self::part_key(upload, p))).collect();
                tokio::task::spawn_blocking(move || append_files(&first_path, &rest))
                    .await
                    .map_err(io::Error::other)??;
                self.store.rename(&first_key, &target).await?;
                self.discard(upload, &parts[1..]).await?;
            }
            _ => {
                let mut writer = self.writer(target);
                let mut parts_stream = self.read_parts(upload, parts);
                while let Some(chunk) = parts_stream.next().await {
                    writer.write_all(&chunk?).await?;
                }
                writer.shutdown().await?;
                self.discard(upload, parts).await?;
            }
        }
        Ok(())
    }

    /// Removes the stored parts of an upload (missing parts are fine).
    pub async fn discard(&self, upload: &uuid::Uuid, parts: &[String]) -> Result<()> {
        for part in parts {
            match self.store.delete(&Self::part_key(upload, part)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Hashes the stored parts of an upload with `algorithm` (for digests the session did not
    /// hash as it went, i.e. SHA-512).
    pub async fn hash_parts(&self, upload: &uuid::Uuid, parts: &[String], algorithm: Algorithm) -> Result<Digest> {
        let mut hasher = Hasher::new(algorithm);
        let mut stream = self.read_parts(upload, parts);
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        Ok(hasher.finish())
    }

    fn read_parts(&self, upload: &uuid::Uuid, parts: &[String]) -> BoxStream<'static, Result<Bytes>> {
        let store = self.store.clone();
        let upload = *upload;
        futures_util::stream::iter(parts.to_vec())
            .then(move |part| {
                let store = store.clone();
                async move {
                    Ok::<_, Error>(store.get(&Self::part_key(&upload, &part)).await?.into_stream().map_err(Error::from))
                }
            })
            .try_flatten()
            .boxed()
    }

    /// Deletes a blob's object (gone already is fine). Only garbage collection calls this,
    /// after the metadata forgot the blob.
    pub async fn delete(&self, digest: &Digest) -> Result<()> {
        match self.store.delete(&Self::blob_key(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes whatever is left under an upload's prefix.
    pub async fn remove_upload(&self, upload: &uuid::Uuid) -> Result<()> {
        if let Some(dir) = self.local_path(&Path::from(format!("uploads/{upload}"))) {
            // The whole directory: with files a crash left half-written, which listing skips.
            return match tokio::fs::remove_dir_all(dir).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        }
        let prefix = Path::from(format!("uploads/{upload}"));
        let keys: Vec<Path> = self.store.list(Some(&prefix)).map_ok(|m| m.location).try_collect().await?;
        for key in keys {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Every stored blob with its last modification (Unix milliseconds).
    pub async fn list_blobs(&self) -> Result<Vec<(Digest, i64)>> {
        let metas: Vec<object_store::ObjectMeta> = self.store.list(Some(&Path::from("blobs"))).try_collect().await?;
        Ok(metas
            .iter()
            .filter_map(|m| {
                let parts: Vec<_> = m.location.parts().collect();
                let [_, algorithm, _, hex] = parts.as_slice() else { return None };
                let digest = Digest::parse(&format!("{}:{}", algorithm.as_ref(), hex.as_ref())).ok()?;
                Some((digest, m.last_modified.timestamp_millis()))
            })
            .collect())
    }

    /// Every upload with parts stored (on the filesystem: every upload directory), with its
    /// newest part's modification time.
    pub async fn list_uploads(&self) -> Result<Vec<(uuid::Uuid, i64)>> {
        if let Some(root) = &self.local_root {
            let root = root.join("uploads");
            return Ok(tokio::task::spawn_blocking(move || local_uploads(&root)).await.map_err(io::Error::other)??);
        }
        let metas: Vec<object_store::ObjectMeta> = self.store.list(Some(&Path::from("uploads"))).try_collect().await?;
        let mut newest: std::collections::HashMap<uuid::Uuid, i64> = std::collections::HashMap::new();
        for m in &metas {
            let Some(id) = m.location.parts().nth(1).and_then(|p| uuid::Uuid::parse_str(p.as_ref()).ok()) else {
                continue;
            };
            let t = newest.entry(id).or_insert(i64::MIN);
            *t = (*t).max(m.last_modified.timestamp_millis());
        }
        Ok(newest.into_iter().collect())
    }

    /// Streams `range` of a stored blob (the caller knows the size from the metadata).
    pub async fn read(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        let key = Self::blob_key(digest);
        if let Some(path) = self.local_path(&key) {
            let mut file = tokio::fs::File::open(path).await.map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Error::NotFound,
                _ => Error::Io(e),
            })?;
            file.seek(io::SeekFrom::Start(range.start)).await?;
            let reader = file.take(range.end - range.start);
            return Ok(tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK).boxed());
        }
        let opts = GetOptions { range: Some(GetRange::Bounded(range)), ..GetOptions::default() };
        let result = self.store.get_opts(&key, opts).await?;
        Ok(result.into_stream().map_err(io::Error::other).boxed())
    }
}

/// Appends the files `rest` to `first` (`std::io::copy` between files is `copy_file_range` on
/// Linux: the bytes never enter this process).
fn append_files(first: &FsPath, rest: &[PathBuf]) -> io::Result<()> {
    let mut out = std::fs::OpenOptions::new().append(true).open(first)?;
    for path in rest {
        io::copy(&mut std::fs::File::open(path)?, &mut out)?;
    }
    Ok(())
}

/// Chunks queued between the request and the file writer: bounds an upload's memory to a few
/// request-body chunks.
const FILE_QUEUE: usize = 16;

/// Filesystem fast path of [`BlobStore::write_part`]: a blocking thread writes the chunks while
/// this task hashes the next ones, so hashing and writing overlap on two cores without large
/// buffers. The file is removed if the body fails.
async fn write_file(path: PathBuf, mut body: ByteStream, hasher: &mut Hasher) -> Result<u64> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(FILE_QUEUE);
    let target = path.clone();
    let writer = tokio::task::spawn_blocking(move || -> io::Result<u64> {
        use std::io::Write;
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::File::create(&target)?;
        let mut written = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            file.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        Ok(written)
    });
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                hasher.update(&chunk);
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(io::Error::other)?;
    let error = match (failure, written) {
        (None, Ok(n)) => return Ok(n),
        (Some(body), _) => Error::Body(body),
        (None, Err(io)) => Error::Io(io),
    };
    let _ = tokio::fs::remove_file(&path).await;
    Err(error)
}

/// The upload directories under `root` with the newest modification of each (Unix ms),
/// empty ones and those holding only files a crash left half-written included.
fn local_uploads(root: &FsPath) -> io::Result<Vec<(uuid::Uuid, i64)>> {
    let millis = |m: std::fs::Metadata| {
        m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis() as i64)
    };
    let mut out = Vec::new();
    let dirs = match std::fs::read_dir(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        dirs => dirs?,
    };
    // A session may finish (and its directory go) while this looks: skip what vanishes.
    for dir in dirs.flatten() {
        let Ok(id) = uuid::Uuid::parse_str(&dir.file_name().to_string_lossy()) else { continue };
        let (Ok(meta), Ok(files)) = (dir.metadata(), std::fs::read_dir(dir.path())) else { continue };
        let newest = files.flatten().filter_map(|f| f.metadata().ok()).map(millis).fold(millis(meta), i64::max);
        out.push((id, newest));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&'static [u8]]) -> ByteStream {
        futures_util::stream::iter(chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>()).boxed()
    }

    async fn read_all(store: &BlobStore, digest: &Digest, range: Range<u64>) -> Vec<u8> {
        let chunks: Vec<Bytes> = store.read(digest, range).await.expect("read").try_collect().await.expect("stream");
        chunks.concat()
    }

    async fn suite(store: BlobStore) {
        let id = uuid::Uuid::new_v4();
        let parts = [BlobStore::new_part_name(), BlobStore::new_part_name()];
        let mut hasher = Hasher::new(Algorithm::Sha256);
        assert_eq!(store.write_part(&id, &parts[0], body(&[b"hello ", b"wor"]), &mut hasher).await.expect("part 0"), 9);
        assert_eq!(store.write_part(&id, &parts[1], body(&[b"ld"]), &mut hasher).await.expect("part 1"), 2);
        let digest = hasher.finish();
        assert_eq!(digest, Digest::sha256_of(b"hello world"));
        assert_eq!(store.hash_parts(&id, &parts, Algorithm::Sha256).await.expect("rehash"), digest);
        store.commit(&id, &parts, &digest).await.expect("commit");
        assert_eq!(read_all(&store, &digest, 0..11).await, b"hello world");
        assert_eq!(read_all(&store, &digest, 6..9).await, b"wor");
        assert!(matches!(store.hash_parts(&id, &parts, Algorithm::Sha256).await, Err(Error::NotFound)));

        // A single part is moved into place rather than copied.
        let single = [BlobStore::new_part_name()];
        let mut hasher = Hasher::new(Algorithm::Sha256);
        store.write_part(&id, &single[0], body(&[b"one part"]), &mut hasher).await.expect("single");
        let one = hasher.finish();
        store.commit(&id, &single, &one).await.expect("commit single");
        assert_eq!(read_all(&store, &one, 0..8).await, b"one part");

        let failing: ByteStream =
            futures_util::stream::iter(vec![Ok(Bytes::from_static(b"x")), Err(io::Error::other("cut"))]).boxed();
        let mut h = Hasher::new(Algorithm::Sha256);
        assert!(matches!(store.write_part(&id, "cut", failing, &mut h).await, Err(Error::Body(_))));
        let missing = Digest::sha256_of(b"missing");
        assert!(matches!(store.read(&missing, 0..1).await, Err(Error::NotFound)));
    }

    #[tokio::test]
    async fn in_memory_store_passes_the_suite() {
        suite(BlobStore::in_memory()).await;
    }

    #[tokio::test]
    async fn filesystem_store_passes_the_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        suite(BlobStore::filesystem(dir.path()).expect("fs store")).await;
    }
}

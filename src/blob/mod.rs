//! The blob store: content-addressed blobs and upload parts over `object_store`. All object keys
//! are made here, only from validated digests and upload ids, so no client input reaches a path.
//!
//! Keys: `blobs/<algorithm>/<first 2 hex>/<hex>` for blobs, `uploads/<id>/<part>` for the parts
//! of an upload session (on the filesystem, one file that each chunk renames and extends),
//! `sources/<id>` for the build contexts runs were sent (any node's worker reads them). A
//! blob key is written only by [`BlobStore::commit`], after the caller verified the digest, so
//! whatever sits at a blob key is complete and correct.

mod error;
mod signed;
mod worker;

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
use tokio::io::AsyncWriteExt;

pub use error::{Error, Result};
pub use signed::SignError;

use worker::Worker;

use crate::oci::{Algorithm, Digest, Hasher};

/// A stream of bytes in or out of the store; errors are I/O errors.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// A chunk stored by [`BlobStore::append`].
#[derive(Debug)]
pub struct Chunk {
    /// The upload's parts with the chunk.
    pub parts: Vec<String>,
    /// Bytes in the chunk.
    pub size: u64,
    /// The hasher given, having seen the chunk.
    pub hasher: Hasher,
}

/// Buffer of a streaming write: parts of this size go to the store while the next one fills.
const WRITE_BUFFER: usize = 1 << 20;
/// S3's smallest multipart part: an upload to S3 holds about 3 of these.
const S3_PART: usize = 5 << 20;
/// Parts of one write in flight at once. With the buffer, this bounds an upload's memory to
/// about 3 MiB however large the blob.
const WRITES_IN_FLIGHT: usize = 2;

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
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(allow) = s3.allow_http {
            builder = builder.with_allow_http(allow);
        }
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
        let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(container);
        if let Some(allow) = azure.allow_http {
            builder = builder.with_allow_http(allow);
        }
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

    /// Writes, reads back and deletes a small object (under `uploads/`, where a leftover is
    /// swept as an abandoned upload): proves the store works before the registry serves.
    pub async fn probe(&self) -> Result<()> {
        const BYTES: &[u8] = b"berth start-up probe";
        let key = Self::part_key(&uuid::Uuid::new_v4(), "probe");
        self.store.put(&key, Bytes::from_static(BYTES).into()).await?;
        let back = self.store.get(&key).await?.bytes().await?;
        self.store.delete(&key).await?;
        if back != BYTES {
            return Err(Error::Io(io::Error::other("the probe object read back different bytes")));
        }
        Ok(())
    }

    /// Whether the store answers, without writing anything: on the filesystem its directory
    /// must be listable; elsewhere a HEAD of a key that never exists must come back "not
    /// found", which takes the endpoint, the credentials and the bucket to answer.
    pub async fn ping(&self) -> Result<()> {
        if let Some(root) = &self.local_root {
            drop(tokio::fs::read_dir(root).await?);
            return Ok(());
        }
        match self.store.head(&Path::from("berth-readiness-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn blob_key(digest: &Digest) -> Path {
        let hex = digest.hex();
        Path::from(format!("blobs/{}/{}/{}", digest.algorithm().as_str(), &hex[..2], hex))
    }

    fn part_key(upload: &uuid::Uuid, part: &str) -> Path {
        Path::from(format!("uploads/{upload}/{part}"))
    }

    /// A fresh part name: every chunk stores under its own name, so two racing chunks of one
    /// session never touch each other's bytes.
    fn new_part_name() -> String {
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

    /// Streams `body` onto an upload whose stored `parts` hold `size` bytes, feeding every byte
    /// to `hasher` on the way.
    ///
    /// On the filesystem an upload is one file that each chunk extends in place: the chunk first
    /// claims the file by renaming it to a fresh part name. A rename is atomic, so of racing
    /// chunks one wins and the others get [`Error::Claimed`]; and a commit never copies bytes.
    /// Objects cannot be extended, so there each chunk is a new part and a commit joins them.
    pub async fn append(
        &self,
        upload: &uuid::Uuid,
        parts: &[String],
        size: u64,
        body: ByteStream,
        hasher: Hasher,
    ) -> Result<Chunk> {
        let part = Self::new_part_name();
        let key = Self::part_key(upload, &part);
        let path = self.local_path(&key);
        let extend = match (&path, parts) {
            (Some(path), [current]) => {
                let current = self.local_path(&Self::part_key(upload, current)).ok_or(Error::NotFound)?;
                claim(&current, path).await?;
                Some((size, current))
            }
            _ => None,
        };
        let mut hasher = Worker::new(hasher, |h: &mut Hasher, chunk| {
            h.update(chunk);
            Ok(())
        });
        let (written, parts) = match path {
            Some(path) if extend.is_some() || parts.is_empty() => {
                (write_file(path, body, &mut hasher, extend).await, vec![part])
            }
            _ => (self.write_object(key, body, &mut hasher).await, [parts, &[part][..]].concat()),
        };
        let size = written?;
        Ok(Chunk { parts, size, hasher: hasher.finish().await? })
    }

    /// Takes back a stored `chunk` that its session could not record: the upload is again its
    /// `parts`, holding `size` bytes. A file the chunk extended (one part before and after, the
    /// claimed file) is cut back and renamed back; new parts are deleted.
    pub async fn revert(&self, upload: &uuid::Uuid, parts: &[String], size: u64, chunk: &Chunk) -> Result<()> {
        match (parts, chunk.parts.as_slice()) {
            ([before], [after]) => {
                let before = self.local_path(&Self::part_key(upload, before)).ok_or(Error::NotFound)?;
                let after = self.local_path(&Self::part_key(upload, after)).ok_or(Error::NotFound)?;
                match tokio::task::spawn_blocking(move || unclaim(&after, size, &before)).await {
                    // Gone: the session expired meanwhile and its directory was removed.
                    Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    done => Ok(done.map_err(io::Error::other)??),
                }
            }
            _ => self.discard(upload, &chunk.parts[parts.len()..]).await,
        }
    }

    /// A new part through `object_store`, for every backend but the filesystem.
    async fn write_object(&self, key: Path, mut body: ByteStream, hasher: &mut Worker<Hasher>) -> Result<u64> {
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
            written += chunk.len() as u64;
            if let Err(e) = hasher.push(chunk.clone()).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            if let Err(e) = writer.write_all(&chunk).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
        }
        writer.shutdown().await?;
        Ok(written)
    }

    /// Makes the `parts` of an upload the blob `digest` (already verified by the caller) and
    /// removes the parts. One part (every filesystem upload) is renamed into place; the parts
    /// of an object-store upload are streamed into one object.
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

    fn source_key(id: &uuid::Uuid) -> Path {
        Path::from(format!("sources/{id}"))
    }

    /// Stores a run's build context, refusing (and removing) one longer than `max` bytes.
    pub async fn put_source(&self, id: &uuid::Uuid, mut body: ByteStream, max: u64) -> Result<u64> {
        let mut writer = self.writer(Self::source_key(id));
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let failed = match chunk {
                Ok(c) if written + c.len() as u64 > max => Some(Error::TooLarge(max)),
                Ok(c) => {
                    written += c.len() as u64;
                    writer.write_all(&c).await.err().map(Error::from)
                }
                Err(e) => Some(Error::Body(e)),
            };
            if let Some(e) = failed {
                let _ = writer.abort().await;
                return Err(e);
            }
        }
        writer.shutdown().await?;
        Ok(written)
    }

    /// Streams a stored build context.
    pub async fn read_source(&self, id: &uuid::Uuid) -> Result<ByteStream> {
        let result = self.store.get(&Self::source_key(id)).await?;
        Ok(result.into_stream().map_err(io::Error::other).boxed())
    }

    /// The build contexts stored, with when each was written (Unix ms).
    pub async fn list_sources(&self) -> Result<Vec<(uuid::Uuid, i64)>> {
        let metas: Vec<object_store::ObjectMeta> = self.store.list(Some(&Path::from("sources"))).try_collect().await?;
        Ok(metas
            .iter()
            .filter_map(|m| {
                let id = m.location.filename().and_then(|f| uuid::Uuid::parse_str(f).ok())?;
                Some((id, m.last_modified.timestamp_millis()))
            })
            .collect())
    }

    pub async fn delete_source(&self, id: &uuid::Uuid) -> Result<()> {
        match self.store.delete(&Self::source_key(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `range` of a stored blob (the caller knows the size from the metadata).
    pub async fn read(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        let key = Self::blob_key(digest);
        if let Some(path) = self.local_path(&key) {
            return read_file(path, range).await;
        }
        let opts = GetOptions { range: Some(GetRange::Bounded(range)), ..GetOptions::default() };
        let result = self.store.get_opts(&key, opts).await?;
        Ok(result.into_stream().map_err(io::Error::other).boxed())
    }
}

/// Read buffers of all filesystem downloads together. Each read takes an equal share, between
/// the two bounds: one pull reads 2 MiB at a time (half again as fast as 256 KiB reads, from
/// fewer thread hops), while many pulls together stay within the budget.
const READ_BUDGET: usize = 4 << 20;
const READ_CHUNKS: std::ops::RangeInclusive<usize> = (64 << 10)..=(2 << 20);
static DOWNLOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One download counted in [`DOWNLOADS`] for as long as its stream lives.
struct Download;

impl Download {
    fn start() -> Self {
        DOWNLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self
    }

    /// Size of the next read: this download's share of the budget.
    fn chunk(&self) -> usize {
        let share = READ_BUDGET / DOWNLOADS.load(std::sync::atomic::Ordering::Relaxed).max(1);
        share.clamp(*READ_CHUNKS.start(), *READ_CHUNKS.end())
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        DOWNLOADS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Filesystem fast path of [`BlobStore::read`]. Each chunk is read on a blocking thread straight
/// into the buffer that goes to the socket (`read_to_end` fills spare capacity: no zeroing, no
/// second copy as through `tokio::fs::File`), and no thread is held between chunks, so a slow
/// client costs no thread.
async fn read_file(path: PathBuf, range: Range<u64>) -> Result<ByteStream> {
    use std::io::{Read, Seek};
    let file = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        file.seek(io::SeekFrom::Start(range.start))?;
        Ok::<_, io::Error>(file)
    })
    .await
    .map_err(io::Error::other)?
    .map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound,
        _ => Error::Io(e),
    })?;
    let state = (file, range.end - range.start, Download::start());
    let chunks = futures_util::stream::try_unfold(state, |(file, left, download)| async move {
        if left == 0 {
            return Ok(None);
        }
        let want = left.min(download.chunk() as u64);
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            let mut chunk = Vec::with_capacity(want as usize);
            (&file).take(want).read_to_end(&mut chunk).map(|_| (file, chunk))
        })
        .await
        .map_err(io::Error::other)??;
        if chunk.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob file shorter than recorded"));
        }
        let left = left - chunk.len() as u64;
        Ok(Some((Bytes::from(chunk), (file, left, download))))
    });
    Ok(chunks.boxed())
}

/// Filesystem fast path of [`BlobStore::append`]: writes `body` to a new file at `path`, or
/// with `extend = Some((size, previous))` appends it to the claimed file at `path` from byte
/// `size`. The blocking pool writes the chunks while `hasher` hashes them and this task
/// receives the next ones. If the body fails, a new file is removed and a claimed one cut back
/// and handed back to `previous`.
async fn write_file(
    path: PathBuf,
    mut body: ByteStream,
    hasher: &mut Worker<Hasher>,
    extend: Option<(u64, PathBuf)>,
) -> Result<u64> {
    let target = path.clone();
    let start = extend.as_ref().map(|(size, _)| *size);
    let opened = tokio::task::spawn_blocking(move || -> io::Result<std::fs::File> {
        use std::io::Seek;
        match start {
            Some(size) => {
                let mut file = std::fs::OpenOptions::new().write(true).open(&target)?;
                // Whatever lies past the recorded size was never acknowledged.
                file.set_len(size)?;
                file.seek(io::SeekFrom::Start(size))?;
                Ok(file)
            }
            None => {
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::File::create(&target)
            }
        }
    })
    .await
    .map_err(io::Error::other)?;
    let written = match opened {
        Ok(file) => stream_to_file(file, &mut body, hasher).await,
        Err(e) => Err(Error::Io(e)),
    };
    let error = match written {
        Ok(n) => return Ok(n),
        Err(e) => e,
    };
    let undone = match extend {
        Some((size, previous)) => tokio::task::spawn_blocking(move || unclaim(&path, size, &previous))
            .await
            .unwrap_or_else(|panicked| Err(io::Error::other(panicked))),
        None => tokio::fs::remove_file(&path).await,
    };
    match undone {
        Err(e) if e.kind() != io::ErrorKind::NotFound => tracing::warn!(error = %e, "could not undo a failed chunk"),
        _ => {}
    }
    Err(error)
}

/// Streams `body` into `file` and `hasher`; the bytes written.
async fn stream_to_file(file: std::fs::File, body: &mut ByteStream, hasher: &mut Worker<Hasher>) -> Result<u64> {
    let mut writer = Worker::new(file, |f: &mut std::fs::File, chunk| std::io::Write::write_all(f, chunk));
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Error::Body)?;
        written += chunk.len() as u64;
        hasher.push(chunk.clone()).await?;
        writer.push(chunk).await?;
    }
    writer.finish().await?;
    Ok(written)
}

/// Claims an upload's file for one chunk by renaming it; [`Error::Claimed`] if it is gone
/// (another chunk holds it, or the session ended).
async fn claim(current: &FsPath, claimed: &FsPath) -> Result<()> {
    match tokio::fs::rename(current, claimed).await {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::Claimed),
        done => Ok(done?),
    }
}

/// Cuts a claimed upload file back to `size` bytes and gives it its `previous` name again.
fn unclaim(claimed: &FsPath, size: u64, previous: &FsPath) -> io::Result<()> {
    std::fs::OpenOptions::new().write(true).open(claimed)?.set_len(size)?;
    std::fs::rename(claimed, previous)
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

    fn failing() -> ByteStream {
        futures_util::stream::iter(vec![Ok(Bytes::from_static(b"x")), Err(io::Error::other("cut"))]).boxed()
    }

    async fn suite(store: BlobStore) {
        let sha = || Hasher::new(Algorithm::Sha256);
        let id = uuid::Uuid::new_v4();
        let first = store.append(&id, &[], 0, body(&[b"hello ", b"wor"]), sha()).await.expect("chunk 1");
        assert_eq!(first.size, 9);
        let second = store.append(&id, &first.parts, 9, body(&[b"ld"]), first.hasher).await.expect("chunk 2");
        assert_eq!(second.size, 2);
        // A chunk racing the second one (it read the session before the second was recorded)
        // is refused on the filesystem, or stored apart elsewhere; taking it back keeps the rest.
        match store.append(&id, &first.parts, 9, body(&[b"XX"]), sha()).await {
            Err(Error::Claimed) => {}
            Ok(racing) => store.revert(&id, &first.parts, 9, &racing).await.expect("revert racing"),
            Err(e) => panic!("racing chunk: {e}"),
        }
        // A chunk the session could not record, and one whose body failed, leave it as it was.
        let third = store.append(&id, &second.parts, 11, body(&[b"!!!"]), sha()).await.expect("chunk 3");
        store.revert(&id, &second.parts, 11, &third).await.expect("revert");
        assert!(matches!(store.append(&id, &second.parts, 11, failing(), sha()).await, Err(Error::Body(_))));

        let digest = second.hasher.finish();
        assert_eq!(digest, Digest::sha256_of(b"hello world"));
        assert_eq!(store.hash_parts(&id, &second.parts, Algorithm::Sha256).await.expect("rehash"), digest);
        store.commit(&id, &second.parts, &digest).await.expect("commit");
        assert_eq!(read_all(&store, &digest, 0..11).await, b"hello world");
        assert_eq!(read_all(&store, &digest, 6..9).await, b"wor");
        assert!(matches!(store.hash_parts(&id, &second.parts, Algorithm::Sha256).await, Err(Error::NotFound)));

        let fresh = uuid::Uuid::new_v4();
        assert!(matches!(store.append(&fresh, &[], 0, failing(), sha()).await, Err(Error::Body(_))));
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

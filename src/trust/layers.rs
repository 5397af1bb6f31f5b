//! Reads an image's layers as streams and keeps only the files that the
//! package inventory needs, safely against hostile layers.
//!
//! Nothing is written to disk. Memory held is the contents of files of
//! interest (each at most `Limits::max_file_bytes`, all together at most
//! `Limits::max_held_bytes`), small per-path state for those files, the Go
//! build info found in executables, and fixed-size read buffers. Every other
//! byte of the layer is streamed through and dropped.
//!
//! The code is synchronous: berth runs it in `spawn_blocking` over a blocking
//! reader of the blob stream.

use super::Error;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Past this many decompressed bytes the compression ratio is checked: small
/// layers of zeros compress very well and are not bombs.
const RATIO_GRACE_BYTES: u64 = 8 << 20;
/// Largest GNU long name / long link / PAX header block read into memory.
const MAX_HEADER_EXT_BYTES: u64 = 1 << 20;
/// Symlink hops followed when resolving a file of interest.
const MAX_LINK_HOPS: usize = 8;
/// Notes kept; past this a single "more notes omitted" stands for the rest.
const MAX_NOTES: usize = 200;
/// Largest Go build-info blob (header + version + module info) collected.
const MAX_GO_INFO_BYTES: usize = 1 << 20;
/// Read buffer for streamed entries (executables scanned for Go build info).
const SCAN_BUF_BYTES: usize = 64 << 10;

/// Bounds applied to every layer. `deadline` covers the whole image.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Decompressed bytes per layer.
    pub max_layer_bytes: u64,
    /// Decompressed:compressed ratio beyond which a layer is a bomb, checked
    /// once a layer has decompressed past a few MiB.
    pub max_ratio: u64,
    /// Tar entries per layer (headers included).
    pub max_entries: u64,
    /// Path components; deeper entries are skipped.
    pub max_path_depth: usize,
    /// Largest file of interest read into memory.
    pub max_file_bytes: u64,
    /// Total bytes of files of interest held across all layers.
    pub max_held_bytes: u64,
    /// Checked between entries and during every read.
    pub deadline: Instant,
}

impl Limits {
    /// Default limits with a deadline `timeout` from now.
    pub fn new(timeout: Duration) -> Self {
        Limits {
            max_layer_bytes: 8 << 30,
            max_ratio: 1000,
            max_entries: 1_000_000,
            max_path_depth: 256,
            max_file_bytes: 64 << 20,
            max_held_bytes: 256 << 20,
            deadline: Instant::now() + timeout,
        }
    }
}

impl Default for Limits {
    /// Default limits with a deadline ten minutes from the call.
    fn default() -> Self {
        Self::new(Duration::from_secs(600))
    }
}

/// What a file of interest is, decided by its normalized path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    OsRelease,
    DpkgStatus,
    /// Distroless: one file per package under var/lib/dpkg/status.d/.
    DpkgStatusD,
    ApkInstalled,
    RpmSqlite,
    /// BerkeleyDB / NDB rpm databases: noticed, not read.
    RpmLegacy,
    CargoLock,
    NpmLock,
    Requirements,
    PoetryLock,
}

pub(crate) fn classify(path: &str) -> Option<Kind> {
    match path {
        "etc/os-release" | "usr/lib/os-release" => return Some(Kind::OsRelease),
        "var/lib/dpkg/status" => return Some(Kind::DpkgStatus),
        "lib/apk/db/installed" => return Some(Kind::ApkInstalled),
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => {
            return Some(Kind::RpmSqlite);
        }
        "var/lib/rpm/Packages"
        | "var/lib/rpm/Packages.db"
        | "usr/lib/sysimage/rpm/Packages"
        | "usr/lib/sysimage/rpm/Packages.db" => return Some(Kind::RpmLegacy),
        _ => {}
    }
    if let Some(name) = path.strip_prefix("var/lib/dpkg/status.d/") {
        // Distroless also ships `<pkg>.md5sums` beside each paragraph file.
        if !name.is_empty() && !name.contains('/') && !name.ends_with(".md5sums") {
            return Some(Kind::DpkgStatusD);
        }
        return None;
    }
    match path.rsplit('/').next() {
        Some("Cargo.lock") => Some(Kind::CargoLock),
        Some("package-lock.json") => Some(Kind::NpmLock),
        Some("requirements.txt") => Some(Kind::Requirements),
        Some("poetry.lock") => Some(Kind::PoetryLock),
        _ => None,
    }
}

/// Go build info read from one executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoInfo {
    /// As recorded, e.g. "go1.22.3".
    pub go_version: String,
    /// The main module's (path, version); version may be "(devel)".
    pub main: Option<(String, String)>,
    /// Dependencies as (path, version), replacements applied.
    pub deps: Vec<(String, String)>,
}

impl GoInfo {
    fn approx_bytes(&self) -> u64 {
        let pair = |p: &(String, String)| (p.0.len() + p.1.len() + 48) as u64;
        self.go_version.len() as u64 + self.main.as_ref().map_or(0, pair) + self.deps.iter().map(pair).sum::<u64>()
    }
}

#[derive(Debug)]
enum What {
    File(Vec<u8>),
    /// Symlink target, already resolved against the link's directory.
    Link(String),
    Go(GoInfo),
    /// A file noticed by name whose content is not read (legacy rpmdb).
    Marker,
}

#[derive(Debug)]
struct Held {
    layer: usize,
    what: What,
}

impl Held {
    fn bytes(&self) -> u64 {
        match &self.what {
            What::File(b) => b.len() as u64,
            What::Link(t) => t.len() as u64,
            What::Go(g) => g.approx_bytes(),
            What::Marker => 0,
        }
    }
}

/// The files of interest of an image, collected across its layers applied in
/// order (lowest first). Build with [`ImageFiles::new`], feed each layer to
/// [`ImageFiles::add_layer`], then call `inventory()`.
#[derive(Debug)]
pub struct ImageFiles {
    limits: Limits,
    files: BTreeMap<String, Held>,
    held_bytes: u64,
    layers: usize,
    notes: Vec<String>,
    notes_dropped: usize,
}

/// A file of interest as the inventory sees it, after symlinks are followed:
/// `path` is where it was found, `key` the entry in `files` holding the bytes.
pub(crate) struct View {
    pub path: String,
    pub kind: Kind,
    pub key: String,
}

/// What [`ImageFiles::into_view`] hands to the inventory.
pub(crate) struct ImageView {
    files: BTreeMap<String, Held>,
    pub views: Vec<View>,
    pub go: Vec<(String, GoInfo)>,
    pub legacy_rpmdb: Vec<String>,
    pub notes: Vec<String>,
}

impl ImageView {
    pub(crate) fn content(&self, key: &str) -> Option<&[u8]> {
        match self.files.get(key).map(|h| &h.what) {
            Some(What::File(b)) => Some(b),
            _ => None,
        }
    }
}

/// Limit hit while reading, recorded where the tar reader cannot lose it.
#[derive(Debug, Clone, Copy)]
enum Hit {
    LayerBytes,
    Ratio { after: u64 },
    Deadline,
}

/// Counters shared by the readers stacked under the tar reader.
#[derive(Default)]
struct Meter {
    compressed: Cell<u64>,
    decompressed: Cell<u64>,
    /// The blob itself ran out: an error after this means truncation.
    source_eof: Cell<bool>,
    hit: Cell<Option<Hit>>,
}

/// Counts the (compressed) bytes read from the blob.
struct SourceCounter<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: Read> Read for SourceCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.meter.source_eof.set(true);
        }
        let m = &self.meter;
        m.compressed.set(m.compressed.get().saturating_add(n as u64));
        Ok(n)
    }
}

/// Counts decompressed bytes and enforces size, ratio and deadline on every
/// read, so that limits hold inside entries the tar reader skips itself.
struct Guard<R> {
    inner: R,
    meter: Rc<Meter>,
    max_bytes: u64,
    /// None for uncompressed layers.
    max_ratio: Option<u64>,
    deadline: Instant,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let m = &self.meter;
        if m.hit.get().is_some() {
            return Err(io::Error::other("layer limit reached"));
        }
        if Instant::now() >= self.deadline {
            m.hit.set(Some(Hit::Deadline));
            return Err(io::Error::other("deadline reached"));
        }
        let n = self.inner.read(buf)?;
        let total = m.decompressed.get().saturating_add(n as u64);
        m.decompressed.set(total);
        if total > self.max_bytes {
            m.hit.set(Some(Hit::LayerBytes));
            return Err(io::Error::other("layer too large"));
        }
        if let Some(ratio) = self.max_ratio {
            let compressed = m.compressed.get().max(1);
            if total > RATIO_GRACE_BYTES && total / compressed > ratio {
                m.hit.set(Some(Hit::Ratio { after: total }));
                return Err(io::Error::other("compression ratio too high"));
            }
        }
        Ok(n)
    }
}

/// A zstd stream of one or more frames (skippable frames are skipped).
/// ruzstd's `StreamingDecoder` stops after one frame, and some tools write
/// several.
struct ZstdFrames<R> {
    src: io::BufReader<R>,
    dec: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                if self.dec.can_collect() > 0 {
                    return self.dec.read(buf);
                }
                if self.dec.is_finished() {
                    self.in_frame = false;
                    continue;
                }
                // One block at a time keeps the decoded backlog at a block.
                self.dec
                    .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(io::Error::other)?;
                continue;
            }
            if self.src.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.dec.init(&mut self.src) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                    let want = u64::from(length);
                    let got = io::copy(&mut (&mut self.src).take(want), &mut io::sink())?;
                    if got != want {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
}

enum Decoded<R: Read> {
    Plain(R),
    Gzip(Box<flate2::read::MultiGzDecoder<R>>),
    Zstd(Box<ZstdFrames<R>>),
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
            Decoded::Zstd(r) => r.read(buf),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn sniff(magic: &[u8]) -> Self {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    fn from_media_type(media_type: &str) -> Self {
        if media_type.ends_with("gzip") {
            Compression::Gzip
        } else if media_type.ends_with("zstd") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Extended header state carried from GNU 'L'/'K' and PAX 'x' entries to the
/// entry they describe.
#[derive(Default)]
struct PendingExt {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    /// A PAX `size` record: not supported with raw iteration (see below).
    pax_size: bool,
    /// An extension was too large to hold: the next entry is skipped.
    oversized: bool,
}

/// Why a path is not used.
enum BadPath {
    /// Root or empty: nothing to do, nothing to say.
    Empty,
    DotDot,
    TooDeep,
}

/// Normalizes an archive path for matching: leading `/` and `./` and empty or
/// `.` components are dropped; `..` is refused rather than resolved, because
/// a layer has no business escaping its root.
fn normalize(raw: &[u8], max_depth: usize) -> Result<String, BadPath> {
    let text = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for c in text.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(BadPath::DotDot),
            c => {
                if parts.len() >= max_depth {
                    return Err(BadPath::TooDeep);
                }
                parts.push(c);
            }
        }
    }
    if parts.is_empty() {
        return Err(BadPath::Empty);
    }
    Ok(parts.join("/"))
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| path.get(..i).unwrap_or(""))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

/// Resolves a symlink target the way the kernel does inside the image's
/// root: relative to the link's directory, `..` at the root stays at the root.
fn resolve_link(link_path: &str, target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !target.starts_with('/') {
        parts.extend(parent(link_path).split('/').filter(|c| !c.is_empty()));
    }
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// "8 GiB", "64 MiB", "1.5 KiB": sizes in messages a user reads.
pub fn human_bytes(n: &u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = *n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("bytes");
    if unit == 0 {
        format!("{n} bytes")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {name}")
    } else {
        format!("{value:.1} {name}")
    }
}

impl ImageFiles {
    pub fn new(limits: Limits) -> Self {
        ImageFiles { limits, files: BTreeMap::new(), held_bytes: 0, layers: 0, notes: Vec::new(), notes_dropped: 0 }
    }

    /// Bytes of file contents and build info currently held.
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// Things worth telling the user that did not stop the scan so far.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn note(&mut self, text: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(text);
        } else {
            self.notes_dropped += 1;
        }
    }

    /// Applies one layer on top of the layers added before it.
    ///
    /// The compression is detected from the first bytes (gzip, zstd, else an
    /// uncompressed tar); `media_type` only improves the error wording. On
    /// error the layer may have been partly applied: the image should be
    /// reported as not scanned rather than its inventory used.
    pub fn add_layer(&mut self, layer: impl Read, media_type: &str) -> Result<(), Error> {
        let meter = Rc::new(Meter::default());
        let mut source = SourceCounter { inner: layer, meter: meter.clone() };
        let mut magic = [0u8; 4];
        let mut got = 0;
        while got < magic.len() {
            let n = match source.read(magic.get_mut(got..).unwrap_or_default()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Read(e)),
            };
            if n == 0 {
                break;
            }
            got += n;
        }
        let compression = Compression::sniff(magic.get(..got).unwrap_or_default());
        let claimed = Compression::from_media_type(media_type);
        let prefixed = io::Cursor::new(magic.get(..got).unwrap_or_default().to_vec()).chain(source);
        let decoded = match compression {
            Compression::None => Decoded::Plain(prefixed),
            Compression::Gzip => Decoded::Gzip(Box::new(flate2::read::MultiGzDecoder::new(prefixed))),
            Compression::Zstd => Decoded::Zstd(Box::new(ZstdFrames {
                src: io::BufReader::new(prefixed),
                dec: ruzstd::decoding::FrameDecoder::new(),
                in_frame: false,
            })),
        };
        let guard = Guard {
            inner: decoded,
            meter: meter.clone(),
            max_bytes: self.limits.max_layer_bytes,
            max_ratio: (compression != Compression::None).then_some(self.limits.max_ratio),
            deadline: self.limits.deadline,
        };
        let layer_index = self.layers;
        self.layers += 1;
        let result = self.read_tar(guard, layer_index);
        result.map_err(|e| {
            let err = self.explain(e, &meter);
            match err {
                Error::Malformed { .. } if claimed != Compression::None && claimed != compression => Error::Malformed {
                    format: "layer",
                    detail: format!("its media type {media_type} names a compression its content does not have"),
                },
                other => other,
            }
        })
    }

    /// Turns an I/O error from the tar reader into the reason the user needs:
    /// a limit recorded by the guard wins, then truncation of the blob.
    fn explain(&self, e: io::Error, meter: &Meter) -> Error {
        match limit_of(&e) {
            Some(LimitReached::Entries(limit)) => return Error::TooManyEntries { limit: *limit },
            Some(LimitReached::Deadline) => return Error::Deadline,
            None => {}
        }
        match meter.hit.get() {
            Some(Hit::LayerBytes) => Error::LayerTooLarge { limit: self.limits.max_layer_bytes },
            Some(Hit::Ratio { after }) => Error::DecompressionBomb { ratio: self.limits.max_ratio, after },
            Some(Hit::Deadline) => Error::Deadline,
            None if meter.source_eof.get() || e.kind() == io::ErrorKind::UnexpectedEof => Error::Truncated,
            None => Error::Malformed { format: "tar archive", detail: e.to_string() },
        }
    }

    fn read_tar<R: Read>(&mut self, stream: R, layer: usize) -> io::Result<()> {
        let mut archive = tar::Archive::new(stream);
        // Raw iteration: the tar crate would read GNU long names and PAX
        // headers of any size into memory; here they are bounded.
        let entries = archive.entries()?.raw(true);
        let mut ext = PendingExt::default();
        let mut count: u64 = 0;
        let mut skipped_dotdot = 0u64;
        let mut skipped_deep = 0u64;
        let mut scan_buf = vec![0u8; SCAN_BUF_BYTES];
        for entry in entries {
            let mut entry = entry?;
            count += 1;
            if count > self.limits.max_entries {
                return Err(self.limit_error(LimitKind::Entries));
            }
            if Instant::now() >= self.limits.deadline {
                return Err(self.limit_error(LimitKind::Deadline));
            }
            let entry_type = entry.header().entry_type();
            let size = entry.size();
            match entry_type {
                tar::EntryType::GNULongName => {
                    ext.path = read_ext(&mut entry, size, &mut ext.oversized)?;
                    continue;
                }
                tar::EntryType::GNULongLink => {
                    ext.link = read_ext(&mut entry, size, &mut ext.oversized)?;
                    continue;
                }
                tar::EntryType::XHeader => {
                    if let Some(block) = read_ext(&mut entry, size, &mut ext.oversized)? {
                        apply_pax(&block, &mut ext);
                    }
                    continue;
                }
                tar::EntryType::XGlobalHeader => continue,
                _ => {}
            }
            let ext_now = std::mem::take(&mut ext);
            if ext_now.oversized {
                self.note("an entry with a path or extended header over 1 MiB was skipped".into());
                continue;
            }
            if ext_now.pax_size {
                // Raw iteration skips by the ustar size; a PAX size (only
                // needed past 8 GiB) would desynchronize the stream.
                return Err(io::Error::other(
                    "an entry's size is given only in a PAX header (files over 8 GiB are not supported)",
                ));
            }
            let raw_path = match ext_now.path {
                Some(p) => p,
                None => entry.path_bytes().into_owned(),
            };
            let path = match normalize(&raw_path, self.limits.max_path_depth) {
                Ok(p) => p,
                Err(BadPath::Empty) => continue,
                Err(BadPath::DotDot) => {
                    skipped_dotdot += 1;
                    continue;
                }
                Err(BadPath::TooDeep) => {
                    skipped_deep += 1;
                    continue;
                }
            };
            let base = path.rsplit('/').next().unwrap_or("");
            if let Some(name) = base.strip_prefix(".wh.") {
                let dir = parent(&path).to_string();
                if name == ".wh..opq" {
                    self.remove_under(&dir, Some(layer));
                } else if !name.starts_with(".wh.") && !name.is_empty() {
                    let target = join(&dir, name);
                    self.remove_exact(&target, Some(layer));
                    self.remove_under(&target, Some(layer));
                }
                // Other `.wh..wh.*` names are AUFS bookkeeping.
                continue;
            }
            if entry_type.is_dir() {
                // A directory replaces a file of the same name, not its children.
                self.remove_exact(&path, None);
                continue;
            }
            // Any non-directory replaces whatever was at its path and below.
            self.remove_exact(&path, None);
            self.remove_under(&path, None);
            let kind = classify(&path);
            match entry_type {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mode = entry.header().mode().unwrap_or(0);
                    if let Some(kind) = kind {
                        self.read_interesting(&mut entry, &path, kind, size, layer)?;
                    } else if mode & 0o111 != 0 && size > 0 {
                        self.scan_executable(&mut entry, &path, layer, &mut scan_buf)?;
                    }
                }
                tar::EntryType::Symlink if kind.is_some() => {
                    let target = match ext_now.link {
                        Some(l) => l,
                        None => entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default(),
                    };
                    let target = resolve_link(&path, &String::from_utf8_lossy(&target));
                    self.insert(path, layer, What::Link(target));
                }
                tar::EntryType::Link => {
                    let target = match ext_now.link {
                        Some(l) => l,
                        None => entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default(),
                    };
                    if let Ok(target) = normalize(&target, self.limits.max_path_depth) {
                        self.hard_link(path, &target, kind, layer);
                    }
                }
                _ => {}
            }
        }
        if skipped_dotdot > 0 {
            self.note(format!("{skipped_dotdot} entries with '..' in their path were skipped"));
        }
        if skipped_deep > 0 {
            self.note(format!(
                "{skipped_deep} entries deeper than {} directories were skipped",
                self.limits.max_path_depth
            ));
        }
        Ok(())
    }

    fn limit_error(&self, kind: LimitKind) -> io::Error {
        io::Error::other(match kind {
            LimitKind::Entries => LimitReached::Entries(self.limits.max_entries),
            LimitKind::Deadline => LimitReached::Deadline,
        })
    }

    fn read_interesting<R: Read>(
        &mut self,
        entry: &mut R,
        path: &str,
        kind: Kind,
        size: u64,
        layer: usize,
    ) -> io::Result<()> {
        if kind == Kind::RpmLegacy {
            self.insert(path.to_string(), layer, What::Marker);
            return Ok(());
        }
        if size > self.limits.max_file_bytes {
            self.note(format!(
                "/{path} is {}, larger than the {} limit for files read; skipped",
                human_bytes(&size),
                human_bytes(&self.limits.max_file_bytes)
            ));
            return Ok(());
        }
        if self.held_bytes.saturating_add(size) > self.limits.max_held_bytes {
            self.note(format!(
                "/{path} skipped: files read from this image already hold {}",
                human_bytes(&self.held_bytes)
            ));
            return Ok(());
        }
        // `size` is bounded above, so this allocation is too.
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry.by_ref().take(size).read_to_end(&mut content)?;
        if content.len() as u64 != size {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.insert(path.to_string(), layer, What::File(content));
        Ok(())
    }

    fn scan_executable<R: Read>(&mut self, entry: &mut R, path: &str, layer: usize, buf: &mut [u8]) -> io::Result<()> {
        let mut scan = GoScan::default();
        loop {
            let n = match entry.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let Some(chunk) = buf.get(..n) else { break };
            if n == 0 || scan.feed(chunk) {
                break;
            }
        }
        // The rest of the entry is skipped by the tar reader (still guarded).
        match scan.state {
            GoState::Found(info) => {
                let bytes = info.approx_bytes();
                if self.held_bytes.saturating_add(bytes) > self.limits.max_held_bytes {
                    self.note(format!("/{path}: Go build info skipped, memory budget used up"));
                } else {
                    self.insert(path.to_string(), layer, What::Go(info));
                }
            }
            GoState::Old => {
                self.note(format!("/{path} is a Go binary built before Go 1.18; its modules are not listed"))
            }
            GoState::Searching | GoState::Collecting => {}
        }
        Ok(())
    }

    fn hard_link(&mut self, path: String, target: &str, kind: Option<Kind>, layer: usize) {
        let copy = match self.files.get(target).map(|h| &h.what) {
            Some(What::File(b)) if kind.is_some() => Some(What::File(b.clone())),
            Some(What::Go(g)) => Some(What::Go(g.clone())),
            Some(What::Link(t)) if kind.is_some() => Some(What::Link(t.clone())),
            Some(What::Marker) if kind.is_some() => Some(What::Marker),
            _ => None,
        };
        match copy {
            Some(what) => {
                let held = Held { layer, what };
                if self.held_bytes.saturating_add(held.bytes()) > self.limits.max_held_bytes {
                    self.note(format!("/{path} skipped: memory budget used up"));
                } else {
                    self.held_bytes += held.bytes();
                    self.files.insert(path, held);
                }
            }
            None if kind.is_some() => {
                self.note(format!("/{path} is a hard link to /{target}, which was not read; skipped"))
            }
            None => {}
        }
    }

    fn insert(&mut self, path: String, layer: usize, what: What) {
        let held = Held { layer, what };
        self.held_bytes = self.held_bytes.saturating_add(held.bytes());
        if let Some(old) = self.files.insert(path, held) {
            self.held_bytes = self.held_bytes.saturating_sub(old.bytes());
        }
    }

    /// Removes `path`, only if it comes from a layer below `below` when given.
    fn remove_exact(&mut self, path: &str, below: Option<usize>) {
        if let Some(h) = self.files.get(path)
            && below.is_none_or(|b| h.layer < b)
            && let Some(old) = self.files.remove(path)
        {
            self.held_bytes = self.held_bytes.saturating_sub(old.bytes());
        }
    }

    /// Removes everything under directory `dir` ("" is the root), only from
    /// layers below `below` when given.
    fn remove_under(&mut self, dir: &str, below: Option<usize>) {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, h)| below.is_none_or(|b| h.layer < b))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            if let Some(old) = self.files.remove(&k) {
                self.held_bytes = self.held_bytes.saturating_sub(old.bytes());
            }
        }
    }

    /// Resolves symlinks of interest and hands the files to the inventory.
    pub(crate) fn into_view(self) -> ImageView {
        let mut notes = self.notes;
        let mut views = Vec::new();
        let mut go = Vec::new();
        let mut legacy_rpmdb = Vec::new();
        for (path, held) in &self.files {
            let Some(kind) = classify(path) else {
                if let What::Go(info) = &held.what {
                    go.push((path.clone(), info.clone()));
                }
                continue;
            };
            match &held.what {
                What::File(_) => views.push(View { path: path.clone(), kind, key: path.clone() }),
                What::Marker => legacy_rpmdb.push(path.clone()),
                What::Go(info) => go.push((path.clone(), info.clone())),
                What::Link(first) => {
                    let mut target = first.clone();
                    let mut hops = 1;
                    let resolved = loop {
                        match self.files.get(&target).map(|h| &h.what) {
                            Some(What::Link(next)) if hops < MAX_LINK_HOPS => {
                                target = next.clone();
                                hops += 1;
                            }
                            Some(What::Link(_)) => {
                                notes.push(format!(
                                    "/{path} is a symlink loop or a chain of more than {MAX_LINK_HOPS} links; ignored"
                                ));
                                break None;
                            }
                            Some(What::File(_)) => break Some(target.clone()),
                            Some(What::Marker) => {
                                legacy_rpmdb.push(path.clone());
                                break None;
                            }
                            _ => {
                                notes.push(format!(
                                    "/{path} links to /{target}, which the image does not contain (or which was not read)"
                                ));
                                break None;
                            }
                        }
                    };
                    // A target that is itself of the same kind is reported
                    // under its own path; os-release is picked by priority.
                    if let Some(key) = resolved
                        && (kind == Kind::OsRelease || classify(&key) != Some(kind))
                    {
                        views.push(View { path: path.clone(), kind, key });
                    }
                }
            }
        }
        if self.notes_dropped > 0 {
            notes.push(format!("{} more notes were omitted", self.notes_dropped));
        }
        ImageView { files: self.files, views, go, legacy_rpmdb, notes }
    }
}

enum LimitKind {
    Entries,
    Deadline,
}

/// Carried inside an `io::Error` out of the entry loop.
#[derive(Debug)]
enum LimitReached {
    Entries(u64),
    Deadline,
}

impl std::fmt::Display for LimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitReached::Entries(n) => write!(f, "more than {n} entries"),
            LimitReached::Deadline => write!(f, "deadline"),
        }
    }
}

impl std::error::Error for LimitReached {}

/// Reads a GNU long name/link or PAX block if it is small enough; otherwise
/// flags the next entry to be skipped and lets the tar reader skip the data.
fn read_ext<R: Read>(entry: &mut R, size: u64, oversized: &mut bool) -> io::Result<Option<Vec<u8>>> {
    if size > MAX_HEADER_EXT_BYTES {
        *oversized = true;
        return Ok(None);
    }
    let mut block = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry.by_ref().take(size).read_to_end(&mut block)?;
    while block.last() == Some(&0) {
        block.pop();
    }
    Ok(Some(block))
}

/// PAX records are "<len> <key>=<value>\n"; only path, linkpath and size
/// matter here.
fn apply_pax(block: &[u8], ext: &mut PendingExt) {
    let mut rest = block;
    while !rest.is_empty() {
        let Some(space) = rest.iter().position(|&b| b == b' ') else {
            return;
        };
        let len = std::str::from_utf8(rest.get(..space).unwrap_or_default()).ok().and_then(|s| s.parse::<usize>().ok());
        let Some(len) = len.filter(|&l| l > space && l <= rest.len()) else {
            return;
        };
        let record = rest.get(space + 1..len).unwrap_or_default();
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            let key = record.get(..eq).unwrap_or_default();
            let value = record.get(eq + 1..).unwrap_or_default();
            match key {
                b"path" => ext.path = Some(value.to_vec()),
                b"linkpath" => ext.link = Some(value.to_vec()),
                b"size" => ext.pax_size = true,
                _ => {}
            }
        }
        rest = rest.get(len..).unwrap_or_default();
    }
}

/// Error from the entry loop that carries a limit (entries, deadline).
fn limit_of(e: &io::Error) -> Option<&LimitReached> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<LimitReached>())
}

const GO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";

#[derive(Debug, Default)]
enum GoState {
    #[default]
    Searching,
    /// `GoScan::win` starts at the magic; waiting for the rest of the blob.
    Collecting,
    Found(GoInfo),
    /// Pointer-based build info (Go < 1.18): its strings live elsewhere in
    /// the binary, which a streaming reader cannot reach back to; skipped.
    Old,
}

/// Streams an executable looking for Go build info at 16-byte-aligned
/// offsets, keeping only the bytes that may straddle a read boundary (or,
/// once found, the blob itself, up to `MAX_GO_INFO_BYTES`).
#[derive(Debug, Default)]
struct GoScan {
    /// Unscanned bytes; `win[0]` is at a 16-aligned file offset.
    win: Vec<u8>,
    state: GoState,
}

enum Parsed {
    Done(GoInfo),
    NeedMore,
    Old,
    Invalid,
}

impl GoScan {
    /// Feeds the next bytes of the file; true once nothing more is needed.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        self.win.extend_from_slice(chunk);
        loop {
            match self.state {
                GoState::Searching => {
                    let mut i = 0;
                    let found = loop {
                        match self.win.get(i..i + GO_MAGIC.len()) {
                            Some(cand) if cand == GO_MAGIC => break true,
                            Some(_) => i += 16,
                            None => break false,
                        }
                    };
                    // Keep from the first aligned offset not yet decided,
                    // never past the last aligned offset we hold (so that
                    // `win[0]` stays aligned).
                    let len = self.win.len();
                    self.win.drain(..i.min(len - len % 16));
                    if !found {
                        return false;
                    }
                    self.state = GoState::Collecting;
                }
                GoState::Collecting => match parse_go_blob(&self.win) {
                    Parsed::Done(info) => {
                        self.state = GoState::Found(info);
                        self.win = Vec::new();
                        return true;
                    }
                    Parsed::NeedMore if self.win.len() <= MAX_GO_INFO_BYTES => return false,
                    Parsed::Old => {
                        self.state = GoState::Old;
                        self.win = Vec::new();
                        return true;
                    }
                    // Not build info after all (or absurd): search on past it.
                    Parsed::NeedMore | Parsed::Invalid => {
                        self.win.drain(..16.min(self.win.len()));
                        self.state = GoState::Searching;
                    }
                },
                GoState::Found(_) | GoState::Old => return true,
            }
        }
    }
}

/// Reads an unsigned LEB128 varint at `*pos`; None if incomplete.
fn uvarint(buf: &[u8], pos: &mut usize) -> Option<Result<u64, ()>> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return Some(Err(()));
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(Ok(value));
        }
    }
    Some(Err(()))
}

/// Parses the Go ≥ 1.18 build-info blob that `buf` starts with: a 32-byte
/// header (magic, pointer size, flags with 0x2 = inline strings), then the Go
/// version and the module info as varint-length-prefixed strings.
fn parse_go_blob(buf: &[u8]) -> Parsed {
    let Some(&flags) = buf.get(15) else {
        return Parsed::NeedMore;
    };
    if flags & 0x2 == 0 {
        return Parsed::Old;
    }
    let mut pos = 32;
    let mut strings = Vec::with_capacity(2);
    for _ in 0..2 {
        let len = match uvarint(buf, &mut pos) {
            None => return Parsed::NeedMore,
            Some(Err(())) => return Parsed::Invalid,
            Some(Ok(len)) => len,
        };
        let Some(end) = usize::try_from(len).ok().filter(|&l| l <= MAX_GO_INFO_BYTES).and_then(|l| pos.checked_add(l))
        else {
            return Parsed::Invalid;
        };
        let Some(s) = buf.get(pos..end) else {
            return Parsed::NeedMore;
        };
        strings.push(s);
        pos = end;
    }
    let (Some(version), Some(modinfo)) = (strings.first(), strings.get(1)) else {
        return Parsed::Invalid;
    };
    let version = String::from_utf8_lossy(version).into_owned();
    if !version.starts_with("go") && !version.starts_with("devel") {
        return Parsed::Invalid;
    }
    // The module info is framed by 16 sentinel bytes at each end (Go's
    // debug/buildinfo checks the newline before the trailing sentinel).
    let n = modinfo.len();
    let text =
        if n >= 33 && modinfo.get(n - 17) == Some(&b'\n') { modinfo.get(16..n - 16).unwrap_or_default() } else { &[] };
    let text = String::from_utf8_lossy(text);
    let mut info = GoInfo { go_version: version, main: None, deps: Vec::new() };
    // Which list the last "mod"/"dep" went to, for "=>" replacements.
    let mut last_is_main = false;
    for line in text.lines() {
        let mut fields = line.split('\t');
        let tag = fields.next().unwrap_or("");
        let path = fields.next().unwrap_or("").to_string();
        let version = fields.next().unwrap_or("").to_string();
        match tag {
            "mod" => {
                info.main = Some((path, version));
                last_is_main = true;
            }
            "dep" => {
                info.deps.push((path, version));
                last_is_main = false;
            }
            "=>" => {
                let slot = if last_is_main { info.main.as_mut() } else { info.deps.last_mut() };
                if let Some(slot) = slot {
                    // A replacement by a local directory has no version: it
                    // is not the registry module any more, so it is dropped.
                    *slot = (path, version);
                }
            }
            _ => {}
        }
    }
    info.deps.retain(|(_, v)| !v.is_empty());
    Parsed::Done(info)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Default limits with a deadline comfortably past the test.
    pub(crate) fn limits() -> Limits {
        Limits::new(Duration::from_secs(120))
    }

    pub(crate) enum E<'a> {
        File(&'a str, &'a [u8]),
        Exec(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        Hardlink(&'a str, &'a str),
    }

    /// An uncompressed layer built with the tar crate.
    pub(crate) fn tar_of(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let r = match *e {
                E::File(p, data) | E::Exec(p, data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_mode(if matches!(e, E::Exec(..)) { 0o755 } else { 0o644 });
                    b.append_data(&mut h, p, data)
                }
                E::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, p, io::empty())
                }
                E::Symlink(p, t) | E::Hardlink(p, t) => {
                    h.set_entry_type(if matches!(e, E::Symlink(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.set_size(0);
                    b.append_link(&mut h, p, t)
                }
            };
            r.expect("append");
        }
        b.into_inner().expect("finish")
    }

    /// A ustar header with raw name bytes: the tar crate refuses to write
    /// `..`, which is exactly what hostile layers contain.
    pub(crate) fn raw_header(name: &[u8], size: u64, kind: tar::EntryType) -> [u8; 512] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        *h.as_bytes()
    }

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    const END: [u8; 1024] = [0; 1024];

    /// Repeats `pattern` forever, without ever holding more than it.
    struct Cycle {
        pattern: &'static [u8],
        pos: usize,
    }

    impl Read for Cycle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            for b in buf.iter_mut() {
                *b = self.pattern[self.pos];
                self.pos = (self.pos + 1) % self.pattern.len();
            }
            Ok(buf.len())
        }
    }

    fn paths(f: &ImageFiles) -> Vec<&str> {
        f.files.keys().map(String::as_str).collect()
    }

    #[test]
    fn normalizes_paths() {
        let n = |p: &str| normalize(p.as_bytes(), 4).ok();
        assert_eq!(n("./etc/os-release").as_deref(), Some("etc/os-release"));
        assert_eq!(n("/etc//./os-release/").as_deref(), Some("etc/os-release"));
        assert_eq!(n("../etc/passwd"), None);
        assert_eq!(n("a/../../b"), None);
        assert_eq!(n("a/b/c/d/e"), None);
        assert_eq!(n("./"), None);
        assert_eq!(resolve_link("etc/os-release", "../usr/lib/os-release"), "usr/lib/os-release");
        assert_eq!(resolve_link("etc/os-release", "../../../../usr/lib/x"), "usr/lib/x");
        assert_eq!(resolve_link("a/b/c", "/x/./y"), "x/y");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(&(8 << 30)), "8 GiB");
        assert_eq!(human_bytes(&(64 << 20)), "64 MiB");
        assert_eq!(human_bytes(&1536), "1.5 KiB");
        assert_eq!(human_bytes(&12), "12 bytes");
    }

    /// Compression is detected from content, whatever the media type says.
    #[test]
    fn detects_compression_by_magic() {
        let layer = tar_of(&[E::File("app/requirements.txt", b"flask==3.0.0\n")]);
        for (blob, mt) in [
            (layer.clone(), "application/vnd.oci.image.layer.v1.tar+gzip"),
            (gzip(&layer), "application/vnd.oci.image.layer.v1.tar"),
            (zstd(&layer), "application/vnd.oci.image.layer.v1.tar+gzip"),
            ([zstd(&layer[..512]), zstd(&layer[512..])].concat(), "x"),
        ] {
            let mut f = ImageFiles::new(limits());
            f.add_layer(&blob[..], mt).expect("layer");
            assert_eq!(paths(&f), ["app/requirements.txt"]);
        }
    }

    #[test]
    fn whiteouts_opaque_dirs_and_replacement() {
        let mut f = ImageFiles::new(limits());
        let l1 = tar_of(&[
            E::File("var/lib/dpkg/status.d/tzdata", b"1"),
            E::File("var/lib/dpkg/status.d/openssl", b"1"),
            E::File("app/a/Cargo.lock", b"1"),
            E::File("app/b/Cargo.lock", b"1"),
            E::File("srv/poetry.lock", b"old"),
        ]);
        let l2 = tar_of(&[
            E::File("var/lib/dpkg/status.d/.wh.openssl", b""),
            // New content in the same layer as the opaque marker survives it.
            E::File("app/c/Cargo.lock", b"2"),
            E::File("app/.wh..wh..opq", b""),
            E::File("srv/poetry.lock", b"new"),
            E::File(".wh.nothing-here", b""),
        ]);
        f.add_layer(&gzip(&l1)[..], "").expect("l1");
        f.add_layer(&l2[..], "").expect("l2");
        assert_eq!(paths(&f), ["app/c/Cargo.lock", "srv/poetry.lock", "var/lib/dpkg/status.d/tzdata"]);
        let held: u64 = f.files.values().map(Held::bytes).sum();
        assert_eq!(f.held_bytes(), held);
        assert_eq!(f.held_bytes(), 1 + 3 + 1);
    }

    /// A file replaced by a directory, and a directory by a file.
    #[test]
    fn type_changes_replace_earlier_entries() {
        let mut f = ImageFiles::new(limits());
        f.add_layer(&tar_of(&[E::File("x/Cargo.lock", b"1"), E::File("y/Cargo.lock", b"1")])[..], "").expect("l1");
        f.add_layer(&tar_of(&[E::Dir("x/Cargo.lock"), E::File("y", b"now a file")])[..], "").expect("l2");
        assert!(paths(&f).is_empty());
        assert_eq!(f.held_bytes(), 0);
    }

    #[test]
    fn hard_links_copy_their_target() {
        let mut f = ImageFiles::new(limits());
        let layer = tar_of(&[
            E::File("a/Cargo.lock", b"content"),
            E::Hardlink("b/Cargo.lock", "a/Cargo.lock"),
            E::Hardlink("c/Cargo.lock", "not/read/anywhere"),
        ]);
        f.add_layer(&layer[..], "").expect("layer");
        let view = f.into_view();
        assert_eq!(view.content("b/Cargo.lock"), Some(&b"content"[..]));
        assert!(view.notes.iter().any(|n| n.contains("/c/Cargo.lock is a hard link")));
    }

    #[test]
    fn symlink_loop_ends_with_a_note() {
        let mut f = ImageFiles::new(limits());
        let layer = tar_of(&[
            E::Symlink("etc/os-release", "../usr/lib/os-release"),
            E::Symlink("usr/lib/os-release", "../../etc/os-release"),
        ]);
        f.add_layer(&layer[..], "").expect("layer");
        let view = f.into_view();
        assert!(view.views.is_empty());
        assert!(view.notes.iter().any(|n| n.contains("symlink loop")), "{:?}", view.notes);
    }

    /// 10 GiB of zeros behind a tar header, gzip-compressed on the fly: the
    /// test never holds the input and the scan stops after a few MiB.
    #[test]
    fn decompression_bomb_is_refused() {
        let size: u64 = 10 << 30;
        let header = raw_header(b"bomb", size, tar::EntryType::Regular);
        let plain = io::Cursor::new(header.to_vec()).chain(io::repeat(0).take(size));
        let bomb = flate2::read::GzEncoder::new(plain, flate2::Compression::best());
        let mut f = ImageFiles::new(limits());
        let err = f.add_layer(bomb, "application/vnd.oci.image.layer.v1.tar+gzip").expect_err("refused");
        assert!(matches!(err, Error::DecompressionBomb { ratio: 1000, .. }), "{err}");
        assert!(err.to_string().contains("decompression bomb"), "{err}");
        assert_eq!(f.held_bytes(), 0);
    }

    #[test]
    fn layer_size_limit() {
        let size: u64 = 64 << 20;
        let header = raw_header(b"big", size, tar::EntryType::Regular);
        let plain = io::Cursor::new(header.to_vec()).chain(io::repeat(7).take(size));
        let mut f = ImageFiles::new(Limits { max_layer_bytes: 16 << 20, ..limits() });
        let err = f.add_layer(plain, "").expect_err("refused");
        assert!(matches!(err, Error::LayerTooLarge { .. }), "{err}");
        assert_eq!(err.to_string(), "decompresses past 16 MiB, the limit for one layer");
    }

    /// A header claiming 100 GiB followed by end of stream, plain and gzip.
    #[test]
    fn truncated_layer_is_a_clean_error() {
        for name in [&b"huge"[..], b"app/Cargo.lock", b"usr/bin/tool"] {
            let header = raw_header(name, 100 << 30, tar::EntryType::Regular);
            let mut data = header.to_vec();
            data.extend_from_slice(&[1; 3000]);
            for blob in [data.clone(), gzip(&data)] {
                let mut f = ImageFiles::new(limits());
                let err = f.add_layer(&blob[..], "").expect_err("refused");
                assert!(matches!(err, Error::Truncated), "{err}");
                assert_eq!(f.held_bytes(), 0);
            }
        }
        // Cut inside a header.
        let layer = tar_of(&[E::File("a", b"x"), E::File("b", b"y")]);
        let err = ImageFiles::new(limits()).add_layer(&layer[..700], "").expect_err("refused");
        assert!(matches!(err, Error::Truncated), "{err}");
        // Cut inside a gzip stream.
        let gz = gzip(&layer);
        let err = ImageFiles::new(limits()).add_layer(&gz[..gz.len() / 2], "").expect_err("refused");
        assert!(matches!(err, Error::Truncated), "{err}");
    }

    #[test]
    fn not_a_tar() {
        let err = ImageFiles::new(limits())
            .add_layer(&[b'x'; 2048][..], "application/vnd.oci.image.layer.v1.tar+gzip")
            .expect_err("refused");
        assert!(err.to_string().contains("media type"), "{err}");
    }

    /// A file 10,000 directories deep (20 KB GNU long name) plus 300 nested
    /// directory entries: skipped past 256 levels, nothing held.
    #[test]
    fn deep_nesting_is_skipped() {
        let deep = format!("{}var/lib/dpkg/status", "d/".repeat(10_000));
        let mut entries = Vec::new();
        let dirs: Vec<String> = (1..=300).map(|i| "d/".repeat(i)).collect();
        for d in &dirs {
            entries.push(E::Dir(d));
        }
        entries.push(E::File(&deep, b"Package: x\n"));
        let mut f = ImageFiles::new(limits());
        f.add_layer(&tar_of(&entries)[..], "").expect("layer");
        assert!(f.files.is_empty());
        assert_eq!(f.held_bytes(), 0);
        assert!(f.notes().iter().any(|n| n.contains("45 entries deeper than 256")), "{:?}", f.notes());
    }

    /// `..` entries are never applied; absolute paths are relative to the
    /// image root.
    #[test]
    fn dotdot_and_absolute_paths() {
        let mut blob = Vec::new();
        for (name, body) in [
            (&b"../../etc/os-release"[..], &b"ID=evil\n"[..]),
            (b"app/../../Cargo.lock", b"x"),
            (b"/etc/os-release", b"ID=alpine\n"),
        ] {
            blob.extend_from_slice(&raw_header(name, body.len() as u64, tar::EntryType::Regular));
            let mut padded = body.to_vec();
            padded.resize(512, 0);
            blob.extend_from_slice(&padded);
        }
        blob.extend_from_slice(&END);
        let mut f = ImageFiles::new(limits());
        f.add_layer(&blob[..], "").expect("layer");
        assert_eq!(paths(&f), ["etc/os-release"]);
        let view = f.into_view();
        assert_eq!(view.content("etc/os-release"), Some(&b"ID=alpine\n"[..]));
        assert!(view.notes.iter().any(|n| n.contains("2 entries with '..'")), "{:?}", view.notes);
    }

    /// A 1 GiB dpkg status streamed from a generator: noted as too large,
    /// skipped, never buffered.
    #[test]
    fn oversized_file_of_interest_is_skipped() {
        let size: u64 = 1 << 30;
        let header = raw_header(b"var/lib/dpkg/status", size, tar::EntryType::Regular);
        let body = Cycle { pattern: b"Package: x\nStatus: install ok installed\nVersion: 1\n\n", pos: 0 };
        let layer = io::Cursor::new(header.to_vec()).chain(body.take(size)).chain(io::Cursor::new(END.to_vec()));
        let mut f = ImageFiles::new(limits());
        f.add_layer(layer, "").expect("layer");
        assert_eq!(f.held_bytes(), 0);
        assert!(f.files.is_empty());
        assert!(
            f.notes()
                .iter()
                .any(|n| n == "/var/lib/dpkg/status is 1 GiB, larger than the 64 MiB limit for files read; skipped"),
            "{:?}",
            f.notes()
        );
    }

    #[test]
    fn held_memory_budget() {
        let big = vec![b'#'; 600];
        let mut f = ImageFiles::new(Limits { max_held_bytes: 1000, ..limits() });
        let layer = tar_of(&[E::File("a/Cargo.lock", &big), E::File("b/Cargo.lock", &big)]);
        f.add_layer(&layer[..], "").expect("layer");
        assert_eq!(paths(&f), ["a/Cargo.lock"]);
        assert_eq!(f.held_bytes(), 600);
        assert!(f.notes().iter().any(|n| n.contains("/b/Cargo.lock skipped")));
    }

    #[test]
    fn too_many_entries() {
        let names: Vec<String> = (0..150).map(|i| format!("f{i}")).collect();
        let entries: Vec<E> = names.iter().map(|n| E::File(n, b"")).collect();
        let mut f = ImageFiles::new(Limits { max_entries: 100, ..limits() });
        let err = f.add_layer(&tar_of(&entries)[..], "").expect_err("refused");
        assert!(matches!(err, Error::TooManyEntries { limit: 100 }), "{err}");
        assert_eq!(err.to_string(), "has more than 100 entries, the limit for one layer");
    }

    /// Slow source: the deadline fires inside one long entry, not only
    /// between entries.
    #[test]
    fn deadline_inside_a_long_entry() {
        struct Slow;
        impl Read for Slow {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_millis(20));
                let n = buf.len().min(4096);
                buf[..n].fill(0);
                Ok(n)
            }
        }
        let header = raw_header(b"slow", 1 << 30, tar::EntryType::Regular);
        let layer = io::Cursor::new(header.to_vec()).chain(Slow);
        let start = Instant::now();
        let mut f = ImageFiles::new(Limits::new(Duration::from_millis(300)));
        let err = f.add_layer(layer, "").expect_err("refused");
        assert!(matches!(err, Error::Deadline), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // Already past the deadline: refused before the first entry.
        let mut f = ImageFiles::new(Limits::new(Duration::ZERO));
        let err = f.add_layer(&tar_of(&[E::File("a", b"")])[..], "").expect_err("refused");
        assert!(matches!(err, Error::Deadline), "{err}");
    }

    /// Go ≥ 1.18 build info as the linker writes it.
    pub(crate) fn go_blob() -> Vec<u8> {
        let mut blob = GO_MAGIC.to_vec();
        blob.push(8); // pointer size
        blob.push(0x2); // inline strings, little endian
        blob.resize(32, 0);
        let version = b"go1.22.3";
        let modinfo = [
            &b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"[..],
            b"path\texample.com/app\n\
              mod\texample.com/app\tv1.4.0\th1:AAAA=\n\
              dep\tgolang.org/x/text\tv0.14.0\th1:BBBB=\n\
              dep\tgithub.com/old/x\tv1.0.0\th1:CCCC=\n\
              =>\tgithub.com/new/x\tv1.1.0\th1:DDDD=\n\
              dep\tgithub.com/local/y\tv0.1.0\th1:EEEE=\n\
              =>\t../y\t\t\n\
              build\t-compiler=gc\n",
            b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2",
        ]
        .concat();
        for s in [&version[..], &modinfo[..]] {
            let mut n = s.len();
            while n >= 0x80 {
                blob.push((n as u8) | 0x80);
                n >>= 7;
            }
            blob.push(n as u8);
            blob.extend_from_slice(s);
        }
        blob
    }

    fn expected_go() -> GoInfo {
        GoInfo {
            go_version: "go1.22.3".into(),
            main: Some(("example.com/app".into(), "v1.4.0".into())),
            deps: vec![("golang.org/x/text".into(), "v0.14.0".into()), ("github.com/new/x".into(), "v1.1.0".into())],
        }
    }

    /// An executable with a decoy magic at an unaligned offset and the real
    /// blob at every alignment near a boundary, fed in every chunk size up
    /// to 40 bytes.
    #[test]
    fn go_scan_across_buffer_boundaries() {
        let blob = go_blob();
        for at in [0usize, 16, 48, 112] {
            let mut file = vec![0x90u8; at];
            if at >= 32 {
                file[3..17].copy_from_slice(GO_MAGIC); // unaligned decoy
            }
            file.extend_from_slice(&blob);
            file.extend_from_slice(&[0xcc; 50]);
            for chunk in 1..=40 {
                let mut scan = GoScan::default();
                let done = file.chunks(chunk).any(|c| scan.feed(c));
                assert!(done, "at {at}, chunk {chunk}");
                match &scan.state {
                    GoState::Found(info) => {
                        assert_eq!(info, &expected_go(), "at {at} chunk {chunk}")
                    }
                    other => panic!("at {at} chunk {chunk}: {other:?}"),
                }
                assert!(scan.win.capacity() < 4096);
            }
        }
    }

    /// Through a real layer: the header straddles the 64 KiB read buffer.
    #[test]
    fn go_binary_in_a_layer() {
        let mut exe = vec![0u8; SCAN_BUF_BYTES - 16];
        exe.extend_from_slice(&go_blob());
        exe.extend_from_slice(&vec![0u8; 100_000]);
        let mut old = vec![0u8; 64];
        old.extend_from_slice(GO_MAGIC);
        old.extend_from_slice(&[8, 0]);
        old.resize(200, 0);
        let layer = tar_of(&[
            E::Exec("usr/local/bin/app", &exe),
            E::File("data/not-executable", &exe),
            E::Exec("usr/bin/old", &old),
            E::Hardlink("usr/bin/app-link", "usr/local/bin/app"),
        ]);
        let mut f = ImageFiles::new(limits());
        f.add_layer(&zstd(&layer)[..], "").expect("layer");
        let view = f.into_view();
        let found: Vec<&str> = view.go.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(found, ["usr/bin/app-link", "usr/local/bin/app"]);
        assert_eq!(view.go[1].1, expected_go());
        assert!(view.notes.iter().any(|n| n.contains("/usr/bin/old is a Go binary built before Go 1.18")));
    }

    #[test]
    fn go_blob_garbage_never_panics() {
        let blob = go_blob();
        for cut in 0..blob.len() {
            let _ = parse_go_blob(&blob[..cut]);
        }
        let mut bad = blob.clone();
        bad[32] = 0xff; // varint runs into the version string
        let _ = parse_go_blob(&bad);
        let mut huge = GO_MAGIC.to_vec();
        huge.extend_from_slice(&[8, 2]);
        huge.resize(32, 0);
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(parse_go_blob(&huge), Parsed::Invalid));
    }
}

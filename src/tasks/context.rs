//! Build contexts. A client packs a directory into the gzip-compressed tar it uploads, leaving out
//! what `.dockerignore` excludes as Docker does; the server unpacks such an archive (or a tarball
//! fetched from a URL) only after checking that no entry can land or point outside the
//! destination, and prunes a git checkout by the same rules. All of it streams: no archive is ever
//! held in memory.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use rustix::fs::{AtFlags, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;
use tar::EntryType;

use super::ignore::{self, Rules};

/// Longest entry path accepted, and longest single name (Linux's `PATH_MAX` and `NAME_MAX`): an
/// entry the filesystem would refuse must be refused before anything is written.
const MAX_PATH: usize = 4096;
const MAX_NAME: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the .dockerignore is not valid: {0}")]
    Ignore(#[from] ignore::Error),
    #[error("the Dockerfile {0:?} is not a path inside the context")]
    DockerfileOutside(String),
    #[error("{0:?} is not a UTF-8 name")]
    NotUtf8(PathBuf),
    #[error("cannot read {path:?}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot add {path:?} to the context archive: {source}")]
    Pack { path: String, source: io::Error },
    #[error("cannot write the context archive: {0}")]
    Write(io::Error),
    #[error("cannot remove {path:?}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("the context archive is unreadable: {0}")]
    Archive(io::Error),
    #[error("context entry {0:?} is an absolute path")]
    Absolute(String),
    #[error("context entry {0:?} leaves the context")]
    Escapes(String),
    #[error("context entry {0:?} has a name no file can have")]
    BadName(String),
    #[error("context entry {0:?} has a path or name too long (over {MAX_PATH} bytes, or {MAX_NAME} for one name)")]
    TooLong(String),
    #[error("context entry {path:?} is a {kind}, which a build context cannot hold")]
    Unsupported { path: String, kind: String },
    #[error("context entry {path:?} is a symlink to {target:?}, outside the context")]
    SymlinkOutside { path: String, target: String },
    #[error("context entry {path:?} is a symlink to {target:?}, through another symlink of the context")]
    SymlinkThroughSymlink { path: String, target: String },
    #[error("context entry {path:?} is a hard link to {target:?}, which is no earlier file of the archive")]
    HardLinkTarget { path: String, target: String },
    #[error("context entry {path:?} lies beneath the symlink {link:?}")]
    BeneathSymlink { path: String, link: String },
    #[error("context entry {path:?} lies beneath {parent:?}, which is not a directory")]
    BeneathFile { path: String, parent: String },
    #[error("context entry {0:?} would replace an earlier entry of another type")]
    TypeChange(String),
    #[error("the context has more than {0} entries")]
    TooManyEntries(u64),
    #[error("the context holds more than {0} bytes")]
    TooLarge(u64),
    #[error("cannot extract context entry {path:?}: {source}")]
    Extract { path: String, source: io::Error },
}

/// What [`pack`] wrote: entries, and uncompressed bytes of file content.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Packed {
    pub entries: u64,
    pub bytes: u64,
}

/// What [`unpack`] extracted: entries, and bytes of content their headers declared.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub entries: u64,
    pub bytes: u64,
}

/// Bounds on an archive a client sends: compressed, a few kilobytes can claim terabytes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes of content, as entry headers declare them.
    pub max_bytes: u64,
    pub max_entries: u64,
}

// ---------------------------------------------------------------- Selection (packing and pruning)

/// What a context keeps: whatever the rules do not exclude, and always the Dockerfile and the
/// `.dockerignore` (Docker sends both even when they exclude themselves).
struct Selection<'a> {
    rules: &'a Rules,
    dockerfile: &'a str,
}

impl Selection<'_> {
    fn keeps(&self, path: &str) -> bool {
        path == self.dockerfile || path == ".dockerignore" || !self.rules.excludes(path)
    }

    /// Whether the excluded directory `dir` may hold something kept.
    fn enters(&self, dir: &str) -> bool {
        self.rules.may_reinclude_under(dir)
            || self.dockerfile.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
    }
}

/// The Dockerfile argument as a clean context-relative path; `None` for an absolute path or one
/// whose `..` leave the context.
fn context_relative(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// A directory's entry names, sorted so that archives are reproducible.
fn sorted_names(dir: &Path) -> Result<Vec<String>, Error> {
    let read_error = |source| Error::Read { path: dir.to_owned(), source };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let name = entry.map_err(read_error)?.file_name();
        names.push(name.into_string().map_err(|name| Error::NotUtf8(dir.join(name)))?);
    }
    names.sort_unstable();
    Ok(names)
}

fn metadata(path: &Path) -> Result<Metadata, Error> {
    fs::symlink_metadata(path).map_err(|source| Error::Read { path: path.to_owned(), source })
}

// ---------------------------------------------------------------- Packing

/// Writes a gzip-compressed tar of `dir` to `out`, leaving out what `dir/.dockerignore` excludes
/// (and `.git`, unless it says otherwise), but never `dockerfile` (context-relative) or the
/// `.dockerignore`. Directories, regular files and symlinks (as links) are packed in sorted
/// order, owned by 0:0 with their mtimes; sockets, fifos and devices are skipped.
pub fn pack(dir: &Path, dockerfile: &str, out: impl Write) -> Result<Packed, Error> {
    let relative = context_relative(dockerfile).ok_or_else(|| Error::DockerfileOutside(dockerfile.to_owned()))?;
    let rules = read_rules(dir)?;
    let mut packer = Packer {
        root: dir,
        keep: Selection { rules: &rules, dockerfile: &relative },
        tar: tar::Builder::new(GzEncoder::new(out, Compression::default())),
        pending: Vec::new(),
        packed: Packed::default(),
    };
    packer.walk("")?;
    packer.tar.into_inner().map_err(Error::Write)?.finish().map_err(Error::Write)?;
    Ok(packer.packed)
}

/// `dir/.dockerignore` with `.git` excluded first; no file means the default alone.
fn read_rules(dir: &Path) -> Result<Rules, Error> {
    let path = dir.join(".dockerignore");
    let rules = match fs::read_to_string(&path) {
        Ok(text) => Rules::parse(&text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Rules::default(),
        Err(source) => return Err(Error::Read { path, source }),
    };
    Ok(rules.with_git_excluded())
}

struct Packer<'a, W: Write> {
    root: &'a Path,
    keep: Selection<'a>,
    tar: tar::Builder<GzEncoder<W>>,
    /// Excluded directories being walked for exceptions: written only once something under them is.
    pending: Vec<(String, Metadata)>,
    packed: Packed,
}

impl<W: Write> Packer<'_, W> {
    fn walk(&mut self, dir: &str) -> Result<(), Error> {
        for name in sorted_names(&self.root.join(dir))? {
            let path = join(dir, &name);
            let meta = metadata(&self.root.join(&path))?;
            if self.keep.keeps(&path) {
                self.add(&path, &meta)?;
                if meta.is_dir() {
                    self.walk(&path)?;
                }
            } else if meta.is_dir() && self.keep.enters(&path) {
                let depth = self.pending.len();
                self.pending.push((path.clone(), meta));
                self.walk(&path)?;
                self.pending.truncate(depth);
            }
        }
        Ok(())
    }

    fn add(&mut self, path: &str, meta: &Metadata) -> Result<(), Error> {
        let kind = meta.file_type();
        if !(kind.is_dir() || kind.is_file() || kind.is_symlink()) {
            return Ok(());
        }
        for (parent, parent_meta) in std::mem::take(&mut self.pending) {
            self.append(&parent, &parent_meta)?;
        }
        self.append(path, meta)
    }

    fn append(&mut self, path: &str, meta: &Metadata) -> Result<(), Error> {
        let abs = self.root.join(path);
        let kind = meta.file_type();
        let mut header = tar::Header::new_gnu();
        header.set_mode(meta.mode() & 0o1777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        header.set_size(0);
        let written = if kind.is_dir() {
            header.set_entry_type(EntryType::Directory);
            self.tar.append_data(&mut header, format!("{path}/"), io::empty())
        } else if kind.is_symlink() {
            let target = fs::read_link(&abs).map_err(|source| Error::Read { path: abs.clone(), source })?;
            header.set_entry_type(EntryType::Symlink);
            self.tar.append_link(&mut header, path, target)
        } else {
            let file = File::open(&abs).map_err(|source| Error::Read { path: abs.clone(), source })?;
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            self.packed.bytes += meta.len();
            self.tar.append_data(&mut header, path, Exactly { inner: file, left: meta.len() })
        };
        written.map_err(|source| Error::Pack { path: path.to_owned(), source })?;
        self.packed.entries += 1;
        Ok(())
    }
}

/// A file's content held to the size its header announced: a file that grows while being packed
/// is cut, one that shrinks is an error, so the archive is never malformed.
struct Exactly<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exactly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while being packed"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

// ---------------------------------------------------------------- Pruning

/// Deletes from the directory `dir` (a git checkout) everything `rules` exclude, except
/// `dockerfile` (context-relative) and `.dockerignore`; an excluded directory that an exception
/// may reach into is pruned inside and removed only if nothing in it stayed. Symlinks are removed,
/// never followed. Returns how many paths were removed.
pub fn prune(dir: &Path, rules: &Rules, dockerfile: &str) -> Result<u64, Error> {
    let relative = context_relative(dockerfile).ok_or_else(|| Error::DockerfileOutside(dockerfile.to_owned()))?;
    let keep = Selection { rules, dockerfile: &relative };
    Ok(prune_dir(dir, "", &keep)?.0)
}

/// Prunes the context directory `rel`: paths removed, and whether anything in it stayed.
fn prune_dir(root: &Path, rel: &str, keep: &Selection<'_>) -> Result<(u64, bool), Error> {
    let mut removed = 0;
    let mut kept = false;
    for name in sorted_names(&root.join(rel))? {
        let path = join(rel, &name);
        let abs = root.join(&path);
        let is_dir = metadata(&abs)?.is_dir();
        if keep.keeps(&path) {
            kept = true;
            if is_dir {
                removed += prune_dir(root, &path, keep)?.0;
            }
        } else if is_dir && keep.enters(&path) {
            let (inside, kept_inside) = prune_dir(root, &path, keep)?;
            removed += inside;
            if kept_inside {
                kept = true;
            } else {
                fs::remove_dir(&abs).map_err(|source| Error::Remove { path: abs, source })?;
                removed += 1;
            }
        } else {
            removed += remove_tree(&abs, is_dir)?;
        }
    }
    Ok((removed, kept))
}

/// Removes `path` and, for a directory, everything in it, counting paths. Entry types come from
/// `lstat`, so a symlink is unlinked and never entered.
fn remove_tree(path: &Path, is_dir: bool) -> Result<u64, Error> {
    let remove_error = |source| Error::Remove { path: path.to_owned(), source };
    if !is_dir {
        fs::remove_file(path).map_err(remove_error)?;
        return Ok(1);
    }
    let mut removed = 1;
    for entry in fs::read_dir(path).map_err(remove_error)? {
        let entry = entry.map_err(remove_error)?;
        let is_dir = entry.file_type().map_err(remove_error)?.is_dir();
        removed += remove_tree(&entry.path(), is_dir)?;
    }
    fs::remove_dir(path).map_err(remove_error)?;
    Ok(removed)
}

// ---------------------------------------------------------------- Unpacking

/// Unpacks the archive at `archive` (gzip or plain tar, told apart by the gzip magic) into `dest`,
/// an existing empty directory. The archive is read twice, through one open file: first every
/// entry is checked, and only if all pass is the second reading extracted, each entry checked
/// again as it comes. So nothing is written for a refused archive. With `owner`, every created
/// path is chowned to that uid and gid.
pub fn unpack(archive: &Path, dest: &Path, limits: &Limits, owner: Option<(u32, u32)>) -> Result<Unpacked, Error> {
    let file = File::open(archive).map_err(|source| Error::Read { path: archive.to_owned(), source })?;
    let again = file.try_clone().map_err(|source| Error::Read { path: archive.to_owned(), source })?;

    let mut checker = Checker::new(limits);
    let mut tar = open_archive(file)?;
    for entry in tar.entries().map_err(Error::Archive)? {
        checker.check(&entry.map_err(Error::Archive)?)?;
    }
    checker.finish()?;

    let target = Extractor::open(dest, owner)?;
    let mut checker = Checker::new(limits);
    let mut tar = open_archive(again)?;
    for entry in tar.entries().map_err(Error::Archive)? {
        let mut entry = entry.map_err(Error::Archive)?;
        let Some(checked) = checker.check(&entry)? else { continue };
        let size = entry.size();
        target.create(&checked, &mut entry, size).map_err(|source| Error::Extract { path: checked.path, source })?;
    }
    Ok(Unpacked { entries: checker.entries, bytes: checker.bytes })
}

/// A tar reader over `file` from its start, decompressing when it starts with gzip's magic.
fn open_archive(mut file: File) -> Result<tar::Archive<Box<dyn Read>>, Error> {
    file.rewind().map_err(Error::Archive)?;
    let mut magic = Vec::with_capacity(2);
    (&mut file).take(2).read_to_end(&mut magic).map_err(Error::Archive)?;
    file.rewind().map_err(Error::Archive)?;
    let file = BufReader::new(file);
    let stream: Box<dyn Read> =
        if magic == [0x1f, 0x8b] { Box::new(MultiGzDecoder::new(file)) } else { Box::new(file) };
    Ok(tar::Archive::new(stream))
}

/// What a checked path holds once extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File,
    Symlink(String),
}

/// What an accepted entry asks to create.
#[derive(Debug)]
enum Action {
    Dir { mode: u32 },
    File { mode: u32 },
    Symlink { target: String },
    HardLink { target: String },
}

struct Checked {
    path: String,
    action: Action,
}

/// Checks entries in archive order, remembering what each accepted path will be.
struct Checker<'a> {
    limits: &'a Limits,
    nodes: HashMap<String, Node>,
    entries: u64,
    bytes: u64,
}

impl<'a> Checker<'a> {
    fn new(limits: &'a Limits) -> Self {
        Checker { limits, nodes: HashMap::new(), entries: 0, bytes: 0 }
    }

    /// The entry as something to create, or `None` for the archive's root (`./`): `dest` is there.
    fn check<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Result<Option<Checked>, Error> {
        self.count(entry.size())?;
        // PAX global headers (`git archive` writes one) carry no file.
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            return Ok(None);
        }
        let raw = entry_name(&entry.path_bytes())?;
        let path = entry_path(&raw)?;
        let header = entry.header();
        let mode = header.mode().map_err(Error::Archive)?;
        let action = match header.entry_type() {
            EntryType::Directory => Action::Dir { mode },
            EntryType::Regular | EntryType::Continuous => Action::File { mode },
            EntryType::Symlink => Action::Symlink { target: self.symlink_target(&path, entry)? },
            EntryType::Link => Action::HardLink { target: self.hard_link_target(&path, entry)? },
            other => return Err(Error::Unsupported { path: raw, kind: kind_name(other) }),
        };
        if path.is_empty() {
            return match action {
                Action::Dir { .. } => Ok(None),
                _ => Err(Error::BadName(raw)),
            };
        }
        self.check_parents(&path)?;
        self.record(&path, &action)?;
        Ok(Some(Checked { path, action }))
    }

    fn count(&mut self, size: u64) -> Result<(), Error> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Error::TooManyEntries(self.limits.max_entries));
        }
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.limits.max_bytes {
            return Err(Error::TooLarge(self.limits.max_bytes));
        }
        Ok(())
    }

    /// Every parent must be a directory, listed or not (unlisted ones are created); a symlink
    /// parent would carry the entry wherever it points.
    fn check_parents(&mut self, path: &str) -> Result<(), Error> {
        for (end, _) in path.match_indices('/') {
            let parent = &path[..end];
            match self.nodes.get(parent) {
                Some(Node::Symlink(_)) => {
                    return Err(Error::BeneathSymlink { path: path.to_owned(), link: parent.to_owned() });
                }
                Some(Node::File) => {
                    return Err(Error::BeneathFile { path: path.to_owned(), parent: parent.to_owned() });
                }
                Some(Node::Dir) => {}
                None => {
                    self.nodes.insert(parent.to_owned(), Node::Dir);
                }
            }
        }
        Ok(())
    }

    /// Records what `path` becomes. A path may be listed again as the same type (the later entry
    /// wins, as with tar), never as another: that would make earlier checks moot.
    fn record(&mut self, path: &str, action: &Action) -> Result<(), Error> {
        let node = match action {
            Action::Dir { .. } => Node::Dir,
            Action::File { .. } | Action::HardLink { .. } => Node::File,
            Action::Symlink { target } => Node::Symlink(target.clone()),
        };
        if let Some(earlier) = self.nodes.get(path)
            && std::mem::discriminant(earlier) != std::mem::discriminant(&node)
        {
            return Err(Error::TypeChange(path.to_owned()));
        }
        self.nodes.insert(path.to_owned(), node);
        Ok(())
    }

    fn symlink_target<R: Read>(&self, path: &str, entry: &tar::Entry<'_, R>) -> Result<String, Error> {
        let target = entry_name(&entry.link_name_bytes().unwrap_or_default())?;
        if target.is_empty() || target.contains('\0') {
            return Err(Error::BadName(path.to_owned()));
        }
        if !symlink_inside(path, &target) {
            return Err(Error::SymlinkOutside { path: path.to_owned(), target });
        }
        Ok(target)
    }

    /// A hard link's target (relative to the archive root, unlike a symlink's) must be an earlier
    /// file entry: linking to anything else would reach outside or through a symlink.
    fn hard_link_target<R: Read>(&self, path: &str, entry: &tar::Entry<'_, R>) -> Result<String, Error> {
        let raw = entry_name(&entry.link_name_bytes().unwrap_or_default())?;
        let refused = || Error::HardLinkTarget { path: path.to_owned(), target: raw.clone() };
        let target = entry_path(&raw).map_err(|_| refused())?;
        if target == path || self.nodes.get(&target) != Some(&Node::File) {
            return Err(refused());
        }
        Ok(target)
    }

    /// Refuses a symlink whose target goes through another symlink of the archive (`up -> ..`, then
    /// `x -> up/..`): the lexical check assumes each step is a real directory. Runs once all
    /// entries are known, since the other link may come later in the archive.
    fn finish(&self) -> Result<(), Error> {
        for (path, node) in &self.nodes {
            let Node::Symlink(target) = node else { continue };
            let mut at: Vec<&str> = path.split('/').collect();
            at.pop();
            let parts: Vec<&str> = target.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                match *part {
                    "" | "." => {}
                    ".." => {
                        at.pop();
                    }
                    _ => {
                        at.push(part);
                        let traversed = i + 1 < parts.len();
                        if traversed && matches!(self.nodes.get(&at.join("/")), Some(Node::Symlink(_))) {
                            return Err(Error::SymlinkThroughSymlink { path: path.clone(), target: target.clone() });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// An entry or link name as UTF-8 of a length the filesystem takes.
fn entry_name(raw: &[u8]) -> Result<String, Error> {
    let name = std::str::from_utf8(raw).map_err(|_| Error::NotUtf8(PathBuf::from(OsStr::from_bytes(raw))))?;
    if raw.len() > MAX_PATH || name.split('/').any(|part| part.len() > MAX_NAME) {
        return Err(Error::TooLong(name.chars().take(100).collect()));
    }
    Ok(name.to_owned())
}

/// An entry's path as the clean context-relative path it creates: `.` and empty components are
/// dropped, while absolute paths and `..` are refused outright (no honest context needs them).
fn entry_path(raw: &str) -> Result<String, Error> {
    if raw.starts_with('/') {
        return Err(Error::Absolute(raw.to_owned()));
    }
    if raw.contains('\0') {
        return Err(Error::BadName(raw.to_owned()));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(Error::Escapes(raw.to_owned())),
            _ => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// Whether the symlink at `path` to `target` stays inside the context, resolving `target`
/// lexically from the link's own directory.
fn symlink_inside(path: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth = path.matches('/').count();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." if depth == 0 => return false,
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    true
}

fn kind_name(kind: EntryType) -> String {
    match kind {
        EntryType::Char => "character device".to_owned(),
        EntryType::Block => "block device".to_owned(),
        EntryType::Fifo => "fifo".to_owned(),
        EntryType::GNUSparse => "sparse file".to_owned(),
        other => format!("entry of type {:?}", char::from(other.as_byte())),
    }
}

/// Creates accepted entries under the destination without ever following a symlink: each path is
/// reached one directory at a time from the destination's descriptor, opened `O_NOFOLLOW`, and
/// each file is created `O_EXCL`.
struct Extractor {
    root: OwnedFd,
    owner: Option<(Uid, Gid)>,
}

impl Extractor {
    fn open(dest: &Path, owner: Option<(u32, u32)>) -> Result<Self, Error> {
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        let root = rustix::fs::open(dest, flags, Mode::empty())
            .map_err(|e| Error::Extract { path: dest.display().to_string(), source: e.into() })?;
        Ok(Extractor { root, owner: owner.map(|(uid, gid)| (Uid::from_raw(uid), Gid::from_raw(gid))) })
    }

    /// Creates one checked entry; `content` is the entry's data, `size` bytes of it.
    fn create(&self, checked: &Checked, content: &mut impl Read, size: u64) -> io::Result<()> {
        let (parent, name) = self.parent_of(&checked.path)?;
        match &checked.action {
            Action::Dir { mode } => self.dir(&parent, name, mode & 0o777 | 0o700).map(drop),
            Action::File { mode } => self.file(&parent, name, mode & 0o777, content, size),
            Action::Symlink { target } => {
                replacing(&parent, name, || rustix::fs::symlinkat(target.as_str(), &parent, name))?;
                match self.owner {
                    Some((uid, gid)) => {
                        Ok(rustix::fs::chownat(&parent, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?)
                    }
                    None => Ok(()),
                }
            }
            Action::HardLink { target } => {
                let (from, from_name) = self.parent_of(target)?;
                replacing(&parent, name, || rustix::fs::linkat(&from, from_name, &parent, name, AtFlags::empty()))
            }
        }
    }

    /// The directory holding `path`, opened, and the last name of `path`.
    fn parent_of<'p>(&self, path: &'p str) -> io::Result<(OwnedFd, &'p str)> {
        let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
        let mut dir = self.root.try_clone()?;
        for part in dirs.split('/').filter(|part| !part.is_empty()) {
            dir = match open_dir(&dir, part) {
                // Archives often leave parent directories out.
                Err(Errno::NOENT) => self.dir(&dir, part, 0o755)?,
                opened => opened?,
            };
        }
        Ok((dir, name))
    }

    /// Makes (or finds, for a repeated entry) the directory `name` with `mode`, and opens it.
    fn dir(&self, parent: &OwnedFd, name: &str, mode: u32) -> io::Result<OwnedFd> {
        match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let dir = open_dir(parent, name)?;
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode))?;
        self.chown(&dir)?;
        Ok(dir)
    }

    /// Writes exactly `size` bytes of `content`: an archive ending early is an error.
    fn file(&self, parent: &OwnedFd, name: &str, mode: u32, content: &mut impl Read, size: u64) -> io::Result<()> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = replacing(parent, name, || rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o600)))?;
        let mut file = File::from(fd);
        if io::copy(&mut content.take(size), &mut file)? != size {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ends inside this file"));
        }
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
        self.chown(&file)
    }

    fn chown(&self, fd: &impl AsFd) -> io::Result<()> {
        if let Some((uid, gid)) = self.owner {
            rustix::fs::fchown(fd, Some(uid), Some(gid))?;
        }
        Ok(())
    }
}

fn open_dir(parent: &OwnedFd, name: &str) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
    rustix::fs::openat(parent, name, flags, Mode::empty())
}

/// Runs `create`, and again after unlinking what is at `name` if that exists: a later entry
/// replaces an earlier one of the same type (the checker refused type changes).
fn replacing<T>(parent: &OwnedFd, name: &str, create: impl Fn() -> rustix::io::Result<T>) -> io::Result<T> {
    match create() {
        Err(Errno::EXIST) => {
            rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
            Ok(create()?)
        }
        created => Ok(created?),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    use flate2::read::GzDecoder;
    use tempfile::TempDir;

    use super::*;

    const LIMITS: Limits = Limits { max_bytes: 1 << 20, max_entries: 1000 };

    fn write(root: &Path, path: &str, content: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, content).expect("write");
    }

    fn chmod(root: &Path, path: &str, mode: u32) {
        fs::set_permissions(root.join(path), fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn pack_to_vec(dir: &Path, dockerfile: &str) -> (Vec<u8>, Packed) {
        let mut out = Vec::new();
        let packed = pack(dir, dockerfile, &mut out).expect("pack");
        (out, packed)
    }

    fn listing(archive: &[u8]) -> Vec<String> {
        let mut tar = tar::Archive::new(GzDecoder::new(archive));
        let entries = tar.entries().expect("entries");
        entries.map(|e| String::from_utf8(e.expect("entry").path_bytes().into_owned()).expect("utf-8")).collect()
    }

    fn context_dir() -> TempDir {
        let dir = TempDir::new().expect("tempdir");
        write(dir.path(), ".git/HEAD", "ref: refs/heads/main\n");
        write(dir.path(), ".gitignore", "target\n");
        write(dir.path(), "src/a.rs", "fn main() {}\n");
        write(dir.path(), "target/x", "built");
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        dir
    }

    fn is_empty(dir: &Path) -> bool {
        fs::read_dir(dir).expect("read_dir").next().is_none()
    }

    /// A hand-made archive entry: names and link names go into the header as given, so `..` and
    /// absolute paths survive (the tar crate's builder would refuse them).
    #[derive(Clone, Copy)]
    struct Raw<'a> {
        kind: EntryType,
        name: &'a [u8],
        link: &'a str,
        data: &'a [u8],
    }

    fn raw<'a>(kind: EntryType, name: &'a str, link: &'a str) -> Raw<'a> {
        Raw { kind, name: name.as_bytes(), link, data: b"" }
    }

    fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
        Raw { kind: EntryType::Regular, name: name.as_bytes(), link: "", data }
    }

    fn plain_tar(entries: &[Raw<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(entry.kind);
            header.set_mode(0o644);
            header.set_size(entry.data.len() as u64);
            header.as_old_mut().name[..entry.name.len()].copy_from_slice(entry.name);
            header.set_link_name_literal(entry.link).expect("link name");
            header.set_cksum();
            builder.append(&header, entry.data).expect("append");
        }
        builder.into_inner().expect("finish")
    }

    fn gzipped(tar: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(tar).expect("gzip");
        gz.finish().expect("gzip")
    }

    /// Unpacks `bytes` into a fresh directory, returning the outcome and the directory.
    fn unpack_bytes(bytes: &[u8], limits: &Limits) -> (Result<Unpacked, Error>, TempDir) {
        let spool = TempDir::new().expect("tempdir");
        let archive = spool.path().join("context.tar");
        fs::write(&archive, bytes).expect("spool");
        let dest = TempDir::new().expect("tempdir");
        (unpack(&archive, dest.path(), limits, None), dest)
    }

    #[test]
    fn pack_leaves_out_what_dockerignore_excludes_and_git() {
        let dir = context_dir();
        write(dir.path(), ".dockerignore", "target\n");
        let (archive, packed) = pack_to_vec(dir.path(), "Dockerfile");
        let expected = [".dockerignore", ".gitignore", "Dockerfile", "src/", "src/a.rs"];
        assert_eq!(listing(&archive), expected);
        assert_eq!(packed.entries, 5);
        assert_eq!(packed.bytes, 7 + 7 + 13 + 13);
    }

    #[test]
    fn pack_without_dockerignore_leaves_out_only_git() {
        let dir = context_dir();
        let (archive, _) = pack_to_vec(dir.path(), "./Dockerfile");
        assert_eq!(listing(&archive), [".gitignore", "Dockerfile", "src/", "src/a.rs", "target/", "target/x"]);
    }

    #[test]
    fn pack_brings_git_back_when_asked() {
        let dir = context_dir();
        write(dir.path(), ".git/objects/ab/cd", "blob");
        write(dir.path(), ".dockerignore", "target\n!.git/**\n");
        let (archive, _) = pack_to_vec(dir.path(), "Dockerfile");
        let expected = [
            ".dockerignore",
            ".git/",
            ".git/HEAD",
            ".git/objects/",
            ".git/objects/ab/",
            ".git/objects/ab/cd",
            ".gitignore",
            "Dockerfile",
            "src/",
            "src/a.rs",
        ];
        assert_eq!(listing(&archive), expected);
    }

    #[test]
    fn pack_always_sends_the_dockerfile_and_dockerignore() {
        let dir = context_dir();
        write(dir.path(), "build/Dockerfile", "FROM scratch\n");
        write(dir.path(), "build/other", "x");
        write(dir.path(), ".dockerignore", "*\n");
        let (archive, _) = pack_to_vec(dir.path(), "build/Dockerfile");
        assert_eq!(listing(&archive), [".dockerignore", "build/", "build/Dockerfile"]);
    }

    #[test]
    fn pack_refuses_a_dockerfile_outside_the_context() {
        let dir = context_dir();
        for outside in ["../Dockerfile", "/Dockerfile", "a/../../Dockerfile", ".", ""] {
            let result = pack(dir.path(), outside, io::sink());
            assert!(matches!(result, Err(Error::DockerfileOutside(_))), "{outside:?}: {result:?}");
        }
    }

    #[test]
    fn pack_refuses_a_bad_dockerignore() {
        let dir = context_dir();
        write(dir.path(), ".dockerignore", "ok\n[\n");
        assert!(matches!(pack(dir.path(), "Dockerfile", io::sink()), Err(Error::Ignore(_))));
    }

    #[test]
    fn pack_then_unpack_keeps_contents_modes_and_symlinks() {
        let dir = context_dir();
        write(dir.path(), "run.sh", "#!/bin/sh\n");
        chmod(dir.path(), "run.sh", 0o755);
        write(dir.path(), "secret", "s");
        chmod(dir.path(), "secret", 0o600);
        write(dir.path(), "sub/deep/file", "deep");
        chmod(dir.path(), "sub/deep", 0o750);
        symlink("sub/deep/file", dir.path().join("link")).expect("symlink");
        symlink("sub", dir.path().join("dirlink")).expect("symlink");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, Mode::from_raw_mode(0o644), 0)
            .expect("mkfifo");
        let (archive, packed) = pack_to_vec(dir.path(), "Dockerfile");
        assert!(!listing(&archive).contains(&"fifo".to_owned()));

        let spool = TempDir::new().expect("tempdir");
        fs::write(spool.path().join("c.tgz"), &archive).expect("spool");
        let dest = TempDir::new().expect("tempdir");
        let owner = Some((rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw()));
        let unpacked = unpack(&spool.path().join("c.tgz"), dest.path(), &LIMITS, owner).expect("unpack");
        assert_eq!((unpacked.entries, unpacked.bytes), (packed.entries, packed.bytes));

        let out = dest.path();
        assert_eq!(fs::read_to_string(out.join("sub/deep/file")).expect("read"), "deep");
        assert_eq!(fs::read_to_string(out.join("link")).expect("read through link"), "deep");
        assert_eq!(fs::read_link(out.join("link")).expect("link"), Path::new("sub/deep/file"));
        assert_eq!(fs::read_link(out.join("dirlink")).expect("link"), Path::new("sub"));
        let mode = |path: &str| metadata(&out.join(path)).expect("stat").mode() & 0o7777;
        assert_eq!(mode("run.sh"), 0o755);
        assert_eq!(mode("secret"), 0o600);
        assert_eq!(mode("sub/deep"), 0o750);
        assert!(!out.join(".git").exists());
        assert!(!out.join("fifo").exists());
    }

    #[test]
    fn unpack_drops_setuid_and_opens_closed_directories_to_their_owner() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(EntryType::Directory);
        header.set_mode(0o1555);
        header.set_size(0);
        builder.append_data(&mut header, "d/", io::empty()).expect("dir");
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o4755);
        header.set_size(1);
        builder.append_data(&mut header, "d/suid", &b"x"[..]).expect("file");
        let (result, dest) = unpack_bytes(&builder.into_inner().expect("tar"), &LIMITS);
        result.expect("unpack");
        assert_eq!(metadata(&dest.path().join("d")).expect("stat").mode() & 0o7777, 0o755);
        assert_eq!(metadata(&dest.path().join("d/suid")).expect("stat").mode() & 0o7777, 0o755);
    }

    #[test]
    fn hostile_archives_are_refused_and_write_nothing() {
        use EntryType::{Block, Char, Directory, Fifo, Link, Symlink};
        let ok = file("ok", b"fine");
        type Case<'a> = (&'a str, Vec<Raw<'a>>, fn(&Error) -> bool);
        let cases: Vec<Case<'_>> = vec![
            ("absolute", vec![file("/etc/passwd", b"x")], |e| matches!(e, Error::Absolute(_))),
            ("parent", vec![file("../x", b"x")], |e| matches!(e, Error::Escapes(_))),
            ("parent inside", vec![file("a/../../x", b"x")], |e| matches!(e, Error::Escapes(_))),
            ("harmless parent", vec![file("a/../x", b"x")], |e| matches!(e, Error::Escapes(_))),
            ("unnamed file", vec![file("./", b"x")], |e| matches!(e, Error::BadName(_))),
            ("not utf-8", vec![Raw { kind: EntryType::Regular, name: b"\xff", link: "", data: b"" }], |e| {
                matches!(e, Error::NotUtf8(_))
            }),
            ("absolute symlink", vec![raw(Symlink, "l", "/etc")], |e| matches!(e, Error::SymlinkOutside { .. })),
            ("escaping symlink", vec![raw(Symlink, "a/l", "../../x")], |e| matches!(e, Error::SymlinkOutside { .. })),
            ("empty symlink", vec![raw(Symlink, "l", "")], |e| matches!(e, Error::BadName(_))),
            ("beneath symlink", vec![raw(Symlink, "a", "b"), raw(Directory, "b/", ""), file("a/x", b"x")], |e| {
                matches!(e, Error::BeneathSymlink { .. })
            }),
            (
                "beneath symlink to parent",
                vec![raw(Directory, "d/", ""), raw(Symlink, "d/up", ".."), file("d/up/x", b"x")],
                |e| matches!(e, Error::BeneathSymlink { .. }),
            ),
            ("symlink through symlink", vec![raw(Symlink, "sub/up", ".."), raw(Symlink, "x", "sub/up/..")], |e| {
                matches!(e, Error::SymlinkThroughSymlink { .. })
            }),
            (
                "symlink through a later symlink",
                vec![raw(Symlink, "x", "sub/up/../etc"), raw(Symlink, "sub/up", "..")],
                |e| matches!(e, Error::SymlinkThroughSymlink { .. }),
            ),
            ("hard link to nothing", vec![raw(Link, "h", "nothere")], |e| matches!(e, Error::HardLinkTarget { .. })),
            ("hard link to a symlink", vec![raw(Symlink, "s", "ok"), raw(Link, "h", "s")], |e| {
                matches!(e, Error::HardLinkTarget { .. })
            }),
            ("hard link outside", vec![raw(Link, "h", "../x")], |e| matches!(e, Error::HardLinkTarget { .. })),
            ("hard link absolute", vec![raw(Link, "h", "/etc/passwd")], |e| matches!(e, Error::HardLinkTarget { .. })),
            ("hard link to itself", vec![raw(Link, "ok", "ok")], |e| matches!(e, Error::HardLinkTarget { .. })),
            ("fifo", vec![raw(Fifo, "p", "")], |e| matches!(e, Error::Unsupported { .. })),
            ("char device", vec![raw(Char, "c", "")], |e| matches!(e, Error::Unsupported { .. })),
            ("block device", vec![raw(Block, "b", "")], |e| matches!(e, Error::Unsupported { .. })),
            ("dir then file", vec![raw(Directory, "d/", ""), file("d", b"x")], |e| matches!(e, Error::TypeChange(_))),
            ("file then dir", vec![raw(Directory, "ok/", "")], |e| matches!(e, Error::TypeChange(_))),
            ("file then symlink", vec![raw(Symlink, "ok", "x")], |e| matches!(e, Error::TypeChange(_))),
            ("implicit dir then file", vec![file("d/x", b""), file("d", b"")], |e| matches!(e, Error::TypeChange(_))),
            ("beneath a file", vec![file("ok/x", b"x")], |e| matches!(e, Error::BeneathFile { .. })),
        ];
        for (name, entries, expected) in cases {
            let mut all = vec![ok];
            all.extend(entries);
            let (result, dest) = unpack_bytes(&plain_tar(&all), &LIMITS);
            match result {
                Err(e) if expected(&e) => {}
                other => panic!("{name}: {other:?}"),
            }
            assert!(is_empty(dest.path()), "{name}: wrote into dest");
        }
    }

    #[test]
    fn paths_over_4096_bytes_or_names_over_255_are_refused() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(0);
        builder.append_data(&mut header, "ab/".repeat(1400) + "x", io::empty()).expect("long name");
        let (result, dest) = unpack_bytes(&builder.into_inner().expect("tar"), &LIMITS);
        assert!(matches!(result, Err(Error::TooLong(_))), "{result:?}");
        assert!(is_empty(dest.path()));

        let mut builder = tar::Builder::new(Vec::new());
        builder.append_data(&mut header, format!("ok/{}", "n".repeat(256)), io::empty()).expect("long name");
        let (result, dest) = unpack_bytes(&builder.into_inner().expect("tar"), &LIMITS);
        assert!(matches!(result, Err(Error::TooLong(_))), "{result:?}");
        assert!(is_empty(dest.path()));
    }

    #[test]
    fn limits_stop_bombs_before_anything_is_written() {
        let data = [b'x'; 10];
        let names: Vec<String> = (0..2000).map(|i| format!("f{i}")).collect();
        let many: Vec<Raw<'_>> = names.iter().map(|name| file(name, &data)).collect();
        let bomb = gzipped(&plain_tar(&many));
        let (result, dest) = unpack_bytes(&bomb, &Limits { max_bytes: 1 << 30, max_entries: 1000 });
        assert!(matches!(result, Err(Error::TooManyEntries(1000))), "{result:?}");
        assert!(is_empty(dest.path()));

        let (result, dest) = unpack_bytes(&bomb, &Limits { max_bytes: 15_000, max_entries: 10_000 });
        assert!(matches!(result, Err(Error::TooLarge(15_000))), "{result:?}");
        assert!(is_empty(dest.path()));

        // A header claiming more than the limit is refused before its content is read.
        let mut huge = plain_tar(&[file("big", b"")]);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(1 << 40);
        header.set_path("big").expect("path");
        header.set_cksum();
        huge[..512].copy_from_slice(header.as_bytes());
        let (result, _) = unpack_bytes(&huge, &LIMITS);
        assert!(matches!(result, Err(Error::TooLarge(_))), "{result:?}");
    }

    #[test]
    fn corrupt_and_truncated_archives_are_errors() {
        let good = gzipped(&plain_tar(&[file("a", &[b'a'; 3000]), file("b", b"b")]));
        let mut corrupt = good.clone();
        for byte in &mut corrupt[20..60] {
            *byte ^= 0x55;
        }
        let truncated_gzip = &good[..good.len() / 2];
        let plain = plain_tar(&[file("a", &[b'a'; 3000]), file("b", b"b")]);
        let truncated_tar = &plain[..1500];
        let garbage = [0x42u8; 1024];
        for (name, bytes) in [
            ("corrupt gzip", &corrupt[..]),
            ("truncated gzip", truncated_gzip),
            ("truncated tar", truncated_tar),
            ("garbage", &garbage[..]),
            ("gzip magic only", &[0x1f, 0x8b][..]),
        ] {
            let (result, dest) = unpack_bytes(bytes, &LIMITS);
            assert!(matches!(result, Err(Error::Archive(_))), "{name}: {result:?}");
            assert!(is_empty(dest.path()), "{name}");
        }
        let (result, _) = unpack_bytes(&[], &LIMITS);
        assert_eq!(result.expect("an empty archive is an empty context").entries, 0);
    }

    #[test]
    fn later_entries_replace_earlier_ones_of_the_same_type() {
        let archive = plain_tar(&[
            raw(EntryType::Directory, "./", ""),
            file("f", b"one"),
            file("./f", b"two"),
            raw(EntryType::Directory, "d/", ""),
            raw(EntryType::Directory, "d", ""),
            raw(EntryType::Symlink, "l", "f"),
            raw(EntryType::Symlink, "l", "d"),
            raw(EntryType::Link, "h", "f"),
        ]);
        let (result, dest) = unpack_bytes(&archive, &LIMITS);
        assert_eq!(result.expect("unpack"), Unpacked { entries: 8, bytes: 6 });
        let out = dest.path();
        assert_eq!(fs::read_to_string(out.join("f")).expect("f"), "two");
        assert_eq!(fs::read_link(out.join("l")).expect("l"), Path::new("d"));
        assert_eq!(metadata(&out.join("h")).expect("h").ino(), metadata(&out.join("f")).expect("f").ino());
    }

    #[test]
    fn github_style_tarballs_unpack() {
        let comment = b"52 comment=0123456789012345678901234567890123456789\n";
        let mut global = tar::Header::new_ustar();
        global.set_entry_type(EntryType::XGlobalHeader);
        global.set_path("pax_global_header").expect("path");
        global.set_size(comment.len() as u64);
        global.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&global, &comment[..]).expect("pax");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(EntryType::Directory);
        header.set_size(0);
        header.set_mode(0o775);
        builder.append_data(&mut header, "repo-0123/", io::empty()).expect("dir");
        header.set_entry_type(EntryType::Regular);
        header.set_size(4);
        header.set_mode(0o664);
        builder.append_data(&mut header, "repo-0123/Dockerfile", &b"FROM"[..]).expect("file");
        let (result, dest) = unpack_bytes(&gzipped(&builder.into_inner().expect("tar")), &LIMITS);
        result.expect("unpack");
        assert_eq!(fs::read_to_string(dest.path().join("repo-0123/Dockerfile")).expect("read"), "FROM");
    }

    #[test]
    fn prune_removes_excluded_paths_and_keeps_exceptions() {
        let dir = context_dir();
        write(dir.path(), "docs/keep.md", "keep");
        write(dir.path(), "docs/drop.md", "drop");
        write(dir.path(), "docs/old/x.md", "old");
        write(dir.path(), "build/Dockerfile", "FROM scratch\n");
        write(dir.path(), "build/junk", "junk");
        symlink("/", dir.path().join("root")).expect("symlink");
        write(dir.path(), ".dockerignore", "target\ndocs\n!docs/keep.md\nbuild\nroot\n.dockerignore\n");
        let rules = Rules::parse(&fs::read_to_string(dir.path().join(".dockerignore")).expect("read"))
            .expect("rules")
            .with_git_excluded();
        let removed = prune(dir.path(), &rules, "build/Dockerfile").expect("prune");
        // .git, .git/HEAD, target, target/x, docs/drop.md, docs/old, docs/old/x.md, build/junk, root
        assert_eq!(removed, 9);
        let mut left = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(rel) = stack.pop() {
            for name in sorted_names(&dir.path().join(&rel)).expect("names") {
                let path = join(&rel, &name);
                if metadata(&dir.path().join(&path)).expect("stat").is_dir() {
                    stack.push(path.clone());
                }
                left.push(path);
            }
        }
        left.sort();
        let expected = [
            ".dockerignore",
            ".gitignore",
            "Dockerfile",
            "build",
            "build/Dockerfile",
            "docs",
            "docs/keep.md",
            "src",
            "src/a.rs",
        ];
        assert_eq!(left, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let seeds: [&[u8]; 4] = [&[0; 1024], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], &[b'1'; 600], b"\x1f"];
        for seed in seeds {
            let _ = unpack_bytes(seed, &LIMITS);
        }
    }
}

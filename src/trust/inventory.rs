//! Builds an image's package inventory from the files `layers` collected.
//!
//! Every parser here works on untrusted bytes: none panics, and a file that
//! does not parse adds a note and is skipped.

use super::Error;
use super::layers::{GoInfo, ImageFiles, ImageView, Kind};
use serde::Deserialize;

/// One installed package, named as OSV names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Package {
    /// OSV ecosystem: "Debian:12", "Ubuntu:22.04:LTS", "Alpine:v3.19",
    /// "crates.io", "npm", "PyPI", "Go", ...
    pub ecosystem: String,
    pub name: String,
    /// Source package where the package manager records one (dpkg
    /// `Source:`, apk `o:`); OSV's Debian and Alpine records are keyed by it.
    /// None means the source package has the binary package's name.
    pub source: Option<String>,
    pub version: String,
    /// Absolute path in the image of the file it was found in.
    pub path: String,
}

#[cfg(test)]
impl Package {
    /// A package as tests write one (found in the dpkg status file).
    pub(crate) fn of(ecosystem: &str, name: &str, source: Option<&str>, version: &str) -> Self {
        Package {
            ecosystem: ecosystem.into(),
            name: name.into(),
            source: source.map(Into::into),
            version: version.into(),
            path: "/var/lib/dpkg/status".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    /// os-release `ID`, e.g. "debian", "alpine", "rhel".
    pub id: String,
    /// os-release `VERSION_ID`; empty when absent (e.g. Debian testing).
    pub version_id: String,
    pub pretty_name: Option<String>,
}

impl Distro {
    /// The OSV ecosystem of this distribution's own packages, if OSV has one.
    /// Berth uses it for the rows it reads from `Inventory::rpmdb`.
    pub fn ecosystem(&self) -> Option<String> {
        let v = self.version_id.as_str();
        let major = v.split('.').next().unwrap_or("");
        Some(match self.id.as_str() {
            "debian" if !major.is_empty() => format!("Debian:{major}"),
            "ubuntu" if !v.is_empty() => {
                // OSV names LTS releases "Ubuntu:22.04:LTS".
                let lts = self.pretty_name.as_deref().is_some_and(|p| p.contains("LTS"));
                if lts { format!("Ubuntu:{v}:LTS") } else { format!("Ubuntu:{v}") }
            }
            "alpine" => {
                let mut parts = v.split('.');
                let major = parts.next().unwrap_or("");
                // "3.20_alpha20240329" → "20".
                let minor: String = parts.next().unwrap_or("").chars().take_while(char::is_ascii_digit).collect();
                if major.is_empty() || minor.is_empty() {
                    return None;
                }
                format!("Alpine:v{major}.{minor}")
            }
            "rhel" => "Red Hat".into(),
            "almalinux" => "AlmaLinux".into(),
            "rocky" => "Rocky Linux".into(),
            "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" => "openSUSE".into(),
            "sles" => "SUSE".into(),
            "wolfi" => "Wolfi".into(),
            "chainguard" => "Chainguard".into(),
            _ => return None,
        })
    }
}

#[derive(Debug, Default)]
pub struct Inventory {
    pub distro: Option<Distro>,
    /// Sorted; deduplicated on (ecosystem, name, version, path).
    pub packages: Vec<Package>,
    /// rpmdb.sqlite as found (usr/lib/sysimage/rpm preferred); berth opens it
    /// with SQLite and calls [`rpm_header`] on each `Packages.blob`.
    pub rpmdb: Option<Vec<u8>>,
    /// What the user should know: files skipped, limits hit, formats unread.
    pub notes: Vec<String>,
}

impl ImageFiles {
    /// Parses the collected files into packages. Never fails: what cannot be
    /// read is described in `notes`.
    pub fn inventory(self) -> Inventory {
        let mut view = self.into_view();
        let mut inv = Inventory { notes: std::mem::take(&mut view.notes), ..Inventory::default() };
        inv.distro = distro(&view);
        let os_eco = inv.distro.as_ref().and_then(Distro::ecosystem);
        let id = inv.distro.as_ref().map(|d| d.id.as_str()).unwrap_or("");
        let deb_eco = match (&os_eco, id) {
            (Some(e), "debian" | "ubuntu") => Some(e.clone()),
            _ => None,
        };
        let apk_eco = match (&os_eco, id) {
            (Some(e), "alpine" | "wolfi" | "chainguard") => Some(e.clone()),
            _ => None,
        };
        let mut warned_deb = false;
        let mut warned_apk = false;
        for v in &view.views {
            let Some(bytes) = view.content(&v.key) else {
                continue;
            };
            let path = format!("/{}", v.path);
            let text = String::from_utf8_lossy(bytes);
            let before = inv.packages.len();
            match v.kind {
                Kind::OsRelease | Kind::RpmLegacy => {}
                Kind::DpkgStatus | Kind::DpkgStatusD => {
                    let eco = deb_eco.clone().unwrap_or_else(|| "Debian".into());
                    if deb_eco.is_none() && !warned_deb {
                        warned_deb = true;
                        inv.notes.push(format!(
                            "dpkg packages found but the distribution ({}) has no known OSV release; listed as \"Debian\"",
                            describe(&inv.distro)
                        ));
                    }
                    // status.d files written by distroless carry no Status.
                    let need_status = v.kind == Kind::DpkgStatus;
                    parse_dpkg(&text, need_status, &eco, &path, &mut inv.packages);
                }
                Kind::ApkInstalled => {
                    let eco = apk_eco.clone().unwrap_or_else(|| "Alpine".into());
                    if apk_eco.is_none() && !warned_apk {
                        warned_apk = true;
                        inv.notes.push(format!(
                            "apk packages found but the distribution ({}) has no known OSV release; listed as \"Alpine\"",
                            describe(&inv.distro)
                        ));
                    }
                    parse_apk(&text, &eco, &path, &mut inv.packages);
                }
                Kind::RpmSqlite => {
                    // Prefer the current location when both exist.
                    if inv.rpmdb.is_none() || v.path.starts_with("usr/") {
                        inv.rpmdb = Some(bytes.to_vec());
                    }
                }
                Kind::CargoLock => {
                    if let Err(e) = parse_cargo_lock(&text, &path, &mut inv.packages) {
                        inv.notes.push(format!("{path} is not a readable Cargo.lock ({e}); skipped"));
                    }
                }
                Kind::PoetryLock => {
                    if let Err(e) = parse_poetry_lock(&text, &path, &mut inv.packages) {
                        inv.notes.push(format!("{path} is not a readable poetry.lock ({e}); skipped"));
                    }
                }
                Kind::NpmLock => {
                    if let Err(e) = parse_npm_lock(bytes, &path, &mut inv.packages) {
                        inv.notes.push(format!("{path} is not a readable package-lock.json ({e}); skipped"));
                    }
                }
                Kind::Requirements => parse_requirements(&text, &path, &mut inv.packages),
            }
            if matches!(v.kind, Kind::DpkgStatus | Kind::ApkInstalled)
                && inv.packages.len() == before
                && !bytes.is_empty()
            {
                inv.notes.push(format!("{path} lists no installed package"));
            }
        }
        for path in &view.legacy_rpmdb {
            inv.notes.push(format!(
                "/{path} is an rpm database in the BerkeleyDB/NDB format, which is not read; its packages are not listed"
            ));
        }
        for (path, info) in &view.go {
            go_packages(info, &format!("/{path}"), &mut inv.packages);
        }
        inv.packages.sort();
        inv.packages.dedup_by(|a, b| {
            a.ecosystem == b.ecosystem && a.name == b.name && a.version == b.version && a.path == b.path
        });
        inv
    }
}

fn describe(d: &Option<Distro>) -> String {
    match d {
        Some(d) => format!("{} {}", d.id, d.version_id).trim().to_string(),
        None => "no os-release".into(),
    }
}

fn distro(view: &ImageView) -> Option<Distro> {
    // etc/os-release wins over usr/lib/os-release (os-release(5)).
    let pick = |p: &str| {
        view.views.iter().find(|v| v.kind == Kind::OsRelease && v.path == p).and_then(|v| view.content(&v.key))
    };
    let bytes = pick("etc/os-release").or_else(|| pick("usr/lib/os-release"))?;
    parse_os_release(&String::from_utf8_lossy(bytes))
}

/// os-release(5): KEY=value lines, values optionally quoted.
pub(crate) fn parse_os_release(text: &str) -> Option<Distro> {
    let mut id = None;
    let mut version_id = String::new();
    let mut pretty_name = None;
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "ID" => id = Some(value),
            "VERSION_ID" => version_id = value,
            "PRETTY_NAME" => pretty_name = Some(value),
            _ => {}
        }
    }
    Some(Distro { id: id.filter(|i| !i.is_empty())?, version_id, pretty_name })
}

fn unquote(v: &str) -> String {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits deb822 / apk text into paragraphs of lines.
fn paragraphs(text: &str) -> impl Iterator<Item = Vec<&str>> {
    let mut lines = text.lines().peekable();
    std::iter::from_fn(move || {
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        lines.peek()?;
        let mut para = Vec::new();
        while let Some(l) = lines.next_if(|l| !l.trim().is_empty()) {
            para.push(l);
        }
        Some(para)
    })
}

/// dpkg status paragraphs. Only packages whose Status is "<want> ok
/// installed" count (so "hold ok installed" does too).
fn parse_dpkg(text: &str, need_status: bool, eco: &str, path: &str, out: &mut Vec<Package>) {
    for para in paragraphs(text) {
        let (mut name, mut version, mut source, mut status) = (None, None, None, None);
        for line in para {
            // Continuation lines start with whitespace.
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "Package" => name = Some(value),
                "Version" => version = Some(value),
                "Source" => source = Some(value),
                "Status" => status = Some(value),
                _ => {}
            }
        }
        let installed = match status {
            Some(s) => {
                let words: Vec<&str> = s.split_whitespace().collect();
                words.len() == 3 && words.get(1) == Some(&"ok") && words.get(2) == Some(&"installed")
            }
            None => !need_status,
        };
        let (Some(name), Some(version)) = (name, version) else {
            continue;
        };
        if !installed || name.is_empty() || version.is_empty() {
            continue;
        }
        // "Source: lvm2 (2.02.176-4.1ubuntu3)": the version is the source's.
        let source = source
            .and_then(|s| s.split_whitespace().next())
            .filter(|s| !s.is_empty() && *s != name)
            .map(str::to_string);
        out.push(Package {
            ecosystem: eco.into(),
            name: name.into(),
            source,
            version: version.into(),
            path: path.into(),
        });
    }
}

/// apk's installed database: paragraphs of "X:value" lines.
fn parse_apk(text: &str, eco: &str, path: &str, out: &mut Vec<Package>) {
    for para in paragraphs(text) {
        let (mut name, mut version, mut origin) = (None, None, None);
        for line in para {
            if let Some(v) = line.strip_prefix("P:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("V:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("o:") {
                origin = Some(v.trim());
            }
        }
        let (Some(name), Some(version)) = (name, version) else {
            continue;
        };
        if name.is_empty() || version.is_empty() {
            continue;
        }
        out.push(Package {
            ecosystem: eco.into(),
            name: name.into(),
            source: origin.filter(|o| !o.is_empty() && *o != name).map(str::to_string),
            version: version.into(),
            path: path.into(),
        });
    }
}

#[derive(Deserialize)]
struct CargoLock {
    #[serde(default)]
    package: Vec<CargoPackage>,
}

#[derive(Deserialize)]
struct CargoPackage {
    name: String,
    version: String,
    source: Option<String>,
}

/// Only crates from a registry are crates.io packages; path (workspace) and
/// git crates have no OSV records under their name.
fn parse_cargo_lock(text: &str, path: &str, out: &mut Vec<Package>) -> Result<(), toml::de::Error> {
    let lock: CargoLock = toml::from_str(text)?;
    for p in lock.package {
        let registry = p.source.as_deref().is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"));
        if registry {
            out.push(pkg("crates.io", p.name, p.version, path));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: String,
    version: String,
    source: Option<PoetrySource>,
}

#[derive(Deserialize)]
struct PoetrySource {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Git, directory, file and url sources are not PyPI releases; "legacy"
/// (a mirror or private index) is kept.
fn parse_poetry_lock(text: &str, path: &str, out: &mut Vec<Package>) -> Result<(), toml::de::Error> {
    let lock: PoetryLock = toml::from_str(text)?;
    for p in lock.package {
        let kind = p.source.and_then(|s| s.kind);
        if matches!(kind.as_deref(), None | Some("legacy")) {
            out.push(pkg("PyPI", p.name, p.version, path));
        }
    }
    Ok(())
}

fn pkg(eco: &str, name: String, version: String, path: &str) -> Package {
    Package { ecosystem: eco.into(), name, source: None, version, path: path.into() }
}

/// A version npm resolved from the registry; "npm:<name>@<version>" is an
/// alias (lockfile v1), anything else with ':' or '/' is a git, file or url
/// dependency.
fn npm_version(name: &str, version: &str) -> Option<(String, String)> {
    if let Some(alias) = version.strip_prefix("npm:") {
        // "@scope/name@1.2.3": the version follows the last '@'.
        let at = alias.rfind('@').filter(|&i| i > 0)?;
        let (real, ver) = (alias.get(..at)?, alias.get(at + 1..)?);
        return (!ver.is_empty()).then(|| (real.to_string(), ver.to_string()));
    }
    if version.is_empty() || version.contains(':') || version.contains('/') {
        return None;
    }
    Some((name.to_string(), version.to_string()))
}

/// package-lock.json v1 (nested "dependencies"), v2 and v3 ("packages"
/// keyed by node_modules path; v2 carries both and "packages" is used).
fn parse_npm_lock(bytes: &[u8], path: &str, out: &mut Vec<Package>) -> Result<(), serde_json::Error> {
    use serde_json::Value;
    // serde_json bounds nesting at 128 levels, so hostile depth is an error.
    let doc: Value = serde_json::from_slice(bytes)?;
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        for (key, entry) in packages {
            // "" is the root project; keys without node_modules/ are
            // workspace folders; links point at them.
            let Some(idx) = key.rfind("node_modules/") else {
                continue;
            };
            if entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let dir_name = key.get(idx + "node_modules/".len()..).unwrap_or("");
            let name = entry.get("name").and_then(Value::as_str).unwrap_or(dir_name);
            let version = entry.get("version").and_then(Value::as_str).unwrap_or("");
            if let Some((n, v)) = npm_version(name, version) {
                out.push(pkg("npm", n, v, path));
            }
        }
        return Ok(());
    }
    // v1: walk nested "dependencies" without recursion.
    let mut stack: Vec<&Value> = vec![&doc];
    while let Some(node) = stack.pop() {
        let Some(deps) = node.get("dependencies").and_then(Value::as_object) else {
            continue;
        };
        for (name, entry) in deps {
            let version = entry.get("version").and_then(Value::as_str).unwrap_or("");
            if let Some((n, v)) = npm_version(name, version) {
                out.push(pkg("npm", n, v, path));
            }
            stack.push(entry);
        }
    }
    Ok(())
}

/// requirements.txt: only exact `name==version` pins are packages. Extras,
/// environment markers, hashes and comments are ignored.
fn parse_requirements(text: &str, path: &str, out: &mut Vec<Package>) {
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.starts_with('#') || line.starts_with('-') {
            continue;
        }
        let line = line.split(';').next().unwrap_or("");
        let Some((name, rest)) = line.split_once("==") else {
            continue;
        };
        // "===" is arbitrary equality, not a version OSV can compare.
        if rest.starts_with('=') {
            continue;
        }
        let name = name.split('[').next().unwrap_or("").trim();
        let version =
            rest.trim_start().split(|c: char| c.is_whitespace() || c == '\\' || c == ',').next().unwrap_or("").trim();
        let valid_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name || version.is_empty() || version.contains('*') {
            continue;
        }
        out.push(pkg("PyPI", name.into(), version.into(), path));
    }
}

/// Go modules of one binary, versions without the "v" (as OSV's Go records
/// write them), and the toolchain as "stdlib".
fn go_packages(info: &GoInfo, path: &str, out: &mut Vec<Package>) {
    let bare = |v: &str| v.strip_prefix('v').unwrap_or(v).to_string();
    // "go1.22.3 X:boringcrypto" → "1.22.3"; "devel ..." toolchains are skipped.
    if let Some(v) =
        info.go_version.split_whitespace().next().and_then(|v| v.strip_prefix("go")).filter(|v| !v.is_empty())
    {
        out.push(pkg("Go", "stdlib".into(), v.into(), path));
    }
    if let Some((name, version)) = &info.main
        && version.starts_with('v')
    {
        out.push(pkg("Go", name.clone(), bare(version), path));
    }
    for (name, version) in &info.deps {
        out.push(pkg("Go", name.clone(), bare(version), path));
    }
}

/// The fields of one rpm header that OSV needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
    /// e.g. "openssl-3.0.7-27.el9.src.rpm".
    pub source_rpm: Option<String>,
}

impl RpmHeader {
    /// "[epoch:]version-release", the form OSV's rpm ecosystems compare.
    pub fn osv_version(&self) -> String {
        match self.epoch {
            Some(e) if e > 0 => format!("{e}:{}-{}", self.version, self.release),
            _ => format!("{}-{}", self.version, self.release),
        }
    }

    /// Source package name from SOURCERPM ("name-version-release.src.rpm").
    pub fn source_name(&self) -> Option<String> {
        let s = self.source_rpm.as_deref()?;
        let s = s.strip_suffix(".src.rpm").or_else(|| s.strip_suffix(".nosrc.rpm"))?;
        let (rest, _release) = s.rsplit_once('-')?;
        let (name, _version) = rest.rsplit_once('-')?;
        (!name.is_empty()).then(|| name.to_string())
    }

    pub fn to_package(&self, ecosystem: &str, path: &str) -> Package {
        Package {
            ecosystem: ecosystem.into(),
            name: self.name.clone(),
            source: self.source_name().filter(|s| *s != self.name),
            version: self.osv_version(),
            path: path.into(),
        }
    }
}

const RPMTAG_NAME: u32 = 1000;
const RPMTAG_VERSION: u32 = 1001;
const RPMTAG_RELEASE: u32 = 1002;
const RPMTAG_EPOCH: u32 = 1003;
const RPMTAG_ARCH: u32 = 1022;
const RPMTAG_SOURCERPM: u32 = 1044;
const RPM_INT32: u32 = 4;
const RPM_STRING: u32 = 6;
const RPM_I18NSTRING: u32 = 9;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([*s.first()?, *s.get(1)?, *s.get(2)?, *s.get(3)?]))
}

/// Parses one rpm header blob as stored in rpmdb.sqlite's `Packages.blob`:
/// index count and data size (big-endian u32), then that many 16-byte index
/// entries (tag, type, offset, count), then the data store. Every offset is
/// bounds-checked. `gpg-pubkey` pseudo-packages parse like any other; the
/// caller skips them.
pub fn rpm_header(blob: &[u8]) -> Result<RpmHeader, Error> {
    let il = be32(blob, 0).ok_or(Error::RpmHeader("shorter than its 8-byte preamble"))? as usize;
    let dl = be32(blob, 4).ok_or(Error::RpmHeader("shorter than its 8-byte preamble"))? as usize;
    // rpm itself refuses more than 0xffff entries and 256 MiB of data.
    if il == 0 || il > 0xffff || dl > 256 << 20 {
        return Err(Error::RpmHeader("index count or data size out of range"));
    }
    let data_start = 8 + il * 16;
    let data =
        blob.get(data_start..data_start + dl).ok_or(Error::RpmHeader("shorter than its index and data sizes"))?;
    let mut h = RpmHeader {
        name: String::new(),
        epoch: None,
        version: String::new(),
        release: String::new(),
        arch: None,
        source_rpm: None,
    };
    let string_at = |offset: usize| -> Option<String> {
        let tail = data.get(offset..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(tail.get(..end)?).into_owned())
    };
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(kind), Some(offset), Some(count)) =
            (be32(blob, at), be32(blob, at + 4), be32(blob, at + 8), be32(blob, at + 12))
        else {
            return Err(Error::RpmHeader("index entry out of bounds"));
        };
        let offset = offset as usize;
        let is_string = kind == RPM_STRING || kind == RPM_I18NSTRING;
        let text = || {
            if is_string {
                string_at(offset).ok_or(Error::RpmHeader("string tag out of bounds"))
            } else {
                Err(Error::RpmHeader("string tag has a non-string type"))
            }
        };
        match tag {
            RPMTAG_NAME => h.name = text()?,
            RPMTAG_VERSION => h.version = text()?,
            RPMTAG_RELEASE => h.release = text()?,
            RPMTAG_ARCH => h.arch = Some(text()?),
            RPMTAG_SOURCERPM => h.source_rpm = Some(text()?),
            RPMTAG_EPOCH => {
                if kind != RPM_INT32 || count < 1 {
                    return Err(Error::RpmHeader("epoch is not an int32"));
                }
                h.epoch = Some(be32(data, offset).ok_or(Error::RpmHeader("epoch out of bounds"))?);
            }
            _ => {}
        }
    }
    if h.name.is_empty() || h.version.is_empty() {
        return Err(Error::RpmHeader("no name or version"));
    }
    Ok(h)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::trust::layers::tests::{E, gzip, limits, tar_of, zstd};

    fn inventory_of(layers: &[Vec<u8>]) -> Inventory {
        let mut f = ImageFiles::new(limits());
        for l in layers {
            f.add_layer(&l[..], "application/vnd.oci.image.layer.v1.tar+gzip").expect("layer");
        }
        f.inventory()
    }

    fn names(inv: &Inventory, eco: &str) -> Vec<String> {
        inv.packages.iter().filter(|p| p.ecosystem == eco).map(|p| format!("{}@{}", p.name, p.version)).collect()
    }

    const DEBIAN_OS: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n";

    /// Paragraph shapes from real bookworm status files; the dmeventd
    /// paragraph is osv-scanner's fixture (google/osv-scanner,
    /// pkg/lockfile/fixtures/dpkg/source_ver_override_status, Apache-2.0),
    /// fields in its shuffled order.
    const STATUS_V1: &str = "Package: base-files\nEssential: yes\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 341\nMaintainer: Santiago Vila <sanvila@debian.org>\nArchitecture: amd64\nVersion: 12.4+deb12u5\nDescription: Debian base system miscellaneous files\n This package contains the basic filesystem hierarchy.\n\nPackage: libc6\nStatus: install ok installed\nSource: glibc\nVersion: 2.36-9+deb12u4\nDescription: GNU C Library: Shared libraries\n\nPackage: old-removed\nStatus: deinstall ok config-files\nVersion: 1.0-1\n\nDepends: libc6 (>= 2.14)\nArchitecture: amd64\n volume management, while keeping knowledge of the underlying device layout\nVersion: 2:1.02.145-4.1ubuntu3\nSource: lvm2 (2.02.176-4.1ubuntu3)\nDescription: Linux Kernel Device Mapper event daemon\nStatus: install ok installed\nPackage: dmeventd\n\nPackage: tzdata\nStatus: install ok installed\nVersion: 2024a-0+deb12u1\n";

    /// dpkg across layers: the status file is replaced, a status.d package
    /// is removed by a whiteout, the others by an opaque directory.
    #[test]
    fn dpkg_across_layers() {
        let status_v2 = STATUS_V1.replace("2.36-9+deb12u4", "2.36-9+deb12u7");
        let l1 = tar_of(&[
            E::File("etc/os-release", DEBIAN_OS),
            E::File("var/lib/dpkg/status", STATUS_V1.as_bytes()),
            E::File(
                "var/lib/dpkg/status.d/openssl",
                b"Package: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n",
            ),
            E::File("var/lib/dpkg/status.d/openssl.md5sums", b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/openssl\n"),
            E::File("var/lib/dpkg/status.d/zlib1g", b"Package: zlib1g\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n"),
            E::File("var/lib/dpkg/status.d/netbase", b"Package: netbase\nVersion: 6.4\n"),
        ]);
        let l2 = tar_of(&[
            E::File("var/lib/dpkg/status", status_v2.as_bytes()),
            E::File("var/lib/dpkg/status.d/.wh.openssl", b""),
        ]);
        let l3 = tar_of(&[
            E::File("var/lib/dpkg/status.d/.wh..wh..opq", b""),
            E::File("var/lib/dpkg/status.d/libssl3", b"Package: libssl3\nSource: openssl\nVersion: 3.0.13-1~deb12u1\n\nPackage: ca-certificates\nVersion: 20230311\n"),
        ]);
        let inv = inventory_of(&[gzip(&l1), zstd(&l2), l3]);
        let d = inv.distro.as_ref().expect("distro");
        assert_eq!((d.id.as_str(), d.version_id.as_str()), ("debian", "12"));
        assert_eq!(
            names(&inv, "Debian:12"),
            [
                "base-files@12.4+deb12u5",
                "ca-certificates@20230311",
                "dmeventd@2:1.02.145-4.1ubuntu3",
                "libc6@2.36-9+deb12u7",
                "libssl3@3.0.13-1~deb12u1",
                "tzdata@2024a-0+deb12u1",
            ]
        );
        let src = |n: &str| inv.packages.iter().find(|p| p.name == n).and_then(|p| p.source.clone());
        assert_eq!(src("libc6").as_deref(), Some("glibc"));
        assert_eq!(src("dmeventd").as_deref(), Some("lvm2"));
        assert_eq!(src("libssl3").as_deref(), Some("openssl"));
        assert_eq!(src("tzdata"), None);
        let libssl = inv.packages.iter().find(|p| p.name == "libssl3").expect("libssl3");
        assert_eq!(libssl.path, "/var/lib/dpkg/status.d/libssl3");
    }

    /// apk database (osv-scanner fixture apk/with-os-release/shuffled_installed,
    /// Apache-2.0, plus a musl paragraph) with os-release reached through the
    /// usual symlink.
    #[test]
    fn apk_with_os_release_symlink() {
        let installed = "C:Q1h3tu0vMyR1wpyxQvBKF1tXGcVno=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nS:407278\nI:663552\nT:the musl c library (libc) implementation\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Natanael Copa <ncopa@alpinelinux.org>\nt:1705319624\nc:e4a7e2d4b0b3b2bd5c0b4a4e0e8c5a5c5bb6f2b0\n\nF:lib/apk/exec\nF:var/lib\nF:sbin\nL:GPL-2.0-only\nD:musl>=1.2 ca-certificates-bundle so:libc.musl-x86_64.so.1\nm:Natanael Copa <ncopa@alpinelinux.org>\nZ:Q1/4bmOPe/H1YhHRzlrj27oufThMw=\nI:307200\nS:120973\nc:0188f510baadbae393472103427b9c1875117136\nF:etc\nt:1666552494\nA:x86_64\nV:2.12.10-r1\nF:lib/apk\nT:Alpine Package Keeper - package manager for alpine\nR:apk\nP:apk-tools\nF:etc/apk/keys\np:so:libapk.so.3.12.0=3.12.0 cmd:apk=2.12.10-r1\no:apk-tools\nU:https://gitlab.alpinelinux.org/alpine/apk-tools\n\nP:libcrypto3\nV:3.1.4-r5\no:openssl\n";
        let layer = tar_of(&[
            E::Symlink("etc/os-release", "../usr/lib/os-release"),
            E::File(
                "usr/lib/os-release",
                b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n",
            ),
            E::File("lib/apk/db/installed", installed.as_bytes()),
        ]);
        let inv = inventory_of(&[gzip(&layer)]);
        assert_eq!(inv.distro.as_ref().map(|d| d.version_id.as_str()), Some("3.19.1"));
        assert_eq!(
            names(&inv, "Alpine:v3.19"),
            ["apk-tools@2.12.10-r1", "libcrypto3@3.1.4-r5", "musl@1.2.4_git20230717-r4"]
        );
        let crypto = inv.packages.iter().find(|p| p.name == "libcrypto3").expect("libcrypto3");
        assert_eq!(crypto.source.as_deref(), Some("openssl"));
        assert!(inv.notes.is_empty(), "{:?}", inv.notes);
    }

    #[test]
    fn ecosystems() {
        let d = |id: &str, v: &str, pretty: Option<&str>| {
            Distro { id: id.into(), version_id: v.into(), pretty_name: pretty.map(Into::into) }.ecosystem()
        };
        assert_eq!(d("debian", "11", None).as_deref(), Some("Debian:11"));
        assert_eq!(d("debian", "", None), None);
        assert_eq!(d("ubuntu", "22.04", Some("Ubuntu 22.04.4 LTS")).as_deref(), Some("Ubuntu:22.04:LTS"));
        assert_eq!(d("ubuntu", "23.10", Some("Ubuntu 23.10")).as_deref(), Some("Ubuntu:23.10"));
        assert_eq!(d("alpine", "3.20_alpha20240329", None).as_deref(), Some("Alpine:v3.20"));
        assert_eq!(d("alpine", "3", None), None);
        assert_eq!(d("rhel", "9.3", None).as_deref(), Some("Red Hat"));
        assert_eq!(d("rocky", "9.3", None).as_deref(), Some("Rocky Linux"));
        assert_eq!(d("almalinux", "9.3", None).as_deref(), Some("AlmaLinux"));
        assert_eq!(d("opensuse-leap", "15.5", None).as_deref(), Some("openSUSE"));
        let os = parse_os_release(
            "# comment\nID='ubuntu'\nVERSION_ID=\"22.04\"\nPRETTY_NAME=\"Ubuntu \\\"22.04\\\" LTS\"\nbroken line\n",
        )
        .expect("parse");
        assert_eq!(os.pretty_name.as_deref(), Some("Ubuntu \"22.04\" LTS"));
    }

    /// The head of this scratch crate's own Cargo.lock (generated by cargo
    /// 1.95), plus a workspace member and a git dependency.
    const CARGO_LOCK: &str = r#"# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 4

[[package]]
name = "adler2"
version = "2.0.1"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "320119579fcad9c21884f5c4861d16174d0e06250625266f50fe6898340abefa"

[[package]]
name = "crc32fast"
version = "1.5.5"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "2b929dd2a135771f40afabd1073f85eed59c800b7c61901e5c254270497dad64"
dependencies = [
 "cfg-if",
]

[[package]]
name = "inventory"
version = "0.1.0"
dependencies = [
 "flate2",
]

[[package]]
name = "mylib"
version = "0.3.0"
source = "git+https://github.com/example/mylib#3b5c2a1f"
"#;

    /// package-lock v1 and v2 are osv-scanner's npm/alias fixtures
    /// (Apache-2.0); v3 is the v2 one in npm 9's layout with a workspace.
    const NPM_V1: &str = r#"{"requires":true,"lockfileVersion":1,"dependencies":{"babel-code-frame":{"version":"npm:@babel/code-frame@7.0.0","resolved":"https://registry.npmjs.org/@babel/code-frame/-/code-frame-7.0.0.tgz","requires":{"@babel/highlight":"^7.0.0"}},"string-width":{"version":"5.1.2","resolved":"https://registry.npmjs.org/string-width/-/string-width-5.1.2.tgz","dependencies":{"strip-ansi":{"version":"7.0.1"}}},"local":{"version":"file:../local"}}}"#;
    const NPM_V2: &str = r#"{"name":"my-library","lockfileVersion":2,"requires":true,"packages":{"":{"dependencies":{"babel-code-frame":"^7.0.0","string-width":"^5.1.2","string-width-cjs":"npm:string-width@^4.2.0"}},"node_modules/babel-code-frame":{"name":"@babel/code-frame","version":"7.0.0","resolved":"https://registry.npmjs.org/@babel/code-frame/-/code-frame-7.0.0.tgz"},"node_modules/string-width":{"version":"5.1.2"},"node_modules/string-width-cjs":{"name":"string-width","version":"4.2.0"}},"dependencies":{"ignored-when-packages-exist":{"version":"1.0.0"}}}"#;
    const NPM_V3: &str = r#"{"name":"my-app","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"my-app","version":"1.0.0","workspaces":["packages/ui"]},"packages/ui":{"name":"@my/ui","version":"0.0.1"},"node_modules/@my/ui":{"resolved":"packages/ui","link":true},"node_modules/express":{"version":"4.18.2","resolved":"https://registry.npmjs.org/express/-/express-4.18.2.tgz"},"node_modules/express/node_modules/debug":{"version":"2.6.9"},"node_modules/gitdep":{"version":"git+ssh://git@github.com/x/y.git#abc"}}}"#;

    /// osv-scanner's pip fixtures with-hash.txt and environment-markers.txt
    /// (Apache-2.0), plus ranges that are not pins.
    const REQUIREMENTS: &str = "boto3==1.26.121 --hash=sha256:f87d694c351eba1dfd19b5bef5892a1047e7adb09c57c2c00049de209a8ab55d\nfoo == 1.0.0\n\n# from https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode\n\nFooProject == 1.2 \\\n  --hash=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 \\\n  --hash=sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7\naa; python_version=='2.7'\nname6[quux,strange];python_version<'2.7' and platform_version=='2'\nSomeProject==5.4; python_version < '2.7'\nrequests[socks]==2.31.0\nDjango>=4.2\nflask~=3.0\nanyio==4.*\n-r other.txt\n-e git+https://github.com/x/y.git#egg=y\n";

    /// Part of osv-scanner's poetry/multiple-packages.v2.lock (Apache-2.0)
    /// plus a git source.
    const POETRY: &str = r#"# This file is automatically @generated by Poetry 2.0.0 and should not be changed by hand.

[[package]]
name = "async-timeout"
version = "5.0.1"
description = "Timeout context manager for asyncio programs"
optional = true
python-versions = ">=3.8"
groups = ["main"]
markers = "extra == \"caching\" and python_full_version < \"3.11.3\""
files = [
    {file = "async_timeout-5.0.1-py3-none-any.whl", hash = "sha256:39e3809566ff85354557ec2398b55e096c8364bacac9405a7a1fa429e77fe76c"},
]

[[package]]
name = "python-dateutil"
version = "2.9.0.post0"
description = "Extensions to the standard Python datetime module"
optional = false
python-versions = "!=3.0.*,!=3.1.*,!=3.2.*,>=2.7"
groups = ["dev"]
files = []

[package.dependencies]
six = ">=1.5"

[[package]]
name = "mytool"
version = "0.1.0"
description = ""
optional = false
python-versions = "*"
files = []

[package.source]
type = "git"
url = "https://github.com/example/mytool.git"
reference = "HEAD"
resolved_reference = "3b5c2a1f"

[metadata]
lock-version = "2.1"
python-versions = ">=3.9"
content-hash = "c62dd3f7cbbc0c98b7419c34c16af501899b577d018f76f51a99783d28eb7703"
"#;

    #[test]
    fn lock_files_anywhere_in_the_image() {
        let layer = tar_of(&[
            E::File("app/Cargo.lock", CARGO_LOCK.as_bytes()),
            E::File("srv/v1/package-lock.json", NPM_V1.as_bytes()),
            E::File("srv/v2/package-lock.json", NPM_V2.as_bytes()),
            E::File("srv/v3/package-lock.json", NPM_V3.as_bytes()),
            E::File("py/requirements.txt", REQUIREMENTS.as_bytes()),
            E::File("py/poetry.lock", POETRY.as_bytes()),
            E::File("bad/Cargo.lock", b"[[package]\nname ="),
            E::File("bad/package-lock.json", "[".repeat(500).as_bytes()),
        ]);
        let inv = inventory_of(&[gzip(&layer)]);
        assert_eq!(inv.distro, None);
        assert_eq!(names(&inv, "crates.io"), ["adler2@2.0.1", "crc32fast@1.5.5"]);
        let npm = |path: &str| -> Vec<String> {
            inv.packages
                .iter()
                .filter(|p| p.ecosystem == "npm" && p.path == path)
                .map(|p| format!("{}@{}", p.name, p.version))
                .collect()
        };
        assert_eq!(
            npm("/srv/v1/package-lock.json"),
            ["@babel/code-frame@7.0.0", "string-width@5.1.2", "strip-ansi@7.0.1"]
        );
        assert_eq!(
            npm("/srv/v2/package-lock.json"),
            ["@babel/code-frame@7.0.0", "string-width@4.2.0", "string-width@5.1.2"]
        );
        assert_eq!(npm("/srv/v3/package-lock.json"), ["debug@2.6.9", "express@4.18.2"]);
        let pypi: Vec<String> = inv
            .packages
            .iter()
            .filter(|p| p.ecosystem == "PyPI")
            .map(|p| format!("{}@{} {}", p.name, p.version, p.path))
            .collect();
        assert_eq!(
            pypi,
            [
                "FooProject@1.2 /py/requirements.txt",
                "SomeProject@5.4 /py/requirements.txt",
                "async-timeout@5.0.1 /py/poetry.lock",
                "boto3@1.26.121 /py/requirements.txt",
                "foo@1.0.0 /py/requirements.txt",
                "python-dateutil@2.9.0.post0 /py/poetry.lock",
                "requests@2.31.0 /py/requirements.txt",
            ]
        );
        assert!(inv.notes.iter().any(|n| n.starts_with("/bad/Cargo.lock is not a readable Cargo.lock")));
        assert!(inv.notes.iter().any(|n| n.starts_with("/bad/package-lock.json is not a readable")));
    }

    #[test]
    fn go_binaries_become_packages() {
        let mut exe = vec![0u8; 4096];
        exe.extend_from_slice(&crate::trust::layers::tests::go_blob());
        let layer = tar_of(&[E::Exec("usr/local/bin/app", &exe)]);
        let inv = inventory_of(&[layer]);
        assert_eq!(
            names(&inv, "Go"),
            ["example.com/app@1.4.0", "github.com/new/x@1.1.0", "golang.org/x/text@0.14.0", "stdlib@1.22.3",]
        );
        assert!(inv.packages.iter().all(|p| p.path == "/usr/local/bin/app"));
    }

    #[test]
    fn rpmdb_is_kept_and_legacy_noted() {
        let layer = tar_of(&[
            E::File("etc/os-release", b"ID=\"rocky\"\nVERSION_ID=\"9.3\"\n"),
            E::File("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0old"),
            E::File("usr/lib/sysimage/rpm/rpmdb.sqlite", b"SQLite format 3\0new"),
            E::File("var/lib/rpm/Packages", &[0u8; 100]),
        ]);
        let inv = inventory_of(&[layer]);
        assert_eq!(inv.rpmdb.as_deref(), Some(&b"SQLite format 3\0new"[..]));
        assert_eq!(inv.distro.and_then(|d| d.ecosystem()).as_deref(), Some("Rocky Linux"));
        assert!(inv.notes.iter().any(|n| n.contains("BerkeleyDB")));
    }

    #[test]
    fn packages_are_sorted_and_deduplicated() {
        let status = "Package: b\nStatus: install ok installed\nVersion: 1\n\nPackage: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\nVersion: 1\n";
        let layer = tar_of(&[E::File("etc/os-release", DEBIAN_OS), E::File("var/lib/dpkg/status", status.as_bytes())]);
        let inv = inventory_of(&[layer]);
        assert_eq!(names(&inv, "Debian:12"), ["a@1", "b@1"]);
    }

    /// Builds a header blob: (tag, type, data) entries.
    /// An rpm header blob of `entries` (tag, type, bytes), as rpmdb.sqlite stores one.
    pub(crate) fn rpm_blob(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, bytes) in entries {
            if *kind == RPM_INT32 {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
            }
            for v in [*tag, *kind, data.len() as u32, 1] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend_from_slice(&index);
        blob.extend_from_slice(&data);
        blob
    }

    #[test]
    fn rpm_headers() {
        let s = |v: &str| format!("{v}\0").into_bytes();
        let blob = rpm_blob(&[
            (RPMTAG_NAME, RPM_STRING, s("openssl-libs")),
            (RPMTAG_VERSION, RPM_STRING, s("3.0.7")),
            (RPMTAG_RELEASE, RPM_STRING, s("27.el9")),
            (RPMTAG_EPOCH, RPM_INT32, 1u32.to_be_bytes().to_vec()),
            (RPMTAG_ARCH, RPM_STRING, s("x86_64")),
            (RPMTAG_SOURCERPM, RPM_STRING, s("openssl-3.0.7-27.el9.src.rpm")),
            (1004, RPM_I18NSTRING, s("Summary")),
        ]);
        let h = rpm_header(&blob).expect("header");
        assert_eq!(h.osv_version(), "1:3.0.7-27.el9");
        assert_eq!(h.arch.as_deref(), Some("x86_64"));
        let p = h.to_package("Rocky Linux", "/var/lib/rpm/rpmdb.sqlite");
        assert_eq!((p.name.as_str(), p.source.as_deref()), ("openssl-libs", Some("openssl")));
        let no_epoch = rpm_blob(&[
            (RPMTAG_NAME, RPM_STRING, s("bash")),
            (RPMTAG_VERSION, RPM_STRING, s("5.1.8")),
            (RPMTAG_RELEASE, RPM_STRING, s("6.el9")),
        ]);
        assert_eq!(rpm_header(&no_epoch).expect("header").osv_version(), "5.1.8-6.el9");
        // Every truncation and a few corruptions fail cleanly.
        for cut in 0..blob.len() {
            assert!(rpm_header(&blob[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = blob.clone();
        bad[16..20].copy_from_slice(&u32::MAX.to_be_bytes()); // NAME offset
        assert!(rpm_header(&bad).is_err());
        let mut bad = blob.clone();
        bad[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(rpm_header(&bad).is_err());
        let mut unterminated = rpm_blob(&[(RPMTAG_NAME, RPM_STRING, b"abc".to_vec())]);
        unterminated.truncate(unterminated.len());
        assert!(rpm_header(&unterminated).is_err());
    }

    /// Parsers on garbage: notes or nothing, never a panic.
    #[test]
    fn parsers_survive_garbage() {
        let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let text = String::from_utf8_lossy(&junk);
        let mut out = Vec::new();
        parse_dpkg(&text, true, "Debian:12", "/x", &mut out);
        parse_apk(&text, "Alpine:v3.19", "/x", &mut out);
        parse_requirements(&text, "/x", &mut out);
        assert!(parse_cargo_lock(&text, "/x", &mut out).is_err());
        assert!(parse_npm_lock(&junk, "/x", &mut out).is_err());
        let _ = parse_os_release(&text);
        assert_eq!(npm_version("x", "npm:@"), None);
        assert_eq!(npm_version("x", "npm:@scope/y@"), None);
    }
}

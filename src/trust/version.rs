//! Per-ecosystem ordering of package versions, for matching OSV records
//! against the packages installed in container images.
//!
//! Every comparator works on bytes of untrusted input: no integer parsing of
//! digit runs (they are compared by value via `cmp_digits`), no recursion,
//! no panicking indexing.

use std::cmp::Ordering;

/// Ordering of `a` and `b` under the rules of OSV ecosystem `ecosystem` (None: an ecosystem
/// whose rules are not known, or a version those rules cannot parse).
pub fn compare(ecosystem: &str, a: &str, b: &str) -> Option<Ordering> {
    // "Debian:12", "Alpine:v3.19", "Ubuntu:22.04:LTS": the release suffix does
    // not change the version scheme.
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    match base {
        "Debian" | "Ubuntu" => Some(dpkg(a, b)),
        "Alpine" | "Wolfi" | "Chainguard" => apk(a, b),
        "Red Hat" | "AlmaLinux" | "Rocky Linux" | "openSUSE" | "SUSE" | "Mageia" => Some(rpm(a, b)),
        "crates.io" | "npm" | "Hex" => semver(a, b),
        // Go module versions are SemVer with a "v"; the toolchain ("stdlib")
        // is published as "1.21" / "1.21.3", so pad missing components.
        "Go" => semver_lenient(a, b),
        "PyPI" => pep440(a, b),
        // Packagist follows Composer's own rules (dev < alpha < beta < RC < patch,
        // four-part versions), which SemVer would misorder: unknown, not guessed.
        _ => None,
    }
}

/// Compares two runs of ASCII digits by numeric value without converting them
/// to an integer (runs may be arbitrarily long).
fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_zeros(a);
    let b = strip_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    s.get(n..).unwrap_or_default()
}

/// Splits `s` after its leading run of bytes satisfying `f`.
fn take_while(s: &[u8], f: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|&&c| f(c)).count();
    s.split_at(n.min(s.len()))
}

// ---------------------------------------------------------------------------
// dpkg

/// Debian version ordering, as `dpkg --compare-versions`: `[epoch:]upstream[-revision]`.
///
/// Total on any input: a string dpkg would reject (bad epoch, odd characters)
/// is still ordered by the same character rules rather than refused, since
/// installed-package databases are what we read and dpkg accepted them.
pub fn dpkg(a: &str, b: &str) -> Ordering {
    let (ae, av, ar) = dpkg_split(a);
    let (be, bv, br) = dpkg_split(b);
    cmp_digits(ae, be).then_with(|| dpkg_verrevcmp(av, bv)).then_with(|| dpkg_verrevcmp(ar, br))
}

/// Returns (epoch, upstream, revision); epoch is digits (empty means 0).
fn dpkg_split(s: &str) -> (&[u8], &[u8], &[u8]) {
    // dpkg ignores surrounding whitespace.
    let s = s.trim_matches(|c: char| c.is_ascii_whitespace()).as_bytes();
    // The epoch ends at the first colon; later colons belong to the upstream part.
    let (epoch, rest) = match s.iter().position(|&c| c == b':') {
        Some(i) => {
            let (e, r) = s.split_at(i);
            if !e.is_empty() && e.iter().all(u8::is_ascii_digit) {
                (e, r.get(1..).unwrap_or_default())
            } else {
                (&b""[..], s)
            }
        }
        None => (&b""[..], s),
    };
    // The revision starts after the last hyphen; upstream may contain hyphens.
    match rest.iter().rposition(|&c| c == b'-') {
        Some(i) => {
            let (v, r) = rest.split_at(i);
            (epoch, v, r.get(1..).unwrap_or_default())
        }
        None => (epoch, rest, &b""[..]),
    }
}

/// Sort weight of a non-digit position: end and digits 0, `~` below everything,
/// letters by ASCII, every other byte after all letters.
fn dpkg_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn dpkg_verrevcmp(mut a: &[u8], mut b: &[u8]) -> Ordering {
    let non_digit = |s: &[u8]| s.first().is_some_and(|c| !c.is_ascii_digit());
    while !a.is_empty() || !b.is_empty() {
        // Non-digit prefixes, position by position ("end" weighs like a digit).
        while non_digit(a) || non_digit(b) {
            let (ac, bc) = (dpkg_order(a.first().copied()), dpkg_order(b.first().copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            // Equal weights here mean both sides hold a non-digit byte.
            a = a.get(1..).unwrap_or_default();
            b = b.get(1..).unwrap_or_default();
        }
        let (ad, ar) = take_while(a, |c| c.is_ascii_digit());
        let (bd, br) = take_while(b, |c| c.is_ascii_digit());
        let o = cmp_digits(ad, bd);
        if o != Ordering::Equal {
            return o;
        }
        a = ar;
        b = br;
    }
    Ordering::Equal
}

// ---------------------------------------------------------------------------
// apk

/// Token kinds in apk-tools order; the order matters when one version ends
/// or changes kind before the other (see `apk`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum ApkKind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix names by rank; ranks below `APK_SUFFIX_NONE` are pre-releases.
const APK_SUFFIXES: [&[u8]; 9] = [b"alpha", b"beta", b"pre", b"rc", b"cvs", b"svn", b"git", b"hg", b"p"];
const APK_SUFFIX_NONE: usize = 4;

struct ApkLexer<'a> {
    rest: &'a [u8],
    kind: ApkKind,
    value: &'a [u8],
    /// Rank of the suffix (`_alpha` = 0 … `_p`); ranks from `APK_SUFFIX_NONE` up are post-release.
    suffix: usize,
}

impl<'a> ApkLexer<'a> {
    fn new(s: &'a str) -> Self {
        let mut lx = ApkLexer { rest: s.as_bytes(), kind: ApkKind::InitialDigit, value: b"", suffix: 0 };
        lx.digits();
        lx
    }

    fn digits(&mut self) {
        let (d, rest) = take_while(self.rest, |c| c.is_ascii_digit());
        self.value = d;
        self.rest = rest;
        if d.is_empty() {
            self.kind = ApkKind::Invalid;
        }
    }

    /// Advances to the next token, checking it may follow the current one
    /// (digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}).
    fn next(&mut self) {
        use ApkKind::*;
        let Some(&c) = self.rest.first() else {
            self.kind = End;
            return;
        };
        let after = self.rest.get(1..).unwrap_or_default();
        match c {
            b'a'..=b'z' if self.kind <= Digit => {
                self.value = self.rest.get(..1).unwrap_or_default();
                self.rest = after;
                self.kind = Letter;
            }
            b'.' | b'0'..=b'9' => {
                if c == b'.' {
                    if self.kind > Digit {
                        self.kind = Invalid;
                        return;
                    }
                    self.rest = after;
                }
                self.kind = match self.kind {
                    InitialDigit | Digit => Digit,
                    Suffix => SuffixNo,
                    _ => Invalid,
                };
                if self.kind != Invalid {
                    self.digits();
                }
            }
            b'_' if self.kind <= SuffixNo => {
                let (name, rest) = take_while(after, |c| c.is_ascii_lowercase());
                self.rest = rest;
                self.value = name;
                match APK_SUFFIXES.iter().position(|s| *s == name) {
                    Some(rank) => {
                        self.suffix = rank + usize::from(rank >= APK_SUFFIX_NONE);
                        self.kind = Suffix;
                    }
                    None => self.kind = Invalid,
                }
            }
            b'~' if self.kind < CommitHash => {
                let (hash, rest) = take_while(after, |c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
                self.rest = rest;
                self.value = hash;
                self.kind = if hash.is_empty() { Invalid } else { CommitHash };
            }
            b'-' if self.kind < RevisionNo && after.first() == Some(&b'r') => {
                self.rest = after.get(1..).unwrap_or_default();
                self.kind = RevisionNo;
                self.digits();
            }
            _ => self.kind = Invalid,
        }
    }

    /// Compares two tokens of the same kind.
    fn cmp_token(&self, other: &Self) -> Ordering {
        use ApkKind::*;
        match self.kind {
            // A leading zero after a dot makes the part a fraction-like string
            // (1.02 < 1.1), as in the Gentoo rules apk follows.
            Digit if self.value.first() == Some(&b'0') || other.value.first() == Some(&b'0') => {
                self.value.cmp(other.value)
            }
            InitialDigit | Digit | SuffixNo | RevisionNo => cmp_digits(self.value, other.value),
            Letter => self.value.cmp(other.value),
            Suffix => self.suffix.cmp(&other.suffix),
            _ => self.value.cmp(other.value),
        }
    }
}

/// Alpine (apk-tools) version ordering:
/// `digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}`.
///
/// Like apk-tools, versions are compared token by token; the result is None
/// only when the ordering would depend on a part apk cannot parse (apk itself
/// then answers arbitrarily), so `1.0` < `1.0bc` still orders.
pub fn apk(a: &str, b: &str) -> Option<Ordering> {
    use ApkKind::*;
    let mut ta = ApkLexer::new(a);
    let mut tb = ApkLexer::new(b);
    while ta.kind == tb.kind && ta.kind < End {
        let o = ta.cmp_token(&tb);
        if o != Ordering::Equal {
            return Some(o);
        }
        ta.next();
        tb.next();
    }
    if ta.kind == Invalid || tb.kind == Invalid {
        return None;
    }
    if ta.kind == tb.kind {
        return Some(Ordering::Equal);
    }
    // Equal so far: the longer version is newer, unless what follows is a
    // pre-release suffix; otherwise a later token kind (e.g. end) is older.
    if ta.kind == Suffix && ta.suffix < APK_SUFFIX_NONE {
        return Some(Ordering::Less);
    }
    if tb.kind == Suffix && tb.suffix < APK_SUFFIX_NONE {
        return Some(Ordering::Greater);
    }
    Some(tb.kind.cmp(&ta.kind))
}

/// Whether apk-tools accepts `s` as a version.
#[cfg(test)]
fn apk_valid(s: &str) -> bool {
    let mut t = ApkLexer::new(s);
    while t.kind < ApkKind::End {
        t.next();
    }
    t.kind == ApkKind::End
}

// ---------------------------------------------------------------------------
// rpm

/// RPM ordering of `[epoch:]version[-release]` (rpmverCmp over rpmvercmp).
///
/// A missing epoch is 0; a missing release sorts before any release, which
/// keeps this a total order (rpm's dependency matching instead skips it).
pub fn rpm(a: &str, b: &str) -> Ordering {
    let (ae, av, ar) = rpm_split(a.as_bytes());
    let (be, bv, br) = rpm_split(b.as_bytes());
    rpmvercmp(ae, be).then_with(|| rpmvercmp(av, bv)).then_with(|| match (ar, br) {
        (Some(x), Some(y)) => rpmvercmp(x, y),
        (x, y) => x.is_some().cmp(&y.is_some()),
    })
}

fn rpm_split(s: &[u8]) -> (&[u8], &[u8], Option<&[u8]>) {
    // The epoch is a leading digit run ended by ':'; the release follows the last '-'.
    let (digits, rest) = take_while(s, |c| c.is_ascii_digit());
    let (epoch, evr) = match rest.split_first() {
        Some((b':', v)) => (if digits.is_empty() { &b"0"[..] } else { digits }, v),
        _ => (&b"0"[..], s),
    };
    match evr.iter().rposition(|&c| c == b'-') {
        Some(i) => {
            let (v, r) = evr.split_at(i);
            (epoch, v, Some(r.get(1..).unwrap_or_default()))
        }
        None => (epoch, evr, None),
    }
}

fn rpm_skip_separators(s: &[u8]) -> &[u8] {
    take_while(s, |c| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^').1
}

/// rpmvercmp: alternating alpha and numeric segments; other bytes only
/// separate; `~` sorts before anything (even the end), `^` after the end but
/// before anything else.
fn rpmvercmp(mut a: &[u8], mut b: &[u8]) -> Ordering {
    while !a.is_empty() || !b.is_empty() {
        a = rpm_skip_separators(a);
        b = rpm_skip_separators(b);
        let (ac, bc) = (a.first().copied(), b.first().copied());
        if ac == Some(b'~') || bc == Some(b'~') {
            if ac != Some(b'~') {
                return Ordering::Greater;
            }
            if bc != Some(b'~') {
                return Ordering::Less;
            }
        } else if ac == Some(b'^') || bc == Some(b'^') {
            match (ac, bc) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(b'^'), Some(b'^')) => {}
                (Some(b'^'), _) => return Ordering::Less,
                _ => return Ordering::Greater,
            }
        } else {
            let Some(first) = ac else { break };
            if bc.is_none() {
                break;
            }
            // The segment type is set by `a`; a `b` segment of the other type
            // is empty, and numeric beats alpha.
            let numeric = first.is_ascii_digit();
            let class = |c: u8| {
                if numeric { c.is_ascii_digit() } else { c.is_ascii_alphabetic() }
            };
            let (sa, ra) = take_while(a, class);
            let (sb, rb) = take_while(b, class);
            if sb.is_empty() {
                return if numeric { Ordering::Greater } else { Ordering::Less };
            }
            let o = if numeric { cmp_digits(sa, sb) } else { sa.cmp(sb) };
            if o != Ordering::Equal {
                return o;
            }
            a = ra;
            b = rb;
            continue;
        }
        // Matched `~~` or `^^`.
        a = a.get(1..).unwrap_or_default();
        b = b.get(1..).unwrap_or_default();
    }
    // Whichever has segments left over is newer.
    (!a.is_empty()).cmp(&!b.is_empty())
}

// ---------------------------------------------------------------------------
// SemVer

struct SemVer<'a> {
    core: [&'a [u8]; 3],
    /// Dot-separated pre-release identifiers; empty for a release.
    pre: &'a [u8],
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn is_numeric(id: &[u8]) -> bool {
    !id.is_empty() && id.iter().all(u8::is_ascii_digit)
}

/// Non-empty, no leading zero unless it is "0".
fn valid_number(n: &[u8]) -> bool {
    is_numeric(n) && (n.len() == 1 || n.first() != Some(&b'0'))
}

fn valid_idents(s: &[u8], numeric_no_zero: bool) -> bool {
    s.split(|&c| c == b'.').all(|id| {
        !id.is_empty()
            && id.iter().all(|&c| is_ident_byte(c))
            && (!numeric_no_zero || !is_numeric(id) || valid_number(id))
    })
}

/// Parses SemVer 2.0 with an optional leading "v". `pad` accepts one to three
/// core components, the missing ones being 0 (Go toolchain versions).
fn parse_semver(s: &str, pad: bool) -> Option<SemVer<'_>> {
    let s = s.as_bytes();
    let s = s.strip_prefix(b"v").unwrap_or(s);
    let (s, build) = match s.iter().position(|&c| c == b'+') {
        Some(i) => {
            let (v, b) = s.split_at(i);
            (v, b.get(1..))
        }
        None => (s, None),
    };
    if let Some(build) = build
        && !valid_idents(build, false)
    {
        return None;
    }
    let (core, pre) = match s.iter().position(|&c| c == b'-') {
        Some(i) => {
            let (c, p) = s.split_at(i);
            let p = p.get(1..).unwrap_or_default();
            if !valid_idents(p, true) {
                return None;
            }
            (c, p)
        }
        None => (s, &b""[..]),
    };
    let mut parts = [&b"0"[..]; 3];
    let mut n = 0;
    for part in core.split(|&c| c == b'.') {
        let slot = parts.get_mut(n)?;
        if !valid_number(part) {
            return None;
        }
        *slot = part;
        n += 1;
    }
    if n == 3 || (pad && n >= 1) { Some(SemVer { core: parts, pre }) } else { None }
}

fn cmp_semver(a: &SemVer<'_>, b: &SemVer<'_>) -> Ordering {
    let core =
        a.core.iter().zip(b.core.iter()).map(|(x, y)| cmp_digits(x, y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal);
    if core.is_ne() {
        return core;
    }
    // A pre-release precedes its release.
    match (a.pre.is_empty(), b.pre.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let mut ia = a.pre.split(|&c| c == b'.');
    let mut ib = b.pre.split(|&c| c == b'.');
    loop {
        let o = match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            // More identifiers win when all before are equal.
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match (is_numeric(x), is_numeric(y)) {
                (true, true) => cmp_digits(x, y),
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => x.cmp(y),
            },
        };
        if o.is_ne() {
            return o;
        }
    }
}

/// SemVer 2.0 precedence (build metadata ignored); a leading "v" is accepted.
/// None if either is not a valid SemVer 2.0 version.
pub fn semver(a: &str, b: &str) -> Option<Ordering> {
    Some(cmp_semver(&parse_semver(a, false)?, &parse_semver(b, false)?))
}

fn semver_lenient(a: &str, b: &str) -> Option<Ordering> {
    Some(cmp_semver(&parse_semver(a, true)?, &parse_semver(b, true)?))
}

// ---------------------------------------------------------------------------
// PEP 440

#[derive(Default)]
struct Pep440<'a> {
    epoch: &'a [u8],
    release: Vec<&'a [u8]>,
    /// (rank a=0 b=1 rc=2, number)
    pre: Option<(i8, &'a [u8])>,
    post: Option<&'a [u8]>,
    dev: Option<&'a [u8]>,
    local: Option<&'a [u8]>,
}

/// Cursor over an ASCII-case-insensitive version string.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn sep(&mut self) {
        if let Some((b'.' | b'_' | b'-', rest)) = self.0.split_first() {
            self.0 = rest;
        }
    }
    fn digits(&mut self) -> &'a [u8] {
        let (d, rest) = take_while(self.0, |c| c.is_ascii_digit());
        self.0 = rest;
        d
    }
    /// Consumes the first of `words` that prefixes the input; returns its index.
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let (i, w) = words
            .iter()
            .enumerate()
            .find(|(_, w)| self.0.get(..w.len()).is_some_and(|p| p.eq_ignore_ascii_case(w.as_bytes())))?;
        self.0 = self.0.get(w.len()..).unwrap_or_default();
        Some(i)
    }
    /// `[._-]? word [._-]? digits?`; restores the cursor if no word matches.
    fn labelled(&mut self, words: &[&str]) -> Option<(usize, &'a [u8])> {
        let save = self.0;
        self.sep();
        match self.word(words) {
            Some(i) => {
                self.sep();
                Some((i, self.digits()))
            }
            None => {
                self.0 = save;
                None
            }
        }
    }
}

/// Parses a PEP 440 version the way pypa/packaging's `Version` does
/// (surrounding whitespace, leading "v", alternate spellings, separators).
fn parse_pep440(s: &str) -> Option<Pep440<'_>> {
    let mut c = Cursor(s.trim().as_bytes());
    if let Some((b'v' | b'V', rest)) = c.0.split_first() {
        c.0 = rest;
    }
    let mut v = Pep440::default();
    let mut first = c.digits();
    if let Some((b'!', rest)) = c.0.split_first() {
        c.0 = rest;
        v.epoch = first;
        first = c.digits();
    }
    if first.is_empty() {
        return None;
    }
    v.release.push(first);
    while let Some((b'.', rest)) = c.0.split_first() {
        if !rest.first().is_some_and(u8::is_ascii_digit) {
            break;
        }
        c.0 = rest;
        v.release.push(c.digits());
    }
    // Alternation order as in packaging's regex: longer spellings first.
    const PRE: [(&str, i8); 8] =
        [("alpha", 0), ("a", 0), ("beta", 1), ("b", 1), ("preview", 2), ("pre", 2), ("c", 2), ("rc", 2)];
    let pre_words = PRE.map(|(w, _)| w);
    if let Some((i, n)) = c.labelled(&pre_words) {
        let rank = PRE.get(i).map_or(0, |&(_, r)| r);
        v.pre = Some((rank, n));
    }
    // Implicit post release: "1.0-1".
    match c.0.split_first() {
        Some((b'-', rest)) if rest.first().is_some_and(u8::is_ascii_digit) => {
            c.0 = rest;
            v.post = Some(c.digits());
        }
        _ => v.post = c.labelled(&["post", "rev", "r"]).map(|(_, n)| n),
    }
    v.dev = c.labelled(&["dev"]).map(|(_, n)| n);
    if let Some((b'+', rest)) = c.0.split_first() {
        let ok = rest
            .split(|&b| matches!(b, b'.' | b'_' | b'-'))
            .all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_alphanumeric));
        if !ok {
            return None;
        }
        v.local = Some(rest);
        c.0 = b"";
    }
    c.0.is_empty().then_some(v)
}

fn cmp_pep440(a: &Pep440<'_>, b: &Pep440<'_>) -> Ordering {
    // Trailing zero release components are insignificant (1.0 == 1).
    let trim = |r: &[&[u8]]| {
        let n = r.iter().rposition(|x| x.iter().any(|&c| c != b'0')).map_or(0, |i| i + 1);
        r.len().min(n)
    };
    let (ra, rb) =
        (a.release.get(..trim(&a.release)).unwrap_or_default(), b.release.get(..trim(&b.release)).unwrap_or_default());
    let release = ra
        .iter()
        .zip(rb.iter())
        .map(|(x, y)| cmp_digits(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| ra.len().cmp(&rb.len()));
    let (pa, pb) = (pep440_pre_key(a), pep440_pre_key(b));
    cmp_digits(a.epoch, b.epoch)
        .then(release)
        .then(pa.0.cmp(&pb.0))
        .then_with(|| cmp_digits(pa.1, pb.1))
        // No post release sorts before any post release.
        .then_with(|| cmp_opt(a.post, b.post, false))
        // A dev release sorts before the same version without one.
        .then_with(|| cmp_opt(a.dev, b.dev, true))
        .then_with(|| cmp_local(a.local, b.local))
}

/// Pre-release rank and number: a dev-only release precedes its alphas
/// (1.0.dev0 < 1.0a0); no pre-release sorts after rc.
fn pep440_pre_key<'a>(v: &Pep440<'a>) -> (i8, &'a [u8]) {
    match v.pre {
        Some((rank, n)) => (rank, n),
        None if v.post.is_none() && v.dev.is_some() => (-1, b""),
        None => (3, b""),
    }
}

/// Compares optional numbers; `none_last` says whether absence sorts last.
fn cmp_opt(a: Option<&[u8]>, b: Option<&[u8]>, none_last: bool) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => cmp_digits(x, y),
        (None, None) => Ordering::Equal,
        (None, Some(_)) if none_last => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) if none_last => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
    }
}

/// Local versions: absent first; segments compare numerically when numeric,
/// else case-insensitively; strings sort before numbers; shorter prefix first.
fn cmp_local(a: Option<&[u8]>, b: Option<&[u8]>) -> Ordering {
    let (a, b) = match (a, b) {
        (Some(x), Some(y)) => (x, y),
        (x, y) => return x.is_some().cmp(&y.is_some()),
    };
    let is_sep = |c: &u8| matches!(c, b'.' | b'_' | b'-');
    let mut ia = a.split(is_sep);
    let mut ib = b.split(is_sep);
    loop {
        let o = match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match (is_numeric(x), is_numeric(y)) {
                (true, true) => cmp_digits(x, y),
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => x.iter().map(u8::to_ascii_lowercase).cmp(y.iter().map(u8::to_ascii_lowercase)),
            },
        };
        if o.is_ne() {
            return o;
        }
    }
}

/// PEP 440 ordering as implemented by pypa/packaging; None if either is not a
/// valid PEP 440 version.
pub fn pep440(a: &str, b: &str) -> Option<Ordering> {
    Some(cmp_pep440(&parse_pep440(a)?, &parse_pep440(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    /// Upstream vector files live in the crate's tests/data/version/; located
    /// from the manifest so this module can move within the crate.
    macro_rules! data {
        ($name:literal) => {
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/version/", $name))
        };
    }

    fn lines(text: &str) -> impl Iterator<Item = &str> {
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
    }

    fn sign(n: &str) -> Ordering {
        match n {
            "-1" => Less,
            "0" => Equal,
            "1" => Greater,
            other => panic!("bad expected result {other:?}"),
        }
    }

    /// Every pair of `versions` is antisymmetric under `cmp`, and each version equals itself
    /// whenever it is comparable at all.
    fn assert_antisymmetric(versions: &[&str], cmp: impl Fn(&str, &str) -> Option<Ordering>) {
        for a in versions {
            if let Some(o) = cmp(a, a) {
                assert_eq!(o, Equal, "{a} vs itself");
            }
            for b in versions {
                assert_eq!(cmp(a, b), cmp(b, a).map(Ordering::reverse), "{a} vs {b}");
            }
        }
    }

    // -- dpkg ---------------------------------------------------------------

    // dpkg scripts/t/Dpkg_Version.t __DATA__ (see file header for the commit).
    fn dpkg_cases() -> Vec<(&'static str, &'static str, Ordering)> {
        lines(data!("dpkg-versions.txt"))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 3, "{l}");
                (f[0], f[1], sign(f[2]))
            })
            .collect()
    }

    #[test]
    fn dpkg_upstream_compare_versions() {
        let cases = dpkg_cases();
        assert_eq!(cases.len(), 43);
        for (a, b, want) in cases {
            assert_eq!(dpkg(a, b), want, "{a} vs {b}");
            assert_eq!(dpkg(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    // From dpkg lib/dpkg/t/t-version.c (guillemj/dpkg mirror of salsa.debian.org/dpkg/dpkg,
    // commit f4941036b04e787c2803d6359802d6725d2476c6), test_version_compare and
    // test_version_relate: DPKG_VERSION_OBJECT(e, v, r) written as "e:v-r".
    const DPKG_T_VERSION_COMPARE: &[(&str, &str, Ordering)] = &[
        ("0:1-1", "0:2-1", Less),
        ("0:1-1", "0:1-2", Less),
        ("0:0-0", "0:0-0", Equal),
        ("0:0-00", "0:00-0", Equal),
        ("1:2-3", "1:2-3", Equal),
        ("0:0-0", "1:0-0", Less),
        ("0:a-0", "0:b-0", Less),
        ("0:0-a", "0:0-b", Less),
        ("0:1-1", "0:1-1", Equal),
        ("0:2-1", "0:1-1", Greater),
    ];

    // Same file, test_version_parse (valid inputs): input, then the expected
    // (epoch, upstream, revision).
    const DPKG_T_VERSION_PARSE: &[(&str, &str, &str, &str)] = &[
        ("0", "0", "0", ""),
        ("0:0", "0", "0", ""),
        ("0:0-", "0", "0", ""),
        ("0:0-0", "0", "0", "0"),
        ("0:0.0-0.0", "0", "0.0", "0.0"),
        ("1:0", "1", "0", ""),
        ("5:1", "5", "1", ""),
        ("0:0-0-0", "0", "0-0", "0"),
        ("0:0-0-0-0", "0", "0-0-0", "0"),
        ("0:0:0-0", "0", "0:0", "0"),
        ("0:0:0:0-0", "0", "0:0:0", "0"),
        ("0:0:0-0-0", "0", "0:0-0", "0"),
        ("0:0-0:0-0", "0", "0-0:0", "0"),
        ("0:09azAZ.-+~:-0", "0", "09azAZ.-+~:", "0"),
        ("0:0-azAZ09.+~", "0", "0", "azAZ09.+~"),
        ("  \t0:0-1", "0", "0", "1"),
        ("0:0-1\t  ", "0", "0", "1"),
        ("\t  0:0-1  \t", "0", "0", "1"),
    ];

    #[test]
    fn dpkg_upstream_t_version() {
        for &(a, b, want) in DPKG_T_VERSION_COMPARE {
            assert_eq!(dpkg(a, b), want, "{a} vs {b}");
            assert_eq!(dpkg(b, a), want.reverse(), "{b} vs {a}");
        }
        for &(input, e, v, r) in DPKG_T_VERSION_PARSE {
            let (ge, gv, gr) = dpkg_split(input);
            assert_eq!(cmp_digits(ge, e.as_bytes()), Equal, "epoch of {input:?}");
            assert_eq!((gv, gr), (v.as_bytes(), r.as_bytes()), "{input:?}");
            let canonical = if r.is_empty() { format!("{e}:{v}") } else { format!("{e}:{v}-{r}") };
            assert_eq!(dpkg(input, &canonical), Equal, "{input:?}");
        }
    }

    #[test]
    fn dpkg_antisymmetric() {
        let mut vs: Vec<&str> = dpkg_cases().iter().flat_map(|&(a, b, _)| [a, b]).collect();
        vs.extend(DPKG_T_VERSION_COMPARE.iter().flat_map(|&(a, b, _)| [a, b]));
        vs.extend(DPKG_T_VERSION_PARSE.iter().map(|c| c.0));
        assert_antisymmetric(&vs, |a, b| Some(dpkg(a, b)));
    }

    // -- apk ----------------------------------------------------------------

    enum ApkCase<'a> {
        Cmp(&'a str, &'a str, &'a str, bool),
        Valid(&'a str, bool),
        Fuzzy,
    }

    // apk-tools test/unit/version.data (format per test/unit/version_test.c).
    fn apk_cases() -> Vec<ApkCase<'static>> {
        data!("apk-version.data")
            .lines()
            .filter_map(|l| {
                let l = l.split('#').next().unwrap_or("").trim();
                if l.is_empty() {
                    return None;
                }
                let f: Vec<&str> = l.split(' ').collect();
                Some(match f.as_slice() {
                    [a, op, b] if op.contains('~') => {
                        let _ = (a, b);
                        ApkCase::Fuzzy
                    }
                    [a, op, b] => match op.strip_prefix('!') {
                        Some(op) => ApkCase::Cmp(a, op, b, true),
                        None => ApkCase::Cmp(a, op, b, false),
                    },
                    [v] => match v.strip_prefix('!') {
                        Some(v) => ApkCase::Valid(v, false),
                        None => ApkCase::Valid(v, true),
                    },
                    _ => panic!("unparsed line {l:?}"),
                })
            })
            .collect()
    }

    #[test]
    fn apk_upstream() {
        let (mut cmp, mut valid, mut fuzzy) = (0, 0, 0);
        for case in apk_cases() {
            match case {
                ApkCase::Cmp(a, op, b, invert) => {
                    let got = apk(a, b);
                    let holds = got.is_some_and(|o| match o {
                        Less => op.contains('<'),
                        Equal => op.contains('='),
                        Greater => op.contains('>'),
                    });
                    assert_eq!(holds, !invert, "{a} {op} {b}: got {got:?}");
                    assert_eq!(apk(b, a), got.map(Ordering::reverse), "{b} vs {a}");
                    cmp += 1;
                }
                ApkCase::Valid(v, want) => {
                    assert_eq!(apk_valid(v), want, "validity of {v:?}");
                    valid += 1;
                }
                // `~` is apk's fuzzy prefix match, not an ordering.
                ApkCase::Fuzzy => fuzzy += 1,
            }
        }
        assert_eq!((cmp, valid, fuzzy), (738, 31, 16));
    }

    #[test]
    fn apk_antisymmetric() {
        let mut vs = Vec::new();
        for case in apk_cases() {
            match case {
                ApkCase::Cmp(a, _, b, _) => vs.extend([a, b]),
                ApkCase::Valid(v, _) => vs.push(v),
                ApkCase::Fuzzy => {}
            }
        }
        vs.sort_unstable();
        vs.dedup();
        assert_antisymmetric(&vs, apk);
    }

    #[test]
    fn apk_invalid_is_none_only_when_it_decides() {
        assert_eq!(apk("1.0bc", "1.0bc"), None);
        assert_eq!(apk("1.0_foo", "1.0"), None);
        assert_eq!(apk("", "1"), None);
        assert_eq!(apk("2.0bc", "1.0"), Some(Greater));
        // Decided before the invalid tail is reached, as apk-tools does.
        assert_eq!(apk("1.0-r1", "1.1bc"), Some(Less));
    }

    // -- rpm ----------------------------------------------------------------

    // rpm tests/rpmvercmp.at: RPMVERCMP(a, b, expected) lines (not the dnl-disabled ones).
    fn rpm_cases() -> Vec<(&'static str, &'static str, Ordering)> {
        data!("rpmvercmp.at")
            .lines()
            .filter_map(|l| l.strip_prefix("RPMVERCMP(")?.strip_suffix(')'))
            .map(|args| {
                let f: Vec<&str> = args.split(", ").collect();
                assert_eq!(f.len(), 3, "{args}");
                (f[0], f[1], sign(f[2]))
            })
            .collect()
    }

    #[test]
    fn rpm_upstream() {
        let cases = rpm_cases();
        assert_eq!(cases.len(), 91);
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a.as_bytes(), b.as_bytes()), want, "{a} vs {b}");
            // Upstream strings hold no ':' or '-', so the EVR wrapper agrees.
            assert_eq!(rpm(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn rpm_evr() {
        assert_eq!(rpm("1:1.0-1", "2.0-1"), Greater);
        assert_eq!(rpm("0:2.0-1", "2.0-1"), Equal);
        assert_eq!(rpm(":2.0-1", "2.0-1"), Equal);
        assert_eq!(rpm("2.0-1.el9", "2.0-2.el9"), Less);
        assert_eq!(rpm("2.0", "2.0-1"), Less);
        assert_eq!(rpm("2.0-1", "2.0.1-0"), Less);
        assert_eq!(rpm("1.0~rc1-1", "1.0-1"), Less);
        assert_eq!(rpm("1.0^git1-1", "1.0-9"), Greater);
    }

    #[test]
    fn rpm_antisymmetric() {
        let mut vs: Vec<&str> = rpm_cases().iter().flat_map(|&(a, b, _)| [a, b]).collect();
        vs.extend(["1:1.0-1", "2.0-1", "2.0", "2.0-", "2.0-~1", ":2.0-1", "1.0^git1-1"]);
        assert_antisymmetric(&vs, |a, b| Some(rpm(a, b)));
    }

    // -- semver -------------------------------------------------------------

    // semver.org item 11 example chains, each ascending.
    fn semver_chains() -> Vec<Vec<&'static str>> {
        data!("semver-spec.txt").split("\n\n").map(|block| lines(block).collect()).collect()
    }

    // node-semver test/fixtures/comparisons.js: [greater, lesser, options?].
    fn node_semver_pairs() -> Vec<(&'static str, &'static str)> {
        data!("node-semver-comparisons.js")
            .lines()
            .filter(|l| l.trim_start().starts_with("['"))
            .map(|l| {
                let f: Vec<&str> = l.split('\'').collect();
                (f[1], f[3])
            })
            .collect()
    }

    fn assert_ascending(chain: &[&str], cmp: impl Fn(&str, &str) -> Option<Ordering>) {
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(cmp(a, b), Some(i.cmp(&j)), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn semver_upstream() {
        let chains = semver_chains();
        assert_eq!(chains.iter().map(Vec::len).collect::<Vec<_>>(), [4, 2, 8]);
        for chain in &chains {
            assert_ascending(chain, semver);
        }
        let pairs = node_semver_pairs();
        assert_eq!(pairs.len(), 31);
        for (hi, lo) in pairs {
            assert_eq!(semver(hi, lo), Some(Greater), "{hi} > {lo}");
            assert_eq!(semver(lo, hi), Some(Less), "{lo} < {hi}");
        }
    }

    #[test]
    fn semver_strictness() {
        assert_eq!(semver("1.0.0+build.1", "1.0.0+build.2"), Some(Equal));
        assert_eq!(semver("v1.2.3", "1.2.3"), Some(Equal));
        for bad in
            ["1.2", "1.2.3.4", "01.2.3", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3-a..b", "", "v", "1.2.3-a_b", " 1.2.3"]
        {
            assert_eq!(semver(bad, "1.2.3"), None, "{bad:?}");
        }
        // Alphanumeric identifiers compare as ASCII even when digit-led.
        assert_eq!(semver("1.2.3-0a", "1.2.3-00a"), Some(Greater));
        assert_eq!(semver(&format!("1.2.{}", "9".repeat(500)), "1.2.3"), Some(Greater));
    }

    #[test]
    fn semver_antisymmetric() {
        let mut vs: Vec<&str> = semver_chains().concat();
        vs.extend(node_semver_pairs().iter().flat_map(|&(a, b)| [a, b]));
        assert_antisymmetric(&vs, semver);
        assert_antisymmetric(&vs, semver_lenient);
    }

    // -- PEP 440 ------------------------------------------------------------

    /// Decodes one JSON string literal at the start of `s`; returns it and the rest.
    fn json_string(s: &str) -> (String, &str) {
        let mut out = String::new();
        let mut chars = s.strip_prefix('"').expect("string").char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return (out, &s[i + 2..]),
                '\\' => match chars.next().map(|x| x.1) {
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| chars.next().map(|x| x.1)).collect();
                        let code = u32::from_str_radix(&hex, 16).expect("hex");
                        out.push(char::from_u32(code).expect("char"));
                    }
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => panic!("bad escape"),
                },
                c => out.push(c),
            }
        }
        panic!("unterminated string in {s:?}")
    }

    // packaging tests/test_version.py VERSIONS (ascending).
    fn pep440_versions() -> Vec<&'static str> {
        lines(data!("pep440-versions.txt")).collect()
    }

    #[test]
    fn pep440_upstream_ordering() {
        let vs = pep440_versions();
        assert_eq!(vs.len(), 92);
        assert_ascending(&vs, pep440);
    }

    #[test]
    fn pep440_upstream_normalization() {
        let mut n = 0;
        for l in lines(data!("pep440-normalized.txt")) {
            let (a, rest) = json_string(l.strip_prefix('[').expect("array"));
            let (b, _) = json_string(rest.trim_start_matches([',', ' ']));
            assert_eq!(pep440(&a, &b), Some(Equal), "{a:?} == {b:?}");
            n += 1;
        }
        assert_eq!(n, 102);
    }

    #[test]
    fn pep440_upstream_invalid() {
        let mut n = 0;
        for l in lines(data!("pep440-invalid.txt")) {
            let (v, _) = json_string(l);
            assert_eq!(pep440(&v, "1.0"), None, "{v:?}");
            n += 1;
        }
        assert_eq!(n, 20);
    }

    #[test]
    fn pep440_antisymmetric() {
        let mut vs = pep440_versions();
        vs.extend(["1.0-1", "1.0.post1", "1!0", "1.0+AbC", "1.0+abc", "v1.0", "1.0c1", "1.0rc1"]);
        assert_antisymmetric(&vs, pep440);
    }

    // -- dispatch and hostile input -----------------------------------------

    #[test]
    fn ecosystem_dispatch() {
        assert_eq!(compare("Debian:12", "1.0-1", "1.0~rc1-1"), Some(Greater));
        assert_eq!(compare("Ubuntu:22.04:LTS", "1:0.1", "2.0"), Some(Greater));
        assert_eq!(compare("Alpine:v3.19", "1.2.3-r1", "1.2.3"), Some(Greater));
        assert_eq!(compare("Wolfi", "1.0_rc1", "1.0"), Some(Less));
        assert_eq!(compare("Chainguard", "1.0", "1.0"), Some(Equal));
        for eco in ["Red Hat:enterprise_linux:9::appstream", "AlmaLinux:9", "Rocky Linux:9"] {
            assert_eq!(compare(eco, "0:1.2-3.el9", "1.2-10.el9"), Some(Less), "{eco}");
        }
        for eco in ["openSUSE:Leap 15.5", "SUSE:Linux Enterprise Server 15 SP5", "Mageia:9"] {
            assert_eq!(compare(eco, "1.2~beta", "1.2"), Some(Less), "{eco}");
        }
        assert_eq!(compare("crates.io", "1.0.0-alpha", "1.0.0"), Some(Less));
        assert_eq!(compare("npm", "v1.2.3", "1.2.4"), Some(Less));
        assert_eq!(compare("Hex", "1.2", "1.2.0"), None);
        assert_eq!(compare("Go", "v0.0.0-20210101000000-abcdef123456", "v0.1.0"), Some(Less));
        assert_eq!(compare("Go", "1.21", "1.21.0"), Some(Equal));
        assert_eq!(compare("Go", "1.21.3", "1.21"), Some(Greater));
        assert_eq!(compare("Go", "1", "1.0.1"), Some(Less));
        assert_eq!(compare("PyPI", "1.0.dev0", "1.0a0"), Some(Less));
        assert_eq!(compare("Packagist", "1.0.0", "1.0.1"), None);
        assert_eq!(compare("Maven", "1", "2"), None);
        assert_eq!(compare("", "1", "2"), None);
        assert_eq!(compare("debian", "1", "2"), None);
    }

    #[test]
    fn hostile_input() {
        let digits = "9".repeat(100_000);
        let zeros = format!("{}1", "0".repeat(100_000));
        let tildes = "~".repeat(100_000);
        let mixed = "1.a-_+~^!:".repeat(20_000);
        let nasty: Vec<String> = vec![
            digits.clone(),
            zeros,
            tildes,
            mixed,
            format!("{digits}:{digits}-{digits}"),
            format!("{digits}!{digits}.dev{digits}+{digits}"),
            format!("v{digits}.{digits}.{digits}-{digits}"),
            format!("{digits}_p{digits}-r{digits}"),
            String::new(),
            "\0".into(),
            "1\u{0}2".into(),
            "é1.2ü".into(),
            "\u{202f}".into(),
            "-".into(),
            ":".into(),
            "+".into(),
            "!".into(),
            "^".into(),
            "~".into(),
            "v".into(),
            "1.0-r".into(),
            "1.0_".into(),
            "0:".into(),
        ];
        let vs: Vec<&str> = nasty.iter().map(String::as_str).collect();
        assert_antisymmetric(&vs, |a, b| Some(dpkg(a, b)));
        assert_antisymmetric(&vs, apk);
        assert_antisymmetric(&vs, |a, b| Some(rpm(a, b)));
        assert_antisymmetric(&vs, semver);
        assert_antisymmetric(&vs, semver_lenient);
        assert_antisymmetric(&vs, pep440);
        assert_eq!(dpkg(&digits, &format!("{digits}0")), Less);
        assert_eq!(rpm(&digits, &format!("0{digits}")), Equal);
    }
}

//! OSV records (<https://ossf.github.io/osv-schema/>): the fields Berth reads, their severity,
//! and the evaluation of `affected[]` against installed packages. Pure: no I/O.
//!
//! Matching follows the schema's evaluation: a package is affected by an `affected[]` entry of
//! its ecosystem and name if its version is listed in `versions`, or lies in one of the
//! `ranges` (ECOSYSTEM ordered by the ecosystem's rules, SEMVER by SemVer 2.0; GIT ranges name
//! commits and never match a version). In a range, events sorted by version toggle: at or after
//! `introduced` affected, at or after `fixed` or after `last_affected` not; at or after every
//! `limit` nothing is. A package of an ecosystem with no known ordering matches `versions` only.

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::Value;

use super::inventory::Package;
use super::{cvss, version};
use crate::meta::NewVuln;

/// How bad a finding is, from least to most; written `High` in JSON (`HIGH` and `high` read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, Deserialize)]
pub enum Severity {
    #[default]
    #[serde(alias = "UNKNOWN", alias = "unknown")]
    Unknown,
    #[serde(alias = "LOW", alias = "low")]
    Low,
    #[serde(alias = "MEDIUM", alias = "medium")]
    Medium,
    #[serde(alias = "HIGH", alias = "high")]
    High,
    #[serde(alias = "CRITICAL", alias = "critical")]
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// A label as advisories write it: GitHub's (`MODERATE`), Debian's urgencies (`low`,
    /// `unimportant`, `not yet assigned`), Red Hat's and Ubuntu's (`Important`, `Negligible`).
    pub fn from_label(label: &str) -> Option<Self> {
        let label = label.trim().to_ascii_lowercase();
        let label = label.trim_end_matches('*').trim_end_matches(" (unfixed)");
        Some(match label {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "negligible" | "unimportant" | "minor" => Severity::Low,
            _ => return None,
        })
    }

    /// CVSS's qualitative rating of a base score; 0.0 ("None") rates nothing.
    pub fn from_score(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::Unknown,
        }
    }
}

/// A package affected by a record, and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub aliases: Vec<String>,
    /// The installed package's name.
    pub package: String,
    pub installed: String,
    /// The first fixed version after the installed one, where the record names one.
    pub fixed: Option<String>,
    pub severity: Severity,
    pub summary: String,
}

/// The parts of an OSV record Berth reads; unknown fields are ignored, as the schema asks.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub id: String,
    pub modified: String,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub severity: Vec<Score>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Score {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<PackageRef>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<Score>,
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PackageRef {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event; the schema allows exactly one of the four per object.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    pub introduced: Option<String>,
    pub fixed: Option<String>,
    pub last_affected: Option<String>,
    pub limit: Option<String>,
}

impl Record {
    /// Parses and checks a record's JSON: an id and an RFC 3339 `modified` are required.
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        let record: Record = serde_json::from_slice(json).map_err(|e| format!("not an OSV record: {e}"))?;
        if record.id.is_empty() || record.id.len() > 256 || record.id.chars().any(char::is_control) {
            return Err("not an OSV record: bad id".into());
        }
        rfc3339_ms(&record.modified)
            .ok_or_else(|| format!("{}: modified {:?} is not RFC 3339", record.id, record.modified))?;
        Ok(record)
    }

    /// The row and index entries this record is stored as; `json` is its exact text.
    pub fn to_row(&self, json: String) -> NewVuln {
        let mut packages: Vec<(String, String)> = self
            .affected
            .iter()
            .filter_map(|a| a.package.as_ref())
            .map(|p| (base(&p.ecosystem).to_owned(), normalize(base(&p.ecosystem), &p.name)))
            .collect();
        packages.sort();
        packages.dedup();
        NewVuln {
            id: self.id.clone(),
            modified: self.modified.clone(),
            modified_at: rfc3339_ms(&self.modified).unwrap_or_default(),
            summary: self.summary_text(),
            severity: self.affected.iter().map(|a| self.severity_for(a)).max().unwrap_or_default().as_str().into(),
            aliases: self.aliases.clone(),
            record: json,
            packages,
        }
    }

    /// `summary`, else the first line of `details`.
    pub fn summary_text(&self) -> String {
        match (&self.summary, &self.details) {
            (Some(s), _) if !s.trim().is_empty() => s.trim().to_owned(),
            (_, Some(d)) => d.trim().lines().next().unwrap_or_default().chars().take(200).collect(),
            _ => String::new(),
        }
    }

    /// The severity of this record for one of its `affected[]` entries: the record's
    /// `database_specific.severity`, else the entry's `ecosystem_specific` (or
    /// `database_specific`) `severity` or `urgency` (Debian's), else the highest CVSS v3 base
    /// score in the entry's or the record's `severity[]`.
    pub fn severity_for(&self, affected: &Affected) -> Severity {
        let label = |v: &Option<Value>, key: &str| {
            v.as_ref().and_then(|v| v.get(key)).and_then(Value::as_str).and_then(Severity::from_label)
        };
        label(&self.database_specific, "severity")
            .or_else(|| label(&affected.ecosystem_specific, "severity"))
            .or_else(|| label(&affected.ecosystem_specific, "urgency"))
            .or_else(|| label(&affected.database_specific, "severity"))
            .or_else(|| {
                affected
                    .severity
                    .iter()
                    .chain(&self.severity)
                    .filter(|s| s.kind == "CVSS_V3")
                    .filter_map(|s| cvss::base_score(&s.score).or_else(|| s.score.parse().ok()))
                    .map(Severity::from_score)
                    .max()
            })
            .unwrap_or_default()
    }

    /// The findings of this record among `packages`: at most one per package, however many
    /// of its entries or ranges match. A withdrawn record finds nothing.
    pub fn findings(&self, packages: &[Package]) -> Vec<Finding> {
        if self.withdrawn.is_some() {
            return Vec::new();
        }
        let mut out: Vec<Finding> = Vec::new();
        for pkg in packages {
            let wanted = pkg.source.as_deref().unwrap_or(&pkg.name);
            for a in &self.affected {
                let Some(p) = &a.package else { continue };
                if !ecosystem_matches(&p.ecosystem, &pkg.ecosystem)
                    || normalize(base(&p.ecosystem), &p.name) != normalize(base(&pkg.ecosystem), wanted)
                {
                    continue;
                }
                let Some(fixed) = affects(a, base(&p.ecosystem), &pkg.version) else { continue };
                if out.iter().any(|f| f.package == pkg.name && f.installed == pkg.version) {
                    break;
                }
                out.push(Finding {
                    id: self.id.clone(),
                    aliases: self.aliases.clone(),
                    package: pkg.name.clone(),
                    installed: pkg.version.clone(),
                    fixed,
                    severity: self.severity_for(a),
                    summary: self.summary_text(),
                });
                break;
            }
        }
        out
    }
}

/// Whether an `affected[]` entry's ecosystem is the package's: the same (`Debian:12`), or the
/// package's names no release and the entry's base is it.
fn ecosystem_matches(affected: &str, package: &str) -> bool {
    affected == package || (!package.contains(':') && base(affected) == package)
}

/// The ecosystem without its release: `Debian` for `Debian:12`, `Alpine` for `Alpine:v3.20`.
pub fn base(ecosystem: &str) -> &str {
    ecosystem.split(':').next().unwrap_or(ecosystem)
}

/// A package name as its ecosystem compares names: PyPI's normalized (PEP 503), others as given.
pub fn normalize(base: &str, name: &str) -> String {
    if base != "PyPI" {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if matches!(c, '-' | '_' | '.') { '-' } else { c.to_ascii_lowercase() };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// `Some(fixed version, if any)` when `version` is affected by the entry, else `None`.
fn affects(a: &Affected, base: &str, version: &str) -> Option<Option<String>> {
    let mut hit = a.versions.iter().any(|v| v == version).then_some(None);
    for range in &a.ranges {
        // Without an ordering for the version (GIT ranges, unknown ecosystems) a range says
        // nothing, not even "introduced 0".
        let ordered = match range.kind.as_str() {
            "SEMVER" => semver_cmp(version, version).is_some(),
            "ECOSYSTEM" => version::compare(base, version, version).is_some(),
            _ => false,
        };
        if !ordered {
            continue;
        }
        let cmp = |x: &str, y: &str| match range.kind.as_str() {
            "SEMVER" => semver_cmp(x, y),
            "ECOSYSTEM" => version::compare(base, x, y),
            _ => None,
        };
        if let Some(fixed) = in_range(&range.events, version, cmp) {
            // A fixed version from any matching range beats none.
            if hit.as_ref().is_none_or(Option::is_none) {
                hit = Some(fixed);
            }
        }
    }
    hit
}

/// Evaluates one range's events for `v` with the ordering `cmp` (`None`: cannot compare,
/// which makes the range match nothing). `Some(first fixed version above v)` if affected.
fn in_range(events: &[Event], v: &str, cmp: impl Fn(&str, &str) -> Option<Ordering>) -> Option<Option<String>> {
    let zero = |s: &str| s == "0";
    // The version an event sorts by; introduced "0" sorts before everything.
    fn key(e: &Event) -> Option<&str> {
        e.introduced.as_deref().or(e.fixed.as_deref()).or(e.last_affected.as_deref())
    }
    let mut sorted: Vec<&Event> = events.iter().filter(|e| key(e).is_some()).collect();
    let mut comparable = true;
    sorted.sort_by(|x, y| match (key(x), key(y)) {
        (Some(a), Some(b)) if zero(a) && x.introduced.is_some() => {
            if zero(b) && y.introduced.is_some() {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        }
        (Some(_), Some(b)) if zero(b) && y.introduced.is_some() => Ordering::Greater,
        (Some(a), Some(b)) => cmp(a, b).unwrap_or_else(|| {
            comparable = false;
            Ordering::Equal
        }),
        _ => Ordering::Equal,
    });
    // Limits bound the range: at or above every limit, nothing is affected.
    let limits: Vec<&str> = events.iter().filter_map(|e| e.limit.as_deref()).collect();
    let mut below_limit = limits.is_empty();
    for l in limits {
        match l {
            "*" => below_limit = true,
            l => below_limit |= cmp(v, l)? == Ordering::Less,
        }
    }
    if !comparable || !below_limit {
        return None;
    }
    let mut affected = false;
    let mut fixed = None;
    for e in sorted {
        if let Some(i) = &e.introduced {
            if zero(i) || cmp(v, i)? != Ordering::Less {
                affected = true;
                fixed = None;
            }
        } else if let Some(f) = &e.fixed {
            if cmp(v, f)? != Ordering::Less {
                affected = false;
            } else if affected && fixed.is_none() {
                fixed = Some(f.clone());
            }
        } else if let Some(l) = &e.last_affected
            && cmp(v, l)? == Ordering::Greater
        {
            affected = false;
        }
    }
    affected.then_some(fixed)
}

/// SemVer 2.0 precedence (build metadata ignored; a leading `v` tolerated); `None` if either is
/// not a version.
pub fn semver_cmp(a: &str, b: &str) -> Option<Ordering> {
    fn parse(s: &str) -> Option<([u64; 3], Vec<&str>)> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s.split('+').next()?;
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, p.split('.').collect()),
            None => (s, Vec::new()),
        };
        let mut n = [0u64; 3];
        let mut parts = core.split('.');
        for slot in &mut n {
            *slot = parts.next()?.parse().ok()?;
        }
        parts.next().is_none().then_some((n, pre))
    }
    let (na, pa) = parse(a)?;
    let (nb, pb) = parse(b)?;
    Some(na.cmp(&nb).then_with(|| match (pa.is_empty(), pb.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            for (x, y) in pa.iter().zip(&pb) {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            pa.len().cmp(&pb.len())
        }
    }))
}

/// An RFC 3339 timestamp (`2023-09-20T19:19:30Z`, fractions and offsets allowed) in Unix ms.
pub fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':'
        || b[16] != b':'
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        ms = frac[..digits.min(3)].parse::<i64>().ok()? * 10i64.pow(3 - digits.min(3) as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && matches!(&o[..1], "+" | "-") && &o[3..4] == ":" => {
            let m = o[1..3].parse::<i64>().ok()? * 60 + o[4..6].parse::<i64>().ok()?;
            if o.starts_with('-') { -m } else { m }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset * 60) * 1000 + ms)
}

#[cfg(test)]
mod tests;

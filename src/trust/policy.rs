//! Policies per repository pattern: what a scan's findings and an image's signatures decide
//! about serving it. Patterns are repository names in which `*` stands for any characters,
//! `/` included (`team/*`, `*`); where several match, the most specific wins (the most literal
//! characters; an exact name beats any wildcard), as notation's trust policy picks a scope.

use serde::{Deserialize, Serialize};

use super::osv::Severity;

/// What a matching policy does with signatures: `enforce` refuses to serve an image without a
/// valid signature by a trusted key, `audit` serves it and logs, `skip` does not look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustMode {
    Enforce,
    Audit,
    Skip,
}

/// A signature trust policy: who must have signed the images of matching repositories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustPolicy {
    pub name: String,
    pub repository: String,
    pub mode: TrustMode,
    /// PEM certificates (roots of signing chains) and public keys (cosign keys).
    #[serde(default)]
    pub trusted: String,
}

/// A scan policy: what the findings of the images of matching repositories decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanPolicy {
    pub name: String,
    pub repository: String,
    /// Pulls of an image with a finding at or above this severity are refused.
    #[serde(default)]
    pub refuse_severity: Option<Severity>,
    /// The scan sets the quarantine state: `Failed` with a finding at or above this severity,
    /// `Passed` otherwise.
    #[serde(default)]
    pub quarantine_severity: Option<Severity>,
}

/// Something a policy applies to, by repository pattern.
pub trait ByPattern {
    fn pattern(&self) -> &str;
}

impl ByPattern for TrustPolicy {
    fn pattern(&self) -> &str {
        &self.repository
    }
}

impl ByPattern for ScanPolicy {
    fn pattern(&self) -> &str {
        &self.repository
    }
}

/// Whether repository `name` matches `pattern` (`*`: any characters, `/` included). Greedy
/// matching with backtracking to the last `*` only: linear in practice, never exponential.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i.min(p.len())..].iter().all(|&c| c == b'*')
}

/// The policy that governs `repository`: the matching one with the most literal characters.
pub fn governing<'a, P: ByPattern>(policies: &'a [P], repository: &str) -> Option<&'a P> {
    policies
        .iter()
        .filter(|p| matches(p.pattern(), repository))
        .max_by_key(|p| (!p.pattern().contains('*'), p.pattern().bytes().filter(|&c| c != b'*').count()))
}

/// A pattern is a repository name in which `*` may stand for any run of characters.
pub fn valid_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.len() <= 256
        && pattern.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-/*".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(name: &str, repository: &str) -> TrustPolicy {
        TrustPolicy {
            name: name.into(),
            repository: repository.into(),
            mode: TrustMode::Enforce,
            trusted: String::new(),
        }
    }

    #[test]
    fn patterns_match_names_with_stars_for_any_run() {
        for (pattern, name, want) in [
            ("*", "a/b/c", true),
            ("team/*", "team/app", true),
            ("team/*", "team/app/web", true),
            ("team/*", "teams/app", false),
            ("team/*", "team", false),
            ("app", "app", true),
            ("app", "app2", false),
            ("*-prod", "web/api-prod", true),
            ("*-prod", "web/api-prod2", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("**", "", true),
        ] {
            assert_eq!(matches(pattern, name), want, "{pattern} ~ {name}");
        }
        // A pathological pattern stays fast.
        let name = "a".repeat(10_000);
        assert!(!matches(&format!("{}b", "*a".repeat(100)), &name));
    }

    #[test]
    fn the_most_specific_policy_governs() {
        let policies =
            [trust("all", "*"), trust("team", "team/*"), trust("web", "team/web"), trust("deep", "team/web/*")];
        assert_eq!(governing(&policies, "team/web").map(|p| p.name.as_str()), Some("web"));
        assert_eq!(governing(&policies, "team/api").map(|p| p.name.as_str()), Some("team"));
        assert_eq!(governing(&policies, "team/web/x").map(|p| p.name.as_str()), Some("deep"));
        assert_eq!(governing(&policies, "other").map(|p| p.name.as_str()), Some("all"));
        assert!(governing(&policies[1..], "other").is_none());
    }
}

//! Repository names and references (tag or digest), validated against the distribution-spec
//! grammar, spelled once here.
//!
//! name      = component ("/" component)*
//! component = [a-z0-9]+ (separator [a-z0-9]+)*    separator = "." | "_" | "__" | "-"+
//! tag       = [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}

use std::fmt;

use super::digest::{Digest, DigestError};

/// Longest repository name accepted (CNCF Distribution's limit, so names move between registries).
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("repository name is empty")]
    Empty,
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("repository name contains uppercase letter '{0}': names must be lowercase")]
    Uppercase(char),
    #[error("repository name contains invalid character {0:?}: only a-z, 0-9, '.', '_', '-' and '/' are allowed")]
    InvalidChar(char),
    #[error("repository name has an empty path component (leading, trailing or double '/')")]
    EmptyComponent,
    #[error("repository name component {0:?} must start and end with a letter or digit")]
    ComponentEdge(String),
    #[error(
        "repository name component {0:?} has an invalid separator: use '.', '_', '__' or dashes between letters and digits"
    )]
    BadSeparator(String),
    #[error("tag {0:?} is invalid: a tag is 1 to 128 of [A-Za-z0-9_.-] and cannot start with '.' or '-'")]
    Tag(String),
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// A repository name that follows the OCI grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        if let Some(c) = s.chars().find(|c| c.is_ascii_uppercase()) {
            return Err(NameError::Uppercase(c));
        }
        if let Some(c) =
            s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/')))
        {
            return Err(NameError::InvalidChar(c));
        }
        for component in s.split('/') {
            check_component(component)?;
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_component(c: &str) -> Result<(), NameError> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    match (bytes.first(), bytes.last()) {
        (None, _) | (_, None) => return Err(NameError::EmptyComponent),
        (Some(&f), Some(&l)) if !alnum(f) || !alnum(l) => {
            return Err(NameError::ComponentEdge(c.to_owned()));
        }
        _ => {}
    }
    // Each run of separator characters must be ".", "_", "__" or one or more "-".
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(NameError::BadSeparator(c.to_owned()));
        }
    }
    Ok(())
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let b = s.as_bytes();
        let first_ok = b.first().is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_');
        let rest_ok = b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !first_ok || !rest_ok || b.len() > MAX_TAG_LEN {
            return Err(NameError::Tag(s.chars().take(MAX_TAG_LEN + 8).collect()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `/manifests/<reference>` names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A reference containing ':' is a digest (tags cannot contain it); anything else must be a tag.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.contains(':') { Ok(Self::Digest(Digest::parse(s)?)) } else { Ok(Self::Tag(Tag::parse(s)?)) }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => t.fmt(f),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_grammar() {
        for ok in ["a", "library/ubuntu", "a.b_c__d---e/f0", "x/y/z", "0", "a-b"] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("", NameError::Empty),
            ("Foo", NameError::Uppercase('F')),
            ("a b", NameError::InvalidChar(' ')),
            ("a/../b", NameError::ComponentEdge("..".into())),
            ("/a", NameError::EmptyComponent),
            ("a//b", NameError::EmptyComponent),
            ("a/", NameError::EmptyComponent),
            ("-a", NameError::ComponentEdge("-a".into())),
            ("a___b", NameError::BadSeparator("a___b".into())),
            ("a._b", NameError::BadSeparator("a._b".into())),
            ("a:b", NameError::InvalidChar(':')),
            ("a%2fb", NameError::InvalidChar('%')),
        ];
        for (input, want) in cases {
            assert_eq!(RepoName::parse(input), Err(want), "{input:?}");
        }
        assert_eq!(RepoName::parse(&"a".repeat(256)), Err(NameError::TooLong));
        assert!(RepoName::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn uppercase_message_names_the_character() {
        let msg = RepoName::parse("myRepo").expect_err("uppercase").to_string();
        assert!(msg.contains("'R'") && msg.contains("lowercase"), "{msg}");
    }

    #[test]
    fn tags_follow_the_grammar() {
        for ok in ["latest", "v1.0.0", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a+b", &"t".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_are_tags_or_digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(Reference::parse(&d), Ok(Reference::Digest(_))));
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        assert!(Reference::parse("sha256:xyz").is_err());
        assert!(Reference::parse("..").is_err());
    }
}

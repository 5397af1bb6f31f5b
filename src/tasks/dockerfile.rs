//! The base images a Dockerfile builds FROM, and Docker's image-reference rules.
//!
//! ACR Tasks record each build's base images so that an update to one can trigger a rebuild; Berth does
//! the same. This reads just enough Dockerfile syntax to find every `FROM` correctly — parser
//! directives, line continuations, comments, heredocs and global `ARG` substitution — without
//! becoming a Dockerfile interpreter.

use std::collections::HashMap;

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("empty image reference")]
    Empty,
    #[error("image reference {reference:?}: {why}")]
    Invalid { reference: String, why: &'static str },
}

/// An image reference split by Docker's rules, with Docker Hub's implicit parts filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io` when the reference names none.
    pub registry: String,
    /// `library/x` for a single-component name on Docker Hub.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }
}

const DOCKER_HUB: &str = "docker.io";

/// Image references of every FROM in `dockerfile`, after substituting ARGs declared before the first FROM (their
/// defaults, overridden by `build_args`), excluding `scratch` and names of earlier stages (`FROM x AS build` …
/// `FROM build`), in order, deduplicated.
pub fn base_images(dockerfile: &str, build_args: &[(String, String)]) -> Vec<String> {
    let mut global_args: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    let mut seen_from = false;

    for line in logical_lines(dockerfile) {
        let mut words = line.split_whitespace();
        let Some(instruction) = words.next() else { continue };
        if instruction.eq_ignore_ascii_case("ARG") && !seen_from {
            for decl in words {
                let (name, default) = match decl.split_once('=') {
                    Some((n, v)) => (n, unquote(v)),
                    None => (decl, String::new()),
                };
                // A --build-arg overrides only an ARG the Dockerfile declares.
                let value = build_args.iter().rev().find(|(k, _)| k == name).map_or(default, |(_, v)| v.clone());
                global_args.insert(name.to_owned(), value);
            }
        } else if instruction.eq_ignore_ascii_case("FROM") {
            seen_from = true;
            let mut rest = words.skip_while(|w| w.starts_with("--"));
            let Some(raw) = rest.next() else { continue };
            let image = expand(raw, &global_args);
            let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(&image));
            if !image.is_empty() && !image.eq_ignore_ascii_case("scratch") && !is_stage && !images.contains(&image) {
                images.push(image);
            }
            if let (Some(kw), Some(name)) = (rest.next(), rest.next())
                && kw.eq_ignore_ascii_case("AS")
            {
                stages.push(name.to_owned());
            }
        }
    }
    images
}

/// Splits a Dockerfile into instructions: directives read, comments dropped, continuations joined and
/// heredoc bodies skipped.
fn logical_lines(dockerfile: &str) -> Vec<String> {
    let mut escape = '\\';
    let mut lines = dockerfile.lines().peekable();

    // Parser directives (`# escape=``) come first; anything else, even a blank line, ends them.
    while let Some(line) = lines.peek() {
        let Some(body) = line.trim().strip_prefix('#') else { break };
        let Some((key, value)) = body.split_once('=') else { break };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            break;
        }
        if key.eq_ignore_ascii_case("escape") {
            match value.trim() {
                "`" => escape = '`',
                "\\" => escape = '\\',
                _ => {}
            }
        }
        lines.next();
    }

    let mut out = Vec::new();
    let mut current = String::new();
    let mut continuing = false;
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        // Comment and empty lines vanish, even in the middle of a continued instruction.
        if trimmed.starts_with('#') || (continuing && trimmed.is_empty()) {
            continue;
        }
        let body = line.trim_end();
        if let Some(joined) = body.strip_suffix(escape) {
            current.push_str(joined);
            continuing = true;
            continue;
        }
        current.push_str(line);
        continuing = false;
        let instruction = std::mem::take(&mut current);
        for (delimiter, strip_tabs) in heredoc_delimiters(&instruction) {
            for body_line in lines.by_ref() {
                let candidate = if strip_tabs { body_line.trim_start_matches('\t') } else { body_line };
                if candidate == delimiter {
                    break;
                }
            }
        }
        out.push(instruction);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// The heredoc terminators (`<<EOF`, `<<-EOF`, `<<"EOF"`) a RUN, COPY or ADD opens, in order;
/// the bool says whether leading tabs are stripped before matching.
fn heredoc_delimiters(instruction: &str) -> Vec<(String, bool)> {
    let mut words = instruction.split_whitespace();
    let takes_heredocs = words.next().is_some_and(|i| ["RUN", "COPY", "ADD"].iter().any(|k| i.eq_ignore_ascii_case(k)));
    if !takes_heredocs {
        return Vec::new();
    }
    let mut found = Vec::new();
    for word in words {
        let mut rest = word;
        // A word may hold several, as in `<<A<<B` or `cat<<EOF`.
        while let Some(pos) = rest.find("<<") {
            rest = &rest[pos + 2..];
            let strip_tabs = rest.starts_with('-');
            if strip_tabs {
                rest = &rest[1..];
            }
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
            if let Some(q) = quote {
                rest = &rest[1..];
                let end = rest.find(q).unwrap_or(rest.len());
                let name = &rest[..end];
                rest = rest.get(end + 1..).unwrap_or("");
                if !name.is_empty() {
                    found.push((name.to_owned(), strip_tabs));
                }
            } else {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                if end > 0 {
                    found.push((rest[..end].to_owned(), strip_tabs));
                }
                rest = &rest[end..];
            }
        }
    }
    found
}

fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2 && (bytes[0] == b'"' || bytes[0] == b'\'') && bytes[bytes.len() - 1] == bytes[0] {
        v[1..v.len() - 1].to_owned()
    } else {
        v.to_owned()
    }
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}` and `${VAR+alt}`;
/// unknown variables expand to nothing, as in Docker. Defaults are taken literally (no nesting).
fn expand(word: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(inner) = rest.strip_prefix('{') {
            let Some(close) = inner.find('}') else {
                // Docker refuses this; keeping the text makes the reference fail visibly downstream.
                out.push('$');
                continue;
            };
            let expr = &inner[..close];
            rest = &inner[close + 1..];
            let name_end = expr.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_end);
            let value = vars.get(name);
            let set_nonempty = value.is_some_and(|v| !v.is_empty());
            let expanded = if let Some(default) = op.strip_prefix(":-") {
                if set_nonempty { value.cloned().unwrap_or_default() } else { default.to_owned() }
            } else if let Some(default) = op.strip_prefix('-') {
                value.cloned().unwrap_or_else(|| default.to_owned())
            } else if let Some(alt) = op.strip_prefix(":+") {
                if set_nonempty { alt.to_owned() } else { String::new() }
            } else if let Some(alt) = op.strip_prefix('+') {
                if value.is_some() { alt.to_owned() } else { String::new() }
            } else {
                value.cloned().unwrap_or_default()
            };
            out.push_str(&expanded);
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if end == 0 {
                out.push('$');
                continue;
            }
            out.push_str(vars.get(&rest[..end]).map_or("", String::as_str));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// Splits `s` by Docker's rules: the first component is a registry if it contains '.' or ':' or is "localhost";
/// the tag follows the last ':' of the last component; the digest follows '@'.
pub fn parse_reference(s: &str) -> Result<ImageRef, Error> {
    if s.is_empty() {
        return Err(Error::Empty);
    }
    let invalid = |why| Error::Invalid { reference: s.to_owned(), why };
    let (name, digest) = match s.split_once('@') {
        Some((n, d)) => {
            if !valid_digest(d) {
                return Err(invalid("the digest is not algorithm:hex"));
            }
            (n, Some(d.to_owned()))
        }
        None => (s, None),
    };
    let (registry, remainder) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, name),
    };
    if !valid_registry(registry) {
        return Err(invalid("the registry is not host[:port]"));
    }
    let last_slash = remainder.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match remainder[last_slash..].rfind(':') {
        Some(i) => (&remainder[..last_slash + i], Some(&remainder[last_slash + i + 1..])),
        None => (remainder, None),
    };
    if let Some(tag) = tag
        && !valid_tag(tag)
    {
        return Err(invalid("the tag is not 1-128 of [A-Za-z0-9_.-], starting with a letter, digit or _"));
    }
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return Err(invalid(
            "the repository is not lowercase [a-z0-9] components joined by '.', '_', '__', '-' or '/'",
        ));
    }
    let registry = if registry == "index.docker.io" { DOCKER_HUB } else { registry };
    let repository =
        if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.to_owned() };
    Ok(ImageRef { registry: registry.to_owned(), repository, tag: tag.map(str::to_owned), digest })
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_digest(d: &str) -> bool {
    let Some((algo, hex)) = d.split_once(':') else { return false };
    let algo_ok = algo.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && algo.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'_' | b'-'));
    algo_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `[a-z0-9]+` joined by one '.', one or two '_', or any run of '-'.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.first().is_none_or(|x| !alnum(x)) || b.last().is_none_or(|x| !alnum(x)) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn simple_and_case_insensitive() {
        let df = "from alpine:3.20\nrun echo hi\nFrOm docker.io/library/debian:12\n";
        assert_eq!(base_images(df, &[]), ["alpine:3.20", "docker.io/library/debian:12"]);
    }

    #[test]
    fn stages_scratch_and_dedup() {
        let df = "\
FROM golang:1.22 AS build
RUN go build
FROM build AS test
FROM scratch
COPY --from=build /app /app
FROM golang:1.22
FROM Build
FROM gcr.io/distroless/static AS final
";
        assert_eq!(base_images(df, &[]), ["golang:1.22", "gcr.io/distroless/static"]);
    }

    #[test]
    fn platform_flag() {
        let df = "FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nFROM --platform=linux/arm64 alpine\n";
        assert_eq!(base_images(df, &[]), ["golang:1.22", "alpine"]);
    }

    #[test]
    fn args_before_first_from() {
        let df = "\
ARG BASE=alpine
ARG TAG=\"3.19\" REG
ARG VARIANT
FROM ${REG:-docker.io}/$BASE:${TAG}
ARG LATE=nope
FROM ${VARIANT:-debian}:${LATE:-12}
FROM ${BASE}${VARIANT:+-}${VARIANT}
";
        assert_eq!(base_images(df, &[]), ["docker.io/alpine:3.19", "debian:12", "alpine"]);
        let over = args(&[("TAG", "3.20"), ("VARIANT", "slim"), ("UNDECLARED", "x")]);
        assert_eq!(base_images(df, &over), ["docker.io/alpine:3.20", "slim:12", "alpine-slim"]);
    }

    #[test]
    fn continuations_and_comments() {
        let df = "\
# a comment
FROM \\
  # comment inside a continuation
  alpine:3.20 \\

  AS base
RUN apk add \\
    curl
FROM base
";
        assert_eq!(base_images(df, &[]), ["alpine:3.20"]);
    }

    #[test]
    fn escape_directive() {
        let df =
            "# escape=`\n\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 `\n  AS win\nRUN dir c:\\\nFROM win\n";
        assert_eq!(base_images(df, &[]), ["mcr.microsoft.com/windows/servercore:ltsc2022"]);
        // After a blank line it is an ordinary comment, and `\` stays the escape.
        let df = "\n# escape=`\nFROM alpine \\\n AS a\n";
        assert_eq!(base_images(df, &[]), ["alpine"]);
    }

    #[test]
    fn heredocs_are_not_instructions() {
        let df = "\
FROM alpine
RUN <<EOF
FROM not-an-image
EOF
COPY <<-\"A\" /a <<'B' /b
\tFROM nor-this
\tA
FROM nor-that
B
RUN cat<<X > /f
from nope
X
FROM debian
";
        assert_eq!(base_images(df, &[]), ["alpine", "debian"]);
    }

    #[test]
    fn escaped_dollar_and_unset() {
        let vars = HashMap::from([("A".to_owned(), "x".to_owned())]);
        assert_eq!(expand("$A-${B}-${B-d}-${A:+y}-$", &vars), "x--d-y-$");
    }

    #[test]
    fn references() {
        let r = |s: &str| parse_reference(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            r("alpine"),
            ImageRef { registry: "docker.io".into(), repository: "library/alpine".into(), tag: None, digest: None }
        );
        assert_eq!(r("alpine").tag_or_latest(), "latest");
        let x = r("localhost:5000/team/app:v1.2");
        assert_eq!(
            (x.registry.as_str(), x.repository.as_str(), x.tag_or_latest()),
            ("localhost:5000", "team/app", "v1.2")
        );
        let x = r("localhost/app");
        assert_eq!((x.registry.as_str(), x.repository.as_str()), ("localhost", "app"));
        let x = r("myorg/app:1");
        assert_eq!((x.registry.as_str(), x.repository.as_str()), ("docker.io", "myorg/app"));
        let x = r("index.docker.io/nginx");
        assert_eq!((x.registry.as_str(), x.repository.as_str()), ("docker.io", "library/nginx"));
        let d = format!("sha256:{}", "a".repeat(64));
        let x = r(&format!("berth.example.com:8443/a/b_c__d-e:tag@{d}"));
        assert_eq!(x.registry, "berth.example.com:8443");
        assert_eq!(x.repository, "a/b_c__d-e");
        assert_eq!(x.tag.as_deref(), Some("tag"));
        assert_eq!(x.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r(&format!("app@{d}")).tag, None);
    }

    #[test]
    fn bad_references() {
        for s in ["", "Alpine", "alpine:", "alpine:-x", "a//b", "app@sha256:xyz", "host:99999999/app", "a/b/", "-a"] {
            assert!(parse_reference(s).is_err(), "{s:?} was accepted");
        }
    }
}

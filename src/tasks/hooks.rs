//! Source commit triggers: the webhook a git service calls on every push to a task's
//! repository. [`verify`] tells the service apart by its headers, authenticates the call with the
//! task's secret (an HMAC of the body for GitHub and Bitbucket, a token for GitLab, Basic auth for
//! Azure Repos) and only then reads the body, into the branches pushed and their commits. Anyone
//! can reach the endpoint, so a call that cannot be authenticated is refused before its body is
//! parsed, and what is parsed is bounded and checked before a build is started from it.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The largest body read; push payloads are a few kilobytes, so more is refused unread.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why a webhook call starts nothing.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Unsigned, signed with another secret, or from no service this module knows (401).
    #[error("the webhook call is not authenticated with this task's secret")]
    Unauthorized,
    /// Authenticated, but not the payload the service documents (400).
    #[error("the webhook payload is not a push this registry can read: {0}")]
    BadPayload(String),
    /// Over [`MAX_BODY`] (413).
    #[error("the webhook payload is over {MAX_BODY} bytes")]
    TooLarge,
}

/// The git service that sent the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    AzureRepos,
    GitLab,
    /// Bitbucket Cloud and Bitbucket Server/Data Center alike.
    Bitbucket,
}

/// The branches one push updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub provider: Provider,
    /// Never empty: a push of tags alone is not a push for a source trigger.
    pub refs: Vec<PushedRef>,
    /// The repository's clone URL, or its name where the payload has none, for the log.
    pub repository: Option<String>,
}

/// One branch a push moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRef {
    /// Without `refs/heads/`.
    pub branch: String,
    /// The new head (hex object id); `None` exactly when the branch was deleted.
    pub commit: Option<String>,
    pub deleted: bool,
}

impl Push {
    /// The commit pushed to `branch`, if this push updated it (not a deletion).
    pub fn commit_on(&self, branch: &str) -> Option<Option<&str>> {
        let last = self.refs.iter().rev().find(|r| r.branch == branch)?;
        (!last.deleted).then_some(last.commit.as_deref())
    }
}

/// Works out the provider from the headers, verifies the request with `secret`, and parses the
/// push. `Ok(None)` is an authenticated call that is not a branch push (a ping, a tag push, a pull
/// request event): answer it 2xx and start nothing.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<Option<Push>, Error> {
    if body.len() > MAX_BODY {
        return Err(Error::TooLarge);
    }
    // An empty secret would make every signature forgeable and every token guessable.
    if secret.is_empty() {
        return Err(Error::Unauthorized);
    }
    if let Some(event) = header(headers, "x-github-event") {
        // Only the SHA-256 signature: `X-Hub-Signature` (SHA-1) alone is not enough.
        check_signature(header(headers, "x-hub-signature-256"), body, secret)?;
        return if event.eq_ignore_ascii_case("push") { github(body) } else { Ok(None) };
    }
    if let Some(event) = header(headers, "x-gitlab-event") {
        check_token(header(headers, "x-gitlab-token").ok_or(Error::Unauthorized)?.as_bytes(), secret)?;
        return if event.eq_ignore_ascii_case("Push Hook") { gitlab(body) } else { Ok(None) };
    }
    if let Some(event) = header(headers, "x-event-key") {
        // Bitbucket Cloud and Server both sign with SHA-256 under GitHub's older header name.
        check_signature(header(headers, "x-hub-signature"), body, secret)?;
        return match event {
            "repo:push" => bitbucket_cloud(body),
            "repo:refs_changed" => bitbucket_server(body),
            _ => Ok(None),
        };
    }
    // Azure DevOps service hooks carry no header of their own; Basic auth is their only mark.
    if let Some(authorization) = header(headers, "authorization") {
        check_basic(authorization, secret)?;
        return azure(body);
    }
    Err(Error::Unauthorized)
}

/// The `X-Hub-Signature-256` value GitHub sends for `body` (Bitbucket's `X-Hub-Signature` too).
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex::encode(hmac::sign(&key, body)))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Checks `sha256=<hex HMAC-SHA256 of the body>`; ring compares the tags in constant time.
fn check_signature(value: Option<&str>, body: &[u8], secret: &[u8]) -> Result<(), Error> {
    let (algorithm, tag) = value.and_then(|v| v.split_once('=')).ok_or(Error::Unauthorized)?;
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(Error::Unauthorized);
    }
    let tag = hex::decode(tag).map_err(|_| Error::Unauthorized)?;
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), body, &tag).map_err(|_| Error::Unauthorized)
}

/// Compares a presented token with the secret without the timing showing how much matched: both
/// go through HMAC keyed with the secret and ring compares the tags in constant time.
fn check_token(presented: &[u8], secret: &[u8]) -> Result<(), Error> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, presented, hmac::sign(&key, secret).as_ref()).map_err(|_| Error::Unauthorized)
}

/// `Basic base64(user:password)` with any user and the secret as password.
fn check_basic(authorization: &str, secret: &[u8]) -> Result<(), Error> {
    let (scheme, credentials) = authorization.split_once(' ').ok_or(Error::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::Unauthorized);
    }
    let decoded = STANDARD.decode(credentials.trim()).map_err(|_| Error::Unauthorized)?;
    let password = decoded.splitn(2, |&b| b == b':').nth(1).ok_or(Error::Unauthorized)?;
    check_token(password, secret)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::BadPayload(e.to_string()))
}

fn bad(why: impl Into<String>) -> Error {
    Error::BadPayload(why.into())
}

/// The push, or `None` when it moved no branch.
fn push(provider: Provider, refs: Vec<PushedRef>, repository: Option<String>) -> Option<Push> {
    (!refs.is_empty()).then_some(Push { provider, refs, repository })
}

/// A branch moved to `commit`; no commit, or the all-zero id, is a deletion. Both are checked,
/// since they end up in the build's `git` commands and its log.
fn pushed(branch: &str, commit: Option<&str>) -> Result<PushedRef, Error> {
    if !is_branch_name(branch) {
        return Err(bad(format!("{branch:?} is not a branch name")));
    }
    let commit = commit.filter(|c| !c.bytes().all(|b| b == b'0'));
    if let Some(c) = commit
        && !((c.len() == 40 || c.len() == 64) && c.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(bad(format!("{c:?} is not a commit id")));
    }
    Ok(PushedRef { branch: branch.to_owned(), commit: commit.map(str::to_owned), deleted: commit.is_none() })
}

/// The part of `git check-ref-format` that matters here, and no leading `-` (an option to git).
fn is_branch_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name.chars().any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
}

fn github(body: &[u8]) -> Result<Option<Push>, Error> {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(rename = "ref")]
        reference: String,
        after: String,
        #[serde(default)]
        deleted: bool,
        repository: Option<Repository>,
    }
    #[derive(Deserialize)]
    struct Repository {
        clone_url: Option<String>,
        full_name: Option<String>,
    }
    let p: Payload = parse(body)?;
    let refs = match p.reference.strip_prefix("refs/heads/") {
        Some(branch) => vec![pushed(branch, (!p.deleted).then_some(p.after.as_str()))?],
        None => Vec::new(),
    };
    Ok(push(Provider::GitHub, refs, p.repository.and_then(|r| r.clone_url.or(r.full_name))))
}

fn gitlab(body: &[u8]) -> Result<Option<Push>, Error> {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(rename = "ref")]
        reference: String,
        after: Option<String>,
        checkout_sha: Option<String>,
        project: Option<Project>,
    }
    #[derive(Deserialize)]
    struct Project {
        git_http_url: Option<String>,
        path_with_namespace: Option<String>,
    }
    let p: Payload = parse(body)?;
    let commit = p.after.or(p.checkout_sha).ok_or_else(|| bad("neither `after` nor `checkout_sha`"))?;
    let refs = match p.reference.strip_prefix("refs/heads/") {
        Some(branch) => vec![pushed(branch, Some(&commit))?],
        None => Vec::new(),
    };
    Ok(push(Provider::GitLab, refs, p.project.and_then(|r| r.git_http_url.or(r.path_with_namespace))))
}

fn azure(body: &[u8]) -> Result<Option<Push>, Error> {
    #[derive(Deserialize)]
    struct Event {
        #[serde(rename = "eventType")]
        event_type: String,
    }
    #[derive(Deserialize)]
    struct Payload {
        resource: Resource,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Resource {
        ref_updates: Vec<RefUpdate>,
        repository: Option<Repository>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RefUpdate {
        name: String,
        new_object_id: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Repository {
        remote_url: Option<String>,
        name: Option<String>,
    }
    // Pull request and other events have another `resource`: read the type first.
    if parse::<Event>(body)?.event_type != "git.push" {
        return Ok(None);
    }
    let p: Payload = parse(body)?;
    let refs = p
        .resource
        .ref_updates
        .iter()
        .filter_map(|u| Some(pushed(u.name.strip_prefix("refs/heads/")?, Some(&u.new_object_id))))
        .collect::<Result<_, _>>()?;
    Ok(push(Provider::AzureRepos, refs, p.resource.repository.and_then(|r| r.remote_url.or(r.name))))
}

fn bitbucket_cloud(body: &[u8]) -> Result<Option<Push>, Error> {
    #[derive(Deserialize)]
    struct Payload {
        push: Changes,
        repository: Option<Repository>,
    }
    #[derive(Deserialize)]
    struct Changes {
        changes: Vec<Change>,
    }
    #[derive(Deserialize)]
    struct Change {
        new: Option<Ref>,
        old: Option<Ref>,
    }
    #[derive(Deserialize)]
    struct Ref {
        #[serde(rename = "type")]
        kind: String,
        name: String,
        target: Option<Target>,
    }
    #[derive(Deserialize)]
    struct Target {
        hash: String,
    }
    #[derive(Deserialize)]
    struct Repository {
        full_name: Option<String>,
        links: Option<Links>,
    }
    #[derive(Deserialize)]
    struct Links {
        html: Option<Link>,
    }
    #[derive(Deserialize)]
    struct Link {
        href: String,
    }
    let p: Payload = parse(body)?;
    let mut refs = Vec::new();
    for change in &p.push.changes {
        match (&change.new, &change.old) {
            (Some(new), _) if new.kind == "branch" => {
                let target = new.target.as_ref().ok_or_else(|| bad("a branch without `target`"))?;
                refs.push(pushed(&new.name, Some(&target.hash))?);
            }
            (None, Some(old)) if old.kind == "branch" => refs.push(pushed(&old.name, None)?),
            (None, None) => return Err(bad("a change with neither `new` nor `old`")),
            _ => {}
        }
    }
    let repository = p.repository.and_then(|r| r.links.and_then(|l| l.html).map(|h| h.href).or(r.full_name));
    Ok(push(Provider::Bitbucket, refs, repository))
}

fn bitbucket_server(body: &[u8]) -> Result<Option<Push>, Error> {
    #[derive(Deserialize)]
    struct Payload {
        changes: Vec<Change>,
        repository: Option<Repository>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Change {
        #[serde(rename = "ref")]
        reference: Ref,
        to_hash: String,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Ref {
        display_id: String,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct Repository {
        slug: Option<String>,
        links: Option<Links>,
    }
    #[derive(Deserialize)]
    struct Links {
        #[serde(default)]
        clone: Vec<Link>,
    }
    #[derive(Deserialize)]
    struct Link {
        href: String,
        name: Option<String>,
    }
    let p: Payload = parse(body)?;
    let refs = p
        .changes
        .iter()
        .filter(|c| c.reference.kind.eq_ignore_ascii_case("BRANCH"))
        .map(|c| {
            let deleted = c.kind.eq_ignore_ascii_case("DELETE");
            pushed(&c.reference.display_id, (!deleted).then_some(c.to_hash.as_str()))
        })
        .collect::<Result<_, _>>()?;
    let repository = p.repository.and_then(|r| {
        let http = r.links.and_then(|l| l.clone.into_iter().find(|c| c.name.as_deref() == Some("http")));
        http.map(|c| c.href).or(r.slug)
    });
    Ok(push(Provider::Bitbucket, refs, repository))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for &(name, value) in pairs {
            map.insert(name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    /// `body` with the first byte of `at` changed, the JSON still valid.
    fn one_byte_changed(body: &str, at: &str) -> Vec<u8> {
        let mut bytes = body.as_bytes().to_vec();
        let i = body.find(at).expect("in the fixture");
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        bytes
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    fn one(push: Option<Push>) -> PushedRef {
        let push = push.expect("a push");
        assert_eq!(push.refs.len(), 1, "{push:?}");
        push.refs.into_iter().next().expect("one ref")
    }

    // GitHub ------------------------------------------------------------------------------------

    const GITHUB_PUSH: &str = r#"{
  "ref": "refs/heads/main",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
  "created": false,
  "deleted": false,
  "forced": false,
  "base_ref": null,
  "compare": "https://github.com/Codertocat/Hello-World/compare/6113728f27ae...0d1a26e67d8f",
  "commits": [],
  "head_commit": {
    "id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
    "message": "Update README.md",
    "timestamp": "2019-05-15T15:20:30Z"
  },
  "repository": {
    "id": 186853002,
    "name": "Hello-World",
    "full_name": "Codertocat/Hello-World",
    "private": false,
    "clone_url": "https://github.com/Codertocat/Hello-World.git",
    "default_branch": "main"
  },
  "pusher": { "name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com" },
  "sender": { "login": "Codertocat", "id": 21031067, "type": "User" }
}"#;

    const GITHUB_DELETE: &str = r#"{
  "ref": "refs/heads/feature/old",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "0000000000000000000000000000000000000000",
  "created": false,
  "deleted": true,
  "forced": false,
  "head_commit": null,
  "repository": { "full_name": "Codertocat/Hello-World", "clone_url": "https://github.com/Codertocat/Hello-World.git" }
}"#;

    const GITHUB_TAG: &str = r#"{
  "ref": "refs/tags/v1.0.0",
  "before": "0000000000000000000000000000000000000000",
  "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
  "created": true,
  "deleted": false,
  "repository": { "full_name": "Codertocat/Hello-World", "clone_url": "https://github.com/Codertocat/Hello-World.git" }
}"#;

    const GITHUB_PING: &str = r#"{
  "zen": "Keep it logically awesome.",
  "hook_id": 109948940,
  "hook": { "type": "Repository", "id": 109948940, "name": "web", "active": true, "events": ["push"] },
  "repository": { "full_name": "Codertocat/Hello-World" }
}"#;

    fn github_call(event: &str, body: &[u8], secret: &[u8]) -> Result<Option<Push>, Error> {
        let signature = github_signature(secret, body);
        verify(&headers(&[("x-github-event", event), ("x-hub-signature-256", &signature)]), body, SECRET)
    }

    #[test]
    fn github_signature_matches_githubs_example() {
        assert_eq!(
            github_signature(SECRET, b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn github_push_names_branch_and_commit() {
        let push = github_call("push", GITHUB_PUSH.as_bytes(), SECRET).expect("verified").expect("a push");
        assert_eq!(push.provider, Provider::GitHub);
        assert_eq!(push.repository.as_deref(), Some("https://github.com/Codertocat/Hello-World.git"));
        assert_eq!(
            push.refs,
            [PushedRef {
                branch: "main".into(),
                commit: Some("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c".into()),
                deleted: false
            }]
        );
        assert_eq!(push.commit_on("main"), Some(Some("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c")));
        assert_eq!(push.commit_on("dev"), None);
    }

    #[test]
    fn github_tampered_body_is_refused() {
        let signature = github_signature(SECRET, GITHUB_PUSH.as_bytes());
        let body = one_byte_changed(GITHUB_PUSH, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c\",\n  \"created");
        let h = headers(&[("x-github-event", "push"), ("x-hub-signature-256", &signature)]);
        assert_eq!(verify(&h, &body, SECRET), Err(Error::Unauthorized));
    }

    #[test]
    fn github_wrong_secret_is_refused() {
        assert_eq!(github_call("push", GITHUB_PUSH.as_bytes(), b"another secret"), Err(Error::Unauthorized));
    }

    #[test]
    fn github_needs_the_sha256_signature() {
        let body = GITHUB_PUSH.as_bytes();
        assert_eq!(verify(&headers(&[("x-github-event", "push")]), body, SECRET), Err(Error::Unauthorized));
        // The legacy SHA-1 header alone, even correctly computed, is not accepted.
        let sha1 = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, SECRET), body);
        let legacy = format!("sha1={}", hex::encode(sha1));
        let h = headers(&[("x-github-event", "push"), ("x-hub-signature", &legacy)]);
        assert_eq!(verify(&h, body, SECRET), Err(Error::Unauthorized));
        // Nor a SHA-1 value under the SHA-256 header, nor a bare hex digest.
        let h = headers(&[("x-github-event", "push"), ("x-hub-signature-256", &legacy)]);
        assert_eq!(verify(&h, body, SECRET), Err(Error::Unauthorized));
        let bare = github_signature(SECRET, body).replace("sha256=", "");
        let h = headers(&[("x-github-event", "push"), ("x-hub-signature-256", &bare)]);
        assert_eq!(verify(&h, body, SECRET), Err(Error::Unauthorized));
    }

    #[test]
    fn github_signature_hex_case_does_not_matter() {
        let body = GITHUB_PUSH.as_bytes();
        let upper = github_signature(SECRET, body).to_uppercase();
        let h = headers(&[("x-github-event", "Push"), ("x-hub-signature-256", &upper)]);
        assert!(verify(&h, body, SECRET).expect("verified").is_some());
    }

    #[test]
    fn github_ping_and_tag_push_start_nothing() {
        assert_eq!(github_call("ping", GITHUB_PING.as_bytes(), SECRET), Ok(None));
        assert_eq!(github_call("push", GITHUB_TAG.as_bytes(), SECRET), Ok(None));
        assert_eq!(github_call("ping", GITHUB_PING.as_bytes(), b"another secret"), Err(Error::Unauthorized));
    }

    #[test]
    fn github_deletion() {
        let deleted = one(github_call("push", GITHUB_DELETE.as_bytes(), SECRET).expect("verified"));
        assert_eq!(deleted, PushedRef { branch: "feature/old".into(), commit: None, deleted: true });
    }

    #[test]
    fn github_garbage_is_a_bad_payload() {
        for body in ["not json", "{}", r#"{"ref": "refs/heads/main"}"#, r#"{"ref": 1, "after": "x"}"#] {
            let result = github_call("push", body.as_bytes(), SECRET);
            assert!(matches!(result, Err(Error::BadPayload(_))), "{body}: {result:?}");
        }
    }

    #[test]
    fn hostile_names_and_ids_are_bad_payloads() {
        let sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
        for (reference, after) in [
            ("refs/heads/--upload-pack=touch /tmp/x", sha),
            ("refs/heads/a..b", sha),
            ("refs/heads/", sha),
            ("refs/heads/main\nlog-line", sha),
            ("refs/heads/main", "HEAD~1"),
            ("refs/heads/main", "--all"),
            ("refs/heads/main", "0d1a26e"),
        ] {
            let body = serde_json::json!({ "ref": reference, "after": after }).to_string();
            let result = github_call("push", body.as_bytes(), SECRET);
            assert!(matches!(result, Err(Error::BadPayload(_))), "{reference} {after}: {result:?}");
        }
    }

    #[test]
    fn oversized_body_is_refused_unread() {
        let body = vec![b' '; MAX_BODY + 1];
        assert_eq!(github_call("push", &body, SECRET), Err(Error::TooLarge));
        let h = headers(&[("authorization", &basic("", "It's a Secret to Everybody"))]);
        assert_eq!(verify(&h, &body, SECRET), Err(Error::TooLarge));
        // At the limit it is read (and here is not JSON).
        let body = vec![b' '; MAX_BODY];
        assert!(matches!(github_call("push", &body, SECRET), Err(Error::BadPayload(_))));
    }

    #[test]
    fn unknown_callers_and_empty_secrets_are_refused() {
        let body = GITHUB_PUSH.as_bytes();
        assert_eq!(verify(&HeaderMap::new(), body, SECRET), Err(Error::Unauthorized));
        let signature = github_signature(SECRET, body);
        let h = headers(&[("x-hub-signature-256", &signature), ("content-type", "application/json")]);
        assert_eq!(verify(&h, body, SECRET), Err(Error::Unauthorized));
        let signature = github_signature(b"", body);
        let h = headers(&[("x-github-event", "push"), ("x-hub-signature-256", &signature)]);
        assert_eq!(verify(&h, body, b""), Err(Error::Unauthorized));
    }

    // GitLab ------------------------------------------------------------------------------------

    const GITLAB_PUSH: &str = r#"{
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "ref": "refs/heads/master",
  "ref_protected": true,
  "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "user_id": 4,
  "user_name": "John Smith",
  "project_id": 15,
  "project": {
    "id": 15,
    "name": "Diaspora",
    "web_url": "http://example.com/mike/diaspora",
    "git_ssh_url": "git@example.com:mike/diaspora.git",
    "git_http_url": "http://example.com/mike/diaspora.git",
    "path_with_namespace": "mike/diaspora",
    "default_branch": "master"
  },
  "commits": [],
  "total_commits_count": 4,
  "repository": { "name": "Diaspora", "git_http_url": "http://example.com/mike/diaspora.git" }
}"#;

    const GITLAB_DELETE: &str = r#"{
  "object_kind": "push",
  "before": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "after": "0000000000000000000000000000000000000000",
  "ref": "refs/heads/topic",
  "checkout_sha": null,
  "project": { "git_http_url": "http://example.com/mike/diaspora.git" },
  "commits": [],
  "total_commits_count": 0
}"#;

    const GITLAB_TAG: &str = r#"{
  "object_kind": "tag_push",
  "before": "0000000000000000000000000000000000000000",
  "after": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "ref": "refs/tags/v1.0.0",
  "checkout_sha": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "project": { "git_http_url": "http://example.com/jsmith/example.git" }
}"#;

    fn gitlab_call(event: &str, body: &[u8], token: Option<&str>) -> Result<Option<Push>, Error> {
        let mut pairs = vec![("x-gitlab-event", event)];
        pairs.extend(token.map(|t| ("x-gitlab-token", t)));
        verify(&headers(&pairs), body, SECRET)
    }

    const TOKEN: Option<&str> = Some("It's a Secret to Everybody");

    #[test]
    fn gitlab_push_names_branch_and_commit() {
        let push = gitlab_call("Push Hook", GITLAB_PUSH.as_bytes(), TOKEN).expect("verified").expect("a push");
        assert_eq!(push.provider, Provider::GitLab);
        assert_eq!(push.repository.as_deref(), Some("http://example.com/mike/diaspora.git"));
        assert_eq!(push.commit_on("master"), Some(Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7")));
    }

    #[test]
    fn gitlab_wrong_or_missing_token_is_refused() {
        let body = GITLAB_PUSH.as_bytes();
        assert_eq!(gitlab_call("Push Hook", body, Some("It's a Secret to Everybod")), Err(Error::Unauthorized));
        assert_eq!(gitlab_call("Push Hook", body, Some("It's a Secret to Everybody!")), Err(Error::Unauthorized));
        assert_eq!(gitlab_call("Push Hook", body, Some("")), Err(Error::Unauthorized));
        assert_eq!(gitlab_call("Push Hook", body, None), Err(Error::Unauthorized));
        assert_eq!(gitlab_call("Tag Push Hook", GITLAB_TAG.as_bytes(), None), Err(Error::Unauthorized));
    }

    #[test]
    fn gitlab_tag_push_and_other_events_start_nothing() {
        assert_eq!(gitlab_call("Tag Push Hook", GITLAB_TAG.as_bytes(), TOKEN), Ok(None));
        assert_eq!(gitlab_call("Merge Request Hook", b"{}", TOKEN), Ok(None));
        // A tag sent as a push event is still no branch.
        assert_eq!(gitlab_call("push hook", GITLAB_TAG.as_bytes(), TOKEN), Ok(None));
    }

    #[test]
    fn gitlab_deletion() {
        let deleted = one(gitlab_call("Push Hook", GITLAB_DELETE.as_bytes(), TOKEN).expect("verified"));
        assert_eq!(deleted, PushedRef { branch: "topic".into(), commit: None, deleted: true });
    }

    #[test]
    fn gitlab_garbage_is_a_bad_payload() {
        for body in ["[]", "{\"ref\": \"refs/heads/master\"}", "\u{0}"] {
            let result = gitlab_call("Push Hook", body.as_bytes(), TOKEN);
            assert!(matches!(result, Err(Error::BadPayload(_))), "{body}: {result:?}");
        }
    }

    // Azure Repos -------------------------------------------------------------------------------

    const AZURE_PUSH: &str = r#"{
  "subscriptionId": "00000000-0000-0000-0000-000000000000",
  "notificationId": 3,
  "id": "03c164c2-8912-4d5e-8009-3707d5f83734",
  "eventType": "git.push",
  "publisherId": "tfs",
  "message": { "text": "Jamal Hartnett pushed updates to Fabrikam-Fiber-Git:master." },
  "resource": {
    "commits": [
      { "commitId": "33b55f7cb7e7e245323987634f960cf4a6e6bc74", "comment": "Fixed bug in web.config file" }
    ],
    "refUpdates": [
      {
        "name": "refs/heads/master",
        "oldObjectId": "aad331d8d3b131fa9ae03cf5e53965b51942618a",
        "newObjectId": "33b55f7cb7e7e245323987634f960cf4a6e6bc74"
      },
      {
        "name": "refs/tags/v1",
        "oldObjectId": "0000000000000000000000000000000000000000",
        "newObjectId": "33b55f7cb7e7e245323987634f960cf4a6e6bc74"
      },
      {
        "name": "refs/heads/old",
        "oldObjectId": "aad331d8d3b131fa9ae03cf5e53965b51942618a",
        "newObjectId": "0000000000000000000000000000000000000000"
      }
    ],
    "repository": {
      "id": "278d5cd2-584d-4b63-824a-2ba458937249",
      "name": "Fabrikam-Fiber-Git",
      "defaultBranch": "refs/heads/master",
      "remoteUrl": "https://fabrikam-fiber-inc.visualstudio.com/DefaultCollection/_git/Fabrikam-Fiber-Git"
    },
    "pushedBy": { "displayName": "Jamal Hartnett", "uniqueName": "fabrikamfiber4@hotmail.com" },
    "pushId": 14,
    "date": "2014-05-02T19:17:13.3309587Z"
  },
  "resourceVersion": "1.0",
  "createdDate": "2024-01-10T18:25:19.813Z"
}"#;

    const AZURE_PULL_REQUEST: &str = r#"{
  "id": "2ab4e3d3-b7a6-425e-92b1-5a9982c1269e",
  "eventType": "git.pullrequest.created",
  "publisherId": "tfs",
  "resource": {
    "repository": { "name": "Fabrikam", "remoteUrl": "https://fabrikam.visualstudio.com/DefaultCollection/_git/Fabrikam" },
    "pullRequestId": 1,
    "status": "active",
    "sourceRefName": "refs/heads/mytopic",
    "targetRefName": "refs/heads/master"
  }
}"#;

    fn azure_call(body: &[u8], authorization: &str) -> Result<Option<Push>, Error> {
        verify(&headers(&[("authorization", authorization)]), body, SECRET)
    }

    #[test]
    fn azure_push_names_branches_and_commits() {
        let auth = basic("berth", "It's a Secret to Everybody");
        let push = azure_call(AZURE_PUSH.as_bytes(), &auth).expect("verified").expect("a push");
        assert_eq!(push.provider, Provider::AzureRepos);
        assert_eq!(
            push.repository.as_deref(),
            Some("https://fabrikam-fiber-inc.visualstudio.com/DefaultCollection/_git/Fabrikam-Fiber-Git")
        );
        assert_eq!(
            push.refs,
            [
                PushedRef {
                    branch: "master".into(),
                    commit: Some("33b55f7cb7e7e245323987634f960cf4a6e6bc74".into()),
                    deleted: false
                },
                PushedRef { branch: "old".into(), commit: None, deleted: true },
            ]
        );
        assert_eq!(push.commit_on("master"), Some(Some("33b55f7cb7e7e245323987634f960cf4a6e6bc74")));
        assert_eq!(push.commit_on("old"), None);
        assert_eq!(push.commit_on("v1"), None);
    }

    #[test]
    fn azure_any_user_and_scheme_case() {
        let auth = format!("basic {}", STANDARD.encode(":It's a Secret to Everybody"));
        assert!(azure_call(AZURE_PUSH.as_bytes(), &auth).expect("verified").is_some());
        // A colon in the password is part of it.
        let h = headers(&[("authorization", &basic("u", "a:b"))]);
        assert!(verify(&h, AZURE_PUSH.as_bytes(), b"a:b").expect("verified").is_some());
    }

    #[test]
    fn azure_wrong_or_missing_password_is_refused() {
        let body = AZURE_PUSH.as_bytes();
        for auth in [
            basic("berth", "It's a Secret to everybody"),
            basic("It's a Secret to Everybody", ""),
            format!("Basic {}", STANDARD.encode("It's a Secret to Everybody")),
            format!("Bearer {}", STANDARD.encode(":It's a Secret to Everybody")),
            "Basic not-base64!".to_owned(),
            "Basic".to_owned(),
        ] {
            assert_eq!(azure_call(body, &auth), Err(Error::Unauthorized), "{auth}");
        }
    }

    #[test]
    fn azure_pull_request_starts_nothing() {
        let auth = basic("berth", "It's a Secret to Everybody");
        assert_eq!(azure_call(AZURE_PULL_REQUEST.as_bytes(), &auth), Ok(None));
        let wrong = basic("berth", "guess");
        assert_eq!(azure_call(AZURE_PULL_REQUEST.as_bytes(), &wrong), Err(Error::Unauthorized));
    }

    #[test]
    fn azure_garbage_is_a_bad_payload() {
        let auth = basic("berth", "It's a Secret to Everybody");
        for body in ["", "{", r#"{"eventType": "git.push"}"#, r#"{"eventType": "git.push", "resource": {}}"#] {
            let result = azure_call(body.as_bytes(), &auth);
            assert!(matches!(result, Err(Error::BadPayload(_))), "{body}: {result:?}");
        }
    }

    // Bitbucket Cloud ---------------------------------------------------------------------------

    const BITBUCKET_PUSH: &str = r#"{
  "push": {
    "changes": [
      {
        "new": {
          "type": "branch",
          "name": "main",
          "target": {
            "type": "commit",
            "hash": "709d658dc5b6d6afcd46049c2f332ee3f515a67d",
            "message": "Add a Dockerfile\n",
            "date": "2024-03-01T10:00:00+00:00"
          }
        },
        "old": {
          "type": "branch",
          "name": "main",
          "target": { "type": "commit", "hash": "1e65c05c1d5171631d92438a13901ca7dae9618c" }
        },
        "created": false,
        "forced": false,
        "closed": false,
        "truncated": false,
        "commits": []
      }
    ]
  },
  "repository": {
    "type": "repository",
    "name": "repo_name",
    "full_name": "team_name/repo_name",
    "uuid": "{21fa9bf8-b5b2-4891-97ed-d590bad0f871}",
    "links": { "html": { "href": "https://bitbucket.org/team_name/repo_name" } }
  },
  "actor": { "type": "user", "display_name": "Emma" }
}"#;

    const BITBUCKET_DELETE: &str = r#"{
  "push": {
    "changes": [
      {
        "new": null,
        "old": {
          "type": "branch",
          "name": "feature",
          "target": { "type": "commit", "hash": "1e65c05c1d5171631d92438a13901ca7dae9618c" }
        },
        "created": false,
        "forced": false,
        "closed": true
      }
    ]
  },
  "repository": { "full_name": "team_name/repo_name" }
}"#;

    const BITBUCKET_TAG: &str = r#"{
  "push": {
    "changes": [
      {
        "new": { "type": "tag", "name": "v1.0", "target": { "hash": "709d658dc5b6d6afcd46049c2f332ee3f515a67d" } },
        "old": null,
        "created": true
      }
    ]
  },
  "repository": { "full_name": "team_name/repo_name" }
}"#;

    fn bitbucket_call(event: &str, body: &[u8], secret: &[u8]) -> Result<Option<Push>, Error> {
        let signature = github_signature(secret, body);
        verify(&headers(&[("x-event-key", event), ("x-hub-signature", &signature)]), body, SECRET)
    }

    #[test]
    fn bitbucket_cloud_push_names_branch_and_commit() {
        let push = bitbucket_call("repo:push", BITBUCKET_PUSH.as_bytes(), SECRET).expect("verified").expect("a push");
        assert_eq!(push.provider, Provider::Bitbucket);
        assert_eq!(push.repository.as_deref(), Some("https://bitbucket.org/team_name/repo_name"));
        assert_eq!(push.commit_on("main"), Some(Some("709d658dc5b6d6afcd46049c2f332ee3f515a67d")));
    }

    #[test]
    fn bitbucket_cloud_refuses_tampering_and_other_secrets() {
        let signature = github_signature(SECRET, BITBUCKET_PUSH.as_bytes());
        let body = one_byte_changed(BITBUCKET_PUSH, "ain\",\n          \"target");
        let h = headers(&[("x-event-key", "repo:push"), ("x-hub-signature", &signature)]);
        assert_eq!(verify(&h, &body, SECRET), Err(Error::Unauthorized));
        assert_eq!(bitbucket_call("repo:push", BITBUCKET_PUSH.as_bytes(), b"nope"), Err(Error::Unauthorized));
        let h = headers(&[("x-event-key", "repo:push")]);
        assert_eq!(verify(&h, BITBUCKET_PUSH.as_bytes(), SECRET), Err(Error::Unauthorized));
        // Bitbucket's header, not GitHub's.
        let h = headers(&[("x-event-key", "repo:push"), ("x-hub-signature-256", &signature)]);
        assert_eq!(verify(&h, BITBUCKET_PUSH.as_bytes(), SECRET), Err(Error::Unauthorized));
    }

    #[test]
    fn bitbucket_cloud_tags_and_other_events_start_nothing() {
        assert_eq!(bitbucket_call("repo:push", BITBUCKET_TAG.as_bytes(), SECRET), Ok(None));
        assert_eq!(bitbucket_call("pullrequest:created", b"{}", SECRET), Ok(None));
        assert_eq!(bitbucket_call("pullrequest:created", b"{}", b"nope"), Err(Error::Unauthorized));
    }

    #[test]
    fn bitbucket_cloud_deletion() {
        let deleted = one(bitbucket_call("repo:push", BITBUCKET_DELETE.as_bytes(), SECRET).expect("verified"));
        assert_eq!(deleted, PushedRef { branch: "feature".into(), commit: None, deleted: true });
    }

    #[test]
    fn bitbucket_cloud_garbage_is_a_bad_payload() {
        for body in ["garbage", r#"{"push": {}}"#, r#"{"push": {"changes": [{"new": null, "old": null}]}}"#] {
            let result = bitbucket_call("repo:push", body.as_bytes(), SECRET);
            assert!(matches!(result, Err(Error::BadPayload(_))), "{body}: {result:?}");
        }
    }

    // Bitbucket Server / Data Center ------------------------------------------------------------

    const BITBUCKET_SERVER_PUSH: &str = r#"{
  "eventKey": "repo:refs_changed",
  "date": "2019-06-17T19:37:57+1000",
  "actor": { "name": "john", "emailAddress": "john@example.com", "id": 500, "slug": "john", "type": "NORMAL" },
  "repository": {
    "slug": "test-repo",
    "id": 656,
    "name": "test-repo",
    "scmId": "git",
    "project": { "key": "MYPROJECT", "id": 389, "name": "My Project" },
    "links": {
      "clone": [
        { "href": "ssh://git@bitbucketserver:7999/myproject/test-repo.git", "name": "ssh" },
        { "href": "https://bitbucketserver/scm/myproject/test-repo.git", "name": "http" }
      ]
    }
  },
  "changes": [
    {
      "ref": { "id": "refs/heads/master", "displayId": "master", "type": "BRANCH" },
      "refId": "refs/heads/master",
      "fromHash": "f09c8889a2d234985734958795a31589cd91ffda",
      "toHash": "22671f0349857934857983457983475ec39f196b",
      "type": "UPDATE"
    },
    {
      "ref": { "id": "refs/tags/v2", "displayId": "v2", "type": "TAG" },
      "refId": "refs/tags/v2",
      "fromHash": "0000000000000000000000000000000000000000",
      "toHash": "22671f0349857934857983457983475ec39f196b",
      "type": "ADD"
    }
  ]
}"#;

    const BITBUCKET_SERVER_DELETE: &str = r#"{
  "eventKey": "repo:refs_changed",
  "repository": { "slug": "test-repo" },
  "changes": [
    {
      "ref": { "id": "refs/heads/release/1.0", "displayId": "release/1.0", "type": "BRANCH" },
      "refId": "refs/heads/release/1.0",
      "fromHash": "f09c8889a2d234985734958795a31589cd91ffda",
      "toHash": "0000000000000000000000000000000000000000",
      "type": "DELETE"
    }
  ]
}"#;

    #[test]
    fn bitbucket_server_push_names_branch_and_commit() {
        let push = bitbucket_call("repo:refs_changed", BITBUCKET_SERVER_PUSH.as_bytes(), SECRET)
            .expect("verified")
            .expect("a push");
        assert_eq!(push.provider, Provider::Bitbucket);
        assert_eq!(push.repository.as_deref(), Some("https://bitbucketserver/scm/myproject/test-repo.git"));
        assert_eq!(push.refs.len(), 1);
        assert_eq!(push.commit_on("master"), Some(Some("22671f0349857934857983457983475ec39f196b")));
    }

    #[test]
    fn bitbucket_server_refuses_tampering_and_other_secrets() {
        let signature = github_signature(SECRET, BITBUCKET_SERVER_PUSH.as_bytes());
        let body = one_byte_changed(BITBUCKET_SERVER_PUSH, "aster\", \"type\": \"BRANCH");
        let h = headers(&[("x-event-key", "repo:refs_changed"), ("x-hub-signature", &signature)]);
        assert_eq!(verify(&h, &body, SECRET), Err(Error::Unauthorized));
        let wrong = bitbucket_call("repo:refs_changed", BITBUCKET_SERVER_PUSH.as_bytes(), b"nope");
        assert_eq!(wrong, Err(Error::Unauthorized));
        let h = headers(&[("x-event-key", "repo:refs_changed")]);
        assert_eq!(verify(&h, BITBUCKET_SERVER_PUSH.as_bytes(), SECRET), Err(Error::Unauthorized));
    }

    #[test]
    fn bitbucket_server_ping_starts_nothing() {
        assert_eq!(bitbucket_call("diagnostics:ping", br#"{"test": true}"#, SECRET), Ok(None));
        assert_eq!(bitbucket_call("diagnostics:ping", br#"{"test": true}"#, b"nope"), Err(Error::Unauthorized));
    }

    #[test]
    fn bitbucket_server_deletion() {
        let deleted = one(bitbucket_call("repo:refs_changed", BITBUCKET_SERVER_DELETE.as_bytes(), SECRET).expect("ok"));
        assert_eq!(deleted, PushedRef { branch: "release/1.0".into(), commit: None, deleted: true });
    }

    #[test]
    fn bitbucket_server_garbage_is_a_bad_payload() {
        for body in ["<xml/>", r#"{"changes": [{"ref": {"displayId": "master"}}]}"#] {
            let result = bitbucket_call("repo:refs_changed", body.as_bytes(), SECRET);
            assert!(matches!(result, Err(Error::BadPayload(_))), "{body}: {result:?}");
        }
    }

    #[test]
    fn commit_on_follows_the_last_update() {
        let push = Push {
            provider: Provider::GitHub,
            refs: vec![
                PushedRef { branch: "main".into(), commit: Some("a".repeat(40)), deleted: false },
                PushedRef { branch: "main".into(), commit: None, deleted: true },
            ],
            repository: None,
        };
        assert_eq!(push.commit_on("main"), None);
        assert_eq!(push.commit_on("Main"), None);
    }
}

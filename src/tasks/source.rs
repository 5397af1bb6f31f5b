//! Where a run's build context comes from, fetched into its working directory: an archive the
//! client uploaded (kept in the blob store until the run ends), a git repository
//! (`https://host/org/repo.git#branch:folder`, `git://…`), or a tarball URL. A URL is the run
//! owner's choice and is treated as hostile, as webhook URIs are: its host must resolve only to
//! addresses webhooks may reach, and git and the download are pinned to the checked address.
//! git runs as the build user, with no redirects, prompts, or local or `ext::` transports.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::builder::{self, Ended, Log, Program, Stop};
use super::context::{self, Limits};
use super::{Error, Result};
use crate::events::send::{Sender, check_uri};

/// Where a context comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An uploaded archive, by its id in the blob store.
    Upload(uuid::Uuid),
    /// A git repository, the branch (default: the remote's) and the folder in it.
    Git { url: String, branch: Option<String>, folder: Option<String> },
    /// A `.tar.gz`, `.tgz` or `.tar` to download.
    Tarball(String),
}

/// The upload id of `upload:<id>`.
pub fn upload_id(source: &str) -> Option<uuid::Uuid> {
    source.strip_prefix("upload:").and_then(|id| id.parse().ok())
}

impl Source {
    /// Reads a context location: `upload:<id>`, a tarball URL, or a git URL with an optional
    /// `#branch:folder`.
    pub fn parse(s: &str) -> Result<Source> {
        if let Some(id) = upload_id(s) {
            return Ok(Source::Upload(id));
        }
        let (url, fragment) = s.split_once('#').map_or((s, None), |(u, f)| (u, Some(f)));
        let parsed = url::Url::parse(url).map_err(|e| Error::Invalid(format!("context {s:?}: {e}")))?;
        let path = parsed.path().to_ascii_lowercase();
        let tarball = [".tar.gz", ".tgz", ".tar"].iter().any(|ext| path.ends_with(ext));
        match parsed.scheme() {
            "http" | "https" if tarball && fragment.is_none() => {
                check_uri(url).map_err(Error::Invalid)?;
                Ok(Source::Tarball(url.to_owned()))
            }
            "http" | "https" | "git" => {
                if parsed.host_str().is_none_or(str::is_empty) || !parsed.username().is_empty() {
                    return Err(Error::Invalid(format!("context {s:?}: a git URL needs a host (and no user)")));
                }
                let (branch, folder) = match fragment {
                    Some(f) => f.split_once(':').map_or((f, None), |(b, d)| (b, Some(d))),
                    None => ("", None),
                };
                let bad = |p: &str| p.starts_with('-') || p.contains("..") || p.starts_with('/') || p.contains('\0');
                if bad(branch) || folder.is_some_and(bad) {
                    return Err(Error::Invalid(format!("context {s:?}: a bad branch or folder")));
                }
                Ok(Source::Git {
                    url: url.to_owned(),
                    branch: (!branch.is_empty()).then(|| branch.to_owned()),
                    folder: folder.filter(|f| !f.is_empty()).map(str::to_owned),
                })
            }
            other => Err(Error::Invalid(format!(
                "context {s:?}: the {other} scheme is not a context (a git URL, a tarball URL, or a local folder the client uploads)"
            ))),
        }
    }
}

/// What fetching needs from the run.
pub(crate) struct Fetch<'a> {
    pub(crate) tasks: &'a super::Tasks,
    pub(crate) sender: &'a Sender,
    /// The run's working directory: the context goes to `<dir>/context`.
    pub(crate) dir: &'a Path,
    pub(crate) git: Program,
    pub(crate) log: &'a Log,
    pub(crate) stop: &'a Stop,
}

impl Fetch<'_> {
    /// Fetches `source` (a branch overriding the URL's, for a commit trigger); the context's
    /// root, which is `<dir>/context` or a folder in it.
    pub(crate) async fn fetch(&self, source: &Source, branch: Option<&str>) -> Result<PathBuf> {
        let root = self.dir.join("context");
        let config = &self.tasks.config;
        let limits = Limits { max_bytes: config.max_context, max_entries: config.max_context_entries };
        let owner = self.git.user.as_ref().map(|u| (u.uid, u.gid));
        match source {
            Source::Upload(id) => {
                let archive = self.dir.join("context.tar.gz");
                let mut file = tokio::fs::File::create(&archive).await.map_err(io)?;
                let mut stream = self.tasks.blobs().read_source(id).await?;
                while let Some(chunk) = stream.next().await {
                    file.write_all(&chunk.map_err(io)?).await.map_err(io)?;
                }
                file.flush().await.map_err(io)?;
                unpack(archive, root.clone(), limits, owner).await?;
                Ok(root)
            }
            Source::Tarball(url) => {
                let archive = self.dir.join("context.tar.gz");
                self.log.line(&format!("Downloading the context from {url}"));
                self.download(url, &archive, config.max_context).await?;
                unpack(archive, root.clone(), limits, owner).await?;
                Ok(root)
            }
            Source::Git { url, branch: wanted, folder } => {
                self.clone(url, branch.or(wanted.as_deref()), &root).await?;
                let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default();
                let rules = super::ignore::Rules::parse(&ignore)
                    .map_err(|e| Error::Invalid(format!(".dockerignore: {e}")))?
                    .with_git_excluded();
                let bytes = builder::disk_use(&root);
                if bytes > config.max_context {
                    return Err(Error::TooLarge(format!(
                        "the git context holds {bytes} bytes, past tasks.max_context ({})",
                        config.max_context
                    )));
                }
                let pruned = root.clone();
                tokio::task::spawn_blocking(move || context::prune(&pruned, &rules, "Dockerfile"))
                    .await
                    .map_err(|e| Error::Invalid(e.to_string()))?
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                match folder {
                    Some(f) => Ok(root.join(f)),
                    None => Ok(root),
                }
            }
        }
    }

    /// Clones `url` at `branch` into `to`, pinned to the checked address of its host.
    async fn clone(&self, url: &str, branch: Option<&str>, to: &Path) -> Result<()> {
        let parsed = url::Url::parse(url).map_err(|e| Error::Invalid(e.to_string()))?;
        let addr = self.sender.address(&parsed).await.map_err(|e| Error::Invalid(format!("context {url}: {e}")))?;
        let mut git = self.git.clone().args(["-c", "protocol.allow=never"]);
        let target = match parsed.scheme() {
            "git" => {
                git = git.args(["-c", "protocol.git.allow=always"]);
                // git:// has no TLS: connecting to the checked address names the same server.
                let mut pinned = parsed.clone();
                pinned.set_ip_host(addr.ip()).map_err(|()| Error::Invalid(format!("context {url}: bad host")))?;
                pinned.to_string()
            }
            scheme => {
                let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
                let port = parsed.port_or_known_default().unwrap_or(443);
                let ip = match addr.ip() {
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                    v4 => v4.to_string(),
                };
                git = git.args([
                    "-c".to_owned(),
                    format!("protocol.{scheme}.allow=always"),
                    "-c".to_owned(),
                    format!("http.curloptResolve={host}:{port}:{ip}"),
                    "-c".to_owned(),
                    "http.followRedirects=false".to_owned(),
                ]);
                url.to_owned()
            }
        };
        git = git.args(["clone", "--quiet", "--depth", "1", "--no-tags", "--single-branch"]);
        if let Some(b) = branch {
            git = git.args(["--branch", b]);
        }
        git = git.arg("--").arg(&target).arg(to);
        self.log.line(&format!("Cloning {url}{}", branch.map(|b| format!(" at {b}")).unwrap_or_default()));
        let finished = builder::run(&git, self.log, self.stop, false).await.map_err(io)?;
        match finished.ended {
            Ended::Exited(0) => Ok(()),
            Ended::Exited(code) => Err(Error::Invalid(format!("git clone {url} failed (exit code {code})"))),
            Ended::Stopped(_) => Err(Error::Invalid("stopped while cloning".into())),
        }
    }

    /// Downloads `url` to `to`, pinned to its checked address, no redirects, at most `max` bytes.
    async fn download(&self, url: &str, to: &Path, max: u64) -> Result<()> {
        let parsed = check_uri(url).map_err(Error::Invalid)?;
        let addr = self.sender.address(&parsed).await.map_err(|e| Error::Invalid(format!("context {url}: {e}")))?;
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(std::time::Duration::from_secs(10));
        if let Some(url::Host::Domain(name)) = parsed.host() {
            client = client.resolve(name, addr);
        }
        let client = client.build().map_err(|e| Error::Invalid(e.to_string()))?;
        let res = client.get(parsed).send().await.map_err(|e| Error::Invalid(format!("context {url}: {e}")))?;
        if !res.status().is_success() {
            return Err(Error::Invalid(format!("context {url}: the server answered {}", res.status())));
        }
        let mut file = tokio::fs::File::create(to).await.map_err(io)?;
        let mut stream = res.bytes_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Invalid(format!("context {url}: {e}")))?;
            total += chunk.len() as u64;
            if total > max {
                return Err(Error::TooLarge(format!(
                    "the context at {url} is larger than tasks.max_context ({max} bytes)"
                )));
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(())
    }
}

async fn unpack(archive: PathBuf, root: PathBuf, limits: Limits, owner: Option<(u32, u32)>) -> Result<()> {
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&root).map_err(io)?;
        if let Some((uid, gid)) = owner {
            chown(&root, uid, gid)?;
        }
        context::unpack(&archive, &root, &limits, owner).map_err(|e| match e {
            context::Error::TooManyEntries(_) | context::Error::TooLarge(_) => Error::TooLarge(e.to_string()),
            other => Error::Invalid(other.to_string()),
        })
    })
    .await
    .map_err(|e| Error::Invalid(e.to_string()))??;
    Ok(())
}

/// Gives `path` to the build user.
pub fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    let (uid, gid) = (rustix::fs::Uid::from_raw(uid), rustix::fs::Gid::from_raw(gid));
    rustix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| io(e.into()))
}

fn io(e: std::io::Error) -> Error {
    Error::Invalid(format!("reading the context: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_locations_parse() {
        let git = Source::parse("https://example.com/org/app.git#main:src/web").expect("git");
        assert_eq!(
            git,
            Source::Git {
                url: "https://example.com/org/app.git".into(),
                branch: Some("main".into()),
                folder: Some("src/web".into())
            }
        );
        assert!(matches!(Source::parse("git://127.0.0.1/repo").expect("git"), Source::Git { branch: None, .. }));
        assert!(matches!(Source::parse("https://x.test/a/ctx.tar.gz").expect("tar"), Source::Tarball(_)));
        let id = uuid::Uuid::new_v4();
        assert_eq!(Source::parse(&format!("upload:{id}")).expect("upload"), Source::Upload(id));
        for bad in [
            "file:///etc",
            "ext::sh -c id",
            "https://x.test/r.git#--upload-pack=x",
            "https://x.test/r.git#main:../..",
            "https://user@x.test/r.git",
            "/local/folder",
        ] {
            assert!(Source::parse(bad).is_err(), "{bad}");
        }
    }
}

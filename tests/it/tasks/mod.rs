//! Tasks end to end: runs built by buildah as the build user, from uploaded, git and tarball
//! contexts, task files with `cmd` steps, triggers, bounds and hostile input.

mod access;
mod runs;
mod triggers;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, sha256};

/// Whether builds can run here: buildah (and, under CI, the build user). Without them a test
/// is skipped, except under CI, where it fails.
pub fn can_build() -> bool {
    if !crate::support::have_tool("buildah") || !crate::support::have_tool("busybox") {
        return false;
    }
    let user = std::fs::read_to_string("/etc/passwd").is_ok_and(|p| p.lines().any(|l| l.starts_with("berth-build:")));
    assert!(user || std::env::var_os("CI").is_none(), "the user berth-build is required under CI (.ci/run makes it)");
    true
}

/// A tar layer holding a static busybox as `/bin/busybox` and `/bin/<applet>` links to it.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("busybox");
    let mut tar = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    tar.append_data(&mut dir, "bin/", std::io::empty()).expect("dir");
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o755);
    file.set_size(busybox.len() as u64);
    tar.append_data(&mut file, "bin/busybox", busybox.as_slice()).expect("busybox");
    for applet in
        ["sh", "echo", "cat", "test", "sleep", "ls", "id", "head", "tail", "true", "false", "env", "dd", "seq"]
    {
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_mode(0o777);
        link.set_size(0);
        tar.append_link(&mut link, format!("bin/{applet}"), "busybox").expect("link");
    }
    tar.into_inner().expect("tar")
}

/// Pushes a busybox image to `repo:tag`, with `marker` in `/etc/marker` (so two pushes with
/// different markers have different digests); the manifest digest.
pub async fn push_base(app: &TestApp, repo: &str, tag: &str, marker: &str) -> String {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(marker.len() as u64);
    tar.append_data(&mut h, "etc/marker", marker.as_bytes()).expect("marker");
    let layers = [busybox_layer(), tar.into_inner().expect("tar")];
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).expect("json");
    let config_digest = app.push_blob(repo, &config).await;
    let mut descs = Vec::new();
    for layer in &layers {
        let d = app.push_blob(repo, layer).await;
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": layer.len()}));
    }
    let manifest = crate::support::image_manifest(&config_digest, config.len(), descs);
    let res = app.put_manifest(repo, tag, crate::support::OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), 201, "push base: {}", res.text().await.unwrap_or_default());
    sha256(&manifest)
}

/// A gzip tar of `files` (path, content), as a client's context upload.
pub fn context_archive(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        tar.append_data(&mut h, path, content.as_bytes()).expect("entry");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

/// Uploads a context archive: its `sourceLocation`.
pub async fn upload(app: &TestApp, archive: Vec<u8>) -> String {
    let res = app.req(Method::POST, "/berth/v1/runs/sources").body(archive).send().await.expect("upload");
    assert_eq!(res.status(), 201, "upload: {}", res.text().await.unwrap_or_default());
    res.json::<Value>().await.expect("json")["sourceLocation"].as_str().expect("location").to_owned()
}

/// Waits (up to `limit`) for run `id` to end; the run.
pub async fn finished(app: &TestApp, id: &str, limit: Duration) -> Value {
    let start = std::time::Instant::now();
    loop {
        let run = app.admin(Method::GET, &format!("/runs/{id}"), None).await;
        if !matches!(run["status"].as_str(), Some("Queued" | "Running")) {
            return run;
        }
        assert!(start.elapsed() < limit, "run {id} did not end in {limit:?}: {run}\n{}", log(app, id).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The whole log of run `id`.
pub async fn log(app: &TestApp, id: &str) -> String {
    let res = app.req(Method::GET, &format!("/berth/v1/runs/{id}/log")).send().await.expect("log");
    res.text().await.unwrap_or_default()
}

/// The files of a layer blob (gzip or plain tar), with their contents (up to 4 KiB each).
pub async fn layer_files(app: &TestApp, repo: &str, digest: &str) -> Vec<(String, Vec<u8>)> {
    let res = app.req(Method::GET, &format!("/v2/{repo}/blobs/{digest}")).send().await.expect("blob");
    let bytes = res.bytes().await.expect("bytes").to_vec();
    let reader: Box<dyn std::io::Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(std::io::Cursor::new(bytes)))
    } else {
        Box::new(std::io::Cursor::new(bytes))
    };
    let mut archive = tar::Archive::new(reader);
    let mut files = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, 4096), &mut content).expect("read");
        files.push((path, content));
    }
    files
}

/// Every file of the image `repo:reference`, over all its layers.
pub async fn image_files(app: &TestApp, repo: &str, reference: &str) -> Vec<(String, Vec<u8>)> {
    let res = app
        .req(Method::GET, &format!("/v2/{repo}/manifests/{reference}"))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .expect("manifest");
    assert_eq!(res.status(), 200, "{repo}:{reference}");
    let manifest: Value = res.json().await.expect("json");
    let mut files = Vec::new();
    for layer in manifest["layers"].as_array().expect("layers") {
        files.extend(layer_files(app, repo, layer["digest"].as_str().expect("digest")).await);
    }
    files
}

pub fn has_file(files: &[(String, Vec<u8>)], path: &str) -> Option<String> {
    let want = path.trim_start_matches('/');
    files
        .iter()
        .rev()
        .find(|(p, _)| p.trim_start_matches("./").trim_start_matches('/') == want)
        .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
}

/// A git repository served over `git://` on 127.0.0.1 (each connection handed to
/// `git daemon --inetd`), holding `files` committed on `main`. Dropping it stops serving.
pub struct GitServer {
    pub url: String,
    pub dir: tempfile::TempDir,
    accept: tokio::task::JoinHandle<()>,
}

impl GitServer {
    pub async fn start(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let repo = dir.path().join("app.git");
        std::fs::create_dir(&repo).expect("repo dir");
        git(&repo, &["init", "--quiet", "--initial-branch=main"]);
        commit_in(&repo, files, "first");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = dir.path().to_path_buf();
        let accept = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let base = base.clone();
                tokio::spawn(async move {
                    let child = tokio::process::Command::new("git")
                        .args(["daemon", "--inetd", "--export-all"])
                        .arg(format!("--base-path={}", base.display()))
                        .arg(&base)
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::null())
                        .kill_on_drop(true)
                        .spawn();
                    let Ok(mut child) = child else { return };
                    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else { return };
                    let (mut read, mut write) = tcp.split();
                    let _ = tokio::join!(
                        async {
                            let _ = tokio::io::copy(&mut read, &mut stdin).await;
                            drop(stdin);
                        },
                        tokio::io::copy(&mut stdout, &mut write)
                    );
                    let _ = child.wait().await;
                });
            }
        });
        GitServer { url: format!("git://127.0.0.1:{port}/app.git"), dir, accept }
    }

    /// Commits `files` (written over the work tree) on `main`; the commit's id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        commit_in(&self.dir.path().join("app.git"), files, message)
    }
}

fn commit_in(repo: &std::path::Path, files: &[(&str, &str)], message: &str) -> String {
    {
        for (path, content) in files {
            let p = repo.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            std::fs::write(p, content).expect("write");
        }
        git(repo, &["add", "-A"]);
        git(repo, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", message]);
        git(repo, &["rev-parse", "HEAD"]).trim().to_owned()
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").args(args).current_dir(dir).output().expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Queues a run of `body` (a run request); its id.
pub async fn queue(app: &TestApp, body: Value) -> String {
    let run = app.admin(Method::POST, "/runs", Some(body)).await;
    run["runId"].as_str().expect("runId").to_owned()
}

/// An `EncodedTaskRunRequest` of the task file `yaml`, with the context `source`.
pub fn encoded(yaml: &str, source: Option<&str>) -> Value {
    use base64::Engine as _;
    let content = base64::engine::general_purpose::STANDARD.encode(yaml);
    json!({"type": "EncodedTaskRunRequest", "encodedTaskContent": content, "sourceLocation": source})
}

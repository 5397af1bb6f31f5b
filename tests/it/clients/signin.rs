//! Signing in with clients nobody here wrote: `docker login` (which keeps the refresh token
//! Berth returns and uses it afterwards), skopeo and podman with a repository token's
//! credentials, and oras-py's Bearer token flow.

use std::path::Path;
use std::process::Output;

use reqwest::Method;
use serde_json::{Value, json};

use super::skopeo::{put_image, tag_layout};
use crate::support::*;

async fn run(program: &str, args: &[&str], envs: &[(&str, &Path)], stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default().as_bytes()).await.expect("stdin");
    drop(input);
    child.wait_with_output().await.expect("output")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A repository token allowed to pull and push `repo` only; returns its password1.
async fn push_token(app: &TestApp, name: &str, repo: &str) -> String {
    let res = app
        .req(Method::POST, "/berth/v1/tokens")
        .json(&json!({"name": name, "repositories": [{"repository": repo, "actions": ["content/read", "content/write"]}]}))
        .send()
        .await
        .expect("create token");
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let token: Value = res.json().await.expect("json");
    token["credentials"]["passwords"][0]["value"].as_str().expect("password1").to_owned()
}

/// A one-layer image in an OCI layout under `dir`, tagged v1.
fn layout(dir: &Path) -> String {
    let src = dir.join("src");
    let image = put_image(&src, "amd64", &[("hello.txt", b"hello from a token push")]);
    tag_layout(&src, image, "v1");
    format!("oci:{}:v1", src.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_login_stores_credentials_that_later_commands_use() {
    if !have_tool("docker") {
        return;
    }
    let app = TestApp::spawn().await;
    let (_digest_bytes, digest) = app.push_image("team/app", "v1", &[b"layer"]).await;
    let (_guard, dir) = temp_dir();
    let env = [("DOCKER_CONFIG", dir.as_path())];
    let host = app.host();
    let out = run("docker", &["login", &host, "-u", ADMIN, "--password-stdin"], &env, Some("wrong-password")).await;
    assert!(!out.status.success(), "a wrong password fails: {}", text(&out));
    let out = run("docker", &["login", &host, "-u", ADMIN, "--password-stdin"], &env, Some(ADMIN_PASSWORD)).await;
    assert!(out.status.success() && text(&out).contains("Login Succeeded"), "{}", text(&out));
    // docker keeps the refresh token Berth returned (offline_token), not the password.
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("config.json")).expect("json");
    assert!(config["auths"][&host]["identitytoken"].is_string(), "{config}");
    let image = format!("{host}/team/app:v1");
    let out = run("docker", &["manifest", "inspect", "--insecure", &image], &env, None).await;
    assert!(out.status.success(), "{}", text(&out));
    let manifest: Value = serde_json::from_slice(&out.stdout).expect("manifest JSON");
    assert_eq!(manifest["layers"][0]["digest"], sha256(b"layer"));
    assert!(!digest.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_with_a_token_pushes_to_its_repository_only() {
    if !have_tool("skopeo") {
        return;
    }
    let app = TestApp::spawn().await;
    let password = push_token(&app, "ci-skopeo", "team/app").await;
    let (_guard, dir) = temp_dir();
    let src = layout(&dir);
    let creds = format!("ci-skopeo:{password}");
    let host = app.host();
    let authfile = dir.join("auth.json");
    let skopeo = |args: &[&str]| {
        let args = [&["--insecure-policy"], args].concat().iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let authfile = authfile.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run("skopeo", &args, &[("REGISTRY_AUTH_FILE", authfile.as_path())], None).await
        }
    };
    let out = skopeo(&["login", "--tls-verify=false", "-u", "ci-skopeo", "-p", "nope", &host]).await;
    assert!(!out.status.success() && text(&out).contains("invalid username/password"), "{}", text(&out));
    let dest = format!("docker://{host}/team/app:v1");
    let out = skopeo(&["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &src, &dest]).await;
    assert!(out.status.success(), "{}", text(&out));
    let other = format!("docker://{host}/other/app:v1");
    let out = skopeo(&["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &src, &other]).await;
    assert!(!out.status.success(), "pushing outside the scope map fails");
    let out = skopeo(&["login", "--tls-verify=false", "-u", "ci-skopeo", "-p", &password, &host]).await;
    assert!(out.status.success() && text(&out).contains("Login Succeeded"), "{}", text(&out));
    let out = skopeo(&["inspect", "--tls-verify=false", &dest]).await;
    assert!(out.status.success(), "inspect with the stored login: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_pulls_and_pushes_with_a_token() {
    if !have_tool("podman") || !have_tool("skopeo") {
        return;
    }
    let app = TestApp::spawn().await;
    let password = push_token(&app, "ci-podman", "team/*").await;
    let (_guard, dir) = temp_dir();
    let src = layout(&dir);
    let host = app.host();
    let creds = format!("ci-podman:{password}");
    let out = run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &src,
            &format!("docker://{host}/team/base:v1"),
        ],
        &[],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    // Private storage, so nothing is left in /var/lib/containers.
    let (root, runroot) = (dir.join("root"), dir.join("runroot"));
    let (root, runroot) = (root.to_str().expect("utf-8"), runroot.to_str().expect("utf-8"));
    let podman = |args: &[&str]| {
        let all = [&["--root", root, "--runroot", runroot, "--storage-driver", "vfs"], args].concat();
        let all: Vec<String> = all.iter().map(|a| a.to_string()).collect();
        async move {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            run("podman", &all, &[], None).await
        }
    };
    let base = format!("{host}/team/base:v1");
    let out = podman(&["pull", "--tls-verify=false", "--creds", &creds, &base]).await;
    assert!(out.status.success(), "{}", text(&out));
    let pushed = format!("{host}/team/copy:v2");
    let out = podman(&["tag", &base, &pushed]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = podman(&["push", "--tls-verify=false", "--creds", &creds, &pushed]).await;
    assert!(out.status.success(), "{}", text(&out));
    let res = app.req(Method::GET, "/v2/team/copy/tags/list").send().await.expect("tags");
    assert_eq!(res.json::<Value>().await.expect("json")["tags"], json!(["v2"]));
    let _ = podman(&["rmi", "-a", "-f"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_follows_the_bearer_challenge() {
    let Some(python) = python_with("oras") else { return };
    let app = TestApp::spawn().await;
    let password = push_token(&app, "ci-oras", "artifacts/*").await;
    let (_guard, dir) = temp_dir();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/clients/oras_push.py");
    let work = dir.to_str().expect("utf-8");
    let out = run(&python, &[script, &app.host(), "ci-oras", &password, work], &[("HOME", dir.as_path())], None).await;
    assert!(out.status.success() && text(&out).contains("OK"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_search_lists_the_registry() {
    if !have_tool("podman") {
        return;
    }
    let app = TestApp::spawn().await;
    app.push_image("team/searched", "v1", &[b"layer"]).await;
    let (_guard, dir) = temp_dir();
    let authfile = app.auth_file();
    let out = run(
        "podman",
        &["search", "--tls-verify=false", "--authfile", authfile.to_str().expect("utf-8"), &format!("{}/", app.host())],
        &[("HOME", dir.as_path())],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("team/searched"), "{}", text(&out));
}

//! Crash safety: `berth serve` is killed with SIGKILL at random moments while clients push,
//! delete and collect garbage. After each restart, everything acknowledged is there and whole,
//! nothing half-written is visible, usage adds up, and a garbage-collection pass leaves no
//! orphan in the blob store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// What the clients were told happened.
#[derive(Default)]
struct Acknowledged {
    /// repository → (manifest digest, its layers' bytes), for every 201 on a manifest PUT.
    pushed: BTreeMap<String, (String, Vec<Vec<u8>>)>,
    /// Repositories whose manifest DELETE answered 202.
    deleted: BTreeSet<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).basic_auth(ADMIN, Some(ADMIN_PASSWORD))
    }

    /// Pushes a one-tag image of `layers` (monolithic blob pushes, then the manifest); returns
    /// the manifest digest if every step was acknowledged.
    async fn push(&self, repo: &str, layers: &[Vec<u8>]) -> Option<String> {
        let config = format!("{{\"repo\":\"{repo}\"}}").into_bytes();
        let mut descriptors = Vec::new();
        for blob in layers.iter().chain([&config]) {
            let path = format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob));
            let res = self.req(Method::POST, &path).body(blob.clone()).send().await.ok()?;
            if res.status() != StatusCode::CREATED {
                return None;
            }
            descriptors.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(blob), "size": blob.len()}));
        }
        descriptors.pop();
        let manifest = image_manifest(&sha256(&config), config.len(), descriptors);
        let res = self.req(Method::PUT, &format!("/v2/{repo}/manifests/v1")).header("content-type", OCI_MANIFEST);
        let res = res.body(manifest.clone()).send().await.ok()?;
        (res.status() == StatusCode::CREATED).then(|| sha256(&manifest))
    }
}

/// Layers of a few sizes, some shared between images (a shared base is what makes deletes and
/// garbage collection interesting).
fn layers_for(round: usize, i: usize) -> Vec<Vec<u8>> {
    let base: Vec<u8> = (0..200_000u32).map(|b| (b % 199) as u8).collect();
    let own: Vec<u8> =
        (0..(50_000 + 37_000 * (i % 5)) as u32).map(|b| ((b as usize * (i + 7) + round) % 251) as u8).collect();
    let shared = vec![(i % 3) as u8; 1000 + i % 3];
    vec![base, own, shared]
}

fn config_file(dir: &Path) -> String {
    let file = dir.join("berth.toml");
    // No background pass: the clients run garbage collection at moments of their choosing.
    std::fs::write(&file, "[gc]\nenabled = false\ngrace = \"0s\"\nupload_ttl = \"0s\"\n").expect("config");
    file.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_sigkill_at_random_moments() {
    let (_guard, dir) = temp_dir();
    let config = config_file(&dir);
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let mut seed: u64 = 0x5eed_1234;
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    for round in 0..6 {
        let server = BerthProcess::start(&dir, &["--config", &config]);
        let client = Arc::new(Client { http: reqwest::Client::new(), base: server.url("") });
        let ack = std::mem::take(&mut *acknowledged.lock().expect("lock"));
        check(&client, &ack, &dir).await;
        *acknowledged.lock().expect("lock") = ack;

        // Four clients push, one deletes what was pushed, one collects garbage.
        let mut tasks = Vec::new();
        for worker in 0..4 {
            let (client, acknowledged) = (client.clone(), acknowledged.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let repo = format!("r{round}-w{worker}-{i}");
                    let layers = layers_for(round, worker * 100 + i);
                    if let Some(digest) = client.push(&repo, &layers).await {
                        acknowledged.lock().expect("lock").pushed.insert(repo, (digest, layers));
                    }
                }
            }));
        }
        let (deleter, acknowledged_d) = (client.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let victim = acknowledged_d
                    .lock()
                    .expect("lock")
                    .pushed
                    .iter()
                    .find(|(r, _)| r.ends_with('3'))
                    .map(|(r, (d, _))| (r.clone(), d.clone()));
                if let Some((repo, digest)) = victim {
                    let res = deleter.req(Method::DELETE, &format!("/v2/{repo}/manifests/{digest}")).send().await;
                    if res.is_ok_and(|r| r.status() == StatusCode::ACCEPTED) {
                        let mut ack = acknowledged_d.lock().expect("lock");
                        ack.pushed.remove(&repo);
                        ack.deleted.insert(repo);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
        let collector = client.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let _ = collector.req(Method::POST, "/berth/v1/gc").json(&json!({})).send().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));

        tokio::time::sleep(Duration::from_millis(300 + random(1200))).await;
        let mut server = server;
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    // A last start: check, then collect and check that nothing is left over.
    let server = BerthProcess::start(&dir, &["--config", &config]);
    let client = Client { http: reqwest::Client::new(), base: server.url("") };
    let ack = std::mem::take(&mut *acknowledged.lock().expect("lock"));
    assert!(ack.pushed.len() >= 10, "too little work was acknowledged to prove anything: {}", ack.pushed.len());
    check(&client, &ack, &dir).await;
    let res = client.req(Method::POST, "/berth/v1/gc").json(&json!({})).send().await.expect("gc");
    assert!(res.status().is_success());

    // What the registry holds now, as its API shows it: every repository's manifest and what
    // it references.
    let catalog: Value =
        client.req(Method::GET, "/v2/_catalog?n=100000").send().await.expect("catalog").json().await.expect("json");
    let mut referenced = BTreeSet::new();
    let mut manifests = BTreeMap::new();
    for repo in catalog["repositories"].as_array().expect("repositories").iter().filter_map(Value::as_str) {
        let res =
            client.req(Method::GET, &format!("/v2/{repo}/manifests/v1")).header("accept", OCI_MANIFEST).send().await;
        let res = res.expect("GET manifest");
        if res.status() == StatusCode::NOT_FOUND {
            continue; // its image was deleted; the repository stays, as in ACR
        }
        let body = res.bytes().await.expect("body");
        let manifest: Value = serde_json::from_slice(&body).expect("manifest JSON");
        referenced.insert(manifest["config"]["digest"].as_str().expect("config").to_owned());
        for layer in manifest["layers"].as_array().expect("layers") {
            referenced.insert(layer["digest"].as_str().expect("digest").to_owned());
        }
        manifests.insert(sha256(&body), body.len() as u64);
    }
    let stored = stored_blobs(&dir);
    let orphans: Vec<&String> = stored.keys().filter(|d| !referenced.contains(*d)).collect();
    assert!(orphans.is_empty(), "blobs that no manifest references are left: {orphans:?}");
    let missing: Vec<&String> = referenced.iter().filter(|d| !stored.contains_key(*d)).collect();
    assert!(missing.is_empty(), "referenced blobs are missing: {missing:?}");
    let expected = stored.values().sum::<u64>() + manifests.values().sum::<u64>();
    assert_eq!(usage(&client).await, expected, "usage is each stored blob and manifest once");
    let uploads = dir.join("storage/uploads");
    let leftovers: Vec<String> = std::fs::read_dir(&uploads)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|d| {
            let files: Vec<String> = std::fs::read_dir(d.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .collect();
            std::iter::once(format!("{}: {files:?}", d.file_name().to_string_lossy()))
        })
        .collect();
    eprintln!(
        "crash test: {} images acknowledged and kept, {} deletes acknowledged, {} bytes stored, over 6 SIGKILLs",
        ack.pushed.len(),
        ack.deleted.len(),
        expected
    );
    assert!(
        leftovers.is_empty(),
        "upload parts are left in {}: {} {:?}",
        uploads.display(),
        leftovers.len(),
        &leftovers[..leftovers.len().min(5)]
    );
}

async fn usage(client: &Client) -> u64 {
    let usage: Value =
        client.req(Method::GET, "/berth/v1/usage").send().await.expect("usage").json().await.expect("json");
    let size = usage["value"].as_array().and_then(|v| v.iter().find(|u| u["name"] == "Size")).cloned();
    size.and_then(|s| s["currentValue"].as_u64()).expect("Size currentValue")
}

/// Every blob file under the data directory: digest → size. Each must hash to its name.
fn stored_blobs(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let root = dir.join("storage/blobs/sha256");
    for prefix in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(prefix.path()).expect("prefix dir").flatten() {
            let bytes = std::fs::read(file.path()).expect("read blob");
            let name = format!("sha256:{}", file.file_name().to_string_lossy());
            assert_eq!(sha256(&bytes), name, "a stored blob is not what its name says (half-written?)");
            out.insert(name, bytes.len() as u64);
        }
    }
    out
}

/// Everything acknowledged pulls back whole, deleted images stay deleted, and every stored blob
/// is complete.
async fn check(client: &Client, ack: &Acknowledged, dir: &Path) {
    for (repo, (digest, layers)) in &ack.pushed {
        let res =
            client.req(Method::GET, &format!("/v2/{repo}/manifests/v1")).header("accept", OCI_MANIFEST).send().await;
        let res = res.expect("GET manifest");
        assert_eq!(res.status(), StatusCode::OK, "acknowledged manifest {repo} is gone");
        let body = res.bytes().await.expect("body");
        assert_eq!(&sha256(&body), digest, "{repo} names other bytes");
        for layer in layers {
            let res =
                client.req(Method::GET, &format!("/v2/{repo}/blobs/{}", sha256(layer))).send().await.expect("GET blob");
            assert_eq!(res.status(), StatusCode::OK, "a layer of {repo} is gone");
            assert!(res.bytes().await.expect("body") == layer.as_slice(), "a layer of {repo} changed");
        }
    }
    for repo in &ack.deleted {
        let res = client.req(Method::GET, &format!("/v2/{repo}/manifests/v1")).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "deleted {repo} came back");
    }
    stored_blobs(dir);
}

/// A tmpfs mounted for the length of a test (needs root, as CI has).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("mount runs");
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(std::env::var_os("CI").is_none(), "mounting a tmpfs failed under CI: {err}");
            eprintln!("skipping: cannot mount a tmpfs: {err}");
            return None;
        }
        Some(Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_clean_errors_and_loses_nothing() {
    let (_guard, dir) = temp_dir();
    let data = dir.join("data");
    let Some(_tmpfs) = Tmpfs::mount(&data, "24m") else { return };
    let config = config_file(&dir);
    let server = BerthProcess::start(&data, &["--config", &config]);
    let client = Client { http: reqwest::Client::new(), base: server.url("") };
    let kept: Vec<Vec<u8>> = vec![(0..1_000_000u32).map(|i| (i % 211) as u8).collect()];
    let kept_digest = client.push("kept", &kept).await.expect("push before the disk fills");

    // Blobs of 4 MiB until the disk is full.
    let mut refused = None;
    for i in 0..12u8 {
        let blob = vec![i; 4 << 20];
        let res = client.req(Method::POST, &format!("/v2/filler/blobs/uploads/?digest={}", sha256(&blob)));
        let res = res.body(blob.clone()).send().await.expect("POST");
        if res.status() != StatusCode::CREATED {
            let status = res.status();
            let body: Value = res.json().await.expect("an OCI error body");
            refused = Some((status, body, blob));
            break;
        }
    }
    let (status, body, blob) = refused.expect("the disk never filled");
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["errors"][0]["code"], "UNKNOWN");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("storage is full")), "{body}");
    let res = client.req(Method::HEAD, &format!("/v2/filler/blobs/{}", sha256(&blob))).send().await.expect("HEAD");
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the refused blob is not visible");

    // What was stored before is whole; the server keeps serving.
    let ack = Acknowledged {
        pushed: [("kept".to_owned(), (kept_digest, kept))].into_iter().collect(),
        deleted: BTreeSet::new(),
    };
    check(&client, &ack, &data).await;

    // Freeing space (the filler blobs are unreferenced; grace is 0) makes pushes work again.
    let res = client.req(Method::POST, "/berth/v1/gc").json(&json!({})).send().await.expect("gc");
    assert!(res.status().is_success(), "{}", res.status());
    let res = client.req(Method::POST, &format!("/v2/again/blobs/uploads/?digest={}", sha256(&blob)));
    assert_eq!(res.body(blob).send().await.expect("POST").status(), StatusCode::CREATED);
    check(&client, &ack, &data).await;
}

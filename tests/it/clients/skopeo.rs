//! Debian's skopeo (containers/image, the library under podman and buildah) copies OCI layouts
//! into Berth and back out: every byte and digest must survive the round trip.

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// Runs skopeo with the flags every call here needs, signed in to `app` as the admin user
/// through an auth file; returns (success, stdout, stderr).
pub(crate) async fn skopeo(app: &TestApp, args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = tokio::process::Command::new("skopeo")
        .env("REGISTRY_AUTH_FILE", app.auth_file())
        .arg("--insecure-policy")
        .args(args)
        .output()
        .await
        .expect("skopeo runs");
    (out.status.success(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

pub(crate) async fn skopeo_ok(app: &TestApp, args: &[&str]) -> Vec<u8> {
    let (ok, stdout, stderr) = skopeo(app, args).await;
    assert!(ok, "skopeo {args:?} failed: {stderr}");
    stdout
}

/// A one-file tar archive, written by hand (512-byte ustar header, padded data, end blocks).
fn tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..265].copy_from_slice(b"ustar\x0000");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

/// `gzip -n` of `data`: registries store layers compressed, and skopeo would compress (and so
/// rewrite the manifest of) an uncompressed layer on push.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child.stdin.take().expect("stdin").write_all(data).expect("feed gzip");
    let out = child.wait_with_output().expect("gzip output");
    assert!(out.status.success(), "gzip failed");
    out.stdout
}

/// Writes a blob into an OCI layout; returns its descriptor fields (digest, size).
fn put_blob(layout: &Path, data: &[u8]) -> (String, usize) {
    let digest = sha256(data);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("blobs dir");
    std::fs::write(dir.join(&digest["sha256:".len()..]), data).expect("write blob");
    (digest, data.len())
}

/// Adds an image (config + one gzipped tar layer per file) to a layout; returns its manifest
/// descriptor.
pub(crate) fn put_image(layout: &Path, arch: &str, files: &[(&str, &[u8])]) -> Value {
    let tars: Vec<Vec<u8>> = files.iter().map(|(name, data)| tar(name, data)).collect();
    let diff_ids: Vec<String> = tars.iter().map(|t| sha256(t)).collect();
    let config = json!({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/true"]},
                        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let (config_digest, config_size) = put_blob(layout, &serde_json::to_vec(&config).expect("json"));
    let layers: Vec<Value> = tars
        .iter()
        .map(|t| {
            let (digest, size) = put_blob(layout, &gzip(t));
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
        })
        .collect();
    let manifest = image_manifest(&config_digest, config_size, layers);
    let (digest, size) = put_blob(layout, &manifest);
    json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
           "platform": {"architecture": arch, "os": "linux"}})
}

/// Writes `index.json` naming `descriptor` as `tag`.
pub(crate) fn tag_layout(layout: &Path, mut descriptor: Value, tag: &str) {
    descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "manifests": [descriptor]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("index.json");
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
}

fn blobs_of(layout: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("blobs dir")
        .map(|e| {
            let e = e.expect("entry");
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read blob"))
        })
        .collect()
}

/// The digest `index.json` of a layout names.
pub(crate) fn tagged_digest(layout: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json")).expect("json");
    index["manifests"][0]["digest"].as_str().expect("digest").to_owned()
}

/// Every blob of `src` (files are named by their sha256) is in `out`, byte for byte.
pub(crate) fn assert_same_blobs(src: &Path, out: &Path) {
    let (src, out) = (blobs_of(src), blobs_of(out));
    for (hex, bytes) in &src {
        assert_eq!(sha256(bytes), format!("sha256:{hex}"), "source blob is what its name says");
        let copied = out.get(hex).unwrap_or_else(|| panic!("blob {hex} missing after the round trip"));
        assert!(copied == bytes, "blob {hex} changed in the round trip");
    }
    assert_eq!(src.len(), out.len(), "no extra blobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_layer_image_round_trip_then_delete() {
    if !have_tool("skopeo") {
        return;
    }
    let app = TestApp::spawn().await;
    let (_guard, tmp) = temp_dir();
    let (src, out) = (tmp.join("src"), tmp.join("out"));
    let image =
        put_image(&src, "amd64", &[("a.txt", b"first layer"), ("b.txt", b"second layer"), ("c.bin", &[7u8; 70_000])]);
    let digest = image["digest"].as_str().expect("digest").to_owned();
    tag_layout(&src, image, "v1");

    let dest = format!("docker://{}/test/multi:v1", app.host());
    skopeo_ok(&app, &["copy", "--dest-tls-verify=false", &format!("oci:{}:v1", src.display()), &dest]).await;
    let raw = skopeo_ok(&app, &["inspect", "--tls-verify=false", "--raw", &dest]).await;
    assert_eq!(sha256(&raw), digest, "the manifest is served byte for byte");
    let tags: Value = serde_json::from_slice(
        &skopeo_ok(&app, &["list-tags", "--tls-verify=false", &format!("docker://{}/test/multi", app.host())]).await,
    )
    .expect("list-tags JSON");
    assert_eq!(tags["Tags"], json!(["v1"]));
    // Registry to registry within one repository: skopeo finds every blob present and only tags.
    let latest = format!("docker://{}/test/multi:latest", app.host());
    skopeo_ok(&app, &["copy", "--src-tls-verify=false", "--dest-tls-verify=false", &dest, &latest]).await;
    let raw_latest = skopeo_ok(&app, &["inspect", "--tls-verify=false", "--raw", &latest]).await;
    assert!(raw_latest == raw, "the second tag names the same manifest bytes");
    let tags: Value = serde_json::from_slice(
        &skopeo_ok(&app, &["list-tags", "--tls-verify=false", &format!("docker://{}/test/multi", app.host())]).await,
    )
    .expect("list-tags JSON");
    assert_eq!(tags["Tags"], json!(["latest", "v1"]));

    skopeo_ok(&app, &["copy", "--src-tls-verify=false", &dest, &format!("oci:{}:v1", out.display())]).await;
    assert_eq!(tagged_digest(&out), digest);
    assert_same_blobs(&src, &out);

    skopeo_ok(&app, &["delete", "--tls-verify=false", &dest]).await;
    let res = app.req(Method::GET, "/v2/test/multi/manifests/v1").send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "MANIFEST_UNKNOWN");
    let (ok, _, stderr) = skopeo(&app, &["inspect", "--tls-verify=false", &dest]).await;
    assert!(!ok && stderr.contains("manifest unknown"), "{stderr}");
    // skopeo deletes by digest, so the manifest goes with every tag that named it.
    let (ok, _, stderr) = skopeo(&app, &["inspect", "--tls-verify=false", &latest]).await;
    assert!(!ok && stderr.contains("manifest unknown"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_arch_index_round_trip() {
    if !have_tool("skopeo") {
        return;
    }
    let app = TestApp::spawn().await;
    let (_guard, tmp) = temp_dir();
    let (src, out) = (tmp.join("src"), tmp.join("out"));
    let amd64 = put_image(&src, "amd64", &[("bin", b"x86-64 binary")]);
    let arm64 = put_image(&src, "arm64", &[("bin", b"aarch64 binary")]);
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd64, &arm64]}))
        .expect("json");
    let (index_digest, index_size) = put_blob(&src, &index);
    tag_layout(&src, json!({"mediaType": OCI_INDEX, "digest": index_digest, "size": index_size}), "v1");

    let dest = format!("docker://{}/test/multiarch:v1", app.host());
    skopeo_ok(&app, &["copy", "--all", "--dest-tls-verify=false", &format!("oci:{}:v1", src.display()), &dest]).await;
    let res = app.req(Method::GET, "/v2/test/multiarch/manifests/v1").send().await.expect("GET index");
    assert_eq!(res.headers()["content-type"], OCI_INDEX);
    assert_eq!(sha256(&res.bytes().await.expect("body")), index_digest, "the index is served byte for byte");

    skopeo_ok(&app, &["copy", "--all", "--src-tls-verify=false", &dest, &format!("oci:{}:v1", out.display())]).await;
    assert_eq!(tagged_digest(&out), index_digest);
    assert_same_blobs(&src, &out);

    // Without --all skopeo resolves the index to the one platform asked for.
    let arm = tmp.join("arm");
    let arm_out = format!("oci:{}:v1", arm.display());
    skopeo_ok(&app, &["--override-arch", "arm64", "copy", "--src-tls-verify=false", &dest, &arm_out]).await;
    assert_eq!(tagged_digest(&arm), arm64["digest"].as_str().expect("digest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_schema2_conversion_is_served_as_docker() {
    if !have_tool("skopeo") {
        return;
    }
    let app = TestApp::spawn().await;
    let (_guard, tmp) = temp_dir();
    let src = tmp.join("src");
    let image = put_image(&src, "amd64", &[("f", b"docker format layer")]);
    tag_layout(&src, image, "v1");
    let dest = format!("docker://{}/test/v2s2:v1", app.host());
    skopeo_ok(
        &app,
        &["copy", "--format", "v2s2", "--dest-tls-verify=false", &format!("oci:{}:v1", src.display()), &dest],
    )
    .await;
    let res = app.req(Method::GET, "/v2/test/v2s2/manifests/v1").send().await.expect("GET");
    assert_eq!(res.headers()["content-type"], "application/vnd.docker.distribution.manifest.v2+json");
    let served_bytes = res.bytes().await.expect("manifest body");
    let inspected: Value = serde_json::from_slice(&skopeo_ok(&app, &["inspect", "--tls-verify=false", &dest]).await)
        .expect("inspect JSON");
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(1));

    // Back out as plain files: the Docker manifest as served, the layer and config unchanged.
    let out = tmp.join("out");
    skopeo_ok(&app, &["copy", "--src-tls-verify=false", &dest, &format!("dir:{}", out.display())]).await;
    let manifest = std::fs::read(out.join("manifest.json")).expect("manifest.json");
    assert!(manifest == served_bytes, "skopeo keeps the Docker manifest byte for byte");
    let served: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
    assert_eq!(served["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    for blob in [&served["config"], &served["layers"][0]] {
        let digest = blob["digest"].as_str().expect("digest");
        let hex = &digest["sha256:".len()..];
        let copied = std::fs::read(out.join(hex)).expect("blob file");
        assert_eq!(sha256(&copied), digest);
        assert!(copied == blobs_of(&src)[hex], "blob {hex} changed in the round trip");
    }
}

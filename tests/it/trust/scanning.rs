//! Scanning: images made here from hand-built layers (a Debian 7 image with a vulnerable nginx,
//! an Alpine 3.14 image with a vulnerable mariadb, lock files) matched against real OSV
//! records; the SBOM and report referrers; scan policies; hostile layers.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{OCI_MANIFEST, TestApp, error_code, image_manifest, sha256, token_with};

/// A gzip-compressed tar layer holding `files` (path, content).
pub fn layer_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, *content).expect("tar entry");
    }
    let tar = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

/// Pushes an image of `layers` (gzip tars) to `repo:tag`; its manifest digest.
pub async fn push_layers(app: &TestApp, repo: &str, tag: &str, layers: &[Vec<u8>]) -> String {
    let config = serde_json::to_vec(
        &json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}),
    )
    .expect("json");
    let config_digest = app.push_blob(repo, &config).await;
    let mut descs = Vec::new();
    for l in layers {
        let d = app.push_blob(repo, l).await;
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": l.len()}));
    }
    let manifest = image_manifest(&config_digest, config.len(), descs);
    let res = app.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), StatusCode::CREATED, "push {repo}:{tag}");
    sha256(&manifest)
}

/// Imports the real OSV records under tests/data/osv as one zip.
pub async fn import_osv(app: &TestApp) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/osv");
    let mut records = Vec::new();
    for entry in std::fs::read_dir(dir).expect("osv dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            records.push(serde_json::from_slice::<Value>(&std::fs::read(&path).expect("record")).expect("json"));
        }
    }
    let res = app.req(Method::POST, "/berth/v1/vulndb").json(&records).send().await.expect("import");
    assert_eq!(res.status(), StatusCode::OK, "import: {}", res.text().await.unwrap_or_default());
}

/// Waits until the scan of `image` ended; its `GET /berth/v1/scans` answer.
pub async fn scanned(app: &TestApp, image: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let res = app.req(Method::GET, &format!("/berth/v1/scans?image={image}")).send().await.expect("scan");
        if res.status() == StatusCode::OK {
            let scan: Value = res.json().await.expect("json");
            if !matches!(scan["status"].as_str(), Some("queued" | "running")) {
                return scan;
            }
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "{image} was not scanned in 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn debian_image(nginx: &str) -> Vec<Vec<u8>> {
    let status = format!(
        "Package: nginx-common\nStatus: install ok installed\nSource: nginx\nVersion: {nginx}\nArchitecture: all\n\n\
         Package: base-files\nStatus: install ok installed\nVersion: 7.1wheezy11\nArchitecture: amd64\n"
    );
    let os = b"PRETTY_NAME=\"Debian GNU/Linux 7 (wheezy)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"7\"\nID=debian\n";
    vec![layer_of(&[("etc/os-release", os), ("var/lib/dpkg/status", status.as_bytes())])]
}

fn alpine_image(mariadb: &str, regex: &str) -> Vec<Vec<u8>> {
    let installed = format!("P:mariadb\nV:{mariadb}\no:mariadb\n\nP:musl\nV:1.2.2-r3\no:musl\n\n");
    let os = b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.14.10\n";
    let cargo = format!(
        "version = 3\n\n[[package]]\nname = \"regex\"\nversion = \"{regex}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
    );
    vec![
        layer_of(&[("etc/os-release", os), ("lib/apk/db/installed", installed.as_bytes())]),
        layer_of(&[("app/Cargo.lock", cargo.as_bytes()), ("app/requirements.txt", b"requests==2.30.0\nflask>=2\n")]),
    ]
}

fn ids(scan: &Value) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = scan["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap_or_default().into(),
                f["package"].as_str().unwrap_or_default().into(),
                f["fixedIn"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_name_the_advisories_of_vulnerable_packages_and_none_once_fixed() {
    let app = TestApp::spawn().await;
    import_osv(&app).await;
    push_layers(&app, "web/nginx", "old", &debian_image("1.2.1-2.2+wheezy2")).await;
    push_layers(&app, "web/nginx", "fixed", &debian_image("1.2.1-2.2+wheezy3")).await;
    let apk = push_layers(&app, "db/mariadb", "old", &alpine_image("10.5.15-r0", "1.5.4")).await;
    push_layers(&app, "db/mariadb", "fixed", &alpine_image("10.5.16-r0", "1.5.5")).await;

    let old = scanned(&app, "web/nginx:old").await;
    assert_eq!(old["status"], "done", "{old}");
    assert_eq!(ids(&old), [("DSA-3029-1".into(), "nginx-common".into(), "1.2.1-2.2+wheezy3".into())], "{old}");
    assert_eq!(old["findings"][0]["installed"], "1.2.1-2.2+wheezy2");
    let fixed = scanned(&app, "web/nginx:fixed").await;
    assert_eq!((fixed["status"].as_str(), ids(&fixed).len()), (Some("done"), 0), "{fixed}");
    assert_eq!(fixed["summary"]["packages"], 2);

    let apk_scan = scanned(&app, "db/mariadb:old").await;
    let found = ids(&apk_scan);
    let names: Vec<&str> = found.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(names, ["CVE-2022-27449", "GHSA-j8r2-6x86-q33q", "GHSA-m5pq-gvj9-9vr8"], "{apk_scan}");
    assert!(found.contains(&("CVE-2022-27449".into(), "mariadb".into(), "10.5.16-r0".into())), "{found:?}");
    assert!(found.contains(&("GHSA-m5pq-gvj9-9vr8".into(), "regex".into(), "1.5.5".into())), "{found:?}");
    let clean = scanned(&app, "db/mariadb:fixed").await;
    // requests==2.30.0 is in both images: only it remains.
    assert_eq!(ids(&clean).iter().map(|(id, _, _)| id.as_str()).collect::<Vec<_>>(), ["GHSA-j8r2-6x86-q33q"]);

    // The SBOM and the report are referrers of the image, with their artifact types.
    let res = app.req(Method::GET, &format!("/v2/db/mariadb/referrers/{apk}")).send().await.expect("referrers");
    let index: Value = res.json().await.expect("index");
    let mut types: Vec<&str> =
        index["manifests"].as_array().expect("manifests").iter().filter_map(|m| m["artifactType"].as_str()).collect();
    types.sort_unstable();
    assert_eq!(types, ["application/spdx+json", "application/vnd.berth.vulnerability.report.v1+json"]);
    let sbom_digest = apk_scan["sbom"].as_str().expect("sbom digest");
    let res = app.req(Method::GET, &format!("/v2/db/mariadb/manifests/{sbom_digest}")).send().await.expect("sbom");
    let sbom_manifest: Value = res.json().await.expect("json");
    let layer = sbom_manifest["layers"][0]["digest"].as_str().expect("layer");
    let sbom: Value = app
        .req(Method::GET, &format!("/v2/db/mariadb/blobs/{layer}"))
        .send()
        .await
        .expect("blob")
        .json()
        .await
        .expect("spdx");
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let purls: Vec<&str> = sbom["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert!(purls.contains(&"pkg:apk/alpine/mariadb@10.5.15-r0?distro=alpine-3.14.10"), "{purls:?}");
    assert!(purls.contains(&"pkg:cargo/regex@1.5.4"), "{purls:?}");

    // /acr/v1 summarizes the scan on the manifest.
    let res = app.req(Method::GET, &format!("/acr/v1/db/mariadb/_manifests/{apk}")).send().await.expect("acr");
    let acr: Value = res.json().await.expect("json");
    assert_eq!(acr["manifest"]["scan"]["status"], "done", "{acr}");
    assert_eq!(acr["manifest"]["scan"]["summary"]["packages"], 4, "{acr}");

    // The portal's manifest page shows the scan and its findings.
    let cookie = crate::portal::browser::raw_sign_in(&app).await;
    let (status, html) =
        crate::portal::browser::page(&app, &cookie, &format!("/manifest?name=db/mariadb&digest={apk}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Vulnerability scan") && html.contains("CVE-2022-27449") && html.contains("10.5.16-r0"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_policy_refuses_pulls_of_vulnerable_images_only() {
    let app = TestApp::spawn().await;
    import_osv(&app).await;
    let old = push_layers(&app, "web/nginx", "old", &debian_image("1.2.1-2.2+wheezy2")).await;
    let fixed = push_layers(&app, "web/nginx", "fixed", &debian_image("1.2.1-2.2+wheezy3")).await;
    scanned(&app, "web/nginx:old").await;
    scanned(&app, "web/nginx:fixed").await;
    // DSA records carry no severity: the threshold Unknown refuses any finding.
    let policy = json!({"repository": "web/*", "refuseSeverity": "Unknown"});
    let res =
        app.req(Method::PUT, "/berth/v1/policies/scan/no-known-vulns").json(&policy).send().await.expect("policy");
    assert_eq!(res.status(), StatusCode::OK);
    let pull = token_with(&app, "puller", "web/nginx", &["content/read"]).await;
    for (digest, want) in [(&old, StatusCode::FORBIDDEN), (&fixed, StatusCode::OK)] {
        let res = app
            .client
            .get(app.url(&format!("/v2/web/nginx/manifests/{digest}")))
            .basic_auth("puller", Some(&pull))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .expect("pull");
        assert_eq!(res.status(), want, "{digest}");
        if want == StatusCode::FORBIDDEN {
            let body = res.text().await.expect("body");
            assert!(body.contains("DENIED") && body.contains("no-known-vulns"), "{body}");
        }
    }
    let res = app.req(Method::DELETE, "/berth/v1/policies/scan/no-known-vulns").send().await.expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res =
        app.req(Method::GET, &format!("/v2/web/nginx/manifests/{old}")).header("accept", OCI_MANIFEST).send().await;
    assert_eq!(res.expect("pull").status(), StatusCode::OK, "no policy, no refusal");
    let bad = json!({"repository": "Web/*", "refuseSeverity": "High"});
    let res = app.req(Method::PUT, "/berth/v1/policies/scan/bad").json(&bad).send().await.expect("policy");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "BAD_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scanner_releases_clean_images_from_quarantine_and_fails_vulnerable_ones() {
    let app = TestApp::spawn().await;
    import_osv(&app).await;
    app.admin(Method::PATCH, "/quarantine", Some(json!({"status": "enabled"}))).await;
    let policy = json!({"repository": "*", "quarantineSeverity": "Unknown"});
    app.req(Method::PUT, "/berth/v1/policies/scan/gate").json(&policy).send().await.expect("policy");
    let pull = token_with(&app, "puller", "web/nginx", &["content/read", "metadata/read"]).await;
    let get = |digest: String| {
        let (app, pull) = (&app, pull.clone());
        async move {
            app.client
                .get(app.url(&format!("/v2/web/nginx/manifests/{digest}")))
                .basic_auth("puller", Some(&pull))
                .header("accept", OCI_MANIFEST)
                .send()
                .await
                .expect("pull")
                .status()
        }
    };
    let fixed = push_layers(&app, "web/nginx", "fixed", &debian_image("1.2.1-2.2+wheezy3")).await;
    let old = push_layers(&app, "web/nginx", "old", &debian_image("1.2.1-2.2+wheezy2")).await;
    // Quarantined until the scanner has looked (it may already have: then it passed).
    let first = get(fixed.clone()).await;
    assert!(first == StatusCode::FORBIDDEN || first == StatusCode::OK, "{first}");
    scanned(&app, &format!("web/nginx@{fixed}")).await;
    scanned(&app, &format!("web/nginx@{old}")).await;
    let state = |digest: String| {
        let app = &app;
        async move {
            let v: Value = app
                .req(Method::GET, &format!("/acr/v1/web/nginx/_manifests/{digest}"))
                .send()
                .await
                .expect("acr")
                .json()
                .await
                .expect("json");
            (
                v["manifest"]["quarantineState"].as_str().unwrap_or_default().to_owned(),
                v["manifest"]["quarantineDetails"].clone(),
            )
        }
    };
    assert_eq!(state(fixed.clone()).await.0, "Passed");
    let (failed, details) = state(old.clone()).await;
    assert_eq!(failed, "Failed", "{details}");
    assert!(details.as_str().is_some_and(|d| d.contains("berth")), "{details}");
    assert_eq!(get(fixed).await, StatusCode::OK, "released by the scanner");
    assert_eq!(get(old).await, StatusCode::FORBIDDEN, "held: it failed");
    // The scanner's own referrers are never quarantined.
    let res = app.req(Method::GET, "/v2/web/nginx/tags/list").send().await.expect("tags");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_built_to_hurt_the_scanner_are_reported_unscannable_and_the_registry_keeps_serving() {
    let app = TestApp::spawn().await;
    // 512 MiB of zeros, gzip-compressed as it is generated (about 500 KiB pushed).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut header = tar::Header::new_gnu();
    header.set_path("zeros").expect("path");
    header.set_size(512 << 20);
    header.set_mode(0o644);
    header.set_cksum();
    gz.write_all(header.as_bytes()).expect("header");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..512 {
        gz.write_all(&zeros).expect("zeros");
    }
    let bomb = gz.finish().expect("gzip");
    // A tar entry claiming 100 GiB, then the end of the stream.
    let mut header = tar::Header::new_gnu();
    header.set_path("huge").expect("path");
    header.set_size(100 << 30);
    header.set_cksum();
    let truncated = header.as_bytes().to_vec();
    // `../` and absolute paths, a symlink loop, deep nesting.
    let mut tar = tar::Builder::new(Vec::new());
    for (path, target) in [("etc/os-release", "../etc/os-release"), ("loop/a", "b"), ("loop/b", "a")] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        tar.append_link(&mut h, path, target).expect("link");
    }
    let deep = "d/".repeat(2_000) + "f";
    for path in ["../../outside", deep.as_str()] {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        tar.append_data(&mut h, path, &b"x"[..])
            .or_else(|_| {
                // The tar crate refuses `..` itself: write the name into the header by hand.
                let mut raw = tar::Header::new_old();
                raw.as_old_mut().name[..path.len().min(100)].copy_from_slice(&path.as_bytes()[..path.len().min(100)]);
                raw.set_size(1);
                raw.set_cksum();
                tar.append(&raw, &b"x"[..])
            })
            .expect("entry");
    }
    let tricks = tar.into_inner().expect("tar");

    let started = std::time::Instant::now();
    push_layers(&app, "hostile/bomb", "v1", &[bomb]).await;
    let truncated_digest = {
        let config = app.push_blob("hostile/truncated", b"{}").await;
        let layer = app.push_blob("hostile/truncated", &truncated).await;
        let descs = vec![
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": truncated.len()}),
        ];
        let m = image_manifest(&config, 2, descs);
        assert_eq!(app.put_manifest("hostile/truncated", "v1", OCI_MANIFEST, &m).await.status(), StatusCode::CREATED);
        sha256(&m)
    };
    let tricks_digest = {
        let config = app.push_blob("hostile/tricks", b"{}").await;
        let layer = app.push_blob("hostile/tricks", &tricks).await;
        let descs =
            vec![json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": tricks.len()})];
        let m = image_manifest(&config, 2, descs);
        assert_eq!(app.put_manifest("hostile/tricks", "v1", OCI_MANIFEST, &m).await.status(), StatusCode::CREATED);
        sha256(&m)
    };

    let bomb = scanned(&app, "hostile/bomb:v1").await;
    assert_eq!(bomb["status"], "unscannable", "{bomb}");
    assert!(bomb["reason"].as_str().is_some_and(|r| r.contains("decompression bomb")), "{bomb}");
    let truncated = scanned(&app, &format!("hostile/truncated@{truncated_digest}")).await;
    assert_eq!(truncated["status"], "unscannable", "{truncated}");
    assert!(truncated["reason"].as_str().is_some_and(|r| r.contains("truncated")), "{truncated}");
    let tricks = scanned(&app, &format!("hostile/tricks@{tricks_digest}")).await;
    assert_eq!(tricks["status"], "done", "{tricks}");
    assert_eq!(tricks["summary"]["packages"], 0, "{tricks}");
    eprintln!("three hostile images scanned in {:?}", started.elapsed());
    // Nothing was unpacked anywhere: the data directory holds no file named like an entry.
    for name in ["zeros", "huge", "outside", "f"] {
        assert!(!find_file(app.data_dir(), name), "{name} was written to disk");
    }
    // And the registry serves meanwhile and after.
    app.push_image("still/serving", "v1", &[b"layer"]).await;
}

fn find_file(dir: &std::path::Path, name: &str) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        let p = e.path();
        p.file_name().is_some_and(|n| n == name) || (p.is_dir() && find_file(&p, name))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_a_database_matches_scanned_images_again_without_reading_their_layers() {
    let app = TestApp::spawn().await;
    let digest = push_layers(&app, "web/nginx", "old", &debian_image("1.2.1-2.2+wheezy2")).await;
    let before = scanned(&app, "web/nginx:old").await;
    assert_eq!(
        (before["status"].as_str(), before["findings"].as_array().map(Vec::len)),
        (Some("done"), Some(0)),
        "{before}"
    );
    let first_report = before["report"].clone();
    import_osv(&app).await;
    let started = std::time::Instant::now();
    let after = loop {
        let scan = scanned(&app, "web/nginx:old").await;
        if scan["report"] != first_report {
            break scan;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "not matched again: {scan}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(ids(&after), [("DSA-3029-1".into(), "nginx-common".into(), "1.2.1-2.2+wheezy3".into())], "{after}");
    // The old report went; the new one is the image's referrer.
    let index: Value = app
        .req(Method::GET, &format!("/v2/web/nginx/referrers/{digest}"))
        .send()
        .await
        .expect("referrers")
        .json()
        .await
        .expect("json");
    let reports: Vec<&Value> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter(|m| m["artifactType"] == "application/vnd.berth.vulnerability.report.v1+json")
        .collect();
    assert_eq!(reports.len(), 1, "{index}");
    assert_eq!(reports[0]["digest"], after["report"]);
}

//! Storage lifecycle over HTTP: usage with shared content counted once, online garbage
//! collection (while pushes go on), upload expiry, index deletion, retention and the orphan
//! sweep; each freed byte checked in the blob store itself, and the usage counters against a
//! recount. Quotas are in `usage.rs`.

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

fn quick_gc(c: &mut berth::Config) {
    c.gc.grace = berth::config::Duration::parse("0s").expect("duration");
}

async fn gc(app: &TestApp) -> Value {
    app.admin(Method::POST, "/gc", Some(json!({}))).await
}

#[tokio::test]
async fn shared_layers_count_once_and_gc_frees_only_unique_bytes() {
    let app = TestApp::spawn_with(quick_gc).await;
    let base = layer(1, 1 << 20);
    let (m1, d1) = app.push_image("one", "v1", &[&base, b"unique to one"]).await;
    let (m2, d2) = app.push_image("two", "v1", &[&base, b"unique to two, longer"]).await;
    let config_len = serde_json::from_slice::<Value>(&m1).expect("json")["config"]["size"].as_u64().expect("size");
    let expected = base.len() as u64 + config_len + 13 + 21 + m1.len() as u64 + m2.len() as u64;
    assert_eq!(app.used().await, expected, "the base layer and the shared config count once");
    let usage = app.admin(Method::GET, "/usage", None).await;
    let names: Vec<&str> =
        usage["value"].as_array().expect("value").iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["Size", "Webhooks", "Geo-replications", "IPRules", "ScopeMaps", "Tokens"]);
    assert_eq!(usage["value"][0]["limit"], 100u64 << 30);
    assert_eq!(usage["value"][0]["unit"], "Bytes");

    assert_eq!(
        app.req(Method::DELETE, &format!("/v2/one/manifests/{d1}")).send().await.expect("delete").status(),
        StatusCode::ACCEPTED
    );
    let report = gc(&app).await;
    assert_eq!((report["blobsDeleted"].as_u64(), report["bytesFreed"].as_u64()), (Some(1), Some(13)), "{report}");
    assert!(!app.blob_stored(&sha256(b"unique to one")).await, "the unique layer's object is gone");
    assert!(app.blob_stored(&sha256(&base)).await);
    assert_eq!(app.used().await, expected - 13 - m1.len() as u64);
    let pulled = app.req(Method::GET, &format!("/v2/two/blobs/{}", sha256(&base))).send().await.expect("pull");
    assert_eq!(sha256(&pulled.bytes().await.expect("bytes")), sha256(&base), "the shared layer still pulls whole");

    app.req(Method::DELETE, &format!("/v2/two/manifests/{d2}")).send().await.expect("delete");
    let report = gc(&app).await;
    assert_eq!(report["blobsDeleted"], 3, "{report}");
    assert_eq!(app.used().await, 0);
    assert!(app.stored("blobs").await.is_empty(), "every blob object is gone");

    let metrics = app.req(Method::GET, "/metrics").send().await.expect("metrics").text().await.expect("text");
    assert!(
        metrics.contains("berth_storage_used_bytes 0\n") && metrics.contains("berth_gc_last_blobs_deleted 3\n"),
        "{metrics}"
    );
    assert_eq!(app.anon(Method::GET, "/metrics").send().await.expect("metrics").status(), StatusCode::UNAUTHORIZED);
    let status = app.admin(Method::GET, "/gc", None).await;
    assert_eq!(status["lastRun"]["blobsDeleted"], 3);
    assert_eq!(app.assert_usage_consistent().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_during_twenty_concurrent_pushes_loses_nothing() {
    // The grace period is the time a pushed blob has to get a manifest: long enough for 20
    // concurrent pushes on a loaded two-core machine (on PostgreSQL too), short for a test.
    let app = std::sync::Arc::new(
        TestApp::spawn_with(|c| c.gc.grace = berth::config::Duration::parse("6s").expect("duration")).await,
    );
    let shared: Vec<Vec<u8>> = (0..3).map(|i| layer(i, 256 << 10)).collect();
    let refs: Vec<&[u8]> = shared.iter().map(Vec::as_slice).collect();
    let (_, seed) = app.push_image("seed", "v1", &refs).await;
    app.req(Method::DELETE, &format!("/v2/seed/manifests/{seed}")).send().await.expect("delete");
    // The shared layers are now unreferenced and, after the grace period, collectable.
    tokio::time::sleep(std::time::Duration::from_millis(6500)).await;

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (app, done) = (app.clone(), done.clone());
        tokio::spawn(async move {
            let mut passes = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                gc(&app).await;
                passes += 1;
            }
            passes
        })
    };
    let mut pushes = Vec::new();
    for i in 0..20u8 {
        let (app, shared) = (app.clone(), shared.clone());
        pushes.push(tokio::spawn(async move {
            let own = layer(100 + i, 64 << 10);
            let mut layers: Vec<&[u8]> = shared.iter().map(Vec::as_slice).collect();
            layers.push(&own);
            app.push_image(&format!("app{i}"), "v1", &layers).await
        }));
    }
    let mut images = Vec::new();
    for p in pushes {
        images.push(p.await.expect("push task"));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let passes = collector.await.expect("gc task");
    assert!(passes >= 2, "GC ran while the pushes went on ({passes} passes)");
    gc(&app).await;

    for (i, (manifest, digest)) in images.iter().enumerate() {
        let res = app.req(Method::GET, &format!("/v2/app{i}/manifests/v1")).header("accept", OCI_MANIFEST).send().await;
        let body = res.expect("pull manifest").bytes().await.expect("bytes");
        assert_eq!(&body[..], &manifest[..], "app{i} manifest");
        assert_eq!(&sha256(&body), digest);
        let parsed: Value = serde_json::from_slice(&body).expect("json");
        let mut blobs = vec![parsed["config"]["digest"].as_str().expect("config").to_owned()];
        blobs.extend(
            parsed["layers"].as_array().expect("layers").iter().filter_map(|l| l["digest"].as_str().map(str::to_owned)),
        );
        for b in blobs {
            let res = app.req(Method::GET, &format!("/v2/app{i}/blobs/{b}")).send().await.expect("pull blob");
            assert_eq!(res.status(), StatusCode::OK, "app{i} blob {b}");
            assert_eq!(sha256(&res.bytes().await.expect("bytes")), b, "app{i} blob {b} pulls whole");
        }
    }
    app.assert_usage_consistent().await;
}

#[tokio::test]
async fn a_push_that_keeps_making_progress_loses_no_blob_to_the_grace_period() {
    let app = TestApp::spawn_with(|c| c.gc.enabled = false).await;
    let grace = std::time::Duration::from_secs(2);
    let gc_now = || app.admin(Method::POST, "/gc", Some(json!({"grace": "2s"})));
    // Layers arrive over three grace periods, each within one of the last.
    let config = app.push_blob("slow", br#"{"architecture":"amd64","os":"linux"}"#).await;
    let mut layers = Vec::new();
    for i in 0..3u8 {
        tokio::time::sleep(grace * 9 / 10).await;
        let report = gc_now().await;
        assert_eq!(report["blobsDeleted"], 0, "pass {i}: {report}");
        assert!(report["blobsWaiting"].as_u64() >= Some(1), "{report}");
        let data = layer(50 + i, 1000);
        layers.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": app.push_blob("slow", &data).await, "size": data.len()}));
    }
    // And one layer streams for longer than two grace periods on its own.
    let data = layer(60, 64 << 10);
    let digest = sha256(&data);
    let chunks: Vec<Vec<u8>> = data.chunks(8 << 10).map(<[u8]>::to_vec).collect();
    let body = futures_util::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        Ok::<_, std::io::Error>(c)
    });
    let streaming = app
        .req(Method::POST, &format!("/v2/slow/blobs/uploads/?digest={digest}"))
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let collecting = async {
        for _ in 0..4 {
            tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
            assert_eq!(gc_now().await["blobsDeleted"], 0);
        }
    };
    let (res, ()) = tokio::join!(streaming, collecting);
    assert_eq!(res.expect("slow layer").status(), StatusCode::CREATED);
    layers.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": data.len()}));
    let manifest = image_manifest(&config, 37, layers);
    let res = app.put_manifest("slow", "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());

    // A push that stopped making progress loses its blobs once the grace period has run out.
    app.push_blob("abandoned", b"never referenced").await;
    tokio::time::sleep(grace + std::time::Duration::from_millis(1500)).await;
    let report = gc_now().await;
    assert_eq!(report["blobsDeleted"], 1, "{report}");
    assert_eq!(report["blobsWaiting"], 0, "{report}");
}

#[tokio::test]
async fn idle_upload_sessions_expire_and_free_their_bytes() {
    let app = TestApp::spawn_with(|c| c.gc.upload_ttl = berth::config::Duration::parse("1s").expect("duration")).await;
    let res = app.req(Method::POST, "/v2/app/blobs/uploads/").send().await.expect("start");
    let location = res.headers()["location"].to_str().expect("location").to_owned();
    app.req(Method::PATCH, &location).body(layer(3, 100_000)).send().await.expect("patch");
    assert_eq!(app.stored("uploads").await.len(), 1);
    assert_eq!(gc(&app).await["uploadsExpired"], 0, "a fresh session stays");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(gc(&app).await["uploadsExpired"], 1);
    assert!(app.stored("uploads").await.is_empty(), "its bytes are freed");
    assert_eq!(app.req(Method::GET, &location).send().await.expect("status").status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_an_index_keeps_a_child_tagged_elsewhere() {
    let app = TestApp::spawn_with(quick_gc).await;
    let (amd, amd_digest) = app.push_image("multi", "amd-build", &[b"amd64 layer"]).await;
    let (arm, arm_digest) = app.push_image("multi", "arm-only", &[b"arm64 layer"]).await;
    app.req(Method::DELETE, "/v2/multi/manifests/amd-build").send().await.expect("untag amd");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd_digest, "size": amd.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": arm_digest, "size": arm.len(), "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }))
    .expect("json");
    assert_eq!(app.put_manifest("multi", "latest", OCI_INDEX, &index).await.status(), StatusCode::CREATED);

    // A child alone cannot go while the index lists it (ACR's "delete every untagged manifest"
    // recipe would break the index): refused on both APIs, naming the index.
    for path in [format!("/v2/multi/manifests/{amd_digest}"), format!("/acr/v1/multi/_manifests/{amd_digest}")] {
        let res = app.req(Method::DELETE, &path).send().await.expect("delete child");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["errors"][0]["code"], "DENIED");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(&sha256(&index)) && message.contains("index"), "{message}");
    }
    let res = app.req(Method::GET, &format!("/v2/multi/manifests/{amd_digest}")).header("accept", OCI_MANIFEST).send();
    assert_eq!(res.await.expect("child").status(), StatusCode::OK, "nothing was deleted");

    let res = app.req(Method::DELETE, &format!("/v2/multi/manifests/{}", sha256(&index))).send().await.expect("delete");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let get =
        |r: String| app.req(Method::GET, &format!("/v2/multi/manifests/{r}")).header("accept", OCI_MANIFEST).send();
    assert_eq!(
        get(arm_digest.clone()).await.expect("arm").status(),
        StatusCode::OK,
        "the child tagged elsewhere survives"
    );
    assert_eq!(get("arm-only".into()).await.expect("arm tag").status(), StatusCode::OK);
    assert_eq!(
        get(amd_digest.clone()).await.expect("amd").status(),
        StatusCode::NOT_FOUND,
        "the unheld child goes with its index"
    );
    gc(&app).await;
    let arm_layer =
        app.req(Method::GET, &format!("/v2/multi/blobs/{}", sha256(b"arm64 layer"))).send().await.expect("blob");
    assert_eq!(arm_layer.bytes().await.expect("bytes").as_ref(), b"arm64 layer");
    assert!(!app.blob_stored(&sha256(b"amd64 layer")).await);
    app.assert_usage_consistent().await;
}

#[tokio::test]
async fn retention_deletes_old_untagged_manifests_but_keeps_held_ones() {
    let app = TestApp::spawn_with(quick_gc).await;
    let (_, plain) = app.push_image("app", "tmp", &[b"plain"]).await;
    let (_, locked) = app.push_image("app", "tmp2", &[b"locked"]).await;
    let (child_bytes, child) = app.push_image("app", "tmp3", &[b"child"]).await;
    let (subject_bytes, subject) = app.push_image("app", "v1", &[b"subject"]).await;
    for tag in ["tmp", "tmp2", "tmp3"] {
        app.req(Method::DELETE, &format!("/v2/app/manifests/{tag}")).send().await.expect("untag");
    }
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": child_bytes.len()}]}))
    .expect("json");
    app.put_manifest("app", "multi", OCI_INDEX, &index).await;
    let config = app.push_blob("app", b"{}").await;
    let signature = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2}, "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()}}))
    .expect("json");
    app.put_manifest("app", &sha256(&signature), OCI_MANIFEST, &signature).await;
    let res = app
        .req(Method::PATCH, &format!("/acr/v1/app/_manifests/{locked}"))
        .json(&json!({"deleteEnabled": false}))
        .send();
    assert_eq!(res.await.expect("lock").status(), StatusCode::OK);

    let policy = app
        .admin(Method::PATCH, "/retention", Some(json!({"days": 0, "status": "enabled", "type": "UntaggedManifests"})))
        .await;
    assert_eq!(policy, json!({"days": 0, "status": "enabled", "type": "UntaggedManifests"}));
    let dry = app.admin(Method::POST, "/gc", Some(json!({"dryRun": true}))).await;
    assert_eq!((dry["dryRun"].as_bool(), dry["manifestsDeleted"].as_u64()), (Some(true), Some(1)));
    let head = |d: &str| app.req(Method::HEAD, &format!("/v2/app/manifests/{d}")).header("accept", OCI_MANIFEST).send();
    assert_eq!(head(&plain).await.expect("head").status(), StatusCode::OK, "a dry run deletes nothing");
    assert_eq!(gc(&app).await["manifestsDeleted"], 1);
    assert_eq!(head(&plain).await.expect("head").status(), StatusCode::NOT_FOUND);
    for kept in [&locked, &child, &sha256(&signature)] {
        assert_eq!(head(kept).await.expect("head").status(), StatusCode::OK, "{kept} is held and stays");
    }
    let res = app.req(Method::PATCH, "/berth/v1/retention").json(&json!({"type": "TaggedManifests"})).send().await;
    assert_eq!(res.expect("patch").status(), StatusCode::BAD_REQUEST);
    app.assert_usage_consistent().await;
}

#[tokio::test]
async fn objects_without_metadata_are_swept() {
    let app = TestApp::spawn_with(|c| {
        quick_gc(c);
        c.gc.upload_ttl = berth::config::Duration::parse("0s").expect("duration");
    })
    .await;
    let stray = sha256(b"left by a crash");
    app.put_object(&format!("blobs/sha256/{}/{}", &stray[7..9], &stray[7..]), b"left by a crash").await;
    let part = "uploads/0b5e7f3c-2d7a-4f1e-9c3b-6a1d2e3f4a5b/part";
    app.put_object(part, b"half an upload").await;
    let (_, digest) = app.push_image("app", "v1", &[b"kept"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let dry = app.admin(Method::POST, "/gc", Some(json!({"dryRun": true}))).await;
    assert_eq!(dry["orphansDeleted"], 2);
    assert!(app.blob_stored(&stray).await);
    assert_eq!(gc(&app).await["orphansDeleted"], 2);
    assert!(!app.blob_stored(&stray).await && app.stored("uploads").await.is_empty());
    let res = app.req(Method::GET, &format!("/v2/app/manifests/{digest}")).header("accept", OCI_MANIFEST).send().await;
    assert_eq!(res.expect("get").status(), StatusCode::OK, "what the metadata knows stays");
    assert!(app.blob_stored(&sha256(b"kept")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freed_gib_layer_leaves_usage_within_its_grace_and_one_background_interval() {
    let app = TestApp::spawn_with(|c| {
        // A grace of its own for the layer between its upload and the manifest's PUT: with
        // none, a background pass in between (the 1 GiB upload is slow on Azurite) collected it.
        c.gc.grace = berth::config::Duration::parse("5s").expect("duration");
        c.gc.interval = berth::config::Duration::parse("1s").expect("duration");
    })
    .await;
    // 1 GiB streamed from a generator: neither side holds it whole.
    const CHUNK: usize = 4 << 20;
    let chunk: bytes::Bytes = layer(9, CHUNK).into();
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    for _ in 0..256 {
        sha2::Digest::update(&mut hasher, &chunk);
    }
    let digest = format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher)));
    let body = futures_util::stream::iter((0..256).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let res = app
        .req(Method::POST, &format!("/v2/big/blobs/uploads/?digest={digest}"))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("push 1 GiB");
    assert_eq!(res.status(), StatusCode::CREATED);
    let config = app.push_blob("big", b"{}").await;
    let layer_desc =
        json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": 1u64 << 30});
    let manifest = image_manifest(&config, 2, vec![layer_desc]);
    assert_eq!(app.put_manifest("big", "v1", OCI_MANIFEST, &manifest).await.status(), StatusCode::CREATED);
    assert!(app.used().await > 1 << 30);

    let last_pass = || async { app.admin(Method::GET, "/gc", None).await["lastRun"]["finishTime"].clone() };
    let before = last_pass().await;
    let res = app.req(Method::DELETE, &format!("/v2/big/manifests/{}", sha256(&manifest))).send().await;
    assert_eq!(res.expect("delete").status(), StatusCode::ACCEPTED);
    let deleted = std::time::Instant::now();
    // The row goes first, then (in the same pass) the object, then the pass is reported. The
    // bound is generous: a loaded 2-core CI machine runs the rest of the suite meanwhile.
    loop {
        let (used, stored) = (app.used().await, app.blob_stored(&digest).await);
        let last = last_pass().await;
        if used == 0 && !stored && last.is_string() && last != before {
            break;
        }
        assert!(
            deleted.elapsed() < std::time::Duration::from_secs(60),
            "60 s after the deletion: {used} bytes used, object stored: {stored}, last pass finished {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    eprintln!("usage dropped {:?} after the deletion", deleted.elapsed());
    assert_eq!(app.assert_usage_consistent().await, 0);
}

#[tokio::test]
async fn the_tier_limits_scope_maps() {
    let app = TestApp::spawn_with(|c| c.limits.sku = berth::config::Sku::Basic).await;
    for i in 0..100 {
        let body = json!({"name": format!("map{i}"), "actions": ["repositories/app/content/read"]});
        let res = app.req(Method::POST, "/berth/v1/scopemaps").json(&body).send().await.expect("create");
        assert_eq!(res.status(), StatusCode::CREATED, "scope map {i}");
    }
    let body = json!({"name": "one-too-many", "actions": ["repositories/app/content/read"]});
    let res = app.req(Method::POST, "/berth/v1/scopemaps").json(&body).send().await.expect("create");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let text = res.text().await.expect("text");
    assert!(text.contains("Basic tier allows 100 scope maps"), "{text}");
    app.admin(Method::PATCH, "/settings", Some(json!({"sku": "Standard"}))).await;
    let res = app.req(Method::POST, "/berth/v1/scopemaps").json(&body).send().await.expect("create");
    assert_eq!(res.status(), StatusCode::CREATED, "a higher tier allows more");
}

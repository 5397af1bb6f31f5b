//! Usage and quota: usage is kept as counters by the transactions that add or remove bytes,
//! and the quota is checked inside them, so concurrent pushes cannot pass it together; the
//! usage check (`POST /berth/v1/usage/check`) recounts the tables and must find nothing to
//! repair after any mix of pushes, deletes and garbage collection.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// Sets the storage quota to `bytes`.
async fn set_quota(app: &TestApp, bytes: u64) {
    let settings = app.admin(Method::PATCH, "/settings", Some(json!({"storageQuotaBytes": bytes}))).await;
    assert_eq!(settings["storageQuotaBytes"], bytes);
}

/// Asserts that `res` is the quota's refusal: 403 `DENIED` naming the limit.
async fn assert_refused(res: reqwest::Response, limit: u64, what: &str) {
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "DENIED", "{what}: {body}");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("quota") && message.contains(&format!("of {limit} bytes")), "{what}: {message}");
}

#[tokio::test]
async fn over_quota_pushes_are_refused_whole_and_succeed_once_raised() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"first layer"]).await;
    let now = app.used().await;
    let settings = app.admin(Method::PATCH, "/settings", Some(json!({"storageQuotaBytes": now + 1000}))).await;
    assert_eq!(settings["storageQuotaBytes"], now + 1000);

    let big = layer(7, 4096);
    let digest = sha256(&big);
    let res = app.req(Method::POST, &format!("/v2/app/blobs/uploads/?digest={digest}")).body(big.clone()).send().await;
    let res = res.expect("push");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.expect("json");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert!(
        message.contains(&format!("{now} bytes"))
            && message.contains(&format!("{} bytes", now + 1000))
            && message.contains("4096 bytes"),
        "{message}"
    );
    assert_eq!(
        app.req(Method::HEAD, &format!("/v2/app/blobs/{digest}")).send().await.expect("head").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.used().await, now, "nothing partial stays");
    assert!(app.stored("uploads").await.is_empty(), "no parts left behind");

    // A chunked session refused at its final PUT is gone too.
    let res = app.req(Method::POST, "/v2/app/blobs/uploads/").send().await.expect("start");
    let location = res.headers()["location"].to_str().expect("location").to_owned();
    app.req(Method::PATCH, &location).body(big.clone()).send().await.expect("patch");
    let put = app.req(Method::PUT, &format!("{location}?digest={digest}")).send().await.expect("put");
    assert_eq!(put.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.req(Method::GET, &location).send().await.expect("status").status(), StatusCode::NOT_FOUND);

    // A manifest that would go over is refused as well.
    let config = app.push_blob("app", b"{}").await;
    app.admin(Method::PATCH, "/settings", Some(json!({"storageQuotaBytes": app.used().await}))).await;
    let res = app.put_manifest("app", "v2", OCI_MANIFEST, &image_manifest(&config, 2, vec![])).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    app.admin(Method::PATCH, "/settings", Some(json!({"storageQuotaBytes": null}))).await;
    let res = app.req(Method::POST, &format!("/v2/app/blobs/uploads/?digest={digest}")).body(big).send().await;
    assert_eq!(res.expect("push").status(), StatusCode::CREATED, "the same push succeeds once the quota is raised");
    app.assert_usage_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_blob_pushes_never_pass_the_quota_together() {
    const LAYER: u64 = 64 << 10;
    const ROOM: usize = 8;
    let app = TestApp::spawn().await;
    let quota = ROOM as u64 * LAYER + LAYER / 2;
    set_quota(&app, quota).await;
    let layers: Vec<Vec<u8>> = (0..20).map(|i| layer(i, LAYER as usize)).collect();
    // Every session holds its bytes before any is committed, so the 20 commits (where the quota
    // is checked) run together.
    let mut sessions = Vec::new();
    for (i, data) in layers.iter().enumerate() {
        let res = app.req(Method::POST, &format!("/v2/app{i}/blobs/uploads/")).send().await.expect("start");
        let location = res.headers()["location"].to_str().expect("location").to_owned();
        let res = app.req(Method::PATCH, &location).body(data.clone()).send().await.expect("patch");
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        sessions.push(format!("{location}?digest={}", sha256(data)));
    }
    let results = join_all(sessions.iter().map(|s| app.req(Method::PUT, s).send())).await;

    let (mut stored, mut refused) = (Vec::new(), Vec::new());
    for (i, res) in results.into_iter().enumerate() {
        let res = res.expect("commit");
        if res.status() == StatusCode::CREATED {
            stored.push(i);
        } else {
            assert_refused(res, quota, &format!("push {i}")).await;
            refused.push(i);
        }
    }
    let used = app.used().await;
    assert!(used <= quota, "{} pushes stored {used} bytes past the quota of {quota}", stored.len());
    assert_eq!(stored.len(), ROOM, "exactly as many pushes as fit are stored");
    assert_eq!(used, ROOM as u64 * LAYER);
    for i in refused {
        let digest = sha256(&layers[i]);
        let head = app.req(Method::HEAD, &format!("/v2/app{i}/blobs/{digest}")).send().await.expect("head");
        assert_eq!(head.status(), StatusCode::NOT_FOUND, "refused push {i}");
        assert!(!app.blob_stored(&digest).await, "refused push {i} left its object behind");
    }
    for i in stored {
        assert!(app.blob_stored(&sha256(&layers[i])).await, "push {i}");
    }
    assert!(app.stored("uploads").await.is_empty(), "no session's bytes stay");
    assert_eq!(app.assert_usage_consistent().await, used);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_manifest_pushes_never_pass_the_quota_together() {
    const ROOM: usize = 5;
    let app = TestApp::spawn().await;
    let config = app.push_blob("app", b"{}").await;
    // Twenty distinct manifests of one size.
    let manifests: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
                "layers": [], "annotations": {"n": format!("{i:02}")}}))
            .expect("json")
        })
        .collect();
    let size = manifests[0].len() as u64;
    let before = app.used().await;
    let quota = before + ROOM as u64 * size + size / 2;
    set_quota(&app, quota).await;
    let app = &app;
    let puts = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| async move { (i, app.put_manifest("app", &format!("t{i}"), OCI_MANIFEST, m).await) });
    let mut stored = 0;
    for (i, res) in join_all(puts).await {
        if res.status() == StatusCode::CREATED {
            stored += 1;
            continue;
        }
        assert_refused(res, quota, &format!("manifest {i}")).await;
        let get = app.req(Method::GET, &format!("/v2/app/manifests/t{i}")).header("accept", OCI_MANIFEST).send();
        assert_eq!(get.await.expect("get").status(), StatusCode::NOT_FOUND, "refused manifest {i} left a tag");
    }
    let used = app.used().await;
    assert!(used <= quota, "{stored} manifests stored {used} bytes past the quota of {quota}");
    assert_eq!((stored, used), (ROOM, before + ROOM as u64 * size));
    assert_eq!(app.assert_usage_consistent().await, used);
}

#[tokio::test]
async fn usage_counters_match_a_recount_through_pushes_deletes_and_gc() {
    let app = TestApp::spawn_with(|c| c.gc.grace = berth::config::Duration::parse("0s").expect("duration")).await;
    let app = &app;
    let delete = |path: String| async move {
        let res = app.req(Method::DELETE, &path).send().await.expect("delete");
        assert_eq!(res.status(), StatusCode::ACCEPTED, "DELETE {path}");
    };
    let base = layer(1, 10_000);
    let (m1, d1) = app.push_image("one", "v1", &[&base, b"only in one"]).await;
    let (m2, d2) = app.push_image("two", "v1", &[&base, b"only in two"]).await;
    let pushed = app.assert_usage_consistent().await;

    // The same manifest in another repository, and a mount, add no bytes.
    assert_eq!(app.push_image("three", "v1", &[&base, b"only in one"]).await.1, d1);
    let mount = format!("/v2/four/blobs/uploads/?mount={}&from=two", sha256(&base));
    assert_eq!(app.req(Method::POST, &mount).send().await.expect("mount").status(), StatusCode::CREATED);
    assert_eq!(app.assert_usage_consistent().await, pushed);

    // Deleting one copy of a manifest frees nothing; deleting the last frees its bytes.
    delete(format!("/v2/one/manifests/{d1}")).await;
    assert_eq!(app.assert_usage_consistent().await, pushed);
    delete(format!("/v2/three/manifests/{d1}")).await;
    assert_eq!(app.assert_usage_consistent().await, pushed - m1.len() as u64);

    // An index takes its untagged children along.
    let (amd, amd_digest) = app.push_image("multi", "amd", &[b"amd64 layer"]).await;
    let (arm, arm_digest) = app.push_image("multi", "arm", &[b"arm64 layer"]).await;
    delete("/v2/multi/manifests/amd".into()).await;
    delete("/v2/multi/manifests/arm".into()).await;
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": amd_digest, "size": amd.len()},
        {"mediaType": OCI_MANIFEST, "digest": arm_digest, "size": arm.len()}]}))
    .expect("json");
    assert_eq!(app.put_manifest("multi", "latest", OCI_INDEX, &index).await.status(), StatusCode::CREATED);
    let with_index = app.assert_usage_consistent().await;
    delete(format!("/v2/multi/manifests/{}", sha256(&index))).await;
    let children = (index.len() + amd.len() + arm.len()) as u64;
    assert_eq!(app.assert_usage_consistent().await, with_index - children);

    // A repository delete frees the manifests no other repository stores.
    assert_eq!(app.push_image("five", "v1", &[&base, b"only in two"]).await.1, d2);
    let before = app.assert_usage_consistent().await;
    delete("/acr/v1/two".into()).await;
    assert_eq!(app.assert_usage_consistent().await, before, "five still stores two's manifest");
    delete("/acr/v1/five".into()).await;
    assert_eq!(app.assert_usage_consistent().await, before - m2.len() as u64);

    // Garbage collection frees what nothing references; the counters follow it to zero.
    let report = app.admin(Method::POST, "/gc", Some(json!({}))).await;
    assert_eq!(report["blobsDeleted"], 6, "{report}");
    assert_eq!(app.assert_usage_consistent().await, 0);
    assert!(app.stored("blobs").await.is_empty());
}

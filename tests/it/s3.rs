//! Blobs on an S3-compatible server (moto, started by `.ci/run`; its address in
//! `BERTH_TEST_S3_ENDPOINT`): pushes monolithic and chunked (multipart parts of 5 MiB and
//! more), pulls with ranges, signed redirects, usage and garbage collection, all through the
//! object store.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

/// A fresh bucket on the test S3 server, or `None` (a failure under CI) without one.
async fn bucket() -> Option<(String, String)> {
    let Ok(endpoint) = std::env::var("BERTH_TEST_S3_ENDPOINT") else {
        assert!(std::env::var_os("CI").is_none(), "BERTH_TEST_S3_ENDPOINT is required under CI (.ci/run starts moto)");
        eprintln!("skipping: no S3 server (set BERTH_TEST_S3_ENDPOINT)");
        return None;
    };
    let name = format!("berth-{}", uuid::Uuid::new_v4().simple());
    let res = reqwest::Client::new().put(format!("{endpoint}/{name}")).send().await.expect("create bucket");
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    Some((endpoint, name))
}

static S3: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

fn on_s3(c: &mut berth::Config) {
    let (endpoint, bucket) = S3.get().expect("bucket chosen first").clone();
    c.storage.url = Some(format!("s3://{bucket}"));
    c.storage.s3.endpoint = Some(endpoint);
    c.storage.s3.region = Some("us-east-1".into());
    c.storage.s3.access_key_id = Some("test".into());
    c.storage.s3.secret_access_key = Some("test".into());
    c.storage.s3.allow_http = Some(true);
    c.storage.redirect = true;
    c.gc.grace = berth::config::Duration::parse("0s").expect("duration");
}

fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(17).wrapping_add(seed)).collect()
}

#[tokio::test]
async fn blobs_live_in_s3_push_pull_redirect_and_collect() {
    let Some(found) = bucket().await else { return };
    // A client of our own on the bucket, to look at what Berth stored there.
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&found.0)
        .with_bucket_name(&found.1)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_allow_http(true)
        .build()
        .expect("S3 client");
    S3.get_or_init(|| found);
    let app = TestApp::spawn_with(on_s3).await;

    // Monolithic, 12 MiB: a multipart upload of 5 MiB parts.
    let big = data(1, 12 << 20);
    let (manifest, digest) = app.push_image("app", "v1", &[&big]).await;
    // Chunked: three PATCHes, concatenated in the store at the end.
    let chunks = [data(2, 6 << 20), data(3, 6 << 20), data(4, 1000)];
    let whole: Vec<u8> = chunks.concat();
    let res = app.req(Method::POST, "/v2/app/blobs/uploads/").send().await.expect("start");
    let mut location = res.headers()["location"].to_str().expect("location").to_owned();
    let mut offset = 0;
    for c in &chunks {
        let range = format!("{offset}-{}", offset + c.len() - 1);
        let res = app.req(Method::PATCH, &location).header("content-range", range).body(c.clone()).send().await;
        let res = res.expect("patch");
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        location = res.headers()["location"].to_str().expect("location").to_owned();
        offset += c.len();
    }
    let chunked = sha256(&whole);
    let res = app.req(Method::PUT, &format!("{location}?digest={chunked}")).send().await.expect("put");
    assert_eq!(res.status(), StatusCode::CREATED);

    // Pulls go through a signed redirect and come back whole; ranges work.
    for (d, bytes) in [(sha256(&big), &big), (chunked.clone(), &whole)] {
        let res = app.req(Method::GET, &format!("/v2/app/blobs/{d}")).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
        let signed = res.headers()["location"].to_str().expect("location").to_owned();
        let body = app.anon(Method::GET, &signed).send().await.expect("signed").bytes().await.expect("bytes");
        assert_eq!(sha256(&body), d, "pulled whole from S3");
        let part = app.anon(Method::GET, &signed).header("range", "bytes=5242878-5242881").send().await.expect("range");
        assert_eq!(part.bytes().await.expect("bytes").as_ref(), &bytes[5_242_878..5_242_882]);
    }
    let res =
        app.req(Method::GET, "/v2/app/manifests/v1").header("accept", OCI_MANIFEST).send().await.expect("manifest");
    assert_eq!(res.bytes().await.expect("bytes").as_ref(), &manifest[..]);

    // The objects are in the bucket, under their content address.
    let hex = sha256(&big)[7..].to_owned();
    let key = object_store::path::Path::from(format!("blobs/sha256/{}/{hex}", &hex[..2]));
    let meta = object_store::ObjectStore::head(&store, &key).await.expect("the layer is in the bucket");
    assert_eq!(meta.size as usize, big.len());

    // Deleting the image and collecting frees the bucket's objects.
    app.req(Method::DELETE, &format!("/v2/app/manifests/{digest}")).send().await.expect("delete");
    let report = app.admin(Method::POST, "/gc", Some(json!({}))).await;
    assert_eq!(report["blobsDeleted"], 3, "{report}"); // the layer, the config and the chunked blob
    let gone = object_store::ObjectStore::head(&store, &key).await;
    assert!(matches!(gone, Err(object_store::Error::NotFound { .. })), "the object is gone from the bucket: {gone:?}");
    let usage = app.admin(Method::GET, "/usage", None).await;
    assert_eq!(usage["value"][0]["currentValue"], 0);
}

#[tokio::test]
async fn unset_settings_leave_s3_to_the_environment_and_a_broken_store_stops_the_start() {
    let Some((endpoint, bucket)) = bucket().await else { return };
    let (_guard, dir) = temp_dir();
    let config = dir.join("berth.toml");
    let text = format!(
        "[storage]\nurl = \"s3://{bucket}\"\n[storage.s3]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n"
    );
    std::fs::write(&config, text).expect("config");
    let berth = |allow_http: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("BERTH_DATABASE_URL")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        match allow_http {
            Some(v) => cmd.env("AWS_ALLOW_HTTP", v),
            None => cmd.env_remove("AWS_ALLOW_HTTP"),
        };
        cmd
    };
    // Without AWS_ALLOW_HTTP an http:// endpoint cannot work: refused at start, naming what to set.
    let out = berth(None).output().expect("berth runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("probe object") && stderr.contains("AWS_ALLOW_HTTP"), "{stderr}");
    assert!(!stderr.contains("listening on"), "it never served");
    // With it (and nothing in the file), blobs are written there.
    let server = BerthProcess::run(berth(Some("true")), true);
    let data = data(9, 1000);
    let res = reqwest::Client::new()
        .post(server.url(&format!("/v2/app/blobs/uploads/?digest={}", sha256(&data))))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .body(data.clone())
        .send()
        .await
        .expect("push");
    assert_eq!(res.status(), StatusCode::CREATED, "AWS_ALLOW_HTTP from the environment is honoured");
}

//! Manifests: push and pull by tag and digest for every supported media type, validation
//! errors, tag versus manifest deletes, and the referrers API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[tokio::test]
async fn push_and_pull_by_tag_and_digest() {
    let app = TestApp::spawn().await;
    let (manifest, digest) = app.push_image("lib/app", "v1", &[b"layer one", b"layer two"]).await;
    for reference in ["v1", digest.as_str()] {
        let res = app.req(Method::GET, &format!("/v2/lib/app/manifests/{reference}")).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK, "{reference}");
        assert_eq!(res.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(res.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(res.headers()["content-length"], manifest.len().to_string().as_str());
        assert_eq!(res.bytes().await.expect("body").as_ref(), manifest.as_slice(), "exact bytes back");
        let head = app.req(Method::HEAD, &format!("/v2/lib/app/manifests/{reference}")).send().await.expect("HEAD");
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(head.headers()["content-length"], manifest.len().to_string().as_str());
    }
    let missing = app.req(Method::GET, "/v2/lib/app/manifests/v2").send().await.expect("GET missing");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(missing).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn put_response_headers_and_put_by_digest() {
    let app = TestApp::spawn().await;
    let config = app.push_blob("r", b"{}").await;
    let manifest = image_manifest(&config, 2, vec![]);
    let digest = sha256(&manifest);
    let res = app.put_manifest("r", &digest, OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["location"], format!("/v2/r/manifests/{digest}").as_str());
    assert_eq!(res.headers()["docker-content-digest"], digest.as_str());
    let wrong = sha256(b"another manifest");
    let res = app.put_manifest("r", &wrong, OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn manifests_must_reference_blobs_the_repository_has() {
    let app = TestApp::spawn().await;
    let config = app.push_blob("r", b"{}").await;
    let absent = sha256(b"never pushed");
    let layer = json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": absent, "size": 12});
    let res = app.put_manifest("r", "v1", OCI_MANIFEST, &image_manifest(&config, 2, vec![layer])).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(body["errors"][0]["detail"]["digest"], absent.as_str());
    // The blob exists, but only in another repository: still unknown here.
    let other = app.push_blob("elsewhere", b"layer").await;
    let layer = json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": other, "size": 5});
    let res = app.put_manifest("r", "v1", OCI_MANIFEST, &image_manifest(&config, 2, vec![layer])).await;
    assert_eq!(error_code(res).await, "MANIFEST_BLOB_UNKNOWN");
    // A foreign layer (with urls) need not be in the registry.
    let foreign = json!({"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": absent,
                          "size": 12, "urls": ["https://example.invalid/layer"]});
    let res = app.put_manifest("r", "v1", OCI_MANIFEST, &image_manifest(&config, 2, vec![foreign])).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let tags = app.req(Method::GET, "/v2/r/tags/list").send().await.expect("tags");
    assert_eq!(tags.json::<Value>().await.expect("json")["tags"], json!(["v1"]), "only the valid push tagged");
}

#[tokio::test]
async fn repeated_references_store_once_and_too_many_are_refused() {
    let app = TestApp::spawn().await;
    let config = app.push_blob("r", b"{}").await;
    let layer = app.push_blob("r", b"one layer").await;
    // One blob listed 25,000 times (3.6 MB of manifest): one reference to check and keep.
    let same = json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 9});
    let res = app.put_manifest("r", "many", OCI_MANIFEST, &image_manifest(&config, 2, vec![same; 25_000])).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url()).await.expect("database");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM manifest_refs WHERE repository = 'r'")
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    assert_eq!(rows, 2, "the config and the one layer");
    // More distinct blobs than any manifest needs: refused before any lookup.
    let distinct: Vec<Value> = (0..=berth::oci::MAX_REFERENCES as u64)
        .map(|i| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{:064x}", i + 1), "size": 1}))
        .collect();
    let res = app.put_manifest("r", "too-many", OCI_MANIFEST, &image_manifest(&config, 2, distinct)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID");
    assert!(body["errors"][0]["message"].as_str().expect("message").contains("at most 10000"), "{body}");
}

#[tokio::test]
async fn invalid_and_oversized_manifests_are_refused() {
    let app = TestApp::spawn().await;
    let cases: [&[u8]; 4] = [
        b"{not json",
        br#"{"schemaVersion":1,"name":"x"}"#,
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        br#"{"schemaVersion":2,"mediaType":"text/plain","config":{}}"#,
    ];
    for body in cases {
        let res = app.put_manifest("r", "bad", OCI_MANIFEST, body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(body));
        assert_eq!(error_code(res).await, "MANIFEST_INVALID");
    }
    let mut huge = br#"{"schemaVersion":2,"annotations":{"pad":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 4 << 20));
    huge.extend(br#""}}"#);
    let res = app.put_manifest("r", "huge", OCI_MANIFEST, &huge).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(res).await, "SIZE_INVALID");
    let res = app.req(Method::GET, "/v2/r/manifests/bad").send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn docker_schema2_manifest_and_manifest_list() {
    let app = TestApp::spawn().await;
    let config = app.push_blob("multi", br#"{"architecture":"amd64","os":"linux"}"#).await;
    let layer = app.push_blob("multi", b"docker layer").await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 37},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer, "size": 12}],
    }))
    .expect("json");
    let child = sha256(&manifest);
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": child, "size": manifest.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .expect("json");
    // The list's child must be pushed first.
    let res = app.put_manifest("multi", "latest", DOCKER_LIST, &list).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(app.put_manifest("multi", &child, DOCKER_MANIFEST, &manifest).await.status(), StatusCode::CREATED);
    assert_eq!(app.put_manifest("multi", "latest", DOCKER_LIST, &list).await.status(), StatusCode::CREATED);
    let res = app.req(Method::GET, "/v2/multi/manifests/latest").send().await.expect("GET");
    assert_eq!(res.headers()["content-type"], DOCKER_LIST);
    assert_eq!(res.bytes().await.expect("body").as_ref(), list.as_slice());
    let res = app.req(Method::GET, &format!("/v2/multi/manifests/{child}")).send().await.expect("GET child");
    assert_eq!(res.headers()["content-type"], DOCKER_MANIFEST);
}

#[tokio::test]
async fn oci_index_and_manifest_without_media_type_field() {
    let app = TestApp::spawn().await;
    let config = app.push_blob("r", b"{}").await;
    // OCI allows omitting mediaType (umoci does): the Content-Type decides, the bytes stay.
    let bare = serde_json::to_vec(&json!({"schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2}, "layers": []}))
    .expect("json");
    let child = sha256(&bare);
    assert_eq!(app.put_manifest("r", &child, OCI_MANIFEST, &bare).await.status(), StatusCode::CREATED);
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": bare.len(),
                       "platform": {"architecture": "arm64", "os": "linux"}}]}))
    .expect("json");
    assert_eq!(app.put_manifest("r", "idx", OCI_INDEX, &index).await.status(), StatusCode::CREATED);
    let res = app.req(Method::GET, &format!("/v2/r/manifests/{child}")).send().await.expect("GET");
    assert_eq!(res.headers()["content-type"], OCI_MANIFEST);
    let res = app.req(Method::GET, "/v2/r/manifests/idx").send().await.expect("GET index");
    assert_eq!(res.headers()["content-type"], OCI_INDEX);
}

#[tokio::test]
async fn deleting_a_tag_keeps_the_manifest_deleting_a_digest_removes_its_tags() {
    let app = TestApp::spawn().await;
    let (_, digest) = app.push_image("r", "v1", &[b"l"]).await;
    let res = app.req(Method::GET, &format!("/v2/r/manifests/{digest}")).send().await.expect("GET");
    let manifest = res.bytes().await.expect("body");
    assert_eq!(app.put_manifest("r", "v2", OCI_MANIFEST, &manifest).await.status(), StatusCode::CREATED);

    let res = app.req(Method::DELETE, "/v2/r/manifests/v1").send().await.expect("DELETE tag");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(app.req(Method::GET, "/v2/r/manifests/v1").send().await.expect("GET").status(), StatusCode::NOT_FOUND);
    let by_digest = app.req(Method::GET, &format!("/v2/r/manifests/{digest}")).send().await.expect("GET");
    assert_eq!(by_digest.status(), StatusCode::OK, "the manifest outlives its tag");

    let res = app.req(Method::DELETE, &format!("/v2/r/manifests/{digest}")).send().await.expect("DELETE manifest");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    for reference in ["v2", digest.as_str()] {
        let res = app.req(Method::GET, &format!("/v2/r/manifests/{reference}")).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{reference}");
    }
    let res = app.req(Method::DELETE, &format!("/v2/r/manifests/{digest}")).send().await.expect("DELETE again");
    assert_eq!(error_code(res).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn referrers_list_artifacts_by_subject_with_filter() {
    let app = TestApp::spawn().await;
    let (subject_bytes, subject) = app.push_image("r", "v1", &[b"base"]).await;
    let empty = app.push_blob("r", b"{}").await;
    let mut pushed = Vec::new();
    for (kind, note) in [("application/vnd.example.sbom", "sbom"), ("application/vnd.example.sig", "sig")] {
        let layer = app.push_blob("r", note.as_bytes()).await;
        let artifact = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "text/plain", "digest": layer, "size": note.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()},
            "annotations": {"note": note},
        }))
        .expect("json");
        let digest = sha256(&artifact);
        let res = app.put_manifest("r", &digest, OCI_MANIFEST, &artifact).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()["oci-subject"], subject.as_str());
        pushed.push((kind, digest, artifact.len()));
    }
    let res = app.req(Method::GET, &format!("/v2/r/referrers/{subject}")).send().await.expect("referrers");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], OCI_INDEX);
    assert!(!res.headers().contains_key("oci-filters-applied"));
    let index: Value = res.json().await.expect("json");
    assert_eq!(index["mediaType"], OCI_INDEX);
    let listed = index["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 2);
    for (kind, digest, size) in &pushed {
        let entry = listed.iter().find(|m| m["digest"] == digest.as_str()).expect("listed");
        assert_eq!(entry["artifactType"], *kind);
        assert_eq!(entry["size"], *size);
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert!(entry["annotations"]["note"].is_string());
    }
    let res = app
        .req(Method::GET, &format!("/v2/r/referrers/{subject}?artifactType=application/vnd.example.sig"))
        .send()
        .await
        .expect("filtered");
    assert_eq!(res.headers()["oci-filters-applied"], "artifactType");
    let index: Value = res.json().await.expect("json");
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(1));
    assert_eq!(index["manifests"][0]["digest"], pushed[1].1.as_str());

    // Unknown subject: still 200 with an empty index. Bad digest: 400.
    let res = app.req(Method::GET, &format!("/v2/r/referrers/{}", sha256(b"nothing"))).send().await.expect("empty");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.expect("json")["manifests"], json!([]));
    let res = app.req(Method::GET, "/v2/r/referrers/sha256:abc").send().await.expect("bad");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_tag_moved_after_being_read_is_served_fresh() {
    let app = TestApp::spawn().await;
    let (_, first) = app.push_image("r", "latest", &[b"one"]).await;
    let digest_of =
        |res: &reqwest::Response| res.headers()["docker-content-digest"].to_str().expect("digest").to_owned();
    for _ in 0..2 {
        let res = app.req(Method::GET, "/v2/r/manifests/latest").send().await.expect("GET");
        assert_eq!(digest_of(&res), first);
    }
    let (_, second) = app.push_image("r", "latest", &[b"two"]).await;
    let res = app.req(Method::GET, "/v2/r/manifests/latest").send().await.expect("GET after move");
    assert_eq!(digest_of(&res), second, "the tag's new target, not a cached old one");
    assert_eq!(
        app.req(Method::DELETE, &format!("/v2/r/manifests/{second}")).send().await.expect("DELETE").status(),
        202
    );
    for reference in ["latest", second.as_str()] {
        let res = app.req(Method::HEAD, &format!("/v2/r/manifests/{reference}")).send().await.expect("HEAD");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{reference} is gone");
    }
}

#[tokio::test]
async fn a_reference_that_is_no_valid_tag_is_an_unknown_manifest_to_read_and_invalid_to_push() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"layer"]).await;
    for method in [Method::GET, Method::HEAD, Method::DELETE] {
        let res = app.anon(method.clone(), "/v2/app/manifests/.INVALID_NAME").send().await.expect("request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method}: authentication comes first");
        let res = app.req(method.clone(), "/v2/app/manifests/.INVALID_NAME").send().await.expect("request");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method}");
        if method == Method::GET {
            assert_eq!(error_code(res).await, "MANIFEST_UNKNOWN");
        }
    }
    let config = app.push_blob("app", b"{}").await;
    let res = app.put_manifest("app", ".INVALID_NAME", OCI_MANIFEST, &image_manifest(&config, 2, vec![])).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "TAG_INVALID");
    let res = app.req(Method::GET, "/v2/app/manifests/sha256:nothex").send().await.expect("request");
    assert_eq!(error_code(res).await, "DIGEST_INVALID", "a malformed digest stays invalid");
}

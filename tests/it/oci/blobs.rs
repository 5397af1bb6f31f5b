//! Blob GET/HEAD/DELETE, ranges, repository isolation, the base endpoint and bad paths.

use reqwest::{Method, StatusCode};

use crate::support::*;

#[tokio::test]
async fn base_endpoint_answers_with_the_api_version_header() {
    let app = TestApp::spawn().await;
    for path in ["/v2/", "/v2"] {
        let res = app.req(Method::GET, path).send().await.expect("GET /v2/");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["docker-distribution-api-version"], "registry/2.0");
        assert_eq!(res.text().await.expect("body"), "{}");
    }
}

#[tokio::test]
async fn blob_get_head_range_and_delete() {
    let app = TestApp::spawn().await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let digest = app.push_blob("lib/data", &data).await;
    let path = format!("/v2/lib/data/blobs/{digest}");

    let head = app.req(Method::HEAD, &path).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "100000");
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());

    let get = app.req(Method::GET, &path).send().await.expect("GET");
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(get.bytes().await.expect("body").as_ref(), data.as_slice());

    let part = app.req(Method::GET, &path).header("range", "bytes=10-19").send().await.expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(part.headers()["content-length"], "10");
    assert_eq!(part.bytes().await.expect("body").as_ref(), &data[10..20]);

    let tail = app.req(Method::GET, &path).header("range", "bytes=-5").send().await.expect("suffix");
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.expect("body").as_ref(), &data[99_995..]);

    let outside = app.req(Method::GET, &path).header("range", "bytes=100000-").send().await.expect("416");
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outside.headers()["content-range"], "bytes */100000");

    let del = app.req(Method::DELETE, &path).send().await.expect("DELETE");
    assert_eq!(del.status(), StatusCode::ACCEPTED);
    let gone = app.req(Method::GET, &path).send().await.expect("GET after delete");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(gone).await, "BLOB_UNKNOWN");
    let again = app.req(Method::DELETE, &path).send().await.expect("DELETE again");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_blob_is_visible_only_in_repositories_that_hold_it() {
    let app = TestApp::spawn().await;
    let digest = app.push_blob("team-a/app", b"private layer").await;
    let res = app.req(Method::GET, &format!("/v2/team-b/app/blobs/{digest}")).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "BLOB_UNKNOWN");
    let head = app.req(Method::HEAD, &format!("/v2/team-b/app/blobs/{digest}")).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_names_and_digests_get_the_spec_error_codes() {
    let app = TestApp::spawn().await;
    let d = sha256(b"x");
    let cases = [
        (format!("/v2/MyRepo/blobs/{d}"), StatusCode::BAD_REQUEST, "NAME_INVALID"),
        (format!("/v2/a//b/blobs/{d}"), StatusCode::BAD_REQUEST, "NAME_INVALID"),
        ("/v2/repo/blobs/sha256:1234".to_owned(), StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
        ("/v2/repo/blobs/md5:d41d8cd98f00b204e9800998ecf8427e".to_owned(), StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
        // A tag that cannot exist names no manifest (a PUT under it is TAG_INVALID).
        ("/v2/repo/manifests/bad+tag".to_owned(), StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
        ("/v2/repo/nothing-here".to_owned(), StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
    ];
    for (path, status, code) in cases {
        let res = app.req(Method::GET, &path).send().await.expect("request");
        assert_eq!(res.status(), status, "{path}");
        assert_eq!(error_code(res).await, code, "{path}");
    }
    let res = app.req(Method::GET, "/v2/MyRepo/tags/list").send().await.expect("request");
    let body: serde_json::Value = res.json().await.expect("json");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("uppercase") && message.contains("'M'"), "message names the problem: {message}");
}

#[tokio::test]
async fn path_tricks_cannot_reach_outside_the_data_directory() {
    let app = TestApp::spawn().await;
    let hex = "0".repeat(64);
    let paths = [
        format!("/v2/..%2f..%2fetc/blobs/sha256:{hex}"),
        format!("/v2/x/blobs/sha256:..%2f..%2f{}", "0".repeat(58)),
        format!("/v2/x/blobs/sha256%3A{hex}"),
        "/v2/x/blobs/uploads/..%2f..%2fberth.db".to_owned(),
        "/v2/x/manifests/..".to_owned(),
        "/v2/%2e%2e/tags/list".to_owned(),
        "/v2/../../etc/passwd".to_owned(),
        "/v2/x/blobs/../../../berth.db".to_owned(),
    ];
    for path in paths {
        let (status, body) = raw_get(app.addr, &path).await;
        assert!((400..500).contains(&status), "{path}: {status}");
        let body: serde_json::Value = serde_json::from_str(&body).expect("OCI error JSON");
        assert!(body["errors"][0]["code"].is_string(), "{path}");
    }
    // The registry still serves afterwards.
    assert_eq!(app.req(Method::GET, "/v2/").send().await.expect("base").status(), StatusCode::OK);
}

#[tokio::test]
async fn unsupported_methods_get_unsupported() {
    let app = TestApp::spawn().await;
    let res = app.req(Method::POST, "/v2/repo/tags/list").send().await.expect("request");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(res).await, "UNSUPPORTED");
}

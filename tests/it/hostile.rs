//! Hostile requests, sent over raw TCP where an HTTP client would refuse to send them: each
//! gets a clean 4xx (or its connection closed), stores nothing, and the registry keeps serving.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

fn slow_clients_cut_short(c: &mut berth::Config) {
    c.http.header_timeout = berth::config::Duration(Duration::from_secs(1));
    c.http.body_timeout = berth::config::Duration(Duration::from_secs(1));
}

fn basic() -> String {
    format!("Basic {}", base64_encode(&format!("{ADMIN}:{ADMIN_PASSWORD}")))
}

fn get(path: &str, extra: &str) -> Vec<u8> {
    let auth = basic();
    format!("GET {path} HTTP/1.1\r\nHost: r\r\nAuthorization: {auth}\r\n{extra}Connection: close\r\n\r\n").into_bytes()
}

async fn still_serving(app: &TestApp) {
    let res = app.req(Method::GET, "/v2/").send().await.expect("GET /v2/");
    assert_eq!(res.status(), StatusCode::OK, "the registry still serves");
}

/// The OCI error code of a raw response.
fn code(response: &str) -> String {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Only the first response's body (more may follow on the connection).
    let json = serde_json::Deserializer::from_str(body).into_iter::<serde_json::Value>().next();
    let json = json.and_then(Result::ok).unwrap_or_default();
    json["errors"][0]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn hostile_requests_get_clean_client_errors() {
    let app = TestApp::spawn_with(slow_clients_cut_short).await;
    app.push_image("app", "v1", &[b"layer"]).await;
    let big_header = format!("X-Filler: {}\r\n", "a".repeat(1 << 20));
    let many_scopes: String = (0..10_000).map(|i| format!("&scope=repository:r{i}:pull")).collect();
    let many_tags: String = (0..10_000).map(|i| format!("&n={i}")).collect();
    let cases: Vec<(&str, Vec<u8>, &[u16], &str)> = vec![
        ("dot segments", get("/v2/../../../etc/passwd", ""), &[400, 404], ""),
        ("encoded dot segments in a name", get("/v2/..%2F..%2Fetc/tags/list", ""), &[400], "NAME_INVALID"),
        ("a digest that is a path", get("/v2/app/blobs/sha256:..%2F..%2F..%2Fetc%2Fpasswd", ""), &[400, 404], ""),
        ("a reference that is a path", get("/v2/app/manifests/..%2F..%2Fv1", ""), &[400, 404], ""),
        (
            "storage URL outside the blobs",
            get("/_storage/../../etc/passwd?expires=99999999999&signature=x", ""),
            &[400, 403, 404],
            "",
        ),
        ("invalid UTF-8 in a name", get("/v2/%FF%FE/tags/list", ""), &[400], "NAME_INVALID"),
        ("invalid UTF-8 in a tag", get("/v2/app/manifests/%C3%28", ""), &[400, 404], ""),
        ("a 1 MiB header", get("/v2/", &big_header), &[431, 400], ""),
        (
            "10,000 scopes in one token request",
            get(&format!("/oauth2/token?service=r{many_scopes}"), ""),
            &[400, 414, 431],
            "",
        ),
        (
            "10,000 repeated query parameters",
            get(&format!("/v2/app/tags/list?last={many_tags}"), ""),
            &[400, 414, 431],
            "",
        ),
    ];
    for (what, request, allowed, expected_code) in cases {
        let (status, response) = raw_request(app.addr, &request).await;
        assert!(
            allowed.contains(&status),
            "{what}: {status} not in {allowed:?}: {}",
            &response[..response.len().min(400)]
        );
        if !expected_code.is_empty() {
            assert_eq!(code(&response), expected_code, "{what}");
        }
        still_serving(&app).await;
    }
    // Invalid UTF-8 where text is expected: credentials and manifests.
    let mut request = b"GET /v2/ HTTP/1.1\r\nHost: r\r\nAuthorization: Basic ".to_vec();
    request.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    let (status, _) = raw_request(app.addr, &request).await;
    assert!([400, 401].contains(&status), "invalid UTF-8 credentials: {status}");
    let res = app
        .req(Method::PUT, "/v2/app/manifests/bad")
        .header("content-type", OCI_MANIFEST)
        .body(vec![0xff, 0xfe, b'{', 0x80])
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "MANIFEST_INVALID");
    still_serving(&app).await;
}

#[tokio::test]
async fn mismatched_content_length_stores_nothing() {
    let app = TestApp::spawn_with(slow_clients_cut_short).await;
    let data = b"twenty bytes of data";
    let digest = sha256(data);
    // Fewer bytes than announced, then the client goes quiet: the body times out.
    let head = format!(
        "POST /v2/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: r\r\nAuthorization: {}\r\nContent-Length: 40\r\n\r\n",
        basic()
    );
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("send");
    tcp.write_all(data).await.expect("send");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 400"), "short body: {text}");
    // Fewer bytes than announced, then the client closes: the body fails.
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("send");
    tcp.write_all(data).await.expect("send");
    tcp.shutdown().await.expect("close the write half");
    drop(tcp);
    // More bytes than announced: the blob is cut at the announced length and fails its digest;
    // the rest is not a request.
    let head = format!(
        "POST /v2/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: r\r\nAuthorization: {}\r\nContent-Length: 10\r\n\r\n",
        basic()
    );
    let (status, response) = raw_request(app.addr, &[head.as_bytes(), data].concat()).await;
    assert_eq!(status, 400, "{response}");
    assert_eq!(code(&response), "DIGEST_INVALID");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = app.req(Method::HEAD, &format!("/v2/app/blobs/{digest}")).send().await.expect("HEAD");
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "no blob was stored");
    assert!(!app.blob_stored(&digest).await);
    still_serving(&app).await;
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let app = TestApp::spawn_with(slow_clients_cut_short).await;
    // Headers trickling in (slowloris): the connection is closed once the header timeout passes.
    let started = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    tcp.write_all(b"GET /v2/ HTTP/1.1\r\nHost: r\r\n").await.expect("send");
    let mut closed = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if tcp.write_all(b"X-Slow: 1\r\n").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a connection that never finished its headers was still open after 4 s");
    assert!(started.elapsed() < Duration::from_secs(4));
    still_serving(&app).await;

    // A chunk that stops half-way: the PATCH fails with a clean error, the session keeps
    // nothing of it, and the upload can go on.
    let res = app.req(Method::POST, "/v2/app/blobs/uploads/").send().await.expect("POST");
    let location = res.headers()["location"].to_str().expect("location").to_owned();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: r\r\nAuthorization: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n",
        basic()
    );
    let (status, response) = raw_request(app.addr, &[head.as_bytes(), &[1u8; 100]].concat()).await;
    assert_eq!(status, 400, "{response}");
    assert_eq!(code(&response), "BLOB_UPLOAD_INVALID");
    let res = app.req(Method::GET, &location).send().await.expect("status");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.headers().get("range").is_none_or(|r| r == "0-0"), "{:?}", res.headers().get("range"));
    let data = b"the whole chunk";
    let sep = if location.contains('?') { '&' } else { '?' };
    let res = app.req(Method::PUT, &format!("{location}{sep}digest={}", sha256(data))).body(data.to_vec()).send().await;
    assert_eq!(res.expect("PUT").status(), StatusCode::CREATED);
}

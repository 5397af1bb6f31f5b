//! Numbers and names a client sends: no overflow, nothing of them in headers unchecked.

use reqwest::{Method, StatusCode};

use crate::support::*;

#[tokio::test]
async fn a_host_header_that_is_no_host_is_refused() {
    let app = TestApp::spawn().await;
    let evil = "r.example\",scope=\"registry:catalog:*";
    let request = format!("GET /v2/app/tags/list HTTP/1.1\r\nHost: {evil}\r\nConnection: close\r\n\r\n");
    let (status, response) = raw_request(app.addr, request.as_bytes()).await;
    assert_eq!(status, 400, "{response}");
    assert!(!response.to_ascii_lowercase().contains("www-authenticate"), "{response}");
}

#[tokio::test]
async fn with_a_login_server_tokens_are_for_it_whatever_the_host() {
    let app = TestApp::spawn_with(|c| c.auth.login_server = Some("registry.example.com".into())).await;
    let res = app.anon(Method::GET, "/v2/").header("host", "other.example:1234").send().await.expect("GET");
    let challenge = res.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert!(challenge.contains("service=\"registry.example.com\""), "{challenge}");
    let url = "/oauth2/token?scope=repository:app:pull";
    let res = app.anon(Method::GET, url).header("host", "other.example:1234").basic_auth(ADMIN, Some(ADMIN_PASSWORD));
    let body: serde_json::Value = res.send().await.expect("token").json().await.expect("json");
    assert_eq!(jwt_claims(body["access_token"].as_str().expect("token"))["aud"], "registry.example.com");
}

#[tokio::test]
async fn numbers_at_the_edge_of_their_type_get_clean_answers() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"layer"]).await;
    for path in [
        "/acr/v1/_catalog?n=4294967295",
        "/acr/v1/_catalog?n=18446744073709551615",
        "/acr/v1/app/_tags?n=4294967295",
        "/acr/v1/app/_manifests?n=4294967295",
        "/v2/_catalog?n=4294967295",
        "/v2/app/tags/list?n=4294967294",
    ] {
        let res = app.req(Method::GET, path).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let res = app.req(Method::GET, "/acr/v1/_catalog?n=18446744073709551616").send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A chunk claiming to end at the last byte a 64-bit length can name.
    let res = app.req(Method::POST, "/v2/app/blobs/uploads/").send().await.expect("POST");
    let location = res.headers()["location"].to_str().expect("location").to_owned();
    for range in ["0-18446744073709551615", "18446744073709551614-18446744073709551615"] {
        let res = app.req(Method::PATCH, &location).header("content-range", range).body(b"abc".to_vec()).send().await;
        let res = res.expect("PATCH");
        assert!(matches!(res.status().as_u16(), 400 | 416), "{range}: {}", res.status());
    }
    let res = app.req(Method::GET, &location).send().await.expect("status");
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "the session is untouched");
    let res = app
        .req(Method::GET, &format!("/v2/app/blobs/{}", sha256(b"layer")))
        .header("range", "bytes=18446744073709551614-18446744073709551615")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

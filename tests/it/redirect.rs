//! `storage.redirect`: blob GETs answer 307 to a signed, time-limited `/_storage/…` URL that
//! works with or without the client's `Authorization` header (curl -L, skopeo), and is refused
//! once expired or tampered with.

use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::*;

fn redirecting(c: &mut berth::Config) {
    c.storage.redirect = true;
}

async fn signed_location(app: &TestApp, repo: &str, digest: &str) -> String {
    let res = app.req(Method::GET, &format!("/v2/{repo}/blobs/{digest}")).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(res.headers()["docker-content-digest"], digest);
    res.headers()[LOCATION].to_str().expect("location").to_owned()
}

async fn refusal(app: &TestApp, url: &str) -> (StatusCode, String) {
    let res = app.anon(Method::GET, url).send().await.expect("GET");
    let status = res.status();
    let body: Value = res.json().await.expect("error JSON");
    (status, body["errors"][0]["message"].as_str().unwrap_or_default().to_owned())
}

async fn curl(args: &[&str]) -> Vec<u8> {
    let out =
        tokio::process::Command::new("curl").args(["-sS", "--fail"]).args(args).output().await.expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test]
async fn blob_gets_redirect_to_signed_urls_that_ignore_authorization() {
    let app = TestApp::spawn_with(redirecting).await;
    let layer: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    app.push_image("app", "v1", &[&layer]).await;
    let digest = sha256(&layer);

    let location = signed_location(&app, "app", &digest).await;
    assert!(location.starts_with("/_storage/blobs/sha256/") && location.contains("signature="), "{location}");
    // The signed URL works with no credentials, with the registry's, and with a stray bearer.
    for auth in [
        None,
        Some(format!("Basic {}", base64_encode(&format!("{ADMIN}:{ADMIN_PASSWORD}")))),
        Some("Bearer not-a-token".into()),
    ] {
        let mut req = app.anon(Method::GET, &location);
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.expect("GET signed");
        assert_eq!(res.status(), StatusCode::OK, "{auth:?}");
        assert_eq!(sha256(&res.bytes().await.expect("bytes")), digest);
    }
    let res = app.anon(Method::GET, &location).header("range", "bytes=10-19").send().await.expect("range");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.expect("bytes").as_ref(), &layer[10..20]);
    let head = app.req(Method::HEAD, &format!("/v2/app/blobs/{digest}")).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK, "HEAD answers directly");

    // curl -L, resending its credentials to the storage URL (same host), and the URL alone.
    if have_tool("curl") {
        let url = app.url(&format!("/v2/app/blobs/{digest}"));
        let auth = format!("{ADMIN}:{ADMIN_PASSWORD}");
        assert_eq!(sha256(&curl(&["-L", "-u", &auth, &url]).await), digest);
        assert_eq!(sha256(&curl(&["-L", "--location-trusted", "-u", &auth, &url]).await), digest);
        assert_eq!(sha256(&curl(&[&app.url(&location)]).await), digest);
    }

    // Tampered URLs and URLs for another blob are refused.
    let tampered_sig = match location.split_once("signature=") {
        Some((head, sig)) => format!("{head}signature={}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]),
        None => unreachable!("checked above"),
    };
    let later = location.replace("expires=", "expires=9");
    let other = location.replace(&digest[7..15], "00000000");
    for bad in [tampered_sig, later, other, location.split('?').next().unwrap_or_default().to_owned()] {
        let (status, message) = refusal(&app, &bad).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{bad}");
        assert!(message.contains("not signed by this registry"), "{message}");
    }
    // Without access to the repository there is no redirect at all.
    assert_eq!(
        app.anon(Method::GET, &format!("/v2/app/blobs/{digest}")).send().await.expect("GET").status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn signed_urls_expire() {
    let app = TestApp::spawn_with(|c| {
        c.storage.redirect = true;
        c.storage.redirect_ttl = berth::config::Duration::parse("1s").expect("duration");
    })
    .await;
    app.push_image("app", "v1", &[b"short-lived"]).await;
    let location = signed_location(&app, "app", &sha256(b"short-lived")).await;
    assert_eq!(app.anon(Method::GET, &location).send().await.expect("GET").status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, message) = refusal(&app, &location).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn redirects_are_off_by_default_and_skopeo_follows_them_when_on() {
    let plain = TestApp::spawn().await;
    plain.push_image("app", "v1", &[b"layer"]).await;
    let res = plain.req(Method::GET, &format!("/v2/app/blobs/{}", sha256(b"layer"))).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        plain
            .anon(Method::GET, "/_storage/blobs/sha256/00/00?expires=1&signature=x")
            .send()
            .await
            .expect("GET")
            .status(),
        StatusCode::FORBIDDEN
    );

    if !have_tool("skopeo") {
        return;
    }
    let app = TestApp::spawn_with(redirecting).await;
    app.push_image("app", "v1", &[b"layer through a redirect"]).await;
    let (_guard, dir) = temp_dir();
    let out = tokio::process::Command::new("skopeo")
        .env("REGISTRY_AUTH_FILE", app.auth_file())
        .args(["copy", "--src-tls-verify=false", &format!("docker://{}/app:v1", app.host())])
        .arg(format!("dir:{}", dir.join("image").display()))
        .output()
        .await
        .expect("skopeo runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let layer = std::fs::read(dir.join("image").join(&sha256(b"layer through a redirect")[7..])).expect("layer file");
    assert_eq!(layer, b"layer through a redirect");
}

/// `redirect_to = "store"`: S3 and Azure Blob sign URLs of their own and serve the bytes
/// themselves; the filesystem has none, so Berth's own URLs stay.
#[tokio::test]
async fn store_redirects_go_to_the_store_itself() {
    let app = TestApp::spawn_with(|c| {
        c.storage.redirect = true;
        c.storage.redirect_to = berth::config::RedirectTo::Store;
    })
    .await;
    let layer: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    app.push_image("app", "v1", &[&layer]).await;
    let digest = sha256(&layer);
    let location = signed_location(&app, "app", &digest).await;
    let hex = digest.trim_start_matches("sha256:");
    let (expected_start, signature) = match std::env::var("BERTH_TEST_STORAGE").as_deref() {
        Ok("s3") => (std::env::var("BERTH_TEST_S3_ENDPOINT").expect("endpoint"), "X-Amz-Signature="),
        Ok("azure") => (std::env::var("BERTH_TEST_AZURE_ENDPOINT").expect("endpoint"), "sig="),
        _ => ("/_storage/".to_owned(), "signature="),
    };
    assert!(location.starts_with(&expected_start), "{location} is not on {expected_start}");
    assert!(
        location.contains(&format!("blobs/sha256/{}/{hex}", &hex[..2])) && location.contains(signature),
        "{location}"
    );
    // Followed with no credentials (as docker, containerd and curl do across hosts).
    let url = if location.starts_with('/') { app.url(&location) } else { location.clone() };
    let res = reqwest::get(&url).await.expect("GET the signed URL");
    assert_eq!(res.status(), StatusCode::OK, "{url}");
    assert_eq!(sha256(&res.bytes().await.expect("bytes")), digest);
    // The store checks its signature (Azurite does; moto, standing in for S3, checks none).
    if signature != "X-Amz-Signature=" {
        let tampered = url.replace(signature, &format!("{signature}0"));
        let res = reqwest::get(&tampered).await.expect("GET a tampered URL");
        assert!(res.status().is_client_error(), "{tampered}: {}", res.status());
    }
    // curl -L from the registry URL to the bytes, credentials kept to the registry's host.
    let registry_url = app.url(&format!("/v2/app/blobs/{digest}"));
    let body = curl(&["-L", "-u", &format!("{ADMIN}:{ADMIN_PASSWORD}"), &registry_url]).await;
    assert_eq!(sha256(&body), digest);
}

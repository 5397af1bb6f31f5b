//! `/metrics` as Prometheus scrapes it (checked by Prometheus' own `promtool`), and the
//! `/healthz` and `/readyz` probes as load balancers and Kubernetes call them.

use std::io::Write as _;
use std::process::{Command, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::*;

/// The value of the sample `series` (name and labels exactly as exported), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a sample value"))
}

async fn scrape(app: &TestApp, user: &str, password: &str) -> String {
    let res = app.anon(Method::GET, "/metrics").basic_auth(user, Some(password)).send().await.expect("scrape");
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().expect("content type").to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    res.text().await.expect("body")
}

/// `promtool check metrics` on `text`: Prometheus' parser and its naming lints.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\non:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_pass_promtool_and_count_pulls_pushes_requests_and_refusals() {
    let app = TestApp::spawn().await;
    let owner = user_with(&app, "prom", &["Owner"]).await;
    let before = scrape(&app, "prom", &owner).await;

    let (_, digest) = app.push_image("app", "v1", &[&layer(1, 300)]).await;
    let pulled =
        app.req(Method::GET, "/v2/app/manifests/v1").header("accept", OCI_MANIFEST).send().await.expect("pull");
    assert_eq!(pulled.status(), StatusCode::OK);
    let missing = app.req(Method::GET, "/v2/app/manifests/nope").send().await.expect("pull");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let refused = app.anon(Method::GET, "/v2/").basic_auth(ADMIN, Some("wrong")).send().await.expect("sign-in");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refresh = [("grant_type", "refresh_token"), ("service", &app.host()), ("refresh_token", "not-a-token")];
    let res = app.anon(Method::POST, "/oauth2/token").form(&refresh).send().await.expect("token");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let ok = app.anon(Method::GET, "/healthz").send().await.expect("probe");
    assert_eq!(ok.status(), StatusCode::OK);

    let after = scrape(&app, "prom", &owner).await;
    if have_tool("promtool") {
        promtool_check(&after);
    }
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    for (series, delta) in [
        ("berth_pushes_total{result=\"success\"}", 1.0),
        ("berth_pulls_total{result=\"success\"}", 1.0),
        ("berth_pulls_total{result=\"failure\"}", 1.0),
        ("berth_http_requests_total{route=\"v2_manifest\",method=\"PUT\",status=\"201\"}", 1.0),
        ("berth_http_requests_total{route=\"v2_manifest\",method=\"GET\",status=\"404\"}", 1.0),
        ("berth_http_requests_total{route=\"v2_upload\",method=\"POST\",status=\"201\"}", 2.0),
        ("berth_http_requests_total{route=\"v2_base\",method=\"GET\",status=\"401\"}", 1.0),
        ("berth_http_requests_total{route=\"health\",method=\"GET\",status=\"200\"}", 1.0),
        ("berth_http_requests_total{route=\"metrics\",method=\"GET\",status=\"200\"}", 1.0),
        ("berth_auth_failures_total{method=\"basic\",reason=\"wrong_password\"}", 1.0),
        ("berth_auth_failures_total{method=\"refresh_token\",reason=\"bad_token\"}", 1.0),
        ("berth_http_request_duration_seconds_count{route=\"v2_manifest\",method=\"GET\"}", 2.0),
    ] {
        assert_eq!(moved(series), delta, "{series} in\n{after}");
    }
    assert!(moved("berth_http_received_bytes_total{route=\"v2_upload\"}") >= 300.0, "{after}");
    assert!(moved("berth_http_sent_bytes_total{route=\"v2_manifest\"}") > 0.0, "{after}");
    assert!(sample(&after, "berth_storage_used_bytes") > 300.0, "{after}");
    assert!(
        sample(&after, "berth_db_pool_max_connections{pool=\"reader\"}") > 0.0
            || sample(&after, "berth_db_pool_max_connections{pool=\"main\"}") > 0.0,
        "{after}"
    );

    // A manual pass is counted, and its last-pass gauges appear.
    app.req(Method::DELETE, &format!("/v2/app/manifests/{digest}")).send().await.expect("delete");
    app.admin(Method::POST, "/gc", Some(serde_json::json!({"grace": "0s"}))).await;
    let collected = scrape(&app, "prom", &owner).await;
    assert_eq!(sample(&collected, "berth_gc_passes_total{trigger=\"manual\",result=\"success\"}"), 1.0, "{collected}");
    assert!(sample(&collected, "berth_gc_blobs_deleted_total") >= 1.0, "{collected}");
    assert!(sample(&collected, "berth_gc_last_run_timestamp_seconds") > 0.0, "{collected}");
}

#[tokio::test]
async fn probes_answer_without_credentials_and_readyz_fails_with_the_blob_store() {
    // The filesystem store, whatever BERTH_TEST_STORAGE says: its directory can be taken away.
    let app = TestApp::spawn_with(|c| c.storage.url = None).await;
    let health = app.anon(Method::GET, "/healthz").send().await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.expect("body"), "ok");

    let ready = app.anon(Method::GET, "/readyz").send().await.expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "ready", "database": "ok", "storage": "ok"}));

    let storage = app.data_dir().join("storage");
    let moved = app.data_dir().join("storage-away");
    std::fs::rename(&storage, &moved).expect("take the blob store away");
    let ready = app.anon(Method::GET, "/readyz").send().await.expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "unavailable", "database": "ok", "storage": "failed"}));
    let health = app.anon(Method::GET, "/healthz").send().await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK, "the process still answers");

    std::fs::rename(&moved, &storage).expect("bring it back");
    let ready = app.anon(Method::GET, "/readyz").send().await.expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
}

//! Webhooks against a real HTTP receiver: ACR's payloads for pushes and deletes through every
//! path, order and retries when the receiver is down, delivery after SIGKILL, no event for a
//! change that did not commit, and the hostile-URI rules.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::Berth;
use crate::support::*;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub raw: Vec<u8>,
}

/// A webhook receiver on loopback that records what it gets and answers `status`.
pub struct Receiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::on("127.0.0.1:0".parse().expect("addr"), 200).await
    }

    /// A receiver on `addr` answering `status` to every POST.
    pub async fn on(addr: SocketAddr, status: u16) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = got.clone();
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                let parsed = serde_json::from_slice(&body).unwrap_or(Value::Null);
                sink.lock().expect("lock").push(Received {
                    path: uri.path().to_owned(),
                    headers,
                    body: parsed,
                    raw: body.to_vec(),
                });
                match status {
                    302 => (AxumStatus::FOUND, [("location", "/elsewhere")], "moved"),
                    s => (AxumStatus::from_u16(s).expect("status"), [("x-receiver", "test")], "thanks"),
                }
            }
        };
        let app = axum::Router::new().fallback(axum::routing::any(handler));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { addr, got, stop: Some(stop) }
    }

    pub fn uri(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// The events received that are not pings, once at least `n` arrived (panics after 30 s).
    pub async fn events(&self, n: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got: Vec<Received> = self.received().into_iter().filter(|r| r.body["action"] != "ping").collect();
            if got.len() >= n {
                return got;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "expected {n} events, got {}: {got:#?}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Creates webhook `name` on `app` through the API.
async fn create(app: &TestApp, name: &str, body: Value) -> Value {
    let mut body = body;
    body["name"] = json!(name);
    let res = app.req(Method::POST, "/berth/v1/webhooks").json(&body).send().await.expect("create webhook");
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    res.json().await.expect("json")
}

fn hmac(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body).as_ref()))
}

fn actions(events: &[Received]) -> Vec<(String, String, Option<String>)> {
    events
        .iter()
        .map(|e| {
            let t = &e.body["target"];
            let tag = t["tag"].as_str().map(str::to_owned);
            (e.body["action"].as_str().unwrap_or_default().to_owned(), t["repository"].to_string(), tag)
        })
        .collect()
}

#[tokio::test]
async fn pushes_and_deletes_reach_the_receiver_in_acrs_shape_through_every_path() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let uri = receiver.uri("/hook");
    let created = berth
        .json(&[
            "webhook",
            "create",
            "-n",
            "cihook",
            "-r",
            "{R}",
            "--uri",
            &uri,
            "--actions",
            "push",
            "delete",
            "--headers",
            "X-Token=abc",
            "--secret",
            "s3cret",
        ])
        .await;
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["actions"], json!(["push", "delete"]));
    let config = berth.json(&["webhook", "get-config", "-n", "cihook", "-r", "{R}"]).await;
    assert_eq!(config["serviceUri"], uri.as_str());
    assert_eq!(config["customHeaders"], json!({"X-Token": "abc"}));
    let usage = berth.json(&["show-usage", "-n", "{R}"]).await;
    let hooks = usage["value"].as_array().expect("items").iter().find(|i| i["name"] == "Webhooks").cloned();
    assert_eq!(hooks.expect("Webhooks")["currentValue"], 1);

    // Through /v2/: a push with a tag, an untag, a delete by digest.
    let (manifest, digest) = app.push_image("team/app", "v1", &[&layer(1, 300)]).await;
    let res = app
        .req(Method::DELETE, "/v2/team/app/manifests/v1")
        .header("user-agent", "ci-bot/1.0")
        .send()
        .await
        .expect("untag");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = app.req(Method::DELETE, &format!("/v2/team/app/manifests/{digest}")).send().await.expect("delete");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let got = receiver.events(3).await;
    let push = &got[0];
    assert_eq!(push.path, "/hook");
    assert_eq!(push.headers["content-type"], "application/json");
    assert_eq!(push.headers["x-token"], "abc");
    assert_eq!(push.headers["x-berth-signature-256"], hmac("s3cret", &push.raw));
    let b = &push.body;
    assert_eq!(b["action"], "push");
    assert!(b["id"].as_str().is_some_and(|id| id.len() == 36), "{b}");
    assert!(b["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{b}");
    assert_eq!(
        b["target"],
        json!({
            "mediaType": OCI_MANIFEST,
            "size": manifest.len(),
            "digest": digest,
            "length": manifest.len(),
            "repository": "team/app",
            "tag": "v1",
        })
    );
    assert_eq!(b["request"]["method"], "PUT");
    assert_eq!(b["request"]["host"], app.host());
    assert!(b["request"]["useragent"].is_string(), "{b}");
    assert_eq!(b["request"]["id"].as_str().map(str::len), Some(16));
    let untag = &got[1].body;
    assert_eq!(untag["action"], "delete");
    assert_eq!(
        untag["target"],
        json!({"mediaType": OCI_MANIFEST, "digest": digest, "repository": "team/app", "tag": "v1"})
    );
    assert_eq!(untag["request"]["method"], "DELETE");
    assert_eq!(untag["request"]["useragent"], "ci-bot/1.0");
    let delete = &got[2].body;
    assert_eq!(delete["target"], json!({"mediaType": OCI_MANIFEST, "digest": digest, "repository": "team/app"}));

    // Through /acr/v1 (a tag, then the repository) and the CLI's purge.
    app.push_image("team/app", "v2", &[&layer(2, 300)]).await;
    app.push_image("team/app", "v3", &[&layer(3, 300)]).await;
    let res = app.req(Method::DELETE, "/acr/v1/team%2Fapp/_tags/v2").send().await.expect("acr untag");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = app.req(Method::DELETE, "/acr/v1/team%2Fapp").send().await.expect("acr delete repository");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.push_image("old", "v1", &[&layer(4, 300)]).await;
    berth.ok(&["purge", "-r", "{R}", "--filter", "old:.*", "--ago", "0d"]).await;
    let got = receiver.events(10).await;
    let summary = actions(&got[3..]);
    assert_eq!(
        summary,
        [
            ("push".into(), "\"team/app\"".into(), Some("v2".into())),
            ("push".into(), "\"team/app\"".into(), Some("v3".into())),
            ("delete".into(), "\"team/app\"".into(), Some("v2".into())),
            ("delete".into(), "\"team/app\"".into(), None),
            ("delete".into(), "\"team/app\"".into(), None),
            ("push".into(), "\"old\"".into(), Some("v1".into())),
            ("delete".into(), "\"old\"".into(), Some("v1".into())),
        ]
    );
    // Every delivery is in the log, in ACR's shape.
    let log = berth.json(&["webhook", "list-events", "-n", "cihook", "-r", "{R}"]).await;
    let log = log.as_array().expect("list");
    assert_eq!(log.len(), 10);
    let first = log.last().expect("oldest");
    assert_eq!(first["eventRequestMessage"]["content"]["action"], "push");
    assert_eq!(first["eventRequestMessage"]["method"], "POST");
    assert_eq!(first["eventRequestMessage"]["headers"]["X-Token"], "(hidden)");
    assert_eq!(first["eventResponseMessage"]["statusCode"], "200");
    assert_eq!(first["eventResponseMessage"]["content"], "thanks");
    let table = berth.ok(&["webhook", "list-events", "-n", "cihook", "-r", "{R}", "-o", "table"]).await;
    assert!(table.contains("STATUS CODE") && table.contains("200"), "{table}");

    let metrics = app.req(Method::GET, "/metrics").send().await.expect("metrics").text().await.expect("text");
    let delivered = metrics
        .lines()
        .find(|l| l.starts_with("berth_webhook_deliveries_total{") && l.contains("cihook") && l.contains("success"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert_eq!(delivered, Some(10.0), "{metrics}");

    // ping and redeliver.
    let ping = berth.json(&["webhook", "ping", "-n", "cihook", "-r", "{R}"]).await;
    let ping_id = ping["id"].as_str().expect("id").to_owned();
    assert!(receiver.received().iter().any(|r| r.body["action"] == "ping" && r.body["id"] == ping_id.as_str()));
    let first_id = got[0].body["id"].as_str().expect("id").to_owned();
    let again = berth.json(&["webhook", "redeliver", "-n", "cihook", "-r", "{R}", "--event-id", &first_id]).await;
    assert_eq!(again["eventResponseMessage"]["statusCode"], "200");
    let copies = receiver.received().iter().filter(|r| r.body["id"] == first_id.as_str()).count();
    assert_eq!(copies, 2, "redelivered with the same id");
    berth.ok(&["webhook", "delete", "-n", "cihook", "-r", "{R}", "-y"]).await;
    assert!(berth.json(&["webhook", "list", "-r", "{R}"]).await.as_array().is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn scopes_actions_and_status_filter_events() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    let uri = receiver.uri("/");
    create(&app, "onlyapp", json!({"serviceUri": uri, "actions": ["push"], "scope": "app:v*"})).await;
    create(&app, "offhook", json!({"serviceUri": uri, "actions": ["push"], "status": "disabled"})).await;
    app.push_image("app", "v1", &[&layer(1, 10)]).await;
    app.push_image("app", "latest", &[&layer(2, 10)]).await;
    app.push_image("other", "v1", &[&layer(3, 10)]).await;
    let res = app.req(Method::DELETE, "/v2/app/manifests/v1").send().await.expect("untag");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.push_image("app", "v2", &[&layer(4, 10)]).await;
    let got = receiver.events(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_now = receiver.events(2).await;
    assert_eq!(got_now.len(), 2, "only pushes of app:v* by the enabled webhook: {got_now:#?}");
    assert_eq!(got[0].body["target"]["tag"], "v1");
    assert_eq!(got[1].body["target"]["tag"], "v2");
    // A webhook turned on receives what happens from then on, not what it missed.
    let res = app
        .req(Method::PATCH, "/berth/v1/webhooks/offhook")
        .json(&json!({"status": "enabled"}))
        .send()
        .await
        .expect("enable");
    assert_eq!(res.status(), StatusCode::OK);
    app.push_image("other", "v9", &[&layer(5, 10)]).await;
    let got = receiver.events(3).await;
    assert_eq!(got[2].body["target"]["tag"], "v9");
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_every_event_in_order_after_retries() {
    // A port with nothing listening: connections are refused until the receiver starts there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let app = TestApp::spawn_with(|c| c.webhooks.retry_max = berth::config::Duration(Duration::from_secs(1))).await;
    create(&app, "flaky", json!({"serviceUri": format!("http://{port}/in"), "actions": ["push", "delete"]})).await;
    for i in 0..5u8 {
        app.push_image("app", &format!("v{i}"), &[&layer(i, 10)]).await;
    }
    // Attempts fail and are logged, and the first event waits: nothing later overtakes it.
    let start = Instant::now();
    let log = loop {
        let log = app.admin(Method::GET, "/webhooks/flaky/events", None).await;
        if log.as_array().is_some_and(|l| l.len() >= 3) {
            break log;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no retries logged: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = log.as_array().expect("list");
    let first_event = log.last().expect("oldest")["id"].clone();
    assert!(log.iter().all(|a| a["id"] == first_event), "retries are of the first event only: {log:#?}");
    assert!(log.iter().all(|a| a["eventResponseMessage"]["error"].as_str().is_some_and(|e| !e.is_empty())));
    let attempts: Vec<i64> = log.iter().rev().map(|a| a["attempt"].as_i64().expect("attempt")).collect();
    assert_eq!(attempts[..3], [1, 2, 3]);
    let receiver = Receiver::on(port, 200).await;
    let got = receiver.events(5).await;
    let tags: Vec<&str> = got.iter().map(|r| r.body["target"]["tag"].as_str().unwrap_or_default()).collect();
    assert_eq!(tags, ["v0", "v1", "v2", "v3", "v4"]);
    assert_eq!(got[0].body["id"], first_event);
}

#[tokio::test]
async fn a_change_that_does_not_commit_sends_nothing() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(|c| c.limits.storage_quota = Some(20_000)).await;
    create(&app, "strict", json!({"serviceUri": receiver.uri("/"), "actions": ["push", "delete"]})).await;
    // A digest that does not match the body.
    let config = app.push_blob("app", b"{}").await;
    let manifest = image_manifest(&config, 2, vec![]);
    let wrong = format!("sha256:{}", "0".repeat(64));
    let res = app.put_manifest("app", &wrong, OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A layer the repository does not have.
    let missing = image_manifest(
        &config,
        2,
        vec![json!({"mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": sha256(b"absent"), "size": 6})],
    );
    let res = app.put_manifest("app", "v0", OCI_MANIFEST, &missing).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A write lock.
    app.push_image("app", "v1", &[&layer(1, 10)]).await;
    let res = app.req(Method::PATCH, "/acr/v1/app").json(&json!({"writeEnabled": false})).send().await.expect("lock");
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.put_manifest("app", "v2", OCI_MANIFEST, &manifest).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = app.req(Method::DELETE, "/v2/app/manifests/v1").send().await.expect("untag");
    assert!(res.status().is_client_error(), "{}", res.status());
    // The quota (20 kB) is passed by the next image's layer.
    let res = app.req(Method::PATCH, "/acr/v1/app").json(&json!({"writeEnabled": true})).send().await.expect("unlock");
    assert_eq!(res.status(), StatusCode::OK);
    let big = layer(7, 30_000);
    let res = app
        .req(Method::POST, &format!("/v2/big/blobs/uploads/?digest={}", sha256(&big)))
        .body(big.clone())
        .send()
        .await
        .expect("push");
    assert!(res.status().is_client_error(), "{}", res.status());
    app.push_image("app", "v3", &[&layer(3, 10)]).await;
    let got = receiver.events(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_now = receiver.events(2).await;
    assert_eq!(got_now.len(), 2, "{got_now:#?}");
    assert_eq!([&got[0].body["target"]["tag"], &got[1].body["target"]["tag"]], ["v1", "v3"]);
}

#[tokio::test]
async fn hostile_uris_are_refused_and_redirects_not_followed() {
    // Loopback denied too, so that a name leading there can stand for any denied address.
    let app = TestApp::spawn_with(|c| c.webhooks.deny = vec!["127.0.0.0/8".parse().expect("cidr")]).await;
    let metadata =
        ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://127.0.0.1:9/"];
    for bad in
        ["file:///etc/passwd", "gopher://127.0.0.1:70/", "http://", "ftp://example.com/"].into_iter().chain(metadata)
    {
        let res = app
            .req(Method::POST, "/berth/v1/webhooks")
            .json(&json!({"name": "badhook", "serviceUri": bad, "actions": ["push"]}))
            .send()
            .await
            .expect("create");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(res).await, "BAD_REQUEST", "{bad}");
    }
    // A denied address given as a name is refused when sending, whatever it resolves to then.
    create(&app, "byname", json!({"serviceUri": "http://localhost:9/", "actions": ["push"]})).await;
    app.admin(Method::POST, "/webhooks/byname/ping", None).await;
    let log = app.admin(Method::GET, "/webhooks/byname/events", None).await;
    let error = log[0]["eventResponseMessage"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("127.0.0.1") && error.contains("not allowed"), "{log}");
    // A redirect is an answer, not an instruction: the target is never asked.
    let app = TestApp::spawn().await;
    let redirector = Receiver::on("127.0.0.1:0".parse().expect("addr"), 302).await;
    create(&app, "redirect", json!({"serviceUri": redirector.uri("/start"), "actions": ["push"]})).await;
    app.admin(Method::POST, "/webhooks/redirect/ping", None).await;
    let paths: Vec<String> = redirector.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/start"]);
    let log = app.admin(Method::GET, "/webhooks/redirect/events", None).await;
    assert_eq!(log[0]["eventResponseMessage"]["statusCode"], "302");
    // The tier's limit (Standard: 10) holds.
    for i in 0..9 {
        create(&app, &format!("extra{i}"), json!({"serviceUri": "http://127.0.0.1:9/", "actions": ["push"]})).await;
    }
    let res = app
        .req(Method::POST, "/berth/v1/webhooks")
        .json(&json!({"name": "toomany", "serviceUri": "http://127.0.0.1:9/", "actions": ["push"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap_or_default().contains("allows 10 webhooks"));
}

#[tokio::test]
async fn a_slow_receiver_never_delays_pushes() {
    // A receiver that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = silent.local_addr().expect("addr");
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let app = TestApp::spawn().await;
    create(&app, "silent", json!({"serviceUri": format!("http://{addr}/"), "actions": ["push"]})).await;
    let start = Instant::now();
    for i in 0..20u8 {
        app.push_image("app", &format!("v{i}"), &[&layer(i, 10)]).await;
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "20 pushes took {took:?} with a silent receiver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_before_a_sigkill_are_delivered_after_restart() {
    let (_guard, data) = temp_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let server = BerthProcess::start(&data, &[]);
    let client = reqwest::Client::new();
    let admin = |m: Method, path: &str| client.request(m, server.url(path)).basic_auth(ADMIN, Some(ADMIN_PASSWORD));
    let res = admin(Method::POST, "/berth/v1/webhooks")
        .json(&json!({"name": "afterkill", "serviceUri": format!("http://{port}/"), "actions": ["push"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), StatusCode::CREATED);
    // Pushed (committed) while the receiver is down, so not delivered yet.
    let mut digests = Vec::new();
    for i in 0..3u8 {
        let body = layer(i, 100);
        let digest = sha256(&body);
        let res = admin(Method::POST, &format!("/v2/app/blobs/uploads/?digest={digest}"))
            .body(body.clone())
            .send()
            .await
            .expect("blob");
        assert_eq!(res.status(), StatusCode::CREATED);
        let manifest = image_manifest(&digest, body.len(), vec![]);
        let res = admin(Method::PUT, &format!("/v2/app/manifests/v{i}"))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .expect("manifest");
        assert_eq!(res.status(), StatusCode::CREATED);
        digests.push(sha256(&manifest));
    }
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    drop(server);
    let receiver = Receiver::on(port, 200).await;
    let _restarted = BerthProcess::start(&data, &[]);
    let got = receiver.events(3).await;
    let delivered: Vec<&str> = got.iter().map(|r| r.body["target"]["digest"].as_str().unwrap_or_default()).collect();
    assert_eq!(delivered, digests.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn retention_sends_delete_events_in_berths_name() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    create(&app, "cleanup", json!({"serviceUri": receiver.uri("/"), "actions": ["delete"], "scope": "app:*"})).await;
    let (_, digest) = app.push_image("app", "tmp", &[&layer(1, 10)]).await;
    let res = app.req(Method::DELETE, "/v2/app/manifests/tmp").send().await.expect("untag");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.admin(Method::PATCH, "/retention", Some(json!({"days": 0, "status": "enabled", "type": "UntaggedManifests"})))
        .await;
    let report = app.admin(Method::POST, "/gc", Some(json!({}))).await;
    assert_eq!(report["manifestsDeleted"], 1, "{report}");
    let got = receiver.events(2).await;
    let gone = &got[1].body;
    assert_eq!(gone["action"], "delete");
    assert_eq!(gone["target"], json!({"mediaType": OCI_MANIFEST, "digest": digest, "repository": "app"}));
    assert_eq!(gone["request"], json!({"id": "", "host": "", "method": "", "useragent": ""}));
}

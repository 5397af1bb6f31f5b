//! The audit log: sign-ins and repository events recorded at the edge, read back through
//! `GET /berth/v1/audit` and `berth audit list` once the batcher has stored them (within about
//! a second), retention, and the JSON-lines file.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::Berth;
use crate::support::*;

const AGENT: &str = "audit-test/1.0";

/// The entries `query` selects, once at least `want` are there (polled for up to 10 s).
async fn entries(app: &TestApp, query: &str, want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = app.admin(Method::GET, &format!("/audit?{query}"), None).await;
        let found = page["value"].as_array().cloned().unwrap_or_default();
        if found.len() >= want || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn audit_sign_ins_are_recorded_with_address_and_user_agent() {
    let app = TestApp::spawn().await;
    let password = user_with(&app, "alice", &["AcrPull"]).await;
    let v2 = |pass: &str| app.anon(Method::GET, "/v2/").basic_auth("alice", Some(pass)).header("user-agent", AGENT);
    assert_eq!(v2("wrong-password").send().await.expect("v2").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(v2(&password).send().await.expect("v2").status(), StatusCode::OK);
    // Proven credentials sent again are not a new sign-in.
    assert_eq!(v2(&password).send().await.expect("v2").status(), StatusCode::OK);
    let form = [("grant_type", "password"), ("username", "alice"), ("password", &password), ("service", &app.host())];
    let res = app.anon(Method::POST, "/oauth2/token").header("user-agent", AGENT).form(&form).send().await;
    assert_eq!(res.expect("token").status(), StatusCode::OK);

    let logins = entries(&app, "identity=alice&category=login", 3).await;
    assert_eq!(logins.len(), 3, "{logins:#?}");
    // Newest first.
    let (token, ok, failed) = (&logins[0], &logins[1], &logins[2]);
    assert_eq!((failed["result"].as_str(), failed["method"].as_str()), (Some("failure"), Some("basic")));
    assert_eq!(failed["status"], 401);
    assert!(failed["detail"].as_str().is_some_and(|d| d.starts_with("UNAUTHORIZED")), "{failed}");
    assert_eq!((ok["result"].as_str(), ok["method"].as_str()), (Some("success"), Some("basic")));
    assert_eq!((token["result"].as_str(), token["method"].as_str()), (Some("success"), Some("password")));
    for e in &logins {
        assert_eq!((e["operation"].as_str(), e["clientIp"].as_str()), (Some("login"), Some("127.0.0.1")), "{e}");
        assert_eq!(e["userAgent"], AGENT);
        assert!(e["requestId"].as_str().is_some_and(|id| id.len() == 16), "{e}");
        assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
        assert!(!e.to_string().contains(&password), "no secret in the log: {e}");
    }
    // A name that does not exist is recorded as tried.
    let res = app.anon(Method::GET, "/v2/").basic_auth("nobody", Some("x")).send().await.expect("v2");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let unknown = entries(&app, "identity=nobody", 1).await;
    assert_eq!(unknown.len(), 1, "{unknown:#?}");
    assert_eq!(unknown[0]["result"], "failure");
}

#[tokio::test]
async fn audit_pulls_are_recorded_heads_are_not() {
    let app = TestApp::spawn().await;
    let (manifest, digest) = app.push_image("pulled", "v1", &[&layer(1, 100)]).await;
    let get = |reference: &str| {
        app.req(Method::GET, &format!("/v2/pulled/manifests/{reference}"))
            .header("accept", OCI_MANIFEST)
            .header("user-agent", AGENT)
    };
    assert_eq!(get("v1").send().await.expect("pull").status(), StatusCode::OK);
    let head = app.req(Method::HEAD, "/v2/pulled/manifests/v1").send().await.expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(get("v2").send().await.expect("pull").status(), StatusCode::NOT_FOUND);

    let pulls = entries(&app, "repository=pulled&operation=pull", 2).await;
    assert_eq!(pulls.len(), 2, "one GET that worked, one that failed, no HEAD: {pulls:#?}");
    let (missing, pulled) = (&pulls[0], &pulls[1]);
    assert_eq!(pulled["result"], "success");
    assert_eq!((pulled["tag"].as_str(), pulled["digest"].as_str()), (Some("v1"), Some(digest.as_str())));
    assert_eq!((pulled["size"].as_u64(), pulled["count"].as_u64()), (Some(manifest.len() as u64), Some(1)));
    assert_eq!((pulled["identity"].as_str(), pulled["status"].as_u64()), (Some(ADMIN), Some(200)));
    assert_eq!((pulled["userAgent"].as_str(), pulled["clientIp"].as_str()), (Some(AGENT), Some("127.0.0.1")));
    assert_eq!((missing["result"].as_str(), missing["status"].as_u64()), (Some("failure"), Some(404)));
    assert!(missing["detail"].as_str().is_some_and(|d| d.starts_with("MANIFEST_UNKNOWN")), "{missing}");
    // A successful push is audited by the transaction that stores it, never at the edge.
    let pushes = entries(&app, "repository=pulled&operation=push&result=success", 0).await;
    assert!(pushes.len() <= 1, "at most the transaction's own entry: {pushes:#?}");
}

#[tokio::test]
async fn audit_refused_pushes_and_deletes_are_recorded_once() {
    let app = TestApp::spawn().await;
    let (manifest, digest) = app.push_image("locked", "v1", &[&layer(2, 100)]).await;
    let wrong = format!("sha256:{}", "0".repeat(64));
    let res = app.put_manifest("locked", &wrong, OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let refused = entries(&app, "repository=locked&operation=push&result=failure", 1).await;
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!((refused[0]["status"].as_u64(), refused[0]["digest"].as_str()), (Some(400), Some(wrong.as_str())));
    assert_eq!(refused[0]["size"], manifest.len());
    assert!(refused[0]["detail"].as_str().is_some_and(|d| d.starts_with("DIGEST_INVALID")), "{refused:#?}");

    for (path, lock) in [
        ("/acr/v1/locked/_tags/v1".to_owned(), json!({"deleteEnabled": false})),
        (format!("/acr/v1/locked/_manifests/{digest}"), json!({"deleteEnabled": false})),
        ("/acr/v1/locked".to_owned(), json!({"writeEnabled": false})),
    ] {
        let res = app.req(Method::PATCH, &path).json(&lock).send().await.expect("lock");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let res = app.put_manifest("locked", "v2", OCI_MANIFEST, &manifest).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let status = res.status().as_u16();
    let res = app.req(Method::DELETE, "/acr/v1/locked/_tags/v1").send().await.expect("untag");
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = app.req(Method::DELETE, &format!("/v2/locked/manifests/{digest}")).send().await.expect("delete");
    assert!(res.status().is_client_error(), "{}", res.status());

    let failures = entries(&app, "repository=locked&result=failure", 4).await;
    let ops: Vec<&str> = failures.iter().filter_map(|e| e["operation"].as_str()).collect();
    assert_eq!(ops, ["delete", "untag", "push", "push"], "{failures:#?}");
    assert_eq!((failures[2]["tag"].as_str(), failures[2]["status"].as_u64()), (Some("v2"), Some(u64::from(status))));
    assert_eq!(failures[0]["digest"], digest.as_str());
    assert!(failures.iter().all(|e| e["identity"] == ADMIN), "{failures:#?}");
    // No credentials: the challenge of the token handshake, not an event.
    let res = app.anon(Method::PUT, "/v2/locked/manifests/v3").body(manifest.clone()).send().await.expect("push");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(entries(&app, "repository=locked&result=failure", 4).await.len(), 4);
}

#[tokio::test]
async fn audit_list_filters_and_pages_through_the_cli() {
    let app = TestApp::spawn().await;
    app.push_image("x", "v1", &[&layer(3, 100)]).await;
    app.push_image("y", "v1", &[&layer(4, 100)]).await;
    for (repo, tag) in [("x", "v1"), ("x", "nope"), ("x", "gone"), ("y", "nope")] {
        app.req(Method::GET, &format!("/v2/{repo}/manifests/{tag}")).send().await.expect("pull");
    }
    assert_eq!(entries(&app, "operation=pull", 4).await.len(), 4);

    let berth = Berth::logged_in(&app).await;
    let failed =
        berth.json(&["audit", "list", "-n", "{R}", "--repository", "x", "--result", "failure", "-o", "json"]).await;
    let tags: Vec<&str> = failed.as_array().expect("list").iter().filter_map(|e| e["tag"].as_str()).collect();
    assert_eq!(tags, ["gone", "nope"], "{failed:#}");
    let one = berth.json(&["audit", "list", "-n", "{R}", "--operation", "pull", "--top", "1", "-o", "json"]).await;
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_eq!(one[0]["repository"], "y", "newest first");
    let tsv = berth
        .ok(&[
            "audit",
            "list",
            "-n",
            "{R}",
            "--repository",
            "x",
            "--operation",
            "pull",
            "--query",
            "[].tag",
            "-o",
            "tsv",
        ])
        .await;
    assert_eq!(tsv.lines().collect::<Vec<_>>(), ["gone", "nope", "v1"]);
    let table = berth.ok(&["audit", "list", "-n", "{R}", "--operation", "pull", "-o", "table"]).await;
    assert_eq!(
        crate::cli::columns(&table),
        ["Time", "Operation", "Result", "Identity", "Method", "Target", "ClientIp", "Status"]
    );

    // Pages of one, followed through nextLink and Link alike.
    let first = app.req(Method::GET, "/berth/v1/audit?operation=pull&top=1").send().await.expect("page");
    let link = first.headers()["link"].to_str().expect("link").to_owned();
    let first: Value = first.json().await.expect("json");
    let next = first["nextLink"].as_str().expect("nextLink").to_owned();
    assert_eq!(link, format!("<{next}>; rel=\"next\""));
    let mut seen = vec![first["value"][0].clone()];
    let mut next = Some(next);
    while let Some(path) = next.take() {
        let page = app.admin(Method::GET, path.trim_start_matches("/berth/v1"), None).await;
        seen.extend(page["value"].as_array().cloned().unwrap_or_default());
        next = page["nextLink"].as_str().map(str::to_owned);
    }
    let repos: Vec<&str> = seen.iter().filter_map(|e| e["repository"].as_str()).collect();
    assert_eq!(repos, ["y", "x", "x", "x"]);
    let until = app.admin(Method::GET, "/audit?operation=pull&until=2000-01-01T00:00:00Z", None).await;
    assert_eq!(until["value"], json!([]));
    let since = app.admin(Method::GET, "/audit?operation=pull&since=2000-01-01", None).await;
    assert_eq!(since["value"].as_array().map(Vec::len), Some(4));
    let bad = app.req(Method::GET, "/berth/v1/audit?since=yesterday").send().await.expect("bad");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn audit_retention_prunes_old_entries() {
    let mut app = TestApp::spawn().await;
    app.push_image("old", "v1", &[&layer(5, 100)]).await;
    app.req(Method::GET, "/v2/old/manifests/v1").send().await.expect("pull");
    assert_eq!(entries(&app, "repository=old&operation=pull", 1).await.len(), 1);
    app.req(Method::GET, "/v2/old/manifests/v1").send().await.expect("pull");
    assert_eq!(entries(&app, "repository=old&operation=pull", 2).await.len(), 2);
    // One entry from a year ago (the default retention is 90 days).
    let year = 365 * 86_400_000_i64;
    app.execute_sql(&format!(
        "UPDATE audit_log SET at = at - {year} WHERE id = (SELECT MIN(id) FROM audit_log WHERE operation = 'pull')"
    ))
    .await;
    // Retention runs at start, then hourly.
    app.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = app.admin(Method::GET, "/audit?repository=old&operation=pull", None).await;
        if left["value"].as_array().map(Vec::len) == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "the old entry is still there: {left:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn audit_entries_go_to_the_json_lines_file() {
    let app = TestApp::spawn_with(|c| c.audit.file = Some(c.data_dir.join("audit.jsonl"))).await;
    app.push_image("filed", "v1", &[&layer(6, 100)]).await;
    app.req(Method::GET, "/v2/filed/manifests/v1").send().await.expect("pull");
    assert_eq!(entries(&app, "repository=filed&operation=pull", 1).await.len(), 1);
    let text = std::fs::read_to_string(app.data_dir().join("audit.jsonl")).expect("audit file");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let pull = lines.iter().find(|e| e["operation"] == "pull").expect("the pull is in the file");
    assert_eq!((pull["repository"].as_str(), pull["tag"].as_str()), (Some("filed"), Some("v1")));
    assert!(pull["time"].as_str().is_some_and(|t| t.ends_with('Z')) && pull.get("clientIp").is_some(), "{pull}");
    assert!(!text.contains(ADMIN_PASSWORD), "no secret in the file");
}

#[tokio::test]
async fn audit_successful_changes_are_stored_by_their_transaction() {
    let app = TestApp::spawn().await;
    let (manifest, digest) = app.push_image("app", "v1", &[&layer(5, 100)]).await;
    let res = app.req(Method::DELETE, "/v2/app/manifests/v1").header("user-agent", AGENT).send().await.expect("untag");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Stored with the change, not in a batch: there at once, no waiting for a flush.
    let page = app.admin(Method::GET, "/audit?repository=app&result=success", None).await;
    let found = page["value"].as_array().cloned().unwrap_or_default();
    let ops: Vec<&str> = found.iter().filter_map(|e| e["operation"].as_str()).collect();
    assert_eq!(ops, ["untag", "push"], "{found:#?}");
    let (untag, push) = (&found[0], &found[1]);
    assert_eq!((push["identity"].as_str(), push["tag"].as_str()), (Some(ADMIN), Some("v1")));
    assert_eq!(push["digest"], digest.as_str());
    assert_eq!(push["size"].as_u64(), Some(manifest.len() as u64));
    assert_eq!(push["clientIp"], "127.0.0.1");
    assert_eq!(untag["userAgent"], AGENT);
    assert!(untag["requestId"].as_str().is_some_and(|id| id.len() == 16), "{untag}");
    // Retention's deletions, in Berth's name.
    app.admin(Method::PATCH, "/retention", Some(json!({"days": 0, "status": "enabled", "type": "UntaggedManifests"})))
        .await;
    app.admin(Method::POST, "/gc", Some(json!({}))).await;
    let page = app.admin(Method::GET, "/audit?repository=app&operation=delete", None).await;
    assert_eq!(page["value"][0]["identity"], "berth:retention", "{page}");
    assert_eq!(page["value"][0]["digest"], digest.as_str());
}

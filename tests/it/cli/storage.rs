//! `show-usage`, `usage check`, `gc run`, `config retention` and `purge`, as ACR users run
//! `az acr` and `acr purge`: output shapes, dry runs that change nothing, real runs checked
//! through the registry, and counters corrupted behind the registry's back.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Berth, columns};
use crate::support::*;

#[tokio::test]
async fn show_usage_follows_the_tier_and_gc_run_reports() {
    let app = TestApp::spawn_with(|c| c.gc.grace = berth::config::Duration::parse("0s").expect("duration")).await;
    let (_, digest) = app.push_image("app", "v1", &[b"some layer"]).await;
    let berth = Berth::logged_in(&app).await;

    let usage = berth.json(&["show-usage", "-n", "{R}"]).await;
    let size = &usage["value"][0];
    assert_eq!(
        (size["name"].as_str(), size["unit"].as_str(), size["limit"].as_u64()),
        (Some("Size"), Some("Bytes"), Some(100 << 30))
    );
    assert!(size["currentValue"].as_u64().is_some_and(|v| v > 10));
    let table = berth.ok(&["show-usage", "-n", "{R}", "-o", "table"]).await;
    assert_eq!(columns(&table), ["NAME", "LIMIT", "CURRENT VALUE", "UNIT"]);
    assert_eq!(table.lines().count(), 8, "a row per item: {table}");
    // A count of 0 is printed as 0, as az prints it, not as a blank cell.
    let tokens = table.lines().find(|l| l.starts_with("Tokens ")).expect("Tokens row");
    assert_eq!(tokens.split_whitespace().collect::<Vec<_>>(), ["Tokens", "500", "0", "Count"], "{table}");

    let updated = berth.json(&["update", "-n", "{R}", "--sku", "Basic"]).await;
    assert_eq!(updated["sku"]["name"], "Basic");
    let limits = berth
        .ok(&["show-usage", "-n", "{R}", "--query", "value[?name=='Size' || name=='Tokens'].limit", "-o", "tsv"])
        .await;
    assert_eq!(limits, format!("{}\n100\n", 10u64 << 30));

    app.req(Method::DELETE, &format!("/v2/app/manifests/{digest}")).send().await.expect("delete");
    let dry = berth.json(&["gc", "run", "-n", "{R}", "--dry-run"]).await;
    assert_eq!((dry["dryRun"].as_bool(), dry["blobsDeleted"].as_u64()), (Some(true), Some(2)));
    let real = berth.json(&["gc", "run", "-n", "{R}"]).await;
    assert_eq!(real["blobsDeleted"], 2);
    assert_eq!(berth.json(&["gc", "show", "-n", "{R}"]).await["lastRun"]["blobsDeleted"], 2);
    let zero = berth.ok(&["show-usage", "-n", "{R}", "--query", "value[0].currentValue", "-o", "tsv"]).await;
    assert_eq!(zero, "0\n");
}

#[tokio::test]
async fn usage_check_repairs_counters_corrupted_in_the_database() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"some layer"]).await;
    let berth = Berth::logged_in(&app).await;
    let clean = berth.json(&["usage", "check", "-n", "{R}"]).await;
    assert_eq!((&clean["counted"], &clean["repaired"]), (&clean["recomputed"], &json!(false)));
    let actual = clean["recomputed"].clone();
    let (blobs, total) =
        (actual["blobBytes"].as_u64().expect("blobBytes"), actual["totalBytes"].as_u64().expect("total"));
    assert!(blobs > 10 && total > blobs, "{clean}");

    app.execute_sql("UPDATE usage_counters SET value = value + 12345 WHERE name = 'blob_bytes'").await;
    app.execute_sql("DELETE FROM usage_counters WHERE name = 'manifest_bytes'").await;
    assert_eq!(app.used().await, blobs + 12345, "show-usage reads the counters");
    let repair = berth.json(&["usage", "check", "-n", "{R}"]).await;
    assert_eq!(repair["counted"], json!({"blobBytes": blobs + 12345, "manifestBytes": 0, "totalBytes": blobs + 12345}));
    assert_eq!((&repair["recomputed"], &repair["repaired"]), (&actual, &json!(true)));
    assert_eq!(app.used().await, total, "repaired");
    let table = berth.ok(&["usage", "check", "-n", "{R}", "-o", "table"]).await;
    assert_eq!(columns(&table), ["COUNTED BYTES", "RECOMPUTED BYTES", "REPAIRED"]);
    let row = table.lines().nth(2).expect("a row");
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        [total.to_string(), total.to_string(), "False".to_owned()],
        "as az prints false"
    );
}

#[tokio::test]
async fn retention_policy_through_the_cli() {
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let shown = berth.json(&["config", "retention", "show", "-r", "{R}"]).await;
    assert_eq!(shown, json!({"days": 7, "status": "disabled", "type": "UntaggedManifests"}));
    let updated = berth
        .json(&[
            "config",
            "retention",
            "update",
            "-r",
            "{R}",
            "--days",
            "30",
            "--type",
            "UntaggedManifests",
            "--status",
            "enabled",
        ])
        .await;
    assert_eq!(updated, json!({"days": 30, "status": "enabled", "type": "UntaggedManifests"}));
    let err = berth.fails(&["config", "retention", "update", "-r", "{R}", "--days", "400"]).await;
    assert!(err.contains("BAD_REQUEST"), "{err}");
}

/// Tag names of `repo`, sorted.
async fn tags(app: &TestApp, repo: &str) -> Vec<String> {
    let res = app.req(Method::GET, &format!("/v2/{repo}/tags/list")).send().await.expect("tags");
    let body: Value = res.json().await.expect("json");
    let mut names: Vec<String> =
        body["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect();
    names.sort();
    names
}

#[tokio::test]
async fn purge_deletes_by_filter_age_and_keep_as_acr_purge() {
    let app = TestApp::spawn().await;
    for tag in ["v1", "v2", "v3", "v4"] {
        app.push_image("hello", tag, &[format!("hello {tag}").as_bytes()]).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    app.push_image("hello", "stable", &[b"stable"]).await;
    let (_, untagged) = app.push_image("hello", "tmp", &[b"untagged"]).await;
    app.req(Method::DELETE, "/v2/hello/manifests/tmp").send().await.expect("untag");
    app.push_image("other", "v1", &[b"other"]).await;
    let res = app.req(Method::PATCH, "/acr/v1/hello/_tags/v1").json(&json!({"deleteEnabled": false})).send().await;
    assert_eq!(res.expect("lock").status(), StatusCode::OK);
    let berth = Berth::logged_in(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let purge = ["purge", "-r", "{R}", "--filter", "hello:v.*", "--ago", "0s", "--keep", "1", "--untagged"];
    let dry = berth.ok(&[&purge[..], &["--dry-run"]].concat()).await;
    assert!(dry.contains("Tags that would be deleted for repository: hello\n"), "{dry}");
    assert!(dry.contains("hello:v3\nhello:v2\n") && !dry.contains("hello:v4") && !dry.contains("hello:v1"), "{dry}");
    assert!(dry.contains(&format!("hello@{untagged}")), "{dry}");
    assert!(dry.ends_with("Number of tags to be deleted: 2\nNumber of manifests to be deleted: 3\n"), "{dry}");
    assert_eq!(tags(&app, "hello").await, ["stable", "v1", "v2", "v3", "v4"], "a dry run changes nothing");

    let real = berth.ok(&purge).await;
    assert!(real.ends_with("Number of deleted tags: 2\nNumber of deleted manifests: 3\n"), "{real}");
    // v4 is the newest match (kept), v1 is locked, stable does not match, other is not filtered.
    assert_eq!(tags(&app, "hello").await, ["stable", "v1", "v4"]);
    assert_eq!(tags(&app, "other").await, ["v1"]);
    let left =
        berth.ok(&["manifest", "list-metadata", "-r", "{R}", "-n", "hello", "--query", "length(@)", "-o", "tsv"]).await;
    assert_eq!(left, "3\n", "the untagged manifests (the purged tags' and the old one) are gone");
    let err = berth.fails(&["purge", "-r", "{R}", "--filter", "hello", "--ago", "1d"]).await;
    assert!(err.contains("REPOSITORY_REGEX:TAG_REGEX"), "{err}");
}

/// A dry run's report with the words of a real run's.
fn as_run(dry: &str) -> String {
    dry.replace("Tags that would be deleted", "Deleting tags")
        .replace("Manifests that would be deleted", "Deleting manifests")
        .replace("Number of tags to be deleted", "Number of deleted tags")
        .replace("Number of manifests to be deleted", "Number of deleted manifests")
}

#[tokio::test]
async fn purge_dry_run_reports_exactly_what_the_run_does() {
    let app = TestApp::spawn().await;
    // One tag, purged: the manifest goes. Two tags, one purged: it stays. Two tags, both
    // purged: it goes. An index whose tag is purged goes (and its child with it, unlisted).
    // An untagged manifest goes.
    let (_, alone) = app.push_image("app", "old-a", &[b"alone"]).await;
    let (shared, kept) = app.push_image("app", "old-b", &[b"kept"]).await;
    app.put_manifest("app", "stable", OCI_MANIFEST, &shared).await;
    let (twice_bytes, twice) = app.push_image("app", "old-c1", &[b"twice"]).await;
    app.put_manifest("app", "old-c2", OCI_MANIFEST, &twice_bytes).await;
    let (child_bytes, child) = app.push_image("app", "child", &[b"child"]).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": child_bytes.len()}],
    }))
    .expect("json");
    app.put_manifest("app", "old-multi", OCI_INDEX, &index).await;
    app.req(Method::DELETE, "/v2/app/manifests/child").send().await.expect("untag");
    let (_, loose) = app.push_image("app", "tmp", &[b"loose"]).await;
    app.req(Method::DELETE, "/v2/app/manifests/tmp").send().await.expect("untag");
    let berth = Berth::logged_in(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let purge = ["purge", "-r", "{R}", "--filter", "app:old-.*", "--ago", "0s", "--untagged"];
    let dry = berth.ok(&[&purge[..], &["--dry-run"]].concat()).await;
    let real = berth.ok(&purge).await;
    assert_eq!(as_run(&dry), real, "the dry run reports what the run did");
    assert!(real.ends_with("Number of deleted tags: 5\nNumber of deleted manifests: 4\n"), "{real}");
    let mut gone = vec![alone, twice, sha256(&index), loose];
    gone.sort();
    let listed: Vec<&str> = real.lines().filter_map(|l| l.strip_prefix("app@")).collect();
    assert_eq!(listed, gone);
    let left = berth.json(&["manifest", "list-metadata", "-r", "{R}", "-n", "app", "--query", "[].digest"]).await;
    assert_eq!(left, json!([kept]));
    assert_eq!(tags(&app, "app").await, ["stable"]);
}

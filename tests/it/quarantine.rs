//! Quarantine, ACR's model: with the setting on, an image pushed by skopeo is out of the tag
//! list and refused on pull to a pull-only token and to AcrPull users, seen by an
//! AcrQuarantineReader, released by an AcrQuarantineWriter through `/acr/v1` (and the CLI),
//! then pulled by skopeo with the same pull-only token; the `quarantine` webhook event; and
//! with the setting off, nothing changes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::Berth;
use crate::clients::skopeo::{put_image, skopeo, tag_layout};
use crate::support::*;
use crate::webhooks::Receiver;

/// `GET` of `path` as `user`:`pass` (Basic); the status and the JSON body (`null` if none).
async fn get_as(app: &TestApp, user: &str, pass: &str, path: &str) -> (StatusCode, Value) {
    let res = app.anon(Method::GET, path).basic_auth(user, Some(pass)).send().await.expect("GET");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `PATCH` of a manifest's attributes as `user`:`pass`; the status and the JSON body.
async fn patch_as(app: &TestApp, user: &str, pass: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let res = app.anon(Method::PATCH, path).basic_auth(user, Some(pass)).json(&body).send().await.expect("PATCH");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn tags_of(list: &Value) -> Vec<String> {
    list["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect()
}

async fn set_quarantine(app: &TestApp, status: &str) {
    let set = app.admin(Method::PATCH, "/quarantine", Some(json!({"status": status}))).await;
    assert_eq!(set, json!({"status": status}));
    assert_eq!(app.admin(Method::GET, "/quarantine", None).await, json!({"status": status}));
}

/// skopeo pushes `repo:v1` (as the admin user) from a fresh OCI layout; its digest.
async fn skopeo_push(app: &TestApp, repo: &str, content: &[u8]) -> String {
    let (_guard, tmp) = temp_dir();
    let src = tmp.join("src");
    let image = put_image(&src, "amd64", &[("file.txt", content)]);
    let digest = image["digest"].as_str().expect("digest").to_owned();
    tag_layout(&src, image, "v1");
    let dest = format!("docker://{}/{repo}:v1", app.host());
    let (ok, _, stderr) =
        skopeo(app, &["copy", "--dest-tls-verify=false", &format!("oci:{}:v1", src.display()), &dest]).await;
    assert!(ok, "skopeo push: {stderr}");
    digest
}

/// skopeo copies `repo:v1` out to an OCI layout with `creds`; (success, stderr).
async fn skopeo_pull(app: &TestApp, repo: &str, creds: &str) -> (bool, String) {
    let (_guard, tmp) = temp_dir();
    let src = format!("docker://{}/{repo}:v1", app.host());
    let out = format!("oci:{}:v1", tmp.join("out").display());
    let (ok, _, stderr) = skopeo(app, &["copy", "--src-tls-verify=false", "--src-creds", creds, &src, &out]).await;
    (ok, stderr)
}

#[tokio::test]
async fn a_pushed_image_waits_in_quarantine_until_a_writer_releases_it() {
    if !have_tool("skopeo") {
        return;
    }
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let hook = json!({"name": "scanner", "serviceUri": receiver.uri("/scan"), "actions": ["quarantine"]});
    app.admin(Method::POST, "/webhooks", Some(hook)).await;
    set_quarantine(&app, "enabled").await;

    let digest = skopeo_push(&app, "qa/app", b"held until scanned").await;
    let token = token_with(&app, "puller", "qa/app", &["content/read", "metadata/read"]).await;
    let puller = user_with(&app, "puller-user", &["AcrPull"]).await;
    let reader = user_with(&app, "qreader", &["AcrQuarantineReader"]).await;
    let writer = user_with(&app, "qwriter", &["AcrQuarantineWriter"]).await;
    let contributor = user_with(&app, "contrib", &["Contributor"]).await;

    // The pull-only token and an AcrPull user: not listed, refused on pull (by tag and digest).
    for (user, pass) in [("puller", token.as_str()), ("puller-user", puller.as_str())] {
        let (status, list) = get_as(&app, user, pass, "/v2/qa/app/tags/list").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert!(tags_of(&list).is_empty(), "{user} sees a quarantined tag: {list}");
        for reference in ["v1", digest.as_str()] {
            let (status, body) = get_as(&app, user, pass, &format!("/v2/qa/app/manifests/{reference}")).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{user} pulls {reference}: {body}");
            assert_eq!(body["errors"][0]["code"], "DENIED");
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("quarantined"), "{message}");
        }
        let res = app.anon(Method::HEAD, "/v2/qa/app/manifests/v1").basic_auth(user, Some(pass)).send().await;
        assert_eq!(res.expect("HEAD").status(), StatusCode::FORBIDDEN);
        let (_, manifests) = get_as(&app, user, pass, "/acr/v1/qa/app/_manifests").await;
        assert_eq!(manifests["manifests"], json!([]), "{user}: {manifests}");
        let (status, _) = get_as(&app, user, pass, &format!("/acr/v1/qa/app/_manifests/{digest}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = get_as(&app, user, pass, "/acr/v1/qa/app/_tags/v1").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (pulled, stderr) = skopeo_pull(&app, "qa/app", &format!("puller:{token}")).await;
    assert!(!pulled, "skopeo pulled a quarantined image with a pull-only token");
    assert!(stderr.contains("quarantined") || stderr.contains("denied"), "{stderr}");

    // An AcrQuarantineReader sees it, with its state, and pulls it (its pull token carries
    // quarantine_read).
    let (_, list) = get_as(&app, "qreader", &reader, "/v2/qa/app/tags/list").await;
    assert_eq!(tags_of(&list), ["v1"]);
    let (status, shown) = get_as(&app, "qreader", &reader, &format!("/acr/v1/qa/app/_manifests/{digest}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["manifest"]["quarantineState"], "Quarantined");
    let (pulled, stderr) = skopeo_pull(&app, "qa/app", &format!("qreader:{reader}")).await;
    assert!(pulled, "a quarantine reader pulls: {stderr}");

    // Without quarantine/write the state cannot be set, whatever else the caller may change.
    let release = json!({"quarantineState": "Passed", "quarantineDetails": "scanned: no findings"});
    let path = format!("/acr/v1/qa/app/_manifests/{digest}");
    for (user, pass) in [("contrib", contributor.as_str()), ("qreader", reader.as_str()), ("puller", token.as_str())] {
        let (status, body) = patch_as(&app, user, pass, &path, release.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("quarantine/write"), "{body}");
    }
    // Nor can the writer change locks it has no metadata/write for.
    let (status, _) =
        patch_as(&app, "qwriter", &writer, &path, json!({"quarantineState": "Passed", "readEnabled": false})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The writer releases it: listed and pulled with the same pull-only token.
    let (status, released) = patch_as(&app, "qwriter", &writer, &path, release).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["manifest"]["quarantineState"], "Passed");
    assert_eq!(released["manifest"]["quarantineDetails"], "scanned: no findings");
    let (_, list) = get_as(&app, "puller", &token, "/v2/qa/app/tags/list").await;
    assert_eq!(tags_of(&list), ["v1"]);
    let (pulled, stderr) = skopeo_pull(&app, "qa/app", &format!("puller:{token}")).await;
    assert!(pulled, "released, the image is pulled with the pull-only token: {stderr}");
    let (_, manifests) = get_as(&app, "puller-user", &puller, "/acr/v1/qa/app/_manifests").await;
    assert_eq!(manifests["manifests"][0]["quarantineState"], "Passed");

    // The receiver got the `quarantine` event in ACR's shape.
    let events = receiver.events(1).await;
    let event = &events[0].body;
    assert_eq!(event["action"], "quarantine");
    let target = &event["target"];
    assert_eq!((target["repository"].as_str(), target["tag"].as_str()), (Some("qa/app"), Some("v1")));
    assert_eq!(target["digest"], digest);
    assert_eq!(target["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert!(target["size"].as_u64().is_some_and(|s| s > 0), "{target}");
    assert_eq!(events.len(), 1, "one image, one quarantine event: {events:#?}");
}

#[tokio::test]
async fn a_failed_image_stays_refused_and_a_moved_tag_waits_for_its_image() {
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let shown = berth.json(&["config", "quarantine", "update", "-r", "{R}", "--status", "enabled"]).await;
    assert_eq!(shown, json!({"status": "enabled"}));
    assert_eq!(berth.json(&["config", "quarantine", "show", "-r", "{R}"]).await, json!({"status": "enabled"}));
    let (_, first) = app.push_image("app", "v1", &[b"first"]).await;
    let pw = user_with(&app, "qwriter", &["AcrQuarantineWriter"]).await;
    let writer = Berth::new(&app);
    writer.ok(&["login", "-n", "{R}", "-u", "qwriter", "-p", &pw]).await;
    let set = writer
        .json(&["manifest", "update-metadata", "-r", "{R}", "-n", "app:v1", "--quarantine-state", "Passed"])
        .await;
    assert_eq!(set["quarantineState"], "Passed");
    let puller = user_with(&app, "puller", &["AcrPull"]).await;
    let (status, _) = get_as(&app, "puller", &puller, "/v2/app/manifests/v1").await;
    assert_eq!(status, StatusCode::OK);

    // v1 moves onto a new image: the tag waits (unlisted, refused) until that image is released,
    // as in ACR; the digest released before still pulls.
    let (_, second) = app.push_image("app", "v1", &[b"second"]).await;
    let (status, _) = get_as(&app, "puller", &puller, "/v2/app/manifests/v1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list) = get_as(&app, "puller", &puller, "/v2/app/tags/list").await;
    assert!(tags_of(&list).is_empty(), "{list}");
    let (status, _) = get_as(&app, "puller", &puller, &format!("/v2/app/manifests/{first}")).await;
    assert_eq!(status, StatusCode::OK);

    // Failed, with details: still refused, and the details are shown to those who see it.
    let set = writer
        .json(&[
            "manifest",
            "update-metadata",
            "-r",
            "{R}",
            "-n",
            &format!("app@{second}"),
            "--quarantine-state",
            "Failed",
            "--quarantine-details",
            "CVE-2024-0001 critical",
        ])
        .await;
    assert_eq!(
        (set["quarantineState"].as_str(), set["quarantineDetails"].as_str()),
        (Some("Failed"), Some("CVE-2024-0001 critical"))
    );
    let (status, body) = get_as(&app, "puller", &puller, "/v2/app/manifests/v1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("failed"), "{body}");
    // An Owner (the admin user) sees it.
    let res = app.req(Method::GET, &format!("/acr/v1/app/_manifests/{second}")).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK);

    // Turning quarantine off releases nothing already held, and holds nothing new.
    berth.ok(&["config", "quarantine", "update", "-r", "{R}", "--status", "disabled"]).await;
    let (status, _) = get_as(&app, "puller", &puller, "/v2/app/manifests/v1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.push_image("app", "v2", &[b"third"]).await;
    let (status, _) = get_as(&app, "puller", &puller, "/v2/app/manifests/v2").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn with_quarantine_off_nothing_changes() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let hook = json!({"name": "every", "serviceUri": receiver.uri("/"), "actions": ["push", "quarantine"]});
    app.admin(Method::POST, "/webhooks", Some(hook)).await;
    assert_eq!(app.admin(Method::GET, "/quarantine", None).await, json!({"status": "disabled"}));
    let (_, digest) = app.push_image("app", "v1", &[b"plain"]).await;
    let token = token_with(&app, "puller", "app", &["content/read", "metadata/read"]).await;
    let (_, list) = get_as(&app, "puller", &token, "/v2/app/tags/list").await;
    assert_eq!(tags_of(&list), ["v1"]);
    let (status, _) = get_as(&app, "puller", &token, "/v2/app/manifests/v1").await;
    assert_eq!(status, StatusCode::OK);
    let (_, shown) = get_as(&app, "puller", &token, &format!("/acr/v1/app/_manifests/{digest}")).await;
    assert!(shown["manifest"].get("quarantineState").is_none(), "{shown}");
    // A second push makes sure the first round of delivery is complete.
    app.push_image("app", "v2", &[b"plain 2"]).await;
    let events = receiver.events(2).await;
    let actions: Vec<&str> = events.iter().filter_map(|e| e.body["action"].as_str()).collect();
    assert_eq!(actions, ["push", "push"]);
}

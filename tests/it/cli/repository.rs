//! `repository`, `manifest` and `check-health`, run as ACR's documentation runs `az acr`: the
//! untagged-manifest clean-up pipeline, a locked repository refusing skopeo's push with the lock
//! named, az's table columns, and each health check's error code.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Berth, columns};
use crate::support::*;

fn digests(list: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        list.as_array().expect("list").iter().filter_map(|m| m["digest"].as_str().map(str::to_owned)).collect();
    out.sort();
    out
}

#[tokio::test]
async fn acrs_untagged_manifest_recipe_deletes_exactly_the_untagged() {
    let app = TestApp::spawn().await;
    let (_, kept) = app.push_image("app", "v1", &[b"one"]).await;
    let (_, old) = app.push_image("app", "v2", &[b"two"]).await;
    let (_, latest) = app.push_image("app", "v2", &[b"two, rebuilt"]).await;
    let (_, orphan) = app.push_image("app", "tmp", &[b"three"]).await;
    app.req(Method::DELETE, "/v2/app/manifests/tmp").send().await.expect("untag");
    let berth = Berth::logged_in(&app).await;

    let untagged = berth
        .ok(&[
            "manifest",
            "list-metadata",
            "--name",
            "app",
            "--registry",
            "{R}",
            "--query",
            "[?tags[0]==null].digest",
            "-o",
            "tsv",
        ])
        .await;
    let mut listed: Vec<&str> = untagged.lines().collect();
    listed.sort_unstable();
    let mut expected = vec![old.as_str(), orphan.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected);

    // The recipe from ACR's documentation, with az acr replaced by berth.
    let run = berth
        .sh("berth manifest list-metadata --name app --registry {R} --query \"[?tags[0]==null].digest\" -o tsv \
             | xargs -I% berth repository delete --name {R} --image app@% --yes")
        .await;
    assert!(run.ok, "{}", run.stderr);
    let left = berth.json(&["manifest", "list-metadata", "-r", "{R}", "-n", "app"]).await;
    let mut want = vec![kept.clone(), latest.clone()];
    want.sort();
    assert_eq!(digests(&left), want);
    assert_eq!(berth.json(&["repository", "show-tags", "-n", "{R}", "--repository", "app"]).await, json!(["v1", "v2"]));
    let newest = berth
        .json(&["repository", "show-tags", "-n", "{R}", "--repository", "app", "--orderby", "time_desc", "--top", "1"])
        .await;
    assert_eq!(newest, json!(["v2"]));
}

#[tokio::test]
async fn a_locked_repository_refuses_a_push_and_names_the_lock() {
    let app = TestApp::spawn().await;
    app.push_image("base", "v1", &[b"base layer"]).await;
    let (_, digest) = app.push_image("app", "v1", &[b"app layer"]).await;
    let berth = Berth::logged_in(&app).await;

    let locked =
        berth.json(&["repository", "update", "-n", "{R}", "--repository", "app", "--write-enabled", "false"]).await;
    assert_eq!(locked["changeableAttributes"]["writeEnabled"], false);
    assert_eq!(locked["imageName"], "app");
    if have_tool("skopeo") {
        let copy = |to: &str| {
            tokio::process::Command::new("skopeo")
                .args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--authfile"])
                .arg(berth.docker_config.join("config.json"))
                .arg(format!("docker://{}/base:v1", app.host()))
                .arg(format!("docker://{}/{to}", app.host()))
                .output()
        };
        let out = copy("app:v2").await.expect("skopeo runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a push into a write-locked repository must fail");
        assert!(stderr.contains("writeEnabled") && stderr.contains("app"), "skopeo shows the lock: {stderr}");
        berth.ok(&["repository", "update", "-n", "{R}", "--repository", "app", "--write-enabled", "true"]).await;
        let out = copy("app:v2").await.expect("skopeo runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    // An image lock: the tag cannot be deleted through the CLI either.
    let image =
        berth.json(&["repository", "update", "-n", "{R}", "--image", "app:v1", "--delete-enabled", "false"]).await;
    assert_eq!(
        (image["name"].as_str(), image["changeableAttributes"]["deleteEnabled"].as_bool()),
        (Some("v1"), Some(false))
    );
    let err = berth.fails(&["repository", "untag", "-n", "{R}", "--image", "app:v1"]).await;
    assert!(err.contains("DENIED") && err.contains("deleteEnabled"), "{err}");
    let err = berth.fails(&["repository", "delete", "-n", "{R}", "--repository", "app", "--yes"]).await;
    assert!(err.contains("deleteEnabled"), "{err}");
    berth.ok(&["repository", "update", "-n", "{R}", "--image", "app:v1", "--delete-enabled", "true"]).await;
    let shown = berth
        .json(&["manifest", "update-metadata", "-r", "{R}", "-n", &format!("app@{digest}"), "--write-enabled", "false"])
        .await;
    assert_eq!(
        (shown["digest"].as_str(), shown["changeableAttributes"]["writeEnabled"].as_bool()),
        (Some(digest.as_str()), Some(false))
    );
    let err = berth.fails(&["manifest", "delete", &format!("{}/app@{digest}", app.host()), "--yes"]).await;
    assert!(err.contains("writeEnabled"), "{err}");
}

#[tokio::test]
async fn show_untag_delete_referrers_and_tables() {
    let app = TestApp::spawn().await;
    let (manifest, digest) = app.push_image("app", "v1", &[b"layer"]).await;
    app.push_image("other", "v1", &[b"other"]).await;
    // A signature-like artifact whose subject is app:v1.
    let config = app.push_blob("app", b"{}").await;
    let artifact = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len()},
    }))
    .expect("json");
    assert_eq!(
        app.put_manifest("app", &sha256(&artifact), OCI_MANIFEST, &artifact).await.status(),
        StatusCode::CREATED
    );
    let berth = Berth::logged_in(&app).await;

    assert_eq!(berth.json(&["repository", "list", "-n", "{R}"]).await, json!(["app", "other"]));
    let table = berth.ok(&["repository", "list", "-n", "{R}", "-o", "table"]).await;
    assert_eq!(table, "Result\n--------\napp\nother\n");
    let repo = berth.json(&["repository", "show", "-n", "{R}", "--repository", "app"]).await;
    assert_eq!((repo["manifestCount"].as_u64(), repo["tagCount"].as_u64()), (Some(2), Some(1)));
    let tag = berth.json(&["repository", "show", "-n", "{R}", "--image", "app:v1"]).await;
    assert_eq!((tag["name"].as_str(), tag["digest"].as_str()), (Some("v1"), Some(digest.as_str())));
    let by_digest = berth.json(&["repository", "show", "-n", "{R}", "--image", &format!("app@{digest}")]).await;
    assert_eq!(by_digest["tags"], json!(["v1"]));
    let brief = berth.json(&["repository", "show-manifests", "-n", "{R}", "--repository", "app"]).await;
    let entry = brief.as_array().expect("list").iter().find(|m| m["digest"] == digest).expect("listed").clone();
    assert_eq!(entry["tags"], json!(["v1"]));
    assert!(entry["timestamp"].is_string());

    let table =
        berth.ok(&["repository", "show-tags", "-n", "{R}", "--repository", "app", "--detail", "-o", "table"]).await;
    assert_eq!(columns(&table), ["CreatedTime", "Digest", "LastUpdateTime", "Name", "Signed"]);
    // Columns in tabulate's order: the first row's keys sorted, then keys later rows add.
    let table = berth.ok(&["manifest", "list-metadata", "-r", "{R}", "-n", "app", "-o", "table"]).await;
    let mut cols = columns(&table);
    cols.sort();
    assert_eq!(
        cols,
        ["Architecture", "ConfigMediaType", "CreatedTime", "Digest", "ImageSize", "LastUpdateTime", "MediaType", "Os"]
    );
    // As az: a tag shows the tag's metadata, a digest the manifest's.
    let shown = berth.json(&["manifest", "show-metadata", &format!("{}/app:v1", app.host())]).await;
    assert_eq!((shown["name"].as_str(), shown["digest"].as_str()), (Some("v1"), Some(digest.as_str())));
    let shown = berth.json(&["manifest", "show-metadata", &format!("{}/app@{digest}", app.host())]).await;
    assert_eq!((shown["architecture"].as_str(), shown["os"].as_str()), (Some("amd64"), Some("linux")));

    // az's shape since the OCI referrers API: {"manifests": [descriptor…]}, and its table.
    let referrers = berth.json(&["manifest", "list-referrers", "-r", "{R}", "-n", "app:v1"]).await;
    let refs = referrers["manifests"].as_array().expect("manifests");
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0]["artifactType"], "application/vnd.example.signature");
    assert_eq!(referrers.as_object().map(|o| o.len()), Some(1), "{referrers}");
    let table = berth.ok(&["manifest", "list-referrers", "-r", "{R}", "-n", "app:v1", "-o", "table"]).await;
    assert_eq!(columns(&table), ["Digest", "ArtifactType", "MediaType", "Size"]);
    let row = table.lines().nth(2).expect("a row");
    assert!(row.starts_with(&sha256(&artifact)) && row.contains("application/vnd.example.signature"), "{table}");
    let none = berth
        .json(&["manifest", "list-referrers", "-r", "{R}", "-n", "app:v1", "--artifact-type", "application/other"])
        .await;
    assert_eq!(none, json!({"manifests": []}));

    assert_eq!(berth.ok(&["repository", "untag", "-n", "{R}", "--image", "app:v1"]).await, "");
    assert_eq!(berth.json(&["repository", "show-tags", "-n", "{R}", "--repository", "app"]).await, json!([]));
    let err = berth.fails(&["repository", "delete", "-n", "{R}", "--repository", "other"]).await;
    assert!(err.contains("--yes"), "{err}");
    let deleted = berth.json(&["repository", "delete", "-n", "{R}", "--repository", "other", "--yes"]).await;
    assert_eq!(deleted["tagsDeleted"], json!(["v1"]));
    assert_eq!(berth.json(&["repository", "list", "-n", "{R}"]).await, json!(["app"]));
    // Not found: az's exit code 3, with the registry's code and message.
    let err = berth.fails_with(3, &["repository", "show", "-n", "{R}", "--repository", "other"]).await;
    assert!(err.contains("NAME_UNKNOWN"), "{err}");
}

#[tokio::test]
async fn check_health_reports_each_step_with_azs_codes() {
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let run = berth.run(&["check-health", "-n", "{R}", "--ignore-errors", "--yes"]).await;
    assert!(run.ok, "{}", run.stderr);
    for line in [
        format!("DNS lookup to {} at IP 127.0.0.1 : OK", app.host()),
        format!("Challenge endpoint {}/v2/ : OK", app.host()),
        format!("Fetch refresh token for registry '{}' : OK", app.host()),
        format!("Fetch access token for registry '{}' : OK", app.host()),
        format!("Access to /v2/_catalog on {} : OK", app.host()),
    ] {
        assert!(run.stderr.contains(&line), "missing {line:?} in:\n{}", run.stderr);
    }
    assert_eq!(run.stdout, "");

    let wrong = berth.run(&["check-health", "-n", "{R}", "--ignore-errors", "-u", ADMIN, "-p", "wrong-password"]).await;
    assert!(wrong.stderr.contains("An error occurred: CONNECTIVITY_REFRESH_TOKEN_ERROR"), "{}", wrong.stderr);
    let dns = berth.run(&["check-health", "-n", "no-such-host.invalid:5000", "--ignore-errors"]).await;
    assert!(dns.stderr.contains("CONNECTIVITY_DNS_ERROR"), "{}", dns.stderr);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let challenge = berth.run(&["check-health", "-n", &closed.to_string(), "--ignore-errors"]).await;
    assert!(challenge.stderr.contains("CONNECTIVITY_CHALLENGE_ERROR"), "{}", challenge.stderr);
    let bad = berth.run(&["check-health", "-n", "bad/name", "--ignore-errors"]).await;
    assert!(bad.stderr.contains("LOGIN_SERVER_ERROR"), "{}", bad.stderr);

    // A token that may pull one repository may not list the catalog.
    let token: Value = app
        .req(Method::POST, "/berth/v1/tokens")
        .json(&json!({"name": "puller", "repositories": [{"repository": "app", "actions": ["content/read"]}]}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let password = token["credentials"]["passwords"][0]["value"].as_str().expect("password");
    let forbidden = berth.run(&["check-health", "-n", "{R}", "--ignore-errors", "-u", "puller", "-p", password]).await;
    assert!(forbidden.stderr.contains("CONNECTIVITY_FORBIDDEN_ERROR"), "{}", forbidden.stderr);
    let allowed = berth
        .run(&["check-health", "-n", "{R}", "--ignore-errors", "--repository", "app", "-u", "puller", "-p", password])
        .await;
    assert!(allowed.stderr.contains("Access to /v2/app/tags/list"), "{}", allowed.stderr);

    // Without --ignore-errors the first error ends the command with a failure; here the local
    // checks already fail (no docker daemon, no helm or notary).
    let strict = berth.run(&["check-health", "-n", "{R}"]).await;
    if strict.stderr.contains("An error occurred: ") {
        assert!(!strict.ok && !strict.stderr.contains("Fetch refresh token"), "{}", strict.stderr);
    }
}

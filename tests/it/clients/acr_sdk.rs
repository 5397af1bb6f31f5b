//! Microsoft's ACR SDK for Python (`azure-containerregistry`), unchanged, against Berth over
//! HTTPS (the SDK refuses plain HTTP): it signs in through `/oauth2/exchange` and reads and
//! changes the registry through `/acr/v1`, with `%2F` in repository names, and uploads and
//! downloads a blob of several MiB through `/v2/`.

use serde_json::Value;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_containerregistry_sdk_lists_reads_locks_and_deletes() {
    let Some(python) = python_with("azure.containerregistry") else { return };
    let app = TestApp::spawn_tls().await;
    let (_, v1) = app.push_image("team/app", "v1", &[b"layer one"]).await;
    app.push_image("team/app", "v2", &[b"layer two"]).await;
    app.push_image("other", "latest", &[b"other layer"]).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/clients/acr_sdk.py");
    let ca = app.data_dir().join("tls/self-signed.crt");
    let out = tokio::process::Command::new(&python)
        .args([script, &app.url(""), ADMIN, ADMIN_PASSWORD])
        .arg(&ca)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .output()
        .await
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");

    assert_eq!(seen["repositories"], serde_json::json!(["other", "team/app"]));
    let repo = &seen["repository"];
    assert_eq!(
        (repo["name"].as_str(), repo["manifest_count"].as_u64(), repo["tag_count"].as_u64()),
        (Some("team/app"), Some(2), Some(2))
    );
    assert_eq!(repo["can_delete"], true);
    assert!(repo["created_on"].as_str().is_some_and(|t| t.starts_with("20")), "{repo}");
    assert_eq!(seen["tags_newest_first"], serde_json::json!(["v2", "v1"]));
    let manifests = seen["manifests"].as_array().expect("manifests");
    let first = manifests.iter().find(|m| m["digest"] == v1).expect("v1's manifest listed");
    assert_eq!((first["architecture"].as_str(), first["os"].as_str()), (Some("amd64"), Some("linux")));
    assert_eq!(first["tags"], serde_json::json!(["v1"]));
    assert!(first["size"].as_u64().is_some_and(|s| s > 9), "{first}");
    assert_eq!(seen["v1_can_write"], false);
    assert_eq!(seen["v1_digest"], v1);
    let data: Vec<u8> = (0..5u32 << 20).map(|i| (i % 251) as u8).collect();
    assert_eq!(seen["uploaded"], serde_json::json!({"digest": sha256(&data), "size": data.len(), "whole": true}));
    assert_eq!(
        seen["repositories_after"],
        serde_json::json!(["team/app"]),
        "a repository of blobs alone is listed nowhere"
    );
    assert_eq!(seen["tags_after"], serde_json::json!(["v1"]));

    // What the SDK changed is what /v2/ sees: v1 is write-locked now.
    let config = app.push_blob("team/app", b"{}").await;
    let res = app.put_manifest("team/app", "v1", OCI_MANIFEST, &image_manifest(&config, 2, vec![])).await;
    assert_eq!(res.status(), reqwest::StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap_or_default().contains("writeEnabled"));
}

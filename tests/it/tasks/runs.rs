//! Quick runs through the API: a build from an uploaded context, FROM an image in Berth.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{can_build, context_archive, finished, has_file, image_files, log, push_base, upload};
use crate::support::TestApp;

#[tokio::test]
async fn a_quick_build_runs_from_a_base_in_berth_and_pushes_its_image() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "base one").await;
    let dockerfile = format!(
        "FROM {registry}/base/busybox:1\nRUN echo built-by-run > /built.txt && id -u >> /built.txt\nCOPY hello.txt /hello.txt\n"
    );
    let source =
        upload(&app, context_archive(&[("Dockerfile", &dockerfile), ("hello.txt", "hello from the context")])).await;
    let run = app
        .admin(
            Method::POST,
            "/runs",
            Some(json!({"type": "DockerBuildRequest", "imageNames": ["web/app:{{.Run.ID}}", "web/app:latest"], "sourceLocation": source})),
        )
        .await;
    let id = run["runId"].as_str().expect("runId").to_owned();
    assert_eq!(run["status"], "Queued");
    assert_eq!(run["runType"], "QuickBuild");
    let run = finished(&app, &id, Duration::from_secs(120)).await;
    let text = log(&app, &id).await;
    assert_eq!(run["status"], "Succeeded", "{run}\n{text}");
    let outputs = run["outputImages"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2, "{run}");
    assert_eq!(outputs[0]["repository"], "web/app");
    assert_eq!(outputs[0]["tag"], id.as_str());
    let digest = outputs[0]["digest"].as_str().expect("digest");
    assert!(digest.starts_with("sha256:"), "{run}");
    let files = image_files(&app, "web/app", digest).await;
    assert_eq!(has_file(&files, "hello.txt").as_deref(), Some("hello from the context"));
    assert!(has_file(&files, "etc/marker").is_some_and(|m| m == "base one"));
    let built = has_file(&files, "built.txt").expect("built.txt");
    assert!(built.starts_with("built-by-run\n"), "{built}");
    assert!(text.contains("Executing step ID: acb_step_0"), "{text}");
}

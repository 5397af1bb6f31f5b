//! Who may run what: a run never holds more than the caller who started it.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{can_build, context_archive, encoded, finished, push_base, upload};
use crate::support::{ADMIN, ADMIN_PASSWORD, TestApp, token, user_with};

#[tokio::test]
async fn a_run_pushes_only_where_its_caller_may_push() {
    let app = TestApp::spawn().await;
    let registry = app.host();
    let source = upload(&app, context_archive(&[("Dockerfile", "FROM scratch\n")])).await;
    // Readers see runs and start none.
    let reader = user_with(&app, "watcher", &["Reader"]).await;
    let res = app.anon(Method::GET, "/berth/v1/runs").basic_auth("watcher", Some(&reader)).send().await.expect("list");
    assert_eq!(res.status(), 200);
    let build = json!({"type": "DockerBuildRequest", "imageNames": ["team/a:1"], "sourceLocation": source});
    let res = app
        .anon(Method::POST, "/berth/v1/runs")
        .basic_auth("watcher", Some(&reader))
        .json(&build)
        .send()
        .await
        .expect("run");
    assert_eq!(res.status(), 403);

    // A token that carries management writes and a push to team/a only.
    let bearer = token(&app, ADMIN, ADMIN_PASSWORD, "repository:team/a:pull,push registry:management:write").await;
    let res = app.anon(Method::POST, "/berth/v1/runs").bearer_auth(&bearer).json(&build).send().await.expect("run");
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap_or_default());
    let elsewhere = json!({"type": "DockerBuildRequest", "imageNames": ["team/b:1"], "sourceLocation": source});
    let res = app.anon(Method::POST, "/berth/v1/runs").bearer_auth(&bearer).json(&elsewhere).send().await.expect("run");
    assert_eq!(res.status(), 403);
    assert!(res.text().await.expect("text").contains("team/b"));
    // A task file's pushes are known when it runs: there the run fails, naming the repository.
    if !can_build() {
        return;
    }
    push_base(&app, "base/busybox", "1", "m").await;
    let yaml =
        format!("version: v1.1.0\nsteps:\n  - build: -t {registry}/team/b:1 .\n  - push: [\"{registry}/team/b:1\"]\n");
    let source = upload(&app, context_archive(&[("Dockerfile", &format!("FROM {registry}/base/busybox:1\n"))])).await;
    let res = app
        .anon(Method::POST, "/berth/v1/runs")
        .bearer_auth(&bearer)
        .json(&encoded(&yaml, Some(&source)))
        .send()
        .await
        .expect("run");
    assert_eq!(res.status(), 202);
    let id = res.json::<serde_json::Value>().await.expect("json")["runId"].as_str().expect("id").to_owned();
    let run = finished(&app, &id, Duration::from_secs(60)).await;
    assert_eq!(run["status"], "Failed", "{run}");
    assert!(run["runErrorMessage"].as_str().is_some_and(|m| m.contains("may not push to team/b")), "{run}");
    let res = app.req(Method::GET, "/v2/team/b/tags/list").send().await.expect("tags");
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_disabled_owners_run_does_not_start_a_dead_workers_ends_in_error_and_old_runs_go() {
    let app = TestApp::spawn_with(|c| c.tasks.enabled = false).await;
    let pushed = user_with(&app, "builder", &["Contributor"]).await;
    let yaml = "version: v1.1.0\nsteps:\n  - cmd: nothing/here:1 true\n";
    let res = app
        .anon(Method::POST, "/berth/v1/runs")
        .basic_auth("builder", Some(&pushed))
        .json(&encoded(yaml, None))
        .send()
        .await
        .expect("run");
    assert_eq!(res.status(), 202);
    let queued = res.json::<serde_json::Value>().await.expect("json")["runId"].as_str().expect("id").to_owned();
    // A run held by a worker whose lease ran out.
    let stale = crate::tasks::queue(&app, encoded(yaml, None)).await;
    app.execute_sql(&format!(
        "UPDATE runs SET status = 'Running', holder = 'gone', lease_until = 1 WHERE id = '{stale}'"
    ))
    .await;
    // A run that ended long ago (past tasks.retention): deleted with its log.
    let old = crate::tasks::queue(&app, encoded(yaml, None)).await;
    app.admin(Method::POST, &format!("/runs/{old}/cancel"), None).await;
    app.execute_sql(&format!("UPDATE runs SET finished_at = 1 WHERE id = '{old}'")).await;
    app.admin(Method::PATCH, "/users/builder", Some(json!({"status": "disabled"}))).await;
    // A node that runs tasks takes over.
    let mut app = app;
    app.set_config(|c| c.tasks.enabled = true);
    app.restart().await;
    let run = finished(&app, &stale, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "Error");
    assert!(run["runErrorMessage"].as_str().is_some_and(|m| m.contains("lease ran out")), "{run}");
    let mut status = 0;
    for _ in 0..50 {
        status = app.req(Method::GET, &format!("/berth/v1/runs/{old}")).send().await.expect("run").status().as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404, "a run past tasks.retention is deleted");
    let run = finished(&app, &queued, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "Failed");
    assert!(run["runErrorMessage"].as_str().is_some_and(|m| m.contains("\"builder\" cannot run it now")), "{run}");
}

#[tokio::test]
async fn garbage_collection_drops_uploaded_contexts_no_run_needs() {
    let app = TestApp::spawn_with(|c| {
        c.tasks.enabled = false;
        c.gc.upload_ttl = berth::config::Duration(Duration::from_millis(500));
    })
    .await;
    let needed = crate::tasks::upload(&app, crate::tasks::context_archive(&[("Dockerfile", "FROM scratch\n")])).await;
    crate::tasks::upload(&app, crate::tasks::context_archive(&[("Dockerfile", "FROM scratch\n")])).await;
    let build = json!({"type": "DockerBuildRequest", "imageNames": ["x/y:1"], "sourceLocation": needed});
    crate::tasks::queue(&app, build).await;
    assert_eq!(app.stored("sources").await.len(), 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let report = app.admin(Method::POST, "/gc", None).await;
    assert_eq!(report["uploadsExpired"], 1, "{report}");
    let left = app.stored("sources").await;
    assert_eq!(left.len(), 1);
    assert!(needed.ends_with(left[0].trim_start_matches("sources/")), "{left:?} vs {needed}");
}

#[tokio::test]
async fn a_starting_worker_removes_what_stopped_workers_left_and_no_live_ones() {
    // The default tasks.work_dir, shared with every other test server (each holds its lock).
    let work_dir = std::env::temp_dir().join("berth-tasks");
    let stale = work_dir.join(format!("node-stale-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(stale.join("ab1-12345678/storage")).expect("stale run");
    std::fs::write(stale.join(".lock"), b"").expect("lock file");
    std::fs::write(stale.join("ab1-12345678/storage/layer"), vec![0u8; 4096]).expect("leftover");
    let _app = TestApp::spawn().await;
    for _ in 0..50 {
        if !stale.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!stale.exists(), "a dead worker's directory is removed");
    let live = std::fs::read_dir(&work_dir)
        .expect("work dir")
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("node-")) && e.path().join(".lock").exists());
    assert!(live.count() >= 1, "this server's own directory stays");
}

//! Tasks and their triggers: a git context, a source commit webhook (signed, forged), a base
//! image moving (and not moving), a timer tick.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{GitServer, can_build, finished, has_file, image_files, log, push_base};
use crate::support::TestApp;

async fn runs_of(app: &TestApp, task: &str) -> Vec<Value> {
    let runs = app.admin(Method::GET, &format!("/runs?task={task}&top=50"), None).await;
    runs.as_array().expect("runs").clone()
}

/// Waits for task `task` to have `n` runs; the newest.
async fn nth_run(app: &TestApp, task: &str, n: usize) -> Value {
    for _ in 0..100 {
        let runs = runs_of(app, task).await;
        if runs.len() >= n {
            assert_eq!(runs.len(), n, "more runs than expected: {runs:?}");
            return runs[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {task} did not get run {n}: {:?}", runs_of(app, task).await)
}

fn github_push(secret: &str, body: &[u8], signature: Option<String>) -> Vec<(&'static str, String)> {
    let signature = signature.unwrap_or_else(|| berth::tasks::hooks::github_signature(secret.as_bytes(), body));
    vec![
        ("x-github-event", "push".into()),
        ("x-hub-signature-256", signature),
        ("content-type", "application/json".into()),
    ]
}

async fn post_hook(
    app: &TestApp,
    task: &str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = app.anon(Method::POST, &format!("/berth/v1/tasks/{task}/webhook"));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.body(body).send().await.expect("webhook")
}

#[tokio::test]
async fn a_signed_github_push_builds_the_commit_and_a_forged_one_starts_nothing() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "one").await;
    let dockerfile = format!("FROM {registry}/base/busybox:1\nCOPY version.txt /version.txt\n");
    let git = GitServer::start(&[("Dockerfile", &dockerfile), ("version.txt", "v1")]).await;
    let task = app
        .admin(
            Method::POST,
            "/tasks",
            Some(json!({
                "name": "from-git", "contextPath": format!("{}#main", git.url), "file": "Dockerfile",
                "imageNames": ["web/git:{{.Run.ID}}", "web/git:latest"], "commitTriggerEnabled": true, "branch": "main",
            })),
        )
        .await;
    let secret = task["webhookSecret"].as_str().expect("secret shown once").to_owned();
    assert!(task["webhookUrl"].as_str().is_some_and(|u| u.ends_with("/berth/v1/tasks/from-git/webhook")), "{task}");
    assert_eq!(app.admin(Method::GET, "/tasks/from-git", None).await["webhookSecret"], Value::Null);

    let commit = git.commit(&[("version.txt", "v2")], "second");
    let body = serde_json::to_vec(&json!({
        "ref": "refs/heads/main", "after": commit, "repository": {"clone_url": git.url},
    }))
    .expect("json");
    // Forged: signed with another secret, or not signed: 401, nothing queued.
    let forged = post_hook(&app, "from-git", github_push("not-the-secret", &body, None), body.clone()).await;
    assert_eq!(forged.status(), 401);
    let unsigned = post_hook(&app, "from-git", vec![("x-github-event", "push".into())], body.clone()).await;
    assert_eq!(unsigned.status(), 401);
    let unknown = post_hook(&app, "no-such-task", github_push(&secret, &body, None), body.clone()).await;
    assert_eq!(unknown.status(), 401);
    assert!(runs_of(&app, "from-git").await.is_empty());

    let res = post_hook(&app, "from-git", github_push(&secret, &body, None), body.clone()).await;
    assert_eq!(res.status(), 202);
    let run: Value = res.json().await.expect("run");
    assert_eq!(run["trigger"], "Commit");
    assert_eq!(run["sourceTrigger"]["commitId"], commit.as_str());
    let id = run["runId"].as_str().expect("id");
    let run = finished(&app, id, Duration::from_secs(120)).await;
    assert_eq!(run["status"], "Succeeded", "{run}\n{}", log(&app, id).await);
    let files = image_files(&app, "web/git", id).await;
    assert_eq!(has_file(&files, "version.txt").as_deref(), Some("v2"));
    // The same commit again queues nothing.
    let again = post_hook(&app, "from-git", github_push(&secret, &body, None), body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(runs_of(&app, "from-git").await.len(), 1);
}

#[tokio::test]
async fn a_base_image_push_with_a_new_digest_runs_the_task_once_and_a_re_push_does_not() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "one").await;
    let dockerfile = format!("FROM {registry}/base/busybox:1\nRUN cat /etc/marker > /copied\n");
    let git = GitServer::start(&[("Dockerfile", &dockerfile)]).await;
    app.admin(
        Method::POST,
        "/tasks",
        Some(json!({
            "name": "on-base", "contextPath": git.url, "imageNames": ["web/derived:latest"],
            "baseImageTriggerEnabled": true,
        })),
    )
    .await;
    let first = app.admin(Method::POST, "/tasks/on-base/run", None).await;
    let first = finished(&app, first["runId"].as_str().expect("id"), Duration::from_secs(120)).await;
    assert_eq!(first["status"], "Succeeded", "{first}");
    assert_eq!(first["trigger"], "Manual");

    // Pushing the same base again: nothing.
    push_base(&app, "base/busybox", "1", "one").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(runs_of(&app, "on-base").await.len(), 1);

    // A new digest: one run, triggered by the image update.
    let new = push_base(&app, "base/busybox", "1", "two").await;
    let run = nth_run(&app, "on-base", 2).await;
    assert_eq!(run["trigger"], "Image Update", "{run}");
    assert_eq!(run["imageUpdateTrigger"]["images"][0]["digest"], new.as_str());
    let run = finished(&app, run["runId"].as_str().expect("id"), Duration::from_secs(120)).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    let files = image_files(&app, "web/derived", "latest").await;
    assert_eq!(has_file(&files, "copied").as_deref(), Some("two"));
    // Its own push of web/derived and a re-push of the new base run nothing more.
    push_base(&app, "base/busybox", "1", "two").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(runs_of(&app, "on-base").await.len(), 2);
}

#[tokio::test]
async fn a_timer_tick_queues_one_run_and_moves_to_the_next_tick() {
    let app = TestApp::spawn().await;
    let yaml = "version: v1.1.0\nsteps:\n  - cmd: nothing/here:1 true\n";
    use base64::Engine as _;
    let content = base64::engine::general_purpose::STANDARD.encode(yaml);
    let task = app
        .admin(
            Method::POST,
            "/tasks",
            Some(json!({"name": "nightly", "encodedTaskContent": content, "schedules": ["0 21 * * *"]})),
        )
        .await;
    let tick = task["nextTimerTick"].as_str().expect("next tick").to_owned();
    assert!(tick.contains("T21:00:00"), "{task}");
    assert!(runs_of(&app, "nightly").await.is_empty());
    // As if the registry had been down at a past tick (2026-01-01T21:00:00Z): it runs once,
    // then waits for the next tick from now.
    app.execute_sql("UPDATE tasks SET next_tick = 1767301200000 WHERE name = 'nightly'").await;
    let run = nth_run(&app, "nightly", 1).await;
    assert_eq!(run["trigger"], "Timer");
    assert_eq!(run["timerTrigger"]["timerTriggerName"], "t1");
    assert_eq!(run["timerTrigger"]["scheduleOccurrence"], "2026-01-01T21:00:00.000000+00:00");
    let task = app.admin(Method::GET, "/tasks/nightly", None).await;
    assert_eq!(task["nextTimerTick"].as_str(), Some(tick.as_str()), "the timer moved on to its next tick");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(runs_of(&app, "nightly").await.len(), 1);
}

#[tokio::test]
async fn gitlab_azure_repos_and_bitbucket_pushes_queue_runs_and_bad_secrets_do_not() {
    // Runs are only queued here: no node runs them.
    let app = TestApp::spawn_with(|c| c.tasks.enabled = false).await;
    let task = json!({"name": "many-hosts", "contextPath": "https://git.example.com/app.git", "imageNames": ["x/y:1"],
                      "commitTriggerEnabled": true, "branch": "main"});
    let secret =
        app.admin(Method::POST, "/tasks", Some(task)).await["webhookSecret"].as_str().expect("secret").to_owned();
    let commit = |n: u8| format!("{n:040x}");
    let sig = |key: &str, body: &[u8]| berth::tasks::hooks::github_signature(key.as_bytes(), body);
    let basic = |pass: &str| format!("Basic {}", crate::support::base64_encode(&format!("azure:{pass}")));
    let gitlab = |c: &str| json!({"object_kind": "push", "ref": "refs/heads/main", "after": c, "project": {"git_http_url": "https://git.example.com/app.git"}});
    let azure = |c: &str| json!({"eventType": "git.push", "resource": {"refUpdates": [{"name": "refs/heads/main", "oldObjectId": commit(9), "newObjectId": c}], "repository": {"remoteUrl": "https://git.example.com/app.git"}}});
    let cloud = |c: &str| json!({"push": {"changes": [{"new": {"type": "branch", "name": "main", "target": {"hash": c}}, "old": null}]}, "repository": {"full_name": "org/app"}});
    let server = |c: &str| json!({"eventKey": "repo:refs_changed", "changes": [{"ref": {"id": "refs/heads/main", "displayId": "main", "type": "BRANCH"}, "fromHash": commit(9), "toHash": c, "type": "UPDATE"}], "repository": {"slug": "app"}});
    type Signer<'a> = Box<dyn Fn(&str, &[u8]) -> Vec<(&'static str, String)> + 'a>;
    let providers: Vec<(&str, serde_json::Value, Signer)> = vec![
        (
            "GitLab",
            gitlab(&commit(1)),
            Box::new(|key, _| vec![("x-gitlab-event", "Push Hook".into()), ("x-gitlab-token", key.into())]),
        ),
        ("AzureRepos", azure(&commit(2)), Box::new(|key, _| vec![("authorization", basic(key))])),
        (
            "Bitbucket",
            cloud(&commit(3)),
            Box::new(|key, body| vec![("x-event-key", "repo:push".into()), ("x-hub-signature", sig(key, body))]),
        ),
        (
            "Bitbucket",
            server(&commit(4)),
            Box::new(|key, body| {
                vec![("x-event-key", "repo:refs_changed".into()), ("x-hub-signature", sig(key, body))]
            }),
        ),
    ];
    for (n, (provider, payload, sign)) in providers.iter().enumerate() {
        let body = serde_json::to_vec(payload).expect("json");
        let refused = post_hook(&app, "many-hosts", sign("not-the-secret", &body), body.clone()).await;
        assert_eq!(refused.status(), 401, "{provider}: a wrong secret");
        assert_eq!(runs_of(&app, "many-hosts").await.len(), n, "{provider}: nothing queued");
        let res = post_hook(&app, "many-hosts", sign(&secret, &body), body).await;
        assert_eq!(res.status(), 202, "{provider}: {}", res.text().await.unwrap_or_default());
        let run = &runs_of(&app, "many-hosts").await[0];
        assert_eq!(run["trigger"], "Commit");
        assert_eq!(run["sourceTrigger"]["commitId"], commit(u8::try_from(n).expect("n") + 1), "{provider}: {run}");
        assert_eq!(run["sourceTrigger"]["providerType"], *provider);
    }
}

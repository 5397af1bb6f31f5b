//! The portal's Tasks pages: tasks, runs and a run whose log is followed as it runs, in a real
//! browser; a long run canceled from its page; who may see and cancel, over raw HTTP. Runs
//! need buildah (`crate::tasks::can_build`); without it a run that fails at once stands in.

use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::browser::{Browser, page, post_with_csrf, session_of};
use crate::support::*;
use crate::tasks::{can_build, finished, log, push_base};

/// A task file of one `cmd` step, base64, as `encodedTaskContent`.
fn task_file(cmd: &str) -> String {
    let file = format!("version: v1.1.0\nsteps:\n  - cmd: {cmd}\n");
    base64::engine::general_purpose::STANDARD.encode(file)
}

/// A step that prints `lines` lines a second apart (each with markup that must stay text), or
/// without buildah one that fails at once (its image does not exist).
async fn slow_step(app: &TestApp, lines: u32) -> String {
    let registry = app.host();
    if !can_build() {
        return format!("{registry}/nothing/here:1 true");
    }
    push_base(app, "base/busybox", "1", "m").await;
    let numbers: Vec<String> = (1..=lines).map(|i| i.to_string()).collect();
    format!(
        "{registry}/base/busybox:1 sh -c 'for i in {}; do echo \"line-$i <i>not-markup</i>\"; sleep 1; done'",
        numbers.join(" ")
    )
}

/// Waits (up to `limit`) until the log of run `id` holds `text`.
async fn log_holds(app: &TestApp, id: &str, text: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let now = log(app, id).await;
        if now.contains(text) {
            return;
        }
        let run = app.admin(Method::GET, &format!("/runs/{id}"), None).await;
        assert!(start.elapsed() < limit, "no {text:?} in the log of {id} in {limit:?}: {run}\n{now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (up to `limit`, which may pass the browser's 10 s) until the script `condition` holds.
async fn wait_long(browser: &Browser, condition: &str, limit: Duration) {
    let start = Instant::now();
    while browser.script(&format!("return {condition}")).await != json!(true) {
        assert!(start.elapsed() < limit, "waited {limit:?} for {condition} on {}", browser.url().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn log_text() -> &'static str {
    "(document.querySelector('pre#log') || {textContent: ''}).textContent"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_tasks_a_run_log_is_followed_as_it_runs() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let cmd = slow_step(&app, 10).await;
    let task = json!({"name": "lines-task", "encodedTaskContent": task_file(&cmd), "schedules": ["0 3 * * *"]});
    app.admin(Method::POST, "/tasks", Some(task)).await;
    let run = app.admin(Method::POST, "/tasks/lines-task/run", None).await;
    let id = run["runId"].as_str().expect("runId").to_owned();
    if can_build() {
        log_holds(&app, &id, "line-1 ", Duration::from_secs(60)).await;
    }

    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.click_then("header nav a[href='/tasks']", "#tasks").await;
    let row = browser.text("#tasks tr[data-name='lines-task']").await;
    assert!(row.contains("inline task file") && row.contains("0 3 * * *") && row.contains(&id), "{row}");
    assert!(row.contains("commit: off") && row.contains("base image: off"), "{row}");
    browser.click_then("#tasks tr[data-name='lines-task'] td a", "#runs").await;
    assert!(browser.url().await.ends_with("/runs?task=lines-task"));
    let listed = browser.text(&format!("#runs tr[data-id='{id}']")).await;
    assert!(listed.contains("lines-task") && listed.contains("linux/amd64") && listed.contains("Manual"), "{listed}");
    browser.click_then(&format!("#runs tr[data-id='{id}'] td a"), "#run").await;
    assert!(browser.url().await.ends_with(&format!("/runs/{id}")));

    if can_build() {
        assert_eq!(browser.text("#run-status").await, "Running");
        assert_eq!(browser.count("#cancel-run").await, 1, "the admin may cancel a running run");
        let first = browser.script(&format!("return {}", log_text())).await;
        let first = first.as_str().expect("text").to_owned();
        assert!(first.contains("line-1 <i>not-markup</i>"), "{first}");
        // Marks this page: a reload would lose the mark.
        browser.script("window.berthMark = 42; return true").await;
        wait_long(&browser, &format!("{}.includes('line-6 ')", log_text()), Duration::from_secs(20)).await;
        assert_eq!(browser.script("return window.berthMark").await, json!(42), "the log grew without a reload");
        let later = browser.script(&format!("return {}", log_text())).await;
        let later = later.as_str().expect("text").to_owned();
        assert!(later.starts_with(&first), "appended:\n{first}\n---\n{later}");
        assert_eq!(browser.count("#log i").await, 0, "log text is never markup");
        // The details and the log's first lines in one picture.
        browser.script("window.scrollTo(0, document.querySelector('#run').offsetTop - 16); return true").await;
        browser.screenshot("run").await;
    }
    wait_long(
        &browser,
        "document.querySelector('#run-status') && !document.querySelector('pre#log[data-follow]')",
        Duration::from_secs(60),
    )
    .await;
    let run = finished(&app, &id, Duration::from_secs(10)).await;
    let shown = browser.text("#run-status").await;
    assert_eq!(shown, run["status"].as_str().expect("status"), "{run}");
    assert_eq!(browser.count("#cancel-run").await, 0, "nothing to cancel once ended");
    if can_build() {
        assert_eq!(shown, "Succeeded", "{}", log(&app, &id).await);
        let text = browser.text("pre#log").await;
        assert!(text.contains("line-10 <i>not-markup</i>"), "{text}");
        assert_eq!(browser.count("#log i").await, 0);
    } else {
        assert!(browser.text("#run-error").await.len() > 3, "a failed run says why");
    }

    // The same over raw HTTP: a final run's page no longer refreshes itself.
    let admin = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let (status, html) = page(&app, &admin, &format!("/runs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("http-equiv=\"refresh\""), "{html}");
    let (status, body) = page(&app, &admin, &format!("/runs/{id}/log?offset=0")).await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["final"], true);
    assert_eq!(answer["cut"], false);
    assert_eq!(answer["text"].as_str().map(str::len), answer["offset"].as_u64().map(|n| n as usize));
    let (_, body) = page(&app, &admin, &format!("/runs/{id}/log?offset={}", answer["offset"])).await;
    let rest: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(rest["text"], "", "nothing past the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_tasks_a_reader_sees_runs_and_an_admin_cancels_one() {
    if !can_build() {
        return;
    }
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "m").await;
    let cmd = format!("{registry}/base/busybox:1 sh -c 'echo started; sleep 300'");
    let ask = json!({"type": "EncodedTaskRunRequest", "encodedTaskContent": task_file(&cmd)});
    let run = app.admin(Method::POST, "/runs", Some(ask)).await;
    let id = run["runId"].as_str().expect("runId").to_owned();
    log_holds(&app, &id, "started", Duration::from_secs(60)).await;
    let reader_pw = user_with(&app, "reader", &["Reader"]).await;
    // Without the script, a running run's page refreshes itself.
    let admin = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &admin, &format!("/runs/{id}")).await;
    assert!(html.contains("<noscript><meta http-equiv=\"refresh\" content=\"3\"></noscript>"), "{html}");

    // A Reader sees the runs and the run, without a Cancel button.
    browser.sign_in(&app, "reader", &reader_pw).await;
    browser.click_then("header nav a[href='/tasks']", "#all-runs").await;
    assert!(browser.text("#no-tasks").await.contains("No tasks"));
    browser.click_then("#all-runs", "#runs").await;
    let listed = browser.text(&format!("#runs tr[data-id='{id}']")).await;
    assert!(listed.contains("Running") && listed.contains("Manual"), "{listed}");
    browser.click_then(&format!("#runs tr[data-id='{id}'] td a"), "#run").await;
    assert_eq!(browser.text("#run-status").await, "Running");
    assert!(browser.text("pre#log").await.contains("started"));
    assert_eq!(browser.count("#cancel-run").await, 0, "no Cancel for a Reader");
    browser.click("header button[type=submit]").await;
    browser.wait_for("document.readyState === 'complete' && !!document.querySelector('#username')").await;

    // The admin cancels it from its page, after a confirmation.
    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url(&format!("/runs/{id}"))).await;
    browser.click_then("#cancel-run button", "#question").await;
    assert!(browser.text("#question").await.contains(&id));
    browser.click_then("form.confirm button", "#run").await;
    assert!(browser.url().await.ends_with(&format!("/runs/{id}")));
    wait_long(&browser, "!!document.querySelector('#run-status .status.canceled')", Duration::from_secs(30)).await;
    let run = finished(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(run["status"], "Canceled", "{run}");
    assert_eq!(browser.count("#cancel-run").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_tasks_rights_follow_the_api() {
    let app = TestApp::spawn().await;
    let registry = app.host();
    // Fails at once without buildah, or later with it: either way a run to read.
    let cmd = format!("{registry}/nothing/here:1 true");
    let ask = json!({"type": "EncodedTaskRunRequest", "encodedTaskContent": task_file(&cmd)});
    let run = app.admin(Method::POST, "/runs", Some(ask)).await;
    let id = run["runId"].as_str().expect("runId").to_owned();
    let reader_pw = user_with(&app, "reader", &["Reader"]).await;
    let puller_pw = token_with(&app, "puller", "app", &["content/read", "metadata/read"]).await;

    let reader = session_of(&app, "reader", &reader_pw).await;
    for path in ["/tasks".to_owned(), "/runs".to_owned(), format!("/runs/{id}"), format!("/runs/{id}/log")] {
        assert_eq!(page(&app, &reader, &path).await.0, StatusCode::OK, "a Reader reads {path}");
    }
    let (_, html) = page(&app, &reader, "/").await;
    assert!(html.contains("href=\"/tasks\""), "Tasks in the navigation");
    let cancel = format!("/runs/{id}/cancel");
    assert_eq!(post_with_csrf(&app, &reader, &cancel, &[("confirm", "yes")]).await.0, StatusCode::FORBIDDEN);

    let puller = session_of(&app, "puller", &puller_pw).await;
    for path in ["/tasks".to_owned(), "/runs".to_owned(), format!("/runs/{id}"), format!("/runs/{id}/log")] {
        assert_eq!(page(&app, &puller, &path).await.0, StatusCode::FORBIDDEN, "a pull token reads {path}");
    }
    let (_, html) = page(&app, &puller, "/").await;
    assert!(!html.contains("href=\"/tasks\""), "no Tasks for a pull token");

    let admin = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(page(&app, &admin, "/runs/nosuchrun").await.0, StatusCode::NOT_FOUND);
    assert_eq!(page(&app, &admin, "/runs?status=Nope").await.0, StatusCode::BAD_REQUEST);
    let (status, html) = page(&app, &admin, "/runs?status=Queued&task=none-such").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No runs."), "{html}");
    // Without the CSRF token, nothing is canceled; once ended, there is nothing to cancel.
    let (status, _) = super::browser::post(&app, &admin, &cancel, &[("confirm", "yes")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let run = finished(&app, &id, Duration::from_secs(60)).await;
    assert_ne!(run["status"], "Canceled");
    assert_eq!(post_with_csrf(&app, &admin, &cancel, &[("confirm", "yes")]).await.0, StatusCode::CONFLICT);
    assert_eq!(post_with_csrf(&app, &admin, &cancel, &[]).await.0, StatusCode::CONFLICT);
}

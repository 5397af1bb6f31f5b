//! Tasks and their runs, as `az acr task list`, `list-runs`, `logs` and `cancel-run` show them:
//! the tasks with their triggers and last run, the runs (newest 100, by task and status), and
//! one run with its details and its log, followed in place while it runs (by the portal's
//! script; without it, the page refreshes itself). Reading needs management Read, cancelling
//! Write, as `/berth/v1/runs` requires.

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::settings::write_form;
use super::{PAGE, PageResult, PortalError, Session, confirmed, link, see_other, when};
use crate::api::{ApiError, LogQuery};
use crate::app::AppState;
use crate::auth::Manage;
use crate::meta::{RUN_STATUSES, RunFilter, RunRow, TaskRow, now_ms};
use crate::oci::ErrorCode;
use crate::tasks::worker::Output;
use crate::tasks::{Step, TaskSpec};

/// The most of a log a page shows (and the follower appends): the rest is the API's.
const LOG_SHOWN: i64 = 1 << 20;

/// How long a run took, or has taken so far; nothing before it started.
fn run_duration(run: &RunRow) -> String {
    match run.started_at {
        Some(start) => crate::api::time::hms(run.finished_at.unwrap_or_else(now_ms) - start),
        None => String::new(),
    }
}

fn run_link(base: &str, id: &str) -> String {
    format!("{base}/runs/{id}")
}

/// A status as a page shows it: a class each page's stylesheet colours by.
fn status(s: &str) -> Markup {
    html! { span class=(format!("status {}", s.to_ascii_lowercase())) { (s) } }
}

/// A task's step in a few words.
fn step_text(step: &Step) -> Markup {
    match step {
        Step::Docker { docker_file_path, image_names, .. } => html! {
            "Docker file " code { (docker_file_path) }
            @if !image_names.is_empty() { " → " @for (i, n) in image_names.iter().enumerate() { @if i > 0 { ", " } code { (n) } } }
        },
        Step::FileTask { task_file_path, .. } => html! { "task file " code { (task_file_path) } },
        Step::EncodedTask { .. } => html! { "inline task file" },
    }
}

/// A task's triggers: commit (its branch), base image, schedules.
fn triggers_text(spec: &TaskSpec) -> Markup {
    let timers: Vec<_> = spec.enabled_timers().collect();
    html! {
        ul.plain {
            li { "commit: " @match spec.commit_branch() { Some(b) => { "on, branch " code { (b) } }, None => "off" } }
            li { "base image: " @if spec.base_image_trigger() { "on" } @else { "off" } }
            li {
                "schedules: "
                @if timers.is_empty() { "none" }
                @for (i, t) in timers.iter().enumerate() { @if i > 0 { ", " } code { (t.schedule) } }
            }
        }
    }
}

/// GET /tasks — the tasks, each with its last run.
pub(super) async fn list_tasks(State(app): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    session.check_manage(Manage::Read)?;
    let tasks = app.tasks.tasks().await?;
    let mut rows: Vec<(TaskRow, Option<TaskSpec>, Option<RunRow>)> = Vec::new();
    for task in tasks {
        let spec = serde_json::from_str(&task.spec).ok();
        let filter = RunFilter { task: Some(task.name.clone()), status: None, top: 1 };
        let last = app.tasks.runs(&filter).await?.into_iter().next();
        rows.push((task, spec, last));
    }
    let base = &session.base;
    let body = html! {
        h1 { "Tasks" }
        p { a #all-runs href=(format!("{base}/runs")) { "All runs" } }
        @if rows.is_empty() {
            p #no-tasks { "No tasks. Quick runs (" code { "az acr build" } ", " code { "az acr run" } ") are listed under "
                a href=(format!("{base}/runs")) { "runs" } "." }
        } @else {
            table #tasks {
                thead { tr {
                    th { "Name" } th { "Status" } th { "Platform" } th { "Step" } th { "Triggers" } th { "Last run" }
                } }
                tbody {
                    @for (task, spec, last) in &rows {
                        tr data-name=(task.name) {
                            td { a href=(link(base, "/runs", &[("task", &task.name)])) { (task.name) } }
                            td { (task.status) }
                            @match spec {
                                Some(spec) => {
                                    td { (spec.platform.as_string()) }
                                    td { (step_text(&spec.step)) }
                                    td { (triggers_text(spec)) }
                                }
                                None => { td colspan="3" { span.error { "stored unreadable" } } }
                            }
                            td {
                                @match last {
                                    Some(r) => {
                                        a href=(run_link(base, &r.id)) { (r.id) } " " (status(&r.status)) " "
                                        (when(r.started_at.unwrap_or(r.queued_at)))
                                    }
                                    None => span.muted { "never run" },
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(session.page("Tasks", body))
}

#[derive(Deserialize)]
pub(super) struct RunsQuery {
    #[serde(default)]
    task: String,
    #[serde(default)]
    status: String,
}

/// GET /runs?task=NAME&status=S — the newest runs, filtered.
pub(super) async fn list_runs(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RunsQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    session.check_manage(Manage::Read)?;
    let task = query.task.trim();
    let wanted = query.status.trim();
    if !wanted.is_empty() && !RUN_STATUSES.contains(&wanted) {
        return Err(PortalError::BadRequest(format!("status {wanted:?}: one of {}", RUN_STATUSES.join(", "))));
    }
    let filter = RunFilter {
        task: Some(task.to_owned()).filter(|t| !t.is_empty()),
        status: Some(wanted.to_owned()).filter(|s| !s.is_empty()),
        top: PAGE,
    };
    let runs = app.tasks.runs(&filter).await?;
    let base = &session.base;
    let title = if task.is_empty() { "Runs".to_owned() } else { format!("Runs of {task}") };
    let body = html! {
        h1 { (title) }
        p { a href=(format!("{base}/tasks")) { "Tasks" } }
        form #run-filter method="get" action=(format!("{base}/runs")) {
            label for="run-task" { "Task" }
            input #run-task type="text" name="task" value=(task);
            label for="run-status-filter" { "Status" }
            select #run-status-filter name="status" {
                option value="" selected[wanted.is_empty()] { "Any" }
                @for s in RUN_STATUSES { option value=(s) selected[*s == wanted] { (s) } }
            }
            button type="submit" { "Show" }
        }
        @if runs.is_empty() {
            p #no-runs { "No runs." }
        } @else {
            table #runs {
                thead { tr {
                    th { "Run ID" } th { "Task" } th { "Platform" } th { "Status" } th { "Trigger" } th { "Started" }
                    th { "Duration" }
                } }
                tbody {
                    @for r in &runs {
                        tr data-id=(r.id) {
                            td { a href=(run_link(base, &r.id)) { (r.id) } }
                            td { @if let Some(t) = &r.task { a href=(link(base, "/runs", &[("task", t)])) { (t) } } }
                            td { (r.platform) }
                            td.status { (status(&r.status)) }
                            td { (r.trigger_kind) }
                            td { @if let Some(t) = r.started_at { (when(t)) } }
                            td { (run_duration(r)) }
                        }
                    }
                }
            }
            @if runs.len() == PAGE as usize { p.muted { "The newest " (PAGE) " runs." } }
        }
    };
    Ok(session.page(&title, body))
}

async fn run_row(app: &AppState, id: &str) -> Result<RunRow, PortalError> {
    app.tasks
        .run(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ResourceUnknown, format!("run {id:?} not found")).into())
}

/// Whether the page stopped showing the log of `run` at `next`.
fn cut(run: &RunRow, next: i64) -> bool {
    next >= LOG_SHOWN && run.log_size > next
}

/// A context as shown: no credentials a URL may carry, and no upload's id.
fn source_text(source: &str) -> String {
    if source.starts_with("upload:") {
        return "uploaded with the request".to_owned();
    }
    match url::Url::parse(source) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => source.to_owned(),
    }
}

/// What started a run, beyond its kind: a commit, base images or a timer.
fn trigger_details(base: &str, run: &RunRow) -> Markup {
    let detail: Value = run.trigger_detail.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    match run.trigger_kind.as_str() {
        "Commit" => html! {
            "commit " code { (text(&detail, "commitId")) } " on branch " code { (text(&detail, "branchName")) }
            " of " (text(&detail, "repositoryUrl")) " (" (text(&detail, "providerType")) ")"
        },
        "Image Update" => html! {
            @for image in detail["images"].as_array().into_iter().flatten() {
                @let (repo, digest) = (text(image, "repository"), text(image, "digest"));
                "base image "
                a href=(link(base, "/manifest", &[("name", &repo), ("digest", &digest)])) {
                    (repo) ":" (text(image, "tag"))
                }
                " moved to " span.digest { (digest) } " "
            }
        },
        "Timer" => html! {
            "timer " code { (text(&detail, "timerTriggerName")) }
            @if let Some(at) = detail["scheduleOccurrence"].as_i64() { ", due " (when(at)) }
        },
        _ => html! {},
    }
}

/// GET /runs/{id} — a run and its log, followed while it runs.
pub(super) async fn show_run(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    session.check_manage(Manage::Read)?;
    // The run before its log: a run read as ended has its whole log stored.
    let run = run_row(&app, &id).await?;
    let (log, next) = app.tasks.log(&id, 0, LOG_SHOWN).await?;
    let outputs: Vec<Output> = run.outputs.as_deref().and_then(|o| serde_json::from_str(o).ok()).unwrap_or_default();
    let follow = !run.finished();
    let cancel = follow && session.caller.manage() >= Manage::Write;
    let base = &session.base;
    let body = html! {
        h1 { "Run " (run.id) }
        p { a href=(format!("{base}/runs")) { "All runs" } }
        dl #run {
            dt { "Status" } dd #run-status { (status(&run.status)) }
            @if let Some(task) = &run.task {
                dt { "Task" } dd { a href=(link(base, "/runs", &[("task", task)])) { (task) } }
            }
            dt { "Type" } dd { (run.run_type) }
            dt { "Platform" } dd { (run.platform) }
            dt { "Trigger" } dd #run-trigger { (run.trigger_kind) " " (trigger_details(base, &run)) }
            dt { "Runs as" } dd { (run.owner) }
            @if let Some(source) = &run.source { dt { "Context" } dd { code { (source_text(source)) } } }
            dt { "Queued" } dd { (when(run.queued_at)) }
            dt { "Started" } dd { @match run.started_at { Some(t) => (when(t)), None => "not yet" } }
            dt { "Finished" } dd { @match run.finished_at { Some(t) => (when(t)), None => "not yet" } }
            dt { "Duration" } dd { (run_duration(&run)) }
            @if !outputs.is_empty() {
                dt { "Output images" }
                dd #run-outputs {
                    ul.plain {
                        @for o in &outputs {
                            li {
                                a href=(link(base, "/manifest", &[("name", &o.repository), ("digest", &o.digest)])) {
                                    (o.repository) ":" (o.tag)
                                }
                                " " span.digest { (o.digest) }
                            }
                        }
                    }
                }
            }
            @if let Some(reason) = &run.reason { dt { "Error" } dd #run-error.error { (reason) } }
        }
        @if cancel {
            form #cancel-run method="post" action=(format!("{base}/runs/{}/cancel", run.id)) {
                (session.csrf_field())
                button.danger type="submit" { "Cancel run" }
            }
        }
        h2 #log-title { "Log" }
        @if follow {
            pre #log aria-labelledby="log-title" aria-live="polite" data-follow=(format!("{base}/runs/{}/log", run.id))
                data-offset=(next) { (log) }
        } @else {
            pre #log aria-labelledby="log-title" { (log) }
        }
        p #log-cut.muted hidden[!cut(&run, next)] {
            "The log is cut here, at 1 MiB: the API has the rest ("
            code { "GET /berth/v1/runs/" (run.id) "/log?offset=" (LOG_SHOWN) } ")."
        }
        @if follow { script src=(format!("{base}/portal.js")) defer {} }
    };
    let title = format!("Run {}", run.id);
    // Without the script, a run not yet ended is shown again every 3 s (with it, the script
    // follows the log and this never applies).
    match follow {
        true => Ok(session.page_with_head(&title, html! { noscript { meta http-equiv="refresh" content="3"; } }, body)),
        false => Ok(session.page(&title, body)),
    }
}

/// GET /runs/{id}/log?offset=N — what the run page's script follows: the log from byte
/// `offset` (up to the 1 MiB a page shows), the offset to ask from next, the run's status,
/// whether it has ended (`final`: the text is all there is) and whether the log was cut.
pub(super) async fn run_log(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> PageResult {
    let session = Session::of(&app, &headers).await?;
    session.check_manage(Manage::Read)?;
    let run = run_row(&app, &id).await?;
    let from = query.offset.max(0);
    let (text, next) = app.tasks.log(&id, from, (LOG_SHOWN - from).max(0)).await?;
    let answer = json!({
        "text": text,
        "offset": next,
        "status": run.status,
        "final": run.finished(),
        "cut": cut(&run, next),
    });
    Ok(Json(answer).into_response())
}

#[derive(Deserialize)]
pub(super) struct CancelForm {
    confirm: Option<String>,
}

/// POST /runs/{id}/cancel — after a confirmation, as `POST /berth/v1/runs/{id}/cancel`: a
/// queued run at once, a running one within seconds.
pub(super) async fn cancel_run(State(app): State<AppState>, Path(id): Path<String>, req: Request) -> PageResult {
    let (session, form): (Session, CancelForm) = write_form(&app, req).await?;
    let ended = |run: &RunRow| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("run {:?} already ended {}: there is nothing to cancel", run.id, run.status),
        )
    };
    let back = run_link(&session.base, &id);
    if !confirmed(&form.confirm) {
        let run = run_row(&app, &id).await?;
        if run.finished() {
            return Err(ended(&run).into());
        }
        let question =
            format!("Cancel run {}? A running build is stopped within seconds, all its processes killed.", run.id);
        return Ok(session.confirm(&question, &format!("/runs/{}/cancel", run.id), &[], &back));
    }
    let run = app.tasks.cancel(&id).await?;
    if run.finished() && run.status != "Canceled" {
        return Err(ended(&run).into());
    }
    Ok(see_other(back))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_acr_shows_them() {
        assert_eq!(crate::api::time::hms(0), "00:00:00");
        assert_eq!(crate::api::time::hms(65_400), "00:01:05");
        assert_eq!(crate::api::time::hms(3_725_000), "01:02:05");
        assert_eq!(crate::api::time::hms(-5), "00:00:00");
    }

    #[test]
    fn contexts_are_shown_without_credentials() {
        assert_eq!(source_text("https://user:pat@git.example/org/app.git"), "https://git.example/org/app.git");
        assert_eq!(source_text("upload:1234"), "uploaded with the request");
    }
}

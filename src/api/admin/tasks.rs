//! Tasks and runs, as `az acr task`, `az acr build` and `az acr run` see them: `/berth/v1/runs`
//! (quick runs: a build or a task file, with a context uploaded to `/runs/sources`, a git URL or
//! a tarball URL), `/berth/v1/tasks` (named tasks and their triggers) and a task's source
//! webhook (`/berth/v1/tasks/{name}/webhook`, authenticated by the git service's signature
//! alone). Starting runs and changing tasks needs Contributor, and push rights on the images a
//! run pushes; reading runs and logs, Reader. JSON follows ACR's `Run` and `Task` resources.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::identities::managed;
use super::{json_body, manager};
use crate::access::Caller;
use crate::api::time::iso8601;
use crate::api::{ApiError, LogQuery, auth};
use crate::app::AppState;
use crate::auth::{Action, Manage};
use crate::meta::{RUN_STATUSES, RunFilter, RunRow, TaskRow, now_ms};
use crate::oci::{ErrorCode, RepoName};
use crate::tasks::{Argument, Overrides, Owner, Platform, RunSpec, Step, TaskSpec, Tasks, given_context, spec};

type Reply = Result<Response, ApiError>;

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::RequestInvalid, m)
}

/// The principal a request's runs act for.
fn owner_of(caller: &Caller) -> Owner {
    Owner {
        name: caller.name.clone().unwrap_or_default(),
        credential: caller.credential.clone(),
        token: caller.token.as_ref().map(|t| t.to_claim()),
    }
}

/// Refuses a step that pushes where `caller` may not: a run never holds more than its owner.
fn check_pushes(app: &AppState, caller: &Caller, step: &Step) -> Result<(), ApiError> {
    let Step::Docker { image_names, is_push_enabled: true, .. } = step else { return Ok(()) };
    let registry = app.tasks.registry()?.to_owned();
    for name in image_names {
        let qualified = crate::tasks::worker::qualify(name, &registry);
        let Some(rest) = qualified.strip_prefix(&format!("{registry}/")) else {
            return Err(invalid(format!("image {name:?}: a run pushes to this registry ({registry}) only")));
        };
        let repo = rest.split(['@']).next().unwrap_or(rest);
        let repo = match repo.rsplit_once(':') {
            Some((r, tag)) if !tag.contains('/') => r,
            _ => repo,
        };
        // Templates ({{.Run.ID}}) stand in tags; a repository must be a name now.
        let repo = RepoName::parse(repo).map_err(|e| invalid(format!("image {name:?}: {e}")))?;
        if !caller.on(repo.as_str()).has(Action::ContentWrite) {
            return Err(ApiError::new(
                ErrorCode::Denied,
                format!("access denied: {:?} may not push to {repo}", caller.name.as_deref().unwrap_or_default()),
            ));
        }
    }
    Ok(())
}

fn check_timeout(app: &AppState, timeout: Option<u64>) -> Result<u64, ApiError> {
    let config = &app.tasks.config;
    let max = config.max_timeout.0.as_secs();
    match timeout {
        None => Ok(config.timeout.0.as_secs()),
        Some(t) if t == 0 || t > max => {
            Err(invalid(format!("timeout {t}: give 1 to {max} seconds (tasks.max_timeout)")))
        }
        Some(t) => Ok(t),
    }
}

fn check_source(source: Option<&str>) -> Result<(), ApiError> {
    if let Some(s) = source {
        crate::tasks::source::Source::parse(s)?;
    }
    Ok(())
}

fn platform(value: Option<&Value>) -> Result<Platform, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Platform::default()),
        Some(Value::String(s)) => Platform::parse(s).map_err(invalid),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| invalid(format!("platform: {e}"))),
    }
}

fn ms_json(v: Option<&Value>) -> Value {
    v.and_then(Value::as_i64).map_or(Value::Null, |ms| json!(iso8601(ms)))
}

/// ACR's `Run` resource.
pub(crate) fn run_json(r: &RunRow) -> Value {
    let detail: Value = r.trigger_detail.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
    let (mut source, mut image, mut timer) = (Value::Null, Value::Null, Value::Null);
    match r.trigger_kind.as_str() {
        "Commit" => source = detail,
        "Image Update" => {
            image = json!({ "images": detail["images"], "timestamp": ms_json(detail.get("timestamp")) });
        }
        "Timer" => {
            timer = json!({
                "timerTriggerName": detail["timerTriggerName"],
                "scheduleOccurrence": ms_json(detail.get("scheduleOccurrence")),
            });
        }
        _ => {}
    }
    let outputs: Value = r.outputs.as_deref().and_then(|o| serde_json::from_str(o).ok()).unwrap_or(json!([]));
    let (os, architecture) = r.platform.split_once('/').unwrap_or((r.platform.as_str(), ""));
    let last = r.finished_at.or(r.started_at).unwrap_or(r.queued_at);
    json!({
        "runId": r.id,
        "name": r.id,
        "type": "Microsoft.ContainerRegistry/registries/runs",
        "status": r.status,
        "runType": r.run_type,
        "task": r.task,
        "platform": { "os": os, "architecture": architecture },
        "createTime": iso8601(r.queued_at),
        "startTime": r.started_at.map(iso8601),
        "finishTime": r.finished_at.map(iso8601),
        "lastUpdatedTime": iso8601(last),
        "outputImages": outputs,
        "sourceTrigger": source,
        "imageUpdateTrigger": image,
        "timerTrigger": timer,
        "trigger": r.trigger_kind,
        "runErrorMessage": r.reason,
        "logSize": r.log_size,
        "provisioningState": "Succeeded",
    })
}

/// ACR's `Task` resource (plus its webhook's address when it has a commit trigger).
fn task_json(app: &AppState, headers: &axum::http::HeaderMap, row: &TaskRow) -> Result<Value, ApiError> {
    let spec: TaskSpec = serde_json::from_str(&row.spec).map_err(ApiError::internal)?;
    let mut step = serde_json::to_value(spec.step.shown()).map_err(ApiError::internal)?;
    step["contextPath"] = json!(spec.context_path);
    let webhook = spec.commit_branch().map(|_| {
        let origin = auth::Origin::of(app, headers);
        let base = origin.realm.trim_end_matches("/oauth2/token").to_owned();
        format!("{base}/berth/v1/tasks/{}/webhook", row.name)
    });
    Ok(json!({
        "name": row.name,
        "type": "Microsoft.ContainerRegistry/registries/tasks",
        "status": row.status,
        "platform": spec.platform,
        "step": step,
        "timeout": spec.timeout,
        "trigger": spec.trigger,
        "owner": row.owner,
        "creationDate": iso8601(row.created_at),
        "lastUpdated": iso8601(row.updated_at),
        "nextTimerTick": row.next_tick.map(iso8601),
        "webhookUrl": webhook,
        "provisioningState": "Succeeded",
    }))
}

/// POST /berth/v1/runs/sources — stores a build context (a tar.gz) for one run: its
/// `sourceLocation`. The body streams to the blob store, bounded by `tasks.max_context`.
pub(super) async fn upload_source(State(app): State<AppState>, req: Request) -> Reply {
    let client = auth::client_ip(&req);
    let (parts, body) = req.into_parts();
    manager(&app, &parts.headers, client, Manage::Write).await?;
    let max = app.tasks.config.max_context;
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::too_large(format!("the context is over the {max}-byte limit (tasks.max_context)")));
    }
    let id = uuid::Uuid::new_v4();
    let stream = Body::into_data_stream(body).map_err(std::io::Error::other);
    match app.tasks.blobs().put_source(&id, Box::pin(stream), max).await {
        Ok(_) => {}
        Err(crate::blob::Error::TooLarge(_)) => {
            return Err(ApiError::too_large(format!("the context is over the {max}-byte limit (tasks.max_context)")));
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    Ok((StatusCode::CREATED, Json(json!({ "sourceLocation": format!("upload:{id}") }))).into_response())
}

/// A run request, as ACR's `DockerBuildRequest`, `EncodedTaskRunRequest` and
/// `FileTaskRunRequest`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RunRequest {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    image_names: Vec<String>,
    #[serde(default = "yes")]
    is_push_enabled: bool,
    #[serde(default)]
    no_cache: bool,
    #[serde(default)]
    docker_file_path: Option<String>,
    #[serde(default)]
    arguments: Vec<Argument>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    encoded_task_content: Option<String>,
    #[serde(default)]
    task_file_path: Option<String>,
    #[serde(default)]
    values_file_path: Option<String>,
    #[serde(default)]
    encoded_values_content: Option<String>,
    #[serde(default)]
    values: Vec<Argument>,
    #[serde(default)]
    source_location: Option<String>,
    #[serde(default)]
    platform: Option<Value>,
    #[serde(default)]
    timeout: Option<u64>,
}

fn yes() -> bool {
    true
}

impl RunRequest {
    fn step(self) -> Result<Step, ApiError> {
        let (path, content) = (self.values_file_path, self.encoded_values_content);
        let mut step = match self.kind.as_str() {
            "DockerBuildRequest" => {
                if self.is_push_enabled && self.image_names.is_empty() {
                    return Err(invalid("a build that pushes needs at least one image name (-t)"));
                }
                Step::Docker {
                    image_names: self.image_names,
                    is_push_enabled: self.is_push_enabled,
                    no_cache: self.no_cache,
                    docker_file_path: self.docker_file_path.unwrap_or_else(|| "Dockerfile".into()),
                    arguments: self.arguments,
                    target: self.target,
                }
            }
            "EncodedTaskRunRequest" => Step::EncodedTask {
                encoded_task_content: self
                    .encoded_task_content
                    .ok_or_else(|| invalid("encodedTaskContent is required"))?,
                encoded_values_content: None,
                values: self.values,
            },
            "FileTaskRunRequest" => Step::FileTask {
                task_file_path: self.task_file_path.ok_or_else(|| invalid("taskFilePath is required"))?,
                values_file_path: None,
                values: self.values,
            },
            other => {
                return Err(invalid(format!(
                    "type {other:?}: DockerBuildRequest, EncodedTaskRunRequest or FileTaskRunRequest"
                )));
            }
        };
        step.set_values_file(path, content).map_err(invalid)?;
        Ok(step)
    }
}

/// POST /berth/v1/runs — queues a quick run: 202 and the run.
pub(super) async fn schedule_run(State(app): State<AppState>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let ask: RunRequest = json_body(&body)?;
    let timeout = check_timeout(&app, ask.timeout)?;
    let platform = platform(ask.platform.as_ref())?;
    let source = ask.source_location.clone();
    check_source(source.as_deref())?;
    if matches!(ask.kind.as_str(), "DockerBuildRequest" | "FileTaskRunRequest") && source.is_none() {
        return Err(invalid("this run needs a context (sourceLocation)"));
    }
    let mut step = ask.step()?;
    check_pushes(&app, &caller, &step)?;
    app.tasks.seal_secrets(&mut step)?;
    let spec = RunSpec { step, timeout, branch: None, commit: None, record_bases: false };
    let run = Tasks::new_run(&owner_of(&caller), &spec, source, &platform);
    let row = app.tasks.queue(run).await?.ok_or_else(|| ApiError::internal("the run was not queued"))?;
    Ok((StatusCode::ACCEPTED, Json(run_json(&row))).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RunsQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    top: Option<u32>,
}

/// GET /berth/v1/runs?status=&task=&top= — runs, newest first (`az acr task list-runs`).
pub(super) async fn list_runs(State(app): State<AppState>, Query(q): Query<RunsQuery>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    if let Some(s) = &q.status
        && !RUN_STATUSES.contains(&s.as_str())
    {
        return Err(invalid(format!("status {s:?}: one of {}", RUN_STATUSES.join(", "))));
    }
    let filter = RunFilter { status: q.status, task: q.task, top: q.top.unwrap_or(15).min(1000) };
    let runs = app.tasks.runs(&filter).await?;
    Ok(Json(runs.iter().map(run_json).collect::<Vec<_>>()).into_response())
}

async fn run_row(app: &AppState, id: &str) -> Result<RunRow, ApiError> {
    app.tasks.run(id).await?.ok_or_else(|| ApiError::new(ErrorCode::ResourceUnknown, format!("run {id:?} not found")))
}

/// GET /berth/v1/runs/{id}
pub(super) async fn show_run(State(app): State<AppState>, Path(id): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    Ok(Json(run_json(&run_row(&app, &id).await?)).into_response())
}

/// GET /berth/v1/runs/{id}/log?offset=N — the log from byte `offset` (up to 1 MiB), with
/// `X-Berth-Log-Offset` (where to ask next) and `X-Berth-Run-Status`; a client follows a
/// running log by asking again from the offset until the status is final.
pub(super) async fn run_log(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
    req: Request,
) -> Reply {
    managed!(app, req, Manage::Read);
    let run = run_row(&app, &id).await?;
    let (text, next) = app.tasks.log(&id, q.offset.max(0), 1 << 20).await?;
    let mut res = text.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert("x-berth-log-offset", HeaderValue::from(next));
    if let Ok(v) = HeaderValue::from_str(&run.status) {
        h.insert("x-berth-run-status", v);
    }
    Ok(res)
}

/// POST /berth/v1/runs/{id}/cancel — cancels a run (`az acr task cancel-run`): a queued one at
/// once, a running one within seconds, its whole process tree killed.
pub(super) async fn cancel_run(State(app): State<AppState>, Path(id): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Write);
    let run = app.tasks.cancel(&id).await?;
    if run.finished() && run.status != "Canceled" {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("run {id:?} already ended {}: there is nothing to cancel", run.status),
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(run_json(&run))).into_response())
}

/// A task as `az acr task create|update` sends it: the step's parts flat, like the flags.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TaskRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    context_path: Option<String>,
    /// A Dockerfile (a Docker step) or, ending in `.yaml`/`.yml`, a task file.
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    encoded_task_content: Option<String>,
    #[serde(default)]
    image_names: Option<Vec<String>>,
    #[serde(default)]
    is_push_enabled: Option<bool>,
    #[serde(default)]
    no_cache: Option<bool>,
    #[serde(default)]
    arguments: Option<Vec<Argument>>,
    #[serde(default)]
    values: Option<Vec<Argument>>,
    /// A values file in the context, for a task file in the context.
    #[serde(default)]
    values_file_path: Option<String>,
    /// A values file, base64, for a task file stored whole.
    #[serde(default)]
    encoded_values_content: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    platform: Option<Value>,
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    commit_trigger_enabled: Option<bool>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    base_image_trigger_enabled: Option<bool>,
    /// Cron schedules; replaces the timers (empty: none).
    #[serde(default)]
    schedules: Option<Vec<String>>,
}

fn valid_task_name(name: &str) -> Result<(), ApiError> {
    let ok = (5..=50).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "task name {name:?}: 5 to 50 letters, digits, '-' or '_', starting with a letter or digit (as ACR)"
        )))
    }
}

/// `ask` applied over `base` (a new task's defaults, or the stored task).
fn apply(app: &AppState, mut ask: TaskRequest, base: Option<TaskSpec>) -> Result<TaskSpec, ApiError> {
    for given in [ask.arguments.as_mut(), ask.values.as_mut()].into_iter().flatten() {
        app.tasks.seal_arguments(given)?;
    }
    let mut spec = base.unwrap_or_else(|| TaskSpec {
        step: Step::Docker {
            image_names: Vec::new(),
            is_push_enabled: true,
            no_cache: false,
            docker_file_path: "Dockerfile".into(),
            arguments: Vec::new(),
            target: None,
        },
        context_path: None,
        platform: Platform::default(),
        timeout: app.tasks.config.timeout.0.as_secs(),
        trigger: spec::Triggers::default(),
    });
    if let Some(c) = ask.context_path {
        spec.context_path = given_context(&c).map(str::to_owned);
    }
    let task_file = ask.file.as_deref().is_some_and(|f| f.ends_with(".yaml") || f.ends_with(".yml"));
    if let Some(content) = ask.encoded_task_content {
        spec.step = Step::EncodedTask {
            encoded_task_content: content,
            encoded_values_content: None,
            values: ask.values.clone().unwrap_or_default(),
        };
    } else if task_file {
        spec.step = Step::FileTask {
            task_file_path: ask.file.clone().unwrap_or_default(),
            values_file_path: None,
            values: ask.values.clone().unwrap_or_default(),
        };
    } else if let Step::Docker { image_names, is_push_enabled, no_cache, docker_file_path, arguments, target } =
        &mut spec.step
    {
        if let Some(f) = ask.file {
            *docker_file_path = f;
        }
        if let Some(i) = ask.image_names {
            *image_names = i;
        }
        if let Some(p) = ask.is_push_enabled {
            *is_push_enabled = p;
        }
        if let Some(n) = ask.no_cache {
            *no_cache = n;
        }
        if let Some(a) = ask.arguments {
            *arguments = a;
        }
        if ask.target.is_some() {
            *target = ask.target;
        }
    }
    if let (Some(v), Step::FileTask { values, .. } | Step::EncodedTask { values, .. }) = (ask.values, &mut spec.step) {
        *values = v;
    }
    spec.step.set_values_file(ask.values_file_path, ask.encoded_values_content).map_err(invalid)?;
    if ask.platform.is_some() {
        spec.platform = platform(ask.platform.as_ref())?;
    }
    if ask.timeout.is_some() {
        spec.timeout = check_timeout(app, ask.timeout)?;
    }
    let commit = ask.commit_trigger_enabled.or(ask.branch.as_ref().map(|_| true));
    match commit {
        Some(true) => {
            let branch = ask
                .branch
                .or_else(|| spec.trigger.source_triggers.first().map(|t| t.branch.clone()))
                .unwrap_or_else(|| "main".into());
            spec.trigger.source_triggers =
                vec![spec::SourceTrigger { name: "defaultSourceTriggerName".into(), branch, status: "Enabled".into() }];
        }
        Some(false) => spec.trigger.source_triggers.clear(),
        None => {}
    }
    match ask.base_image_trigger_enabled {
        Some(true) => {
            spec.trigger.base_image_trigger =
                Some(spec::BaseImageTrigger { name: "defaultBaseimageTriggerName".into(), status: "Enabled".into() });
        }
        Some(false) => spec.trigger.base_image_trigger = None,
        None => {}
    }
    if let Some(schedules) = ask.schedules {
        spec.trigger.timer_triggers = schedules
            .into_iter()
            .enumerate()
            .map(|(i, schedule)| spec::TimerTrigger { name: format!("t{}", i + 1), schedule, status: "Enabled".into() })
            .collect();
    }
    if spec.commit_branch().is_some() && spec.context_path.as_deref().is_none_or(|c| !c.contains("://")) {
        return Err(invalid("a commit trigger needs a git context (--context https://host/org/repo.git)"));
    }
    if matches!(spec.step, Step::Docker { .. } | Step::FileTask { .. }) && spec.context_path.is_none() {
        return Err(invalid("this task needs a context (--context): a git URL or a tarball URL"));
    }
    if let Step::Docker { image_names, is_push_enabled: true, .. } = &spec.step
        && image_names.is_empty()
    {
        return Err(invalid("a build task that pushes needs at least one image name (--image)"));
    }
    check_source(spec.context_path.as_deref())?;
    crate::tasks::triggers::next_tick(&spec, now_ms())?;
    Ok(spec)
}

fn status_of(ask: Option<&str>) -> Result<Option<String>, ApiError> {
    match ask {
        None => Ok(None),
        Some(s @ ("Enabled" | "Disabled")) => Ok(Some(s.to_owned())),
        Some(s) => Err(invalid(format!("status {s:?}: Enabled or Disabled"))),
    }
}

/// POST /berth/v1/tasks — creates a task (`az acr task create`); the source webhook's secret,
/// for a task with a commit trigger, is in the answer once (`webhookSecret`).
pub(super) async fn create_task(State(app): State<AppState>, req: Request) -> Reply {
    let headers = req.headers().clone();
    let (caller, body) = managed!(app, req, Manage::Write);
    let mut ask: TaskRequest = json_body(&body)?;
    let name = ask.name.take().ok_or_else(|| invalid("name is required"))?;
    valid_task_name(&name)?;
    let status = status_of(ask.status.as_deref())?.unwrap_or_else(|| "Enabled".into());
    let spec = apply(&app, ask, None)?;
    check_pushes(&app, &caller, &spec.step)?;
    let owner = owner_of(&caller);
    let now = now_ms();
    let (secret, shown) = match spec.commit_branch() {
        Some(_) => {
            let (sealed, value) = app.tasks.new_secret(&name)?;
            (Some(sealed), Some(value))
        }
        None => (None, None),
    };
    let row = TaskRow {
        name: name.clone(),
        status,
        owner: owner.name.clone(),
        credential: owner.credential.clone(),
        token_access: owner.token.as_ref().and_then(|t| serde_json::to_string(t).ok()),
        spec: serde_json::to_string(&spec).map_err(ApiError::internal)?,
        secret,
        next_tick: crate::tasks::triggers::next_tick(&spec, now)?,
        created_at: now,
        updated_at: now,
    };
    app.tasks.create(&row).await?;
    let mut out = task_json(&app, &headers, &row)?;
    out["webhookSecret"] = json!(shown);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn task_row(app: &AppState, name: &str) -> Result<TaskRow, ApiError> {
    app.tasks
        .task(name)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ResourceUnknown, format!("task {name:?} not found")))
}

/// GET /berth/v1/tasks
pub(super) async fn list_tasks(State(app): State<AppState>, req: Request) -> Reply {
    let headers = req.headers().clone();
    managed!(app, req, Manage::Read);
    let rows = app.tasks.tasks().await?;
    let out = rows.iter().map(|r| task_json(&app, &headers, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(out).into_response())
}

/// GET /berth/v1/tasks/{name}
pub(super) async fn show_task(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let headers = req.headers().clone();
    managed!(app, req, Manage::Read);
    Ok(Json(task_json(&app, &headers, &task_row(&app, &name).await?)?).into_response())
}

/// PATCH /berth/v1/tasks/{name} — changes a task (`az acr task update`): it runs as the caller
/// from now on, and its timers start over from now.
pub(super) async fn update_task(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let headers = req.headers().clone();
    let (caller, body) = managed!(app, req, Manage::Write);
    let mut ask: TaskRequest = json_body(&body)?;
    if ask.name.take().is_some_and(|n| n != name) {
        return Err(invalid("a task's name cannot change"));
    }
    let mut row = task_row(&app, &name).await?;
    let old: TaskSpec = serde_json::from_str(&row.spec).map_err(ApiError::internal)?;
    if let Some(s) = status_of(ask.status.as_deref())? {
        row.status = s;
    }
    let spec = apply(&app, ask, Some(old))?;
    check_pushes(&app, &caller, &spec.step)?;
    if spec.commit_branch().is_some() && row.secret.is_none() {
        return Err(invalid("turning a commit trigger on: delete and create the task, which shows its webhook secret"));
    }
    let owner = owner_of(&caller);
    row.owner = owner.name.clone();
    row.credential = owner.credential.clone();
    row.token_access = owner.token.as_ref().and_then(|t| serde_json::to_string(t).ok());
    row.next_tick = crate::tasks::triggers::next_tick(&spec, now_ms())?;
    row.spec = serde_json::to_string(&spec).map_err(ApiError::internal)?;
    if !app.tasks.update(&row).await? {
        return Err(ApiError::new(ErrorCode::ResourceUnknown, format!("task {name:?} not found")));
    }
    Ok(Json(task_json(&app, &headers, &task_row(&app, &name).await?)?).into_response())
}

/// DELETE /berth/v1/tasks/{name} — its runs stay listed.
pub(super) async fn delete_task(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Write);
    if !app.tasks.delete(&name).await? {
        return Err(ApiError::new(ErrorCode::ResourceUnknown, format!("task {name:?} not found")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A manual run's request (`az acr task run`): its overrides, if any.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TaskRunRequest {
    #[serde(default)]
    override_task_step_properties: Option<Overrides>,
}

/// POST /berth/v1/tasks/{name}/run — queues a run of the task now (`az acr task run`), as the
/// caller (who must hold what the task pushes).
pub(super) async fn run_task(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let ask: TaskRunRequest = if body.is_empty() { TaskRunRequest::default() } else { json_body(&body)? };
    let row = task_row(&app, &name).await?;
    let mut overrides = ask.override_task_step_properties.unwrap_or_default();
    check_source(overrides.context_path.as_deref().and_then(given_context))?;
    for given in [&mut overrides.arguments, &mut overrides.values] {
        app.tasks.seal_arguments(given)?;
    }
    // The bases a task's base image trigger watches are those of its own definition.
    let own = overrides.is_empty();
    let spec = overrides.apply(Tasks::task_spec(&row)?).map_err(invalid)?;
    check_pushes(&app, &caller, &spec.step)?;
    let owner = owner_of(&caller);
    let record_bases = own && spec.base_image_trigger();
    let mut run = Tasks::run_of(&row, spec, record_bases, "Manual", None, None);
    run.owner = owner.name.clone();
    run.credential = owner.credential.clone();
    run.token_access = owner.token.as_ref().and_then(|t| serde_json::to_string(t).ok());
    let row = app.tasks.queue(run).await?.ok_or_else(|| ApiError::internal("the run was not queued"))?;
    Ok((StatusCode::ACCEPTED, Json(run_json(&row))).into_response())
}

/// POST /berth/v1/tasks/{name}/webhook — a git service's push: 401 and nothing started unless
/// the task's secret verifies it; 202 with the run queued, or 200 when there is nothing to
/// run (another branch, a ping, a commit already run).
pub(super) async fn source_webhook(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    use crate::tasks::hooks::Error as Hook;
    use crate::tasks::triggers::HookError;
    let (parts, body) = req.into_parts();
    let body = crate::api::read_body(body, crate::tasks::hooks::MAX_BODY).await?;
    match app.tasks.source_push(&name, &parts.headers, &body).await {
        Ok(Some(run)) => Ok((StatusCode::ACCEPTED, Json(run_json(&run))).into_response()),
        Ok(None) => Ok(Json(json!({ "queued": false })).into_response()),
        Err(HookError::Refused(Hook::Unauthorized)) => {
            Err(ApiError::new(ErrorCode::Unauthorized, "the webhook call is not signed with this task's secret"))
        }
        Err(HookError::Refused(Hook::TooLarge)) => Err(ApiError::too_large("the webhook body is over 1 MiB")),
        Err(HookError::Refused(e)) => Err(invalid(e.to_string())),
        Err(HookError::Tasks(e)) => Err(e.into()),
    }
}

//! `berth task …`: `az acr task`'s commands and flags. A task is a build, a task file or a
//! command with its triggers (a commit to a git branch, a base image's update, cron timers);
//! its runs are listed, followed, shown and canceled as `az acr task list-runs|logs|show-run|
//! cancel-run` do.

use std::path::Path;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::builds::{self, NULL_CONTEXT, Source, Wait, run_columns, run_path};
use super::client::{Registry, confirm};
use super::error::Failure;
use super::identity::{RegistryTarget, bool_value, cell};
use super::output::{self, OutputArgs};
use crate::tasks::{Argument, Platform};

const RUN_STATUSES: [&str; 7] = ["Queued", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout"];

#[derive(Debug, Args)]
pub(super) struct Named {
    /// The task's name (5 to 50 letters, digits, '-' or '_')
    #[arg(short = 'n', long)]
    name: String,
    #[command(flatten)]
    target: RegistryTarget,
}

/// Build arguments and task file values, as create, update and run take them.
#[derive(Debug, Args)]
pub(super) struct Values {
    /// A build argument, NAME=VALUE (repeatable)
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = Argument::parse)]
    args: Vec<Argument>,
    /// A build argument kept out of the log, NAME=VALUE (repeatable)
    #[arg(long = "secret-arg", value_name = "NAME=VALUE", value_parser = Argument::parse)]
    secret_args: Vec<Argument>,
    /// A value for the task file's {{.Values.NAME}}, NAME=VALUE (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = Argument::parse)]
    set: Vec<Argument>,
    /// A secret value for the task file, NAME=VALUE (repeatable)
    #[arg(long = "set-secret", value_name = "NAME=VALUE", value_parser = Argument::parse)]
    set_secret: Vec<Argument>,
}

impl Values {
    /// Puts what was given into a request `body`: `arguments` and `values`, as the API takes them.
    fn put(self, body: &mut Map<String, Value>) {
        if !self.args.is_empty() || !self.secret_args.is_empty() {
            body.insert("arguments".into(), builds::arguments(self.args, self.secret_args));
        }
        if !self.set.is_empty() || !self.set_secret.is_empty() {
            body.insert("values".into(), builds::arguments(self.set, self.set_secret));
        }
    }
}

/// What create and update set.
#[derive(Debug, Args)]
pub(super) struct Settings {
    /// A Dockerfile (a build step) or a task file ending in .yaml/.yml, in the context; with
    /// `--context /dev/null` a local task file, sent whole
    #[arg(short = 'f', long)]
    file: Option<String>,
    /// Run one command as a one-step task, e.g. --cmd 'myregistry/app:v1 echo hi'
    #[arg(long = "cmd", value_name = "COMMAND", conflicts_with = "file")]
    cmd: Option<String>,
    /// Image name and tag a build step pushes, e.g. app:{{.Run.ID}} (repeatable)
    #[arg(short = 't', long = "image")]
    images: Vec<String>,
    #[command(flatten)]
    values: Values,
    /// A values file (YAML) for the task file: in the context, or local with --context /dev/null
    #[arg(long = "values", value_name = "FILE")]
    values_file: Option<String>,
    /// The Dockerfile stage to build
    #[arg(long)]
    target: Option<String>,
    /// Build but do not push
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = bool_value)]
    no_push: Option<bool>,
    /// Build without the layer cache
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = bool_value)]
    no_cache: Option<bool>,
    /// The platform to run on: OS/ARCHITECTURE, e.g. linux/amd64
    #[arg(long, value_parser = Platform::parse)]
    platform: Option<Platform>,
    /// Each run's timeout in seconds
    #[arg(long)]
    timeout: Option<u64>,
    /// Run on each commit to --branch of the git context (create's default: on for a git context)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = bool_value)]
    commit_trigger_enabled: Option<bool>,
    /// The branch whose commits run the task (default: main)
    #[arg(long)]
    branch: Option<String>,
    /// Run when a base image in this registry is updated (create's default: on)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = bool_value)]
    base_image_trigger_enabled: Option<bool>,
    /// A cron schedule (five fields, UTC), e.g. '0 2 * * *' (repeatable; replaces the timers)
    #[arg(long = "schedule", value_name = "CRON")]
    schedules: Vec<String>,
    #[arg(long, value_parser = ["Enabled", "Disabled"])]
    status: Option<String>,
}

impl Settings {
    /// The `TaskRequest` these flags make, with `context` (`-c`) given or not.
    fn body(self, context: Option<&str>) -> anyhow::Result<Map<String, Value>> {
        let mut body = Map::new();
        let mut put = |k: &str, v: Value| {
            body.insert(k.into(), v);
        };
        let no_context = context.is_some_and(|c| c.eq_ignore_ascii_case(NULL_CONTEXT));
        if let Some(c) = context {
            if !no_context && !c.contains("://") && Path::new(c).exists() {
                bail!("{c:?}: a task's context is a git URL, a tarball URL or /dev/null, not a local folder");
            }
            put("contextPath", json!(if no_context { NULL_CONTEXT } else { c }));
        }
        match (self.cmd, self.file) {
            (Some(cmd), _) => put("encodedTaskContent", json!(builds::encoded_cmd(&cmd)?)),
            (None, Some(file)) if no_context => {
                put("encodedTaskContent", json!(builds::encoded_file(Path::new(&file))?))
            }
            (None, Some(file)) => put("file", json!(file)),
            (None, None) => {}
        }
        match self.values_file {
            Some(values) if no_context => {
                put("encodedValuesContent", json!(builds::encoded_file(Path::new(&values))?));
            }
            Some(values) => put("valuesFilePath", json!(values)),
            None => {}
        }
        if !self.images.is_empty() {
            put("imageNames", json!(self.images));
        }
        if let Some(t) = self.target {
            put("target", json!(t));
        }
        if let Some(no_push) = self.no_push {
            put("isPushEnabled", json!(!no_push));
        }
        if let Some(n) = self.no_cache {
            put("noCache", json!(n));
        }
        if let Some(p) = self.platform {
            put("platform", json!(p.as_string()));
        }
        if let Some(t) = self.timeout {
            put("timeout", json!(t));
        }
        if let Some(c) = self.commit_trigger_enabled {
            put("commitTriggerEnabled", json!(c));
        }
        if let Some(b) = self.branch {
            put("branch", json!(b));
        }
        if let Some(b) = self.base_image_trigger_enabled {
            put("baseImageTriggerEnabled", json!(b));
        }
        if !self.schedules.is_empty() {
            put("schedules", json!(self.schedules));
        }
        if let Some(s) = self.status {
            put("status", json!(s));
        }
        self.values.put(&mut body);
        Ok(body)
    }
}

/// Whether `context` is a git URL (not a tarball): what az turns a commit trigger on for.
fn is_git(context: &str) -> bool {
    let lower = context.to_ascii_lowercase();
    let url = lower.split('#').next().unwrap_or_default();
    ["http://", "https://", "git://"].iter().any(|s| url.starts_with(s))
        && ![".tar.gz", ".tgz", ".tar"].iter().any(|ext| url.ends_with(ext))
}

/// What `task run` changes for this run only (`az acr task run`'s flags).
#[derive(Debug, Args)]
pub(super) struct RunOverrides {
    /// The context for this run: a local folder (uploaded), a git URL or a tarball URL
    #[arg(short = 'c', long)]
    context: Option<String>,
    /// The Dockerfile or task file in the context
    #[arg(short = 'f', long)]
    file: Option<String>,
    #[command(flatten)]
    values: Values,
    /// The Dockerfile stage to build
    #[arg(long)]
    target: Option<String>,
}

impl RunOverrides {
    /// The run request: `overrideTaskStepProperties` with what was given (a local folder
    /// uploaded first).
    async fn body(self, registry: &Registry) -> anyhow::Result<Value> {
        let mut over = Map::new();
        let context = match Source::of(self.context.as_deref())? {
            Source::Local(dir) => {
                let dockerfile = self.file.as_deref().unwrap_or("Dockerfile");
                Some(builds::upload_context(registry, &dir, dockerfile).await?)
            }
            Source::Remote(url) => Some(url),
            Source::None => self.context.map(|_| NULL_CONTEXT.to_owned()),
        };
        if let Some(c) = context {
            over.insert("contextPath".into(), json!(c));
        }
        if let Some(f) = self.file {
            over.insert("file".into(), json!(f));
        }
        if let Some(t) = self.target {
            over.insert("target".into(), json!(t));
        }
        self.values.put(&mut over);
        Ok(json!({ "overrideTaskStepProperties": over }))
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum TaskCommand {
    /// Create a task: a build, a task file or a command, with its triggers
    Create {
        #[command(flatten)]
        named: Named,
        /// The context: a git URL (https://host/org/repo.git#branch:folder), a tarball URL, or
        /// /dev/null for none
        #[arg(short = 'c', long)]
        context: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// List the registry's tasks
    List(RegistryTarget),
    /// Show one task
    Show(Named),
    /// Change a task: its step, context, platform, timeout, triggers or status
    Update {
        #[command(flatten)]
        named: Named,
        /// The context: a git URL, a tarball URL, or /dev/null for none
        #[arg(short = 'c', long)]
        context: Option<String>,
        #[command(flatten)]
        settings: Settings,
    },
    /// Delete a task (its runs stay listed)
    Delete {
        #[command(flatten)]
        named: Named,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Run a task now and stream its log. The flags change this run only: an argument or value
    /// replaces the task's of the same name, or is added
    Run {
        #[command(flatten)]
        named: Named,
        #[command(flatten)]
        overrides: RunOverrides,
        /// Do not stream the log: wait for the run to end, then print it
        #[arg(long)]
        no_logs: bool,
        /// Print the queued run and return without waiting for it
        #[arg(long)]
        no_wait: bool,
    },
    /// List runs, newest first
    ListRuns {
        #[command(flatten)]
        target: RegistryTarget,
        /// Only the runs of this task
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// Only runs with this status
        #[arg(long, value_parser = RUN_STATUSES)]
        run_status: Option<String>,
        /// At most this many runs (default: 15)
        #[arg(long)]
        top: Option<u32>,
    },
    /// Print a run's log (following it while the run goes on): of --run-id, else of the task's
    /// newest run, else of the registry's newest run
    Logs {
        #[command(flatten)]
        target: RegistryTarget,
        #[arg(long)]
        run_id: Option<String>,
        /// The task whose newest run to show
        #[arg(short = 'n', long, conflicts_with = "run_id")]
        name: Option<String>,
    },
    /// Cancel a queued or running run
    CancelRun {
        #[command(flatten)]
        target: RegistryTarget,
        #[arg(long)]
        run_id: String,
    },
    /// Show one run
    ShowRun {
        #[command(flatten)]
        target: RegistryTarget,
        #[arg(long)]
        run_id: String,
    },
}

fn task_path(name: &str) -> String {
    format!("/berth/v1/tasks/{}", utf8_percent_encode(name, NON_ALPHANUMERIC))
}

fn runs_path(task: Option<&str>, status: Option<&str>, top: Option<u32>) -> String {
    let mut query = Vec::new();
    if let Some(s) = status {
        query.push(format!("status={}", utf8_percent_encode(s, NON_ALPHANUMERIC)));
    }
    if let Some(t) = task {
        query.push(format!("task={}", utf8_percent_encode(t, NON_ALPHANUMERIC)));
    }
    if let Some(t) = top {
        query.push(format!("top={t}"));
    }
    if query.is_empty() { "/berth/v1/runs".into() } else { format!("/berth/v1/runs?{}", query.join("&")) }
}

pub(super) async fn task(cmd: TaskCommand, out: &OutputArgs) -> anyhow::Result<()> {
    match cmd {
        TaskCommand::Create { named, context, settings } => {
            let mut body = settings.body(Some(&context))?;
            body.insert("name".into(), json!(named.name));
            body.entry("commitTriggerEnabled").or_insert_with(|| json!(is_git(&context)));
            body.entry("baseImageTriggerEnabled").or_insert_with(|| json!(true));
            let registry = named.target.registry()?;
            let created = registry.call(Method::POST, "/berth/v1/tasks", Some(&Value::Object(body))).await?;
            output::print(&created, out, Some(task_columns))
        }
        TaskCommand::List(target) => {
            let tasks = target.registry()?.call(Method::GET, "/berth/v1/tasks", None).await?;
            output::print(&tasks, out, Some(task_columns))
        }
        TaskCommand::Show(named) => {
            let task = named.target.registry()?.call(Method::GET, &task_path(&named.name), None).await?;
            output::print(&task, out, Some(task_columns))
        }
        TaskCommand::Update { named, context, settings } => {
            let body = Value::Object(settings.body(context.as_deref())?);
            let task = named.target.registry()?.call(Method::PATCH, &task_path(&named.name), Some(&body)).await?;
            output::print(&task, out, Some(task_columns))
        }
        TaskCommand::Delete { named, yes } => {
            let registry = named.target.registry()?;
            confirm(&format!("Are you sure you want to delete the task '{}'?", named.name), yes)?;
            registry.call(Method::DELETE, &task_path(&named.name), None).await.map(drop)
        }
        TaskCommand::Run { named, overrides, no_logs, no_wait } => {
            let registry = named.target.registry()?;
            let body = overrides.body(&registry).await?;
            let path = format!("{}/run", task_path(&named.name));
            let queued = registry.call(Method::POST, &path, Some(&body)).await?;
            builds::follow(&registry, queued, "run", &Wait { timeout: None, no_logs, no_wait }, out).await
        }
        TaskCommand::ListRuns { target, name, run_status, top } => {
            let path = runs_path(name.as_deref(), run_status.as_deref(), top);
            let runs = target.registry()?.call(Method::GET, &path, None).await?;
            output::print(&runs, out, Some(run_columns))
        }
        TaskCommand::Logs { target, run_id, name } => {
            let registry = target.registry()?;
            let id = match run_id {
                Some(id) => id,
                None => newest_run(&registry, name.as_deref()).await?,
            };
            builds::stream_log(&registry, &id, &mut std::io::stdout()).await
        }
        TaskCommand::CancelRun { target, run_id } => {
            let path = format!("{}/cancel", run_path(&run_id));
            target.registry()?.call(Method::POST, &path, None).await.map(drop)
        }
        TaskCommand::ShowRun { target, run_id } => {
            let run = target.registry()?.call(Method::GET, &run_path(&run_id), None).await?;
            output::print(&run, out, Some(run_columns))
        }
    }
}

/// The id of the newest run (of `task`, if given).
async fn newest_run(registry: &Registry, task: Option<&str>) -> anyhow::Result<String> {
    let runs = registry.call(Method::GET, &runs_path(task, None, Some(1)), None).await?;
    match runs.get(0) {
        Some(run) => run["runId"].as_str().map(str::to_owned).context("the registry listed a run without a runId"),
        None => match task {
            Some(t) => Err(Failure::NotFound(format!("the task {t:?} has no runs")).into()),
            None => Err(Failure::NotFound("the registry has no runs".into()).into()),
        },
    }
}

/// az's task table (`_task_format_group`).
fn task_columns(item: &Value) -> Vec<(&'static str, String)> {
    let enabled = |v: &Value| v["status"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("enabled"));
    let trigger = &item["trigger"];
    let mut triggers = Vec::new();
    if trigger["sourceTriggers"].get(0).is_some_and(enabled) {
        triggers.push("SOURCE");
    }
    if trigger["timerTriggers"].as_array().is_some_and(|t| t.iter().any(enabled)) {
        triggers.push("TIMER");
    }
    if enabled(&trigger["baseImageTrigger"]) {
        triggers.push("BASE_IMAGE");
    }
    triggers.sort_unstable();
    vec![
        ("NAME", cell(&item["name"])),
        ("PLATFORM", cell(&item["platform"]["os"])),
        ("STATUS", cell(&item["status"])),
        ("SOURCE REPOSITORY", cell(&item["step"]["contextPath"])),
        ("TRIGGERS", if triggers.is_empty() { " ".into() } else { triggers.join(", ") }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_table_lists_enabled_triggers_sorted() {
        let task = json!({
            "name": "nightly", "platform": {"os": "linux"}, "status": "Enabled",
            "step": {"contextPath": "https://example.com/org/repo.git"},
            "trigger": {
                "sourceTriggers": [{"status": "Enabled"}],
                "timerTriggers": [{"status": "Disabled"}, {"status": "Enabled"}],
                "baseImageTrigger": {"status": "Disabled"},
            },
        });
        let cells: Vec<String> = task_columns(&task).into_iter().map(|(_, c)| c).collect();
        assert_eq!(cells, ["nightly", "linux", "Enabled", "https://example.com/org/repo.git", "SOURCE, TIMER"]);
        let bare = json!({"name": "t", "trigger": {}, "step": {"contextPath": null}});
        assert_eq!(task_columns(&bare)[3..].iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(), [" ", " "]);
    }

    #[test]
    fn git_contexts_get_commit_triggers() {
        assert!(is_git("https://github.com/org/repo.git#main:app"));
        assert!(is_git("git://example.com/repo"));
        assert!(!is_git("https://example.com/ctx.tar.gz"));
        assert!(!is_git("/dev/null"));
    }

    #[test]
    fn runs_are_filtered_in_the_query() {
        assert_eq!(runs_path(None, None, None), "/berth/v1/runs");
        assert_eq!(runs_path(Some("a b"), Some("Running"), Some(3)), "/berth/v1/runs?status=Running&task=a%20b&top=3");
    }
}

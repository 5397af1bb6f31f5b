//! `berth build` and `berth run` (`az acr build`, `az acr run`): quick runs from a local folder
//! (packed as Docker packs it and uploaded), a git or tarball URL, or no context at all; and
//! what `berth task` shares with them: following a run's log, the run table and how a run that
//! did not succeed ends the command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Args;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::Registry;
use super::identity::{RegistryTarget, cell};
use super::output::{self, OutputArgs};
use crate::api::time::{parse_rfc3339, rfc3339};
pub(super) use crate::tasks::NULL_CONTEXT;
use crate::tasks::{Argument, Platform, context};

/// The task file `az acr run` runs from a context when no `-f` names one.
const DEFAULT_TASK_FILE: &str = "acb.yaml";
/// How often a followed log is asked for what is new.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
pub(super) struct BuildArgs {
    #[command(flatten)]
    registry: RegistryTarget,
    /// Image name and tag to push, e.g. app:v1 or app:{{.Run.ID}} (repeatable)
    #[arg(short = 't', long = "image")]
    images: Vec<String>,
    /// The Dockerfile, relative to the context (default: Dockerfile)
    #[arg(short = 'f', long)]
    file: Option<String>,
    /// A build argument, NAME=VALUE (repeatable)
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = Argument::parse)]
    build_args: Vec<Argument>,
    /// A build argument whose value is kept out of the run's log, NAME=VALUE (repeatable)
    #[arg(long = "secret-build-arg", value_name = "NAME=VALUE", value_parser = Argument::parse)]
    secret_build_args: Vec<Argument>,
    /// The platform to build for: OS/ARCHITECTURE, e.g. linux/amd64
    #[arg(long, value_parser = Platform::parse)]
    platform: Option<Platform>,
    /// The Dockerfile stage to build
    #[arg(long)]
    target: Option<String>,
    /// Build without the layer cache
    #[arg(long)]
    no_cache: bool,
    /// Build but do not push
    #[arg(long)]
    no_push: bool,
    #[command(flatten)]
    wait: Wait,
    /// The build context: a local folder, a git URL (https://host/repo.git#branch:folder) or a
    /// tarball URL
    #[arg(value_name = "SOURCE_LOCATION")]
    context: String,
}

/// How a command that starts a run waits for it.
#[derive(Debug, Args)]
pub(super) struct Wait {
    /// The run's timeout in seconds (default: the registry's tasks.timeout)
    #[arg(long)]
    pub(super) timeout: Option<u64>,
    /// Do not stream the log: wait for the run to end, then print it
    #[arg(long)]
    pub(super) no_logs: bool,
    /// Print the queued run and return without waiting for it
    #[arg(long)]
    pub(super) no_wait: bool,
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    #[command(flatten)]
    target: RegistryTarget,
    /// A task file (acb.yaml): read locally without a context (`-` reads stdin), from the folder
    /// with a local context, and by the registry from a URL context
    #[arg(short = 'f', long)]
    file: Option<String>,
    /// Run one command as a one-step task, e.g. --cmd 'myregistry/app:v1 echo hi'
    #[arg(long = "cmd", value_name = "COMMAND", conflicts_with = "file")]
    cmd: Option<String>,
    /// A value for the task file's {{.Values.NAME}}, NAME=VALUE (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = Argument::parse)]
    set: Vec<Argument>,
    /// A secret value for the task file, NAME=VALUE (repeatable)
    #[arg(long = "set-secret", value_name = "NAME=VALUE", value_parser = Argument::parse)]
    set_secret: Vec<Argument>,
    /// A values file (YAML) for the task file, found where the task file is; --set wins over it
    #[arg(long, value_name = "FILE")]
    values: Option<String>,
    /// The platform to run on: OS/ARCHITECTURE, e.g. linux/amd64
    #[arg(long, value_parser = Platform::parse)]
    platform: Option<Platform>,
    #[command(flatten)]
    wait: Wait,
    /// The context: a local folder, a git or tarball URL, or /dev/null (the default) for none
    #[arg(value_name = "SOURCE_LOCATION")]
    context: Option<String>,
}

/// A run's context as the command line gives it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Source {
    None,
    Local(PathBuf),
    Remote(String),
}

impl Source {
    pub(super) fn of(location: Option<&str>) -> anyhow::Result<Self> {
        let Some(location) = location.filter(|l| !l.eq_ignore_ascii_case(NULL_CONTEXT)) else {
            return Ok(Source::None);
        };
        let path = Path::new(location);
        if path.exists() {
            if !path.is_dir() {
                bail!("Source location should be a local directory path or remote URL.");
            }
            return Ok(Source::Local(path.to_owned()));
        }
        let lower = location.to_ascii_lowercase();
        if ["http://", "https://", "git://"].iter().any(|s| lower.starts_with(s)) {
            return Ok(Source::Remote(location.to_owned()));
        }
        bail!("{location:?}: Source location should be a local directory path or remote URL.");
    }
}

/// Arguments and secret arguments, as the API takes them.
pub(super) fn arguments(plain: Vec<Argument>, secret: Vec<Argument>) -> Value {
    let secret = secret.into_iter().map(|a| Argument { is_secret: true, ..a });
    json!(plain.into_iter().chain(secret).collect::<Vec<_>>())
}

/// A one-step task file running `command` (`--cmd`), base64 as `encodedTaskContent`.
pub(super) fn encoded_cmd(command: &str) -> anyhow::Result<String> {
    // A JSON string is a YAML double-quoted scalar: the command stays one string, whatever it holds.
    let quoted = serde_json::to_string(command)?;
    Ok(encode(format!("version: v1.1.0\nsteps:\n  - cmd: {quoted}\n").as_bytes()))
}

pub(super) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A local task file (`-` is stdin), base64.
pub(super) fn encoded_file(path: &Path) -> anyhow::Result<String> {
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .context("cannot read the task file from stdin")?;
        bytes
    } else {
        std::fs::read(path).with_context(|| format!("Unable to find '{}'.", path.display()))?
    };
    Ok(encode(&bytes))
}

/// The packed context on disk, removed when dropped.
struct Archive(PathBuf);

impl Drop for Archive {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Packs `dir` as Docker would send it (its `.dockerignore` honoured, `dockerfile` kept) and
/// uploads it: the run's `sourceLocation`.
pub(super) async fn upload_context(registry: &Registry, dir: &Path, dockerfile: &str) -> anyhow::Result<String> {
    eprintln!("Packing source code into tar to upload...");
    let archive = Archive(std::env::temp_dir().join(format!("build_archive_{}.tar.gz", uuid::Uuid::new_v4().simple())));
    let (path, dir_owned, dockerfile_owned) = (archive.0.clone(), dir.to_owned(), dockerfile.to_owned());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        context::pack(&dir_owned, &dockerfile_owned, &mut out)
            .with_context(|| format!("cannot pack {}", dir_owned.display()))?;
        out.flush().with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    })
    .await
    .context("packing the context stopped")??;
    let file =
        tokio::fs::File::open(&archive.0).await.with_context(|| format!("cannot read {}", archive.0.display()))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or_default();
    eprintln!("Uploading archived source code from '{}'...", archive.0.display());
    let answer = registry.upload("/berth/v1/runs/sources", reqwest::Body::from(file), "application/gzip").await?;
    eprintln!("Sending context ({}) to registry: {}...", human_size(size), registry.login_server);
    answer["sourceLocation"]
        .as_str()
        .map(str::to_owned)
        .context("the registry answered the upload without a sourceLocation")
}

/// az's size: `1.234 KiB`.
fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mut size = bytes as f64;
    for unit in ["Bytes", "KiB", "MiB"] {
        if size < 1024.0 {
            return format!("{size:.3} {unit}");
        }
        size /= 1024.0;
    }
    format!("{size:.3} GiB")
}

/// `berth build`.
pub(super) async fn build(args: BuildArgs, out: &OutputArgs) -> anyhow::Result<()> {
    let registry = args.registry.registry()?;
    let dockerfile = args.file.clone().unwrap_or_else(|| "Dockerfile".into());
    let source = match Source::of(Some(&args.context))? {
        Source::Local(dir) => {
            if !dir.join(&dockerfile).is_file() {
                bail!("Unable to find '{}'.", dir.join(&dockerfile).display());
            }
            upload_context(&registry, &dir, &dockerfile).await?
        }
        Source::Remote(url) => {
            eprintln!("Sending context to registry: {}...", registry.login_server);
            url
        }
        Source::None => bail!("a build needs a context: a local folder, a git URL or a tarball URL"),
    };
    let push = !args.no_push && !args.images.is_empty();
    if !args.no_push && args.images.is_empty() {
        eprintln!("'--image or -t' is not provided. Skipping image push after build.");
    }
    let mut body = Map::new();
    body.insert("type".into(), json!("DockerBuildRequest"));
    body.insert("imageNames".into(), json!(args.images));
    body.insert("isPushEnabled".into(), json!(push));
    body.insert("noCache".into(), json!(args.no_cache));
    body.insert("dockerFilePath".into(), json!(dockerfile));
    body.insert("arguments".into(), arguments(args.build_args, args.secret_build_args));
    body.insert("sourceLocation".into(), json!(source));
    if let Some(t) = args.target {
        body.insert("target".into(), json!(t));
    }
    start(&registry, body, args.platform, &args.wait, "build", out).await
}

/// `berth run`.
pub(super) async fn run(args: RunArgs, out: &OutputArgs) -> anyhow::Result<()> {
    let registry = args.target.registry()?;
    let source = Source::of(args.context.as_deref())?;
    let mut body = Map::new();
    // The task file and values file: sent whole when they are here to read, else named for the
    // registry to read in the context.
    let local = |name: &str| match &source {
        Source::Local(dir) => dir.join(name),
        _ => PathBuf::from(name),
    };
    let encoded = match (&args.cmd, &args.file, &source) {
        (Some(cmd), _, _) => Some(encoded_cmd(cmd)?),
        (None, Some(file), Source::None) => Some(encoded_file(Path::new(file))?),
        (None, file, Source::Local(_)) => Some(encoded_file(&local(file.as_deref().unwrap_or(DEFAULT_TASK_FILE)))?),
        (None, file, Source::Remote(_)) => {
            body.insert("taskFilePath".into(), json!(file.as_deref().unwrap_or(DEFAULT_TASK_FILE)));
            if let Some(values) = &args.values {
                body.insert("valuesFilePath".into(), json!(values));
            }
            None
        }
        (None, None, Source::None) => {
            bail!("give --cmd COMMAND (with /dev/null as the context) or -f FILE with a context")
        }
    };
    let kind = if encoded.is_some() { "EncodedTaskRunRequest" } else { "FileTaskRunRequest" };
    body.insert("type".into(), json!(kind));
    if let Some(content) = encoded {
        body.insert("encodedTaskContent".into(), json!(content));
        if let Some(values) = &args.values {
            body.insert("encodedValuesContent".into(), json!(encoded_file(&local(values))?));
        }
    }
    body.insert("values".into(), arguments(args.set, args.set_secret));
    match source {
        Source::Local(dir) => {
            body.insert("sourceLocation".into(), json!(upload_context(&registry, &dir, "Dockerfile").await?));
        }
        Source::Remote(url) => {
            eprintln!("Sending context to registry: {}...", registry.login_server);
            body.insert("sourceLocation".into(), json!(url));
        }
        Source::None => {}
    }
    start(&registry, body, args.platform, &args.wait, "run", out).await
}

/// Queues a run and follows it as `wait` says.
async fn start(
    registry: &Registry,
    mut body: Map<String, Value>,
    platform: Option<Platform>,
    wait: &Wait,
    what: &str,
    out: &OutputArgs,
) -> anyhow::Result<()> {
    if let Some(p) = platform {
        body.insert("platform".into(), json!(p.as_string()));
    }
    if let Some(t) = wait.timeout {
        body.insert("timeout".into(), json!(t));
    }
    let queued = registry.call(Method::POST, "/berth/v1/runs", Some(&Value::Object(body))).await?;
    follow(registry, queued, what, wait, out).await
}

/// After a run was queued: says so, and unless `--no-wait` waits for it (streaming its log to
/// stderr unless `--no-logs`); prints the run and fails when it did not succeed.
pub(super) async fn follow(
    registry: &Registry,
    queued: Value,
    what: &str,
    wait: &Wait,
    out: &OutputArgs,
) -> anyhow::Result<()> {
    let id = queued["runId"].as_str().context("the registry answered without a runId")?.to_owned();
    eprintln!("Queued a {what} with ID: {id}");
    if wait.no_wait {
        return output::print(&queued, out, Some(run_columns));
    }
    eprintln!("Waiting for an agent...");
    let run = if wait.no_logs {
        poll(registry, &id).await?
    } else {
        stream_log(registry, &id, &mut std::io::stderr()).await?;
        registry.call(Method::GET, &run_path(&id), None).await?
    };
    output::print(&run, out, Some(run_columns))?;
    succeeded(&run)
}

pub(super) fn run_path(id: &str) -> String {
    format!("/berth/v1/runs/{}", percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC))
}

/// Whether a run's status is one it ends in.
fn is_final(status: &str) -> bool {
    !status.is_empty() && !matches!(status, "Queued" | "Started" | "Running")
}

/// Waits for run `id` to end: the run.
async fn poll(registry: &Registry, id: &str) -> anyhow::Result<Value> {
    loop {
        let run = registry.call(Method::GET, &run_path(id), None).await?;
        if is_final(run["status"].as_str().unwrap_or_default()) {
            return Ok(run);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Writes run `id`'s log to `to` as it grows, until the run has ended and its log is drained.
pub(super) async fn stream_log(registry: &Registry, id: &str, to: &mut impl Write) -> anyhow::Result<()> {
    let mut offset: i64 = 0;
    loop {
        let (text, headers) = registry.text(&format!("{}/log?offset={offset}", run_path(id))).await?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let next = header("x-berth-log-offset")
            .parse::<i64>()
            .unwrap_or_else(|_| offset + i64::try_from(text.len()).unwrap_or_default());
        if !text.is_empty() {
            match to.write_all(text.as_bytes()).and_then(|()| to.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other.context("cannot print the log")?,
            }
        }
        let progressed = next > offset;
        offset = next.max(offset);
        if is_final(&header("x-berth-run-status")) && !progressed {
            return Ok(());
        }
        if !progressed {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Ok for a run that succeeded; else the error az gives, with the run's reason.
pub(super) fn succeeded(run: &Value) -> anyhow::Result<()> {
    let id = run["runId"].as_str().unwrap_or_default();
    let reason = run["runErrorMessage"].as_str().filter(|r| !r.is_empty());
    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
    match run["status"].as_str().unwrap_or_default() {
        "Succeeded" => Ok(()),
        "Timeout" => bail!("Run ID: {id} timed out{why}"),
        "Canceled" => bail!("Run ID: {id} was canceled"),
        status => bail!("Run ID: {id} failed{}", if why.is_empty() { format!(" ({status})") } else { why }),
    }
}

/// az's run table (`_run_format_group`).
pub(super) fn run_columns(item: &Value) -> Vec<(&'static str, String)> {
    let (start, finish) = (&item["startTime"], &item["finishTime"]);
    vec![
        ("RUN ID", cell(&item["runId"])),
        ("TASK", cell(&item["task"])),
        ("PLATFORM", cell(&item["platform"]["os"])),
        ("STATUS", cell(&item["status"])),
        ("TRIGGER", trigger(item)),
        ("STARTED", started(start)),
        ("DURATION", duration(start, finish)),
    ]
}

/// az's `_get_build_trigger`: a source trigger's event, else Timer, Image Update or Manual.
fn trigger(item: &Value) -> String {
    let present = |v: &Value| !cell(v).trim().is_empty();
    if present(&item["sourceTrigger"]["eventType"]) {
        cell(&item["sourceTrigger"]["eventType"])
    } else if present(&item["trigger"]) {
        cell(&item["trigger"])
    } else if present(&item["timerTrigger"]) {
        "Timer".into()
    } else if present(&item["imageUpdateTrigger"]) {
        "Image Update".into()
    } else {
        "Manual".into()
    }
}

fn millis(v: &Value) -> Option<i64> {
    v.as_str().and_then(parse_rfc3339)
}

/// `2019-05-10T17:27:07Z`.
fn started(v: &Value) -> String {
    match millis(v) {
        Some(ms) => format!("{}Z", &rfc3339(ms)[..19]),
        None => cell(v),
    }
}

/// `00:00:12`; blank until the run has finished.
fn duration(start: &Value, finish: &Value) -> String {
    let (Some(start), Some(finish)) = (millis(start), millis(finish)) else { return " ".into() };
    crate::api::time::hms(finish - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_table_follows_az() {
        let run = json!({
            "runId": "ca1", "task": null, "platform": {"os": "linux", "architecture": "amd64"},
            "status": "Succeeded", "trigger": "Manual",
            "startTime": "2019-05-10T17:27:07.451000+00:00", "finishTime": "2019-05-10T17:27:19.999000+00:00",
        });
        let cells: Vec<String> = run_columns(&run).into_iter().map(|(_, c)| c).collect();
        assert_eq!(cells, ["ca1", " ", "linux", "Succeeded", "Manual", "2019-05-10T17:27:07Z", "00:00:12"]);
        let running = json!({"runId": "ca2", "status": "Running", "startTime": "2019-05-10T17:27:07+00:00",
            "timerTrigger": {"timerTriggerName": "t1"}});
        let cells: Vec<String> = run_columns(&running).into_iter().map(|(_, c)| c).collect();
        assert_eq!(cells[4..], ["Timer", "2019-05-10T17:27:07Z", " "]);
        assert_eq!(duration(&json!("2019-05-10T17:00:00Z"), &json!("2019-05-11T18:01:02Z")), "25:01:02");
    }

    #[test]
    fn cmd_task_file_keeps_the_command_whole() {
        let encoded = encoded_cmd("reg/app:v1 sh -c 'echo \"a: b\"'").expect("encodes");
        let text = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&text).expect("yaml");
        assert_eq!(doc["steps"][0]["cmd"].as_str(), Some("reg/app:v1 sh -c 'echo \"a: b\"'"));
        assert_eq!(doc["version"].as_str(), Some("v1.1.0"));
    }

    #[test]
    fn sources() {
        assert_eq!(Source::of(None).expect("none"), Source::None);
        assert_eq!(Source::of(Some("/dev/null")).expect("none"), Source::None);
        let git = "https://github.com/org/repo.git#main:app";
        assert_eq!(Source::of(Some(git)).expect("git"), Source::Remote(git.into()));
        assert!(Source::of(Some("no/such/folder")).is_err());
        assert!(Source::of(Some("/etc/hostname")).is_err());
        assert_eq!(Source::of(Some("/tmp")).expect("dir"), Source::Local("/tmp".into()));
    }

    #[test]
    fn failures_read_as_az_says_them() {
        let failed = json!({"runId": "ca1", "status": "Failed", "runErrorMessage": "exit status 1"});
        assert_eq!(succeeded(&failed).expect_err("fails").to_string(), "Run ID: ca1 failed: exit status 1");
        let canceled = json!({"runId": "ca2", "status": "Canceled"});
        assert_eq!(succeeded(&canceled).expect_err("fails").to_string(), "Run ID: ca2 was canceled");
        assert!(succeeded(&json!({"runId": "ca3", "status": "Succeeded"})).is_ok());
    }
}

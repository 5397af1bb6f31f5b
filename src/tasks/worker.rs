//! Carrying one claimed run through its steps. The run gets a working directory of its own
//! under `tasks.work_dir`, owned by the build user; its context is fetched there, and buildah
//! keeps the run's images there (vfs storage, chroot isolation: no daemon, no root-only
//! runtime). The builder signs in with a refresh token made for the run: push on the images the
//! run pushes, pull where its owner may pull, never more than the owner holds now. Meanwhile
//! the log is stored every second, the lease renewed (a cancel seen), the disk watched, and
//! the whole run bounded in time; at the end the directory goes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use super::builder::{self, BuildUser, Ended, Log, Program, Stop, Stopped};
use super::source::{Fetch, Source};
use super::taskfile::{self, RunValues, StepKind, TaskFile};
use super::{Error, RunSpec, Step};
use crate::app::App;
use crate::meta::{LOG_PIECE, RunRow};
use crate::oci::RepoName;

/// How often the lease is renewed (and a cancel or the disk checked); the lease lasts three.
const RENEW: Duration = Duration::from_secs(2);
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the log is stored.
const LOG_EVERY: Duration = Duration::from_millis(500);
/// What buildah says when its chroot isolation hits a transient EBUSY.
const MEMFD_EBUSY: &str = "sealing memfd copy: Device or resource busy";
/// The largest task file read from a context.
const MAX_TASK_FILE: u64 = 256 << 10;

/// An image a run pushed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Output {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
}

/// How a run ended.
struct End {
    status: &'static str,
    reason: Option<String>,
}

impl End {
    fn failed(reason: impl Into<String>) -> Self {
        End { status: "Failed", reason: Some(reason.into()) }
    }
}

impl From<Error> for End {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) | Error::NotFound(m) | Error::Conflict(m) | Error::TooLarge(m) => End::failed(m),
            other => End { status: "Error", reason: Some(other.to_string()) },
        }
    }
}

/// Runs `run` (claimed by `holder`) to its end and records how it ended.
pub async fn execute(app: Arc<App>, run: RunRow, holder: String) {
    let tasks = &app.tasks;
    let log = Log::new(tasks.config.max_log);
    let stop = Stop::default();
    // In this worker's own directory (see `claim_work_dir`), unique even among registries.
    let dir = node_dir(&tasks.config.work_dir, &holder).join(format!(
        "{}-{}",
        run.id,
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let mut outputs = Vec::new();
    let done = tokio_util::sync::CancellationToken::new();
    let watch = tokio::spawn(watch(
        app.clone(),
        run.clone(),
        holder.clone(),
        log.clone(),
        stop.clone(),
        dir.clone(),
        done.clone(),
    ));
    log.line(&format!("Run ID: {} was started (trigger: {})", run.id, run.trigger_kind));
    let end = match steps(&app, &run, &dir, &log, &stop, &mut outputs).await {
        Ok(()) => End { status: "Succeeded", reason: None },
        Err(e) => e,
    };
    let end = match stop.reason() {
        Some(Stopped::Canceled) => End { status: "Canceled", reason: Some("canceled".into()) },
        Some(Stopped::Timeout) => End { status: "Timeout", reason: Some("the run passed its timeout".into()) },
        Some(Stopped::Disk) => {
            End::failed(format!("the run's working directory passed tasks.max_disk ({} bytes)", tasks.config.max_disk))
        }
        None => end,
    };
    log.note(&format!(
        "Run ID: {} {} after {}",
        run.id,
        match end.status {
            "Succeeded" => "was successful".to_owned(),
            s => format!("ended {s}: {}", end.reason.as_deref().unwrap_or_default()),
        },
        run.started_at.map(|t| format!("{}s", (crate::meta::now_ms() - t) / 1000)).unwrap_or_default()
    ));
    done.cancel();
    let mut at = watch.await.unwrap_or(run.log_size);
    store_log(&app, &run.id, &mut at, &log).await;
    let outputs = serde_json::to_string(&outputs).ok();
    match tasks.meta().finish_run(&run.id, &holder, end.status, outputs.as_deref(), end.reason.as_deref()).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(run = %run.id, "the run was taken over before it ended"),
        Err(e) => tracing::warn!(run = %run.id, error = %e, "cannot record how a run ended"),
    }
    tasks.forget_source(&run).await;
    if !rustix::process::geteuid().is_root() && dir.join("storage").exists() {
        // Rootless buildah's files belong to ids of its user namespace: only in it can they go.
        let p = Program {
            program: tasks.config.buildah.clone(),
            args: ["unshare", "rm", "-rf", "storage", "runroot"].map(Into::into).to_vec(),
            dir: dir.clone(),
            env: vec![("HOME".into(), dir.join("home").display().to_string())],
            user: None,
            max_memory: tasks.config.max_memory,
            max_file: tasks.config.max_disk,
        };
        let _ = builder::run(&p, &Log::new(0), &Stop::default(), false).await;
    }
    let removed = dir.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&removed)).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(run = %run.id, dir = %dir.display(), error = %e, "cannot remove a run's working directory");
    }
}

/// Stores the log, renews the lease (stopping the run when it is canceled or taken over),
/// watches the disk, until `done`; the offset the log was stored up to.
async fn watch(
    app: Arc<App>,
    run: RunRow,
    holder: String,
    log: Log,
    stop: Stop,
    dir: PathBuf,
    done: tokio_util::sync::CancellationToken,
) -> i64 {
    let mut at = run.log_size;
    let mut last_renew = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(LOG_EVERY) => {}
            () = done.cancelled() => return at,
        }
        store_log(&app, &run.id, &mut at, &log).await;
        if last_renew.elapsed() < RENEW {
            continue;
        }
        last_renew = tokio::time::Instant::now();
        let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        match app.tasks.meta().renew_run(&run.id, &holder, lease).await {
            Ok(Some(false)) => {}
            Ok(Some(true)) | Ok(None) => stop.stop(Stopped::Canceled),
            Err(e) => tracing::warn!(run = %run.id, error = %e, "cannot renew a run's lease"),
        }
        let d = dir.clone();
        let used = tokio::task::spawn_blocking(move || builder::disk_use(&d)).await.unwrap_or(0);
        if used > app.tasks.config.max_disk {
            stop.stop(Stopped::Disk);
        }
    }
}

/// Stores what the log gained since it was last stored, in pieces of at most [`LOG_PIECE`].
async fn store_log(app: &App, run: &str, at: &mut i64, log: &Log) {
    let text = log.take();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let mut cut = rest.len().min(LOG_PIECE);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        if let Err(e) = app.tasks.meta().append_log(run, *at, piece).await {
            tracing::warn!(run, error = %e, "cannot store a run's log");
            return;
        }
        *at += i64::try_from(piece.len()).unwrap_or(0);
        rest = tail;
    }
}

/// What the steps of one run share.
struct Ctx<'a> {
    app: &'a App,
    run: &'a RunRow,
    dir: &'a Path,
    context: PathBuf,
    registry: String,
    user: Option<BuildUser>,
    log: &'a Log,
    stop: &'a Stop,
}

impl Ctx<'_> {
    /// A program run in the run's directory as the build user, with its environment.
    fn program(&self, program: impl Into<PathBuf>) -> Program {
        let config = &self.app.tasks.config;
        let env = vec![
            ("HOME".to_owned(), self.dir.join("home").display().to_string()),
            ("XDG_RUNTIME_DIR".to_owned(), self.dir.join("xdg").display().to_string()),
            ("TMPDIR".to_owned(), self.dir.join("tmp").display().to_string()),
            ("BUILDAH_ISOLATION".to_owned(), "chroot".to_owned()),
            ("REGISTRY_AUTH_FILE".to_owned(), self.dir.join("auth.json").display().to_string()),
            ("CONTAINERS_REGISTRIES_CONF".to_owned(), self.dir.join("registries.conf").display().to_string()),
            ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
            ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned()),
        ];
        Program {
            program: program.into(),
            args: Vec::new(),
            dir: self.dir.to_path_buf(),
            env,
            user: self.user.clone(),
            max_memory: config.max_memory,
            max_file: config.max_disk,
        }
    }

    /// buildah with the run's own storage.
    fn buildah(&self) -> Program {
        let p = self.program(&self.app.tasks.config.buildah);
        p.arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .args(["--storage-driver", "vfs"])
    }

    /// Runs `p`; Ok(code) when it exited, Err when the run was stopped or it could not start.
    /// buildah 1.28's chroot isolation sometimes fails to seal the copy of itself it runs
    /// (`sealing memfd copy: Device or resource busy`, a transient EBUSY from the kernel): that
    /// failure is tried once more.
    async fn run(&self, p: &Program, capture: bool) -> Result<(i32, String), End> {
        let mut retried = false;
        loop {
            let f = builder::run(p, self.log, self.stop, capture).await.map_err(|e| End {
                status: "Error",
                reason: Some(format!("cannot start {}: {e}", p.program.display())),
            })?;
            match f.ended {
                Ended::Exited(code) if code != 0 && !retried && f.stderr_tail.contains(MEMFD_EBUSY) => {
                    self.log.line("[berth] buildah could not seal its helper (a transient EBUSY): once more");
                    retried = true;
                }
                Ended::Exited(code) => return Ok((code, f.stdout)),
                Ended::Stopped(_) => return Err(End::failed("stopped")),
            }
        }
    }
}

fn io_end(what: &str) -> impl Fn(std::io::Error) -> End + '_ {
    move |e| End { status: "Error", reason: Some(format!("{what}: {e}")) }
}

/// The directory of worker `node`'s runs, under `work_dir`.
fn node_dir(work_dir: &Path, node: &str) -> PathBuf {
    work_dir.join(format!("node-{node}"))
}

/// Makes worker `node`'s directory and locks it for as long as the returned file is held, then
/// removes what workers that are gone left behind (a process killed mid-run leaves its runs'
/// directories): every other `node-*` directory whose lock no process holds. Workers of other
/// registries or agents sharing `work_dir` hold theirs, and are left alone.
pub fn claim_work_dir(work_dir: &Path, node: &str) -> std::io::Result<std::fs::File> {
    use rustix::fs::{FlockOperation, flock};
    use std::os::unix::fs::PermissionsExt;
    let mine = node_dir(work_dir, node);
    for dir in [work_dir, mine.as_path()] {
        if !dir.exists() {
            // Others may pass through to their own run's directory, and see nothing else
            // (whatever the umask: `berth serve` runs with 077). One made by hand is left as is.
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
        }
    }
    let lock = std::fs::File::create(mine.join(".lock"))?;
    flock(&lock, FlockOperation::NonBlockingLockExclusive)?;
    for entry in std::fs::read_dir(work_dir)?.flatten() {
        let path = entry.path();
        let stale = entry.file_name().to_str().is_some_and(|n| n.starts_with("node-"))
            && path != mine
            && std::fs::File::open(path.join(".lock"))
                .is_ok_and(|f| flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok());
        if stale && let Err(e) = std::fs::remove_dir_all(&path) {
            tracing::warn!(dir = %path.display(), error = %e, "cannot remove what a stopped worker left");
        }
    }
    Ok(lock)
}

/// Creates the run's working directory, owned by the build user.
fn prepare(dir: &Path, user: Option<&BuildUser>) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    for sub in ["home", "xdg", "tmp"] {
        std::fs::DirBuilder::new().mode(0o700).create(dir.join(sub))?;
    }
    if let Some(u) = user {
        for p in [dir.to_path_buf(), dir.join("home"), dir.join("xdg"), dir.join("tmp")] {
            super::source::chown(&p, u.uid, u.gid).map_err(|e| std::io::Error::other(e.to_string()))?;
        }
    }
    Ok(())
}

/// Writes a file only the build user reads.
fn private_file(path: &Path, text: &str, user: Option<&BuildUser>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    if let Some(u) = user {
        super::source::chown(path, u.uid, u.gid).map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}

/// `image` on this registry: its repository, or None for another registry's image.
fn on_registry<'a>(image: &'a str, registry: &str) -> Option<&'a str> {
    image.strip_prefix(registry).and_then(|rest| rest.strip_prefix('/'))
}

/// Splits `repo:tag` (or `repo@digest`).
fn repo_and_tag(reference: &str) -> (&str, &str) {
    if let Some((repo, digest)) = reference.split_once('@') {
        return (repo, digest);
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

/// `name` with this registry in front unless it names a registry (ACR's `-t app:v1`).
pub fn qualify(name: &str, registry: &str) -> String {
    let first = name.split('/').next().unwrap_or_default();
    let names_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if names_registry { name.to_owned() } else { format!("{registry}/{name}") }
}

async fn steps(
    app: &Arc<App>,
    run: &RunRow,
    dir: &Path,
    log: &Log,
    stop: &Stop,
    outputs: &mut Vec<Output>,
) -> Result<(), End> {
    let tasks = &app.tasks;
    let mut spec: RunSpec = serde_json::from_str(&run.spec).map_err(|e| End::failed(format!("unreadable run: {e}")))?;
    tasks.open_secrets(&mut spec.step).map_err(End::from)?;
    let caller = {
        let token: Option<Vec<crate::auth::scope::AccessEntry>> =
            run.token_access.as_deref().and_then(|t| serde_json::from_str(t).ok());
        app.access.run_caller(&run.owner, &run.credential, token.as_deref()).await.map_err(|e| {
            End::failed(format!(
                "{:?} cannot run it now ({e}): the principal, or the credential it signed in with, is gone or disabled",
                run.owner
            ))
        })?
    };
    let registry = tasks.registry().map_err(End::from)?.to_owned();
    let user = builder::build_user(&tasks.config.user);
    prepare(dir, user.as_ref()).map_err(io_end("preparing the run's directory"))?;
    let mut cx = Ctx { app, run, dir, context: dir.join("context"), registry, user, log, stop };

    // The context.
    let sender = crate::events::send::Sender::new(&app.config.webhooks);
    let git = cx.program("git");
    match &run.source {
        Some(s) => {
            let source = Source::parse(s).map_err(End::from)?;
            let fetch = Fetch { tasks, sender: &sender, dir, git, log, stop };
            cx.context = fetch.fetch(&source, spec.branch.as_deref()).await.map_err(End::from)?;
        }
        None => {
            std::fs::create_dir(&cx.context).map_err(io_end("creating the context"))?;
            if let Some(u) = &cx.user {
                super::source::chown(&cx.context, u.uid, u.gid).map_err(End::from)?;
            }
        }
    }

    // The steps.
    let values = RunValues {
        id: run.id.clone(),
        registry: cx.registry.clone(),
        registry_name: cx.registry.split([':', '.']).next().unwrap_or_default().to_owned(),
        date: taskfile::format_run_date(crate::meta::now_ms() / 1000),
        os: "linux".into(),
        architecture: run.platform.split('/').nth(1).unwrap_or("amd64").into(),
        commit: spec.commit.clone().unwrap_or_default(),
        branch: spec.branch.clone().unwrap_or_default(),
        values: Default::default(),
    };
    let file = task_file(&cx, &spec.step, values).map_err(End::failed)?;

    // The credential: push where the steps push, on this registry only.
    let mut push = Vec::new();
    for step in &file.steps {
        if let StepKind::Push(images) = &step.kind {
            for image in images {
                let repo = on_registry(image, &cx.registry).map(|r| repo_and_tag(r).0).ok_or_else(|| {
                    End::failed(format!(
                        "{image:?}: a run pushes to this registry ({}) only: name it as {{{{.Run.Registry}}}}/REPOSITORY:TAG",
                        cx.registry
                    ))
                })?;
                let name = RepoName::parse(repo).map_err(|e| End::failed(format!("{image:?}: {e}")))?;
                push.push(name);
            }
        }
    }
    let service = app.config.auth.login_server.clone().unwrap_or_else(|| cx.registry.clone());
    let credential = Credential { caller, service, push };
    // Refused now, before anything is built, if the owner may not push there.
    credential.token(app, 60)?;
    let conf =
        format!("unqualified-search-registries = []\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n", cx.registry);
    private_file(&dir.join("registries.conf"), &conf, cx.user.as_ref()).map_err(io_end("registries.conf"))?;

    let total = stop.clone();
    let total_timeout = Duration::from_secs(spec.timeout.min(file.total_timeout.as_secs().max(1)));
    let timer = tokio::spawn(async move {
        tokio::time::sleep(total_timeout).await;
        total.stop(Stopped::Timeout);
    });
    let result = run_steps(&mut cx, &file, &spec, &credential, outputs).await;
    timer.abort();
    result
}

/// The task file a run's step stands for.
fn task_file(cx: &Ctx<'_>, step: &Step, mut values: RunValues) -> Result<TaskFile, String> {
    match step {
        Step::Docker { image_names, is_push_enabled, no_cache, docker_file_path, arguments, target } => {
            let tags = image_names
                .iter()
                .map(|n| taskfile::render(n, &values).map(|n| qualify(&n, &cx.registry)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let args = taskfile::BuildArgs {
                tags,
                file: Some(docker_file_path.clone()),
                build_args: arguments.iter().map(|a| (a.name.clone(), a.value.clone())).collect(),
                target: target.clone(),
                platform: None,
                no_cache: *no_cache,
                pull: false,
                labels: Vec::new(),
                context: ".".into(),
            };
            Ok(taskfile::quick_build(args, *is_push_enabled))
        }
        Step::EncodedTask { encoded_task_content, encoded_values_content, values: given } => {
            if let Some(content) = encoded_values_content {
                values.values.extend(values_of(&decoded(content, "values file")?)?);
            }
            values.values.extend(given.iter().map(|a| (a.name.clone(), a.value.clone())));
            let rendered =
                taskfile::render(&decoded(encoded_task_content, "task file")?, &values).map_err(|e| e.to_string())?;
            taskfile::parse(&rendered).map_err(|e| e.to_string())
        }
        Step::FileTask { task_file_path, values_file_path, values: given } => {
            if let Some(path) = values_file_path {
                values.values.extend(values_of(&context_file(cx, path, "values file")?)?);
            }
            values.values.extend(given.iter().map(|a| (a.name.clone(), a.value.clone())));
            let text = context_file(cx, task_file_path, "task file")?;
            let rendered = taskfile::render(&text, &values).map_err(|e| e.to_string())?;
            taskfile::parse(&rendered).map_err(|e| e.to_string())
        }
    }
}

/// A file sent base64 with the run (`what` names it in errors).
fn decoded(content: &str, what: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content)
        .map_err(|e| format!("the {what} is not base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("the {what} is not UTF-8"))
}

fn values_of(yaml: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    taskfile::parse_values(yaml).map_err(|e| e.to_string())
}

/// The task or values file `rel` in the run's context: a regular file of at most 256 KiB.
fn context_file(cx: &Ctx<'_>, rel: &str, what: &str) -> Result<String, String> {
    let path = inside(&cx.context, rel)?;
    let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("{what} {rel:?}: {e}"))?;
    if !meta.is_file() || meta.len() > MAX_TASK_FILE {
        return Err(format!("{what} {rel:?}: no regular file of at most 256 KiB"));
    }
    std::fs::read_to_string(&path).map_err(|e| format!("{what} {rel:?}: {e}"))
}

/// `rel` within `root`, refusing absolute paths and `..` (links are refused where opened).
fn inside(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(format!("{rel:?} is outside the context"));
    }
    Ok(root.join(p))
}

/// What the builder signs in with: a refresh token for the run's pushes and its owner's pulls,
/// made anew for each step so that none outlives its step by more than 5 minutes.
struct Credential {
    caller: crate::access::Caller,
    service: String,
    push: Vec<RepoName>,
}

impl Credential {
    fn token(&self, app: &App, ttl: u64) -> Result<String, End> {
        app.access.run_token(&self.caller, &self.service, &self.push, ttl).map_err(|e| End::failed(e.to_string()))
    }

    /// Writes `auth.json` (buildah's `REGISTRY_AUTH_FILE`) with a token living `ttl` seconds.
    fn write(&self, cx: &Ctx<'_>, ttl: u64) -> Result<(), End> {
        let token = self.token(cx.app, ttl)?;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{token}", crate::access::REFRESH_TOKEN_USER));
        let auths = serde_json::json!({ "auths": { cx.registry.clone(): { "auth": auth } } });
        let (fresh, path) = (cx.dir.join("auth.json.new"), cx.dir.join("auth.json"));
        let _ = std::fs::remove_file(&fresh);
        private_file(&fresh, &auths.to_string(), cx.user.as_ref()).map_err(io_end("auth.json"))?;
        std::fs::rename(&fresh, &path).map_err(io_end("auth.json"))
    }
}

async fn run_steps(
    cx: &mut Ctx<'_>,
    file: &TaskFile,
    spec: &RunSpec,
    credential: &Credential,
    outputs: &mut Vec<Output>,
) -> Result<(), End> {
    for index in file.order() {
        let step = &file.steps[index];
        let timeout = step.timeout.unwrap_or(file.step_timeout);
        credential.write(cx, timeout.as_secs() + 300)?;
        cx.log.line(&format!(
            "Executing step ID: {}. Timeout(sec): {}, Working directory: '{}'",
            step.id,
            timeout.as_secs(),
            step.working_directory.as_deref().unwrap_or_default()
        ));
        let stop = cx.stop.child();
        let timer = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                stop.stop(Stopped::Timeout);
            })
        };
        let scoped = Ctx {
            stop: &stop,
            context: cx.context.clone(),
            registry: cx.registry.clone(),
            user: cx.user.clone(),
            ..*cx
        };
        let result = run_step(&scoped, file, step, spec, outputs).await;
        timer.abort();
        match result {
            Ok(()) => cx.log.line(&format!("Step ID: {} marked as successful", step.id)),
            Err(e) if step.ignore_errors && cx.stop.reason().is_none() => {
                cx.log.line(&format!("Step ID: {} failed, ignored: {}", step.id, e.reason.unwrap_or_default()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn run_step(
    cx: &Ctx<'_>,
    file: &TaskFile,
    step: &taskfile::Step,
    spec: &RunSpec,
    outputs: &mut Vec<Output>,
) -> Result<(), End> {
    let env: Vec<String> = file.env.iter().chain(&step.env).map(|(k, v)| format!("{k}={v}")).collect();
    match &step.kind {
        StepKind::Build(args) => {
            let context = inside(&cx.context, &args.context).map_err(End::failed)?;
            let dockerfile = inside(&context, args.file.as_deref().unwrap_or("Dockerfile")).map_err(End::failed)?;
            let mut p = cx.buildah().args(["bud", "--isolation", "chroot", "--layers=false"]);
            p = p.arg("-f").arg(&dockerfile);
            for t in &args.tags {
                p = p.arg("-t").arg(t);
            }
            for (k, v) in &args.build_args {
                p = p.arg("--build-arg").arg(format!("{k}={v}"));
            }
            for (k, v) in &args.labels {
                p = p.arg("--label").arg(format!("{k}={v}"));
            }
            if let Some(t) = &args.target {
                p = p.arg("--target").arg(t);
            }
            // The step's platform, else the run's (`--platform`, linux/amd64 by default).
            p = p.arg("--platform").arg(args.platform.as_deref().unwrap_or(&cx.run.platform));
            if args.no_cache {
                p = p.arg("--no-cache");
            }
            if args.pull {
                p = p.arg("--pull-always");
            }
            let (code, _) = cx.run(&p.arg(&context), false).await?;
            if code != 0 {
                return Err(End::failed(format!("step {}: the build failed (exit code {code})", step.id)));
            }
            if spec.record_bases {
                record_bases(cx, &dockerfile, &args.build_args).await;
            }
            Ok(())
        }
        StepKind::Push(images) => {
            for (n, image) in images.iter().enumerate() {
                let digest_file = cx.dir.join(format!("tmp/digest-{}-{n}", step.id.replace('/', "_")));
                let p = cx
                    .buildah()
                    .arg("push")
                    .arg("--digestfile")
                    .arg(&digest_file)
                    .arg(image)
                    .arg(format!("docker://{image}"));
                let (code, _) = cx.run(&p, false).await?;
                if code != 0 {
                    return Err(End::failed(format!("step {}: pushing {image} failed (exit code {code})", step.id)));
                }
                let digest = std::fs::read_to_string(&digest_file).unwrap_or_default().trim().to_owned();
                let (repo, tag) = on_registry(image, &cx.registry).map(repo_and_tag).unwrap_or((image, ""));
                outputs.push(Output {
                    registry: cx.registry.clone(),
                    repository: repo.to_owned(),
                    tag: tag.to_owned(),
                    digest,
                });
            }
            Ok(())
        }
        StepKind::Cmd { image, args } => {
            let name = format!("{}-{}", cx.run.id, step.id.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
            let from = cx.buildah().args(["from", "--name"]).arg(&name).arg("--").arg(image);
            let (code, _) = cx.run(&from, false).await?;
            if code != 0 {
                return Err(End::failed(format!("step {}: cannot start from {image} (exit code {code})", step.id)));
            }
            let inspect =
                cx.buildah().args(["inspect", "--type", "container", "--format", "{{json .OCIv1.Config}}"]).arg(&name);
            let (_, config) = cx.run(&inspect, true).await?;
            let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
            let list = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default()
            };
            let entry = match &step.entry_point {
                Some(e) => taskfile::split_words(e).map_err(|e| End::failed(e.to_string()))?,
                None => list(&config["Entrypoint"]),
            };
            let rest = if args.is_empty() { list(&config["Cmd"]) } else { args.clone() };
            let argv: Vec<String> = entry.into_iter().chain(rest).collect();
            if argv.is_empty() {
                return Err(End::failed(format!("step {}: {image} has no command to run", step.id)));
            }
            let mut p = cx.buildah().args(["run", "--isolation", "chroot"]);
            p = p.arg("--volume").arg(format!("{}:/workspace", cx.context.display()));
            p = p.arg("--workingdir").arg(step.working_directory.as_deref().unwrap_or("/workspace"));
            for e in &env {
                p = p.arg("--env").arg(e);
            }
            let (code, _) = cx.run(&p.arg(&name).arg("--").args(argv), false).await?;
            let rm = cx.buildah().arg("rm").arg(&name);
            let _ = cx.run(&rm, false).await;
            if code != 0 {
                return Err(End::failed(format!("step {}: the command exited with code {code}", step.id)));
            }
            Ok(())
        }
    }
}

/// Records the base images on this registry that `dockerfile` builds FROM, with their digests
/// now, for the base image trigger.
async fn record_bases(cx: &Ctx<'_>, dockerfile: &Path, build_args: &[(String, String)]) {
    let Some(task) = &cx.run.task else { return };
    let text = std::fs::read_to_string(dockerfile).unwrap_or_default();
    let mut bases = Vec::new();
    for image in super::dockerfile::base_images(&text, build_args) {
        let Some((repo, tag)) = on_registry(&image, &cx.registry).map(repo_and_tag) else { continue };
        if tag.contains(':') {
            continue; // by digest: it never moves
        }
        let (Ok(name), Ok(t)) = (RepoName::parse(repo), crate::oci::Tag::parse(tag)) else { continue };
        let digest = cx.app.registry.tag_detail(&name, &t, crate::meta::Visibility::All).await.ok().map(|r| r.digest);
        bases.push((repo.to_owned(), tag.to_owned(), digest));
    }
    if let Err(e) = cx.app.tasks.meta().set_task_bases(task, &bases).await {
        tracing::warn!(task, error = %e, "cannot record a task's base images");
    }
    cx.log.line(&format!("Base images recorded for the base image trigger: {}", bases.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_a_registry_go_to_this_one() {
        assert_eq!(qualify("app:v1", "127.0.0.1:5000"), "127.0.0.1:5000/app:v1");
        assert_eq!(qualify("team/app:v1", "127.0.0.1:5000"), "127.0.0.1:5000/team/app:v1");
        assert_eq!(qualify("127.0.0.1:5000/app", "127.0.0.1:5000"), "127.0.0.1:5000/app");
        assert_eq!(qualify("docker.io/library/x", "r:1"), "docker.io/library/x");
        assert_eq!(repo_and_tag("a/b:v1"), ("a/b", "v1"));
        assert_eq!(repo_and_tag("a/b"), ("a/b", "latest"));
        assert_eq!(on_registry("r:1/a/b:v1", "r:1"), Some("a/b:v1"));
        assert_eq!(on_registry("r:10/a", "r:1"), None);
        assert!(inside(Path::new("/c"), "../x").is_err());
        assert!(inside(Path::new("/c"), "/etc/passwd").is_err());
    }
}

//! Tasks: images built and commands run inside the registry, as ACR Tasks do, with buildah and
//! no daemon. Pure parts apart from I/O: `spec` (what a task or run does, ACR's JSON), `ignore`
//! and `context` (`.dockerignore`, packing a context on the client, unpacking one safely on the
//! server), `taskfile` (ACR's task.yaml and its templating), `dockerfile` (the images a
//! Dockerfile builds FROM), `cron` (timer schedules) and `hooks` (git services' push webhooks).
//! The rest runs them: `source` fetches a run's context, `builder` runs buildah as the build
//! user within bounds and kills a run's whole process tree, `worker` carries a claimed run
//! through its steps, `triggers` queues runs of tasks from timers, base image pushes and
//! commits. Runs are queued in `meta` and claimed with a lease (`jobs::run_tasks`).

pub mod builder;
pub mod context;
pub mod cron;
pub mod dockerfile;
pub mod hooks;
pub mod ignore;
pub mod source;
pub mod spec;
pub mod taskfile;
pub mod triggers;
pub mod worker;

use std::sync::{Arc, OnceLock};

use crate::auth::scope::AccessEntry;
use crate::auth::seal::{self, MasterKeys};
use crate::blob::BlobStore;
use crate::config::TasksConfig;
use crate::meta::{self, MetaStore, NewRun, RunRow, TaskRow};

pub use spec::{Argument, NULL_CONTEXT, Overrides, Platform, RunSpec, Step, TaskSpec, given_context};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Meta(#[from] meta::Error),
    #[error(transparent)]
    Blob(#[from] crate::blob::Error),
    #[error("secrets at rest: {0}")]
    Sealed(#[from] seal::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who a run acts for: the principal, the credential it signed in with, and the `access`
/// claim of the token it presented (if any). A run never holds more than these allow.
#[derive(Debug, Clone)]
pub struct Owner {
    pub name: String,
    pub credential: String,
    pub token: Option<Vec<AccessEntry>>,
}

impl Owner {
    fn token_json(&self) -> Option<String> {
        self.token.as_ref().and_then(|t| serde_json::to_string(t).ok())
    }
}

/// The tasks and runs of the registry, over the metadata store.
#[derive(Debug)]
pub struct Tasks {
    meta: MetaStore,
    blobs: BlobStore,
    master: Arc<MasterKeys>,
    pub config: TasksConfig,
    /// The address builds reach the registry at: `tasks.registry`, or set once the server
    /// listens.
    registry: OnceLock<String>,
    prefix: OnceLock<String>,
    /// Notified when this node queues a run: its workers claim it at once (runs queued on other
    /// nodes wait for the next poll).
    queued: Arc<tokio::sync::Notify>,
}

/// A secret argument sealed under its name.
fn argument_label(name: &str) -> String {
    format!("task-argument:{name}")
}

/// A secret sealed under its task's name, so a sealed value moved to another task opens not.
fn secret_label(task: &str) -> String {
    format!("task-webhook:{task}")
}

impl Tasks {
    pub fn new(meta: MetaStore, blobs: BlobStore, master: Arc<MasterKeys>, config: TasksConfig) -> Self {
        let registry = OnceLock::new();
        if !config.registry.is_empty() {
            let _ = registry.set(config.registry.clone());
        }
        Tasks { meta, blobs, master, config, registry, prefix: OnceLock::new(), queued: Arc::default() }
    }

    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub async fn run(&self, id: &str) -> Result<Option<RunRow>> {
        Ok(self.meta.run(id).await?)
    }

    pub async fn runs(&self, filter: &meta::RunFilter) -> Result<Vec<RunRow>> {
        Ok(self.meta.runs(filter).await?)
    }

    /// The log of run `id` from byte `from`, up to about `max` bytes (whole pieces, cut at a
    /// character boundary), and the offset after what it returns.
    pub async fn log(&self, id: &str, from: i64, max: i64) -> Result<(String, i64)> {
        let mut text = String::new();
        let mut next = from.max(0);
        while next - from < max {
            let before = next;
            for (start, piece) in self.meta.log_pieces(id, next, 16).await? {
                let end = start + i64::try_from(piece.len()).unwrap_or(0);
                if end <= next {
                    continue;
                }
                let mut skip = usize::try_from(next - start).unwrap_or(0).min(piece.len());
                while !piece.is_char_boundary(skip) {
                    skip += 1;
                }
                text.push_str(&piece[skip..]);
                next = end;
            }
            if next == before {
                break;
            }
        }
        if next - from > max {
            let mut keep = usize::try_from(max).unwrap_or(0).min(text.len());
            while !text.is_char_boundary(keep) {
                keep -= 1;
            }
            next -= i64::try_from(text.len() - keep).unwrap_or(0);
            text.truncate(keep);
        }
        Ok((text, next))
    }

    pub async fn task(&self, name: &str) -> Result<Option<TaskRow>> {
        Ok(self.meta.task(name).await?)
    }

    pub async fn tasks(&self) -> Result<Vec<TaskRow>> {
        Ok(self.meta.tasks().await?)
    }

    /// Stores a new task: `Conflict` if the name is taken.
    pub async fn create(&self, row: &TaskRow) -> Result<()> {
        match self.meta.insert_task(row).await {
            Err(meta::Error::Duplicate) => Err(Error::Conflict(format!("task {:?} exists already", row.name))),
            other => Ok(other?),
        }
    }

    pub async fn update(&self, row: &TaskRow) -> Result<bool> {
        Ok(self.meta.update_task(row).await?)
    }

    pub async fn delete(&self, name: &str) -> Result<bool> {
        Ok(self.meta.delete_task(name).await?)
    }

    /// Sets the address builds use when `tasks.registry` does not: the one the server listens
    /// on (loopback for an unspecified address).
    pub fn listening_on(&self, addr: std::net::SocketAddr) {
        let ip = match addr.ip() {
            ip if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
            ip => ip,
        };
        let _ = self.registry.set(std::net::SocketAddr::new(ip, addr.port()).to_string());
    }

    /// The registry's address for builds (`{{.Run.Registry}}`).
    pub fn registry(&self) -> Result<&str> {
        self.registry
            .get()
            .map(String::as_str)
            .ok_or_else(|| Error::Invalid("this node does not know its own address yet: set tasks.registry".into()))
    }

    /// The run id prefix: two letters, chosen at random once per registry.
    async fn prefix(&self) -> Result<String> {
        if let Some(p) = self.prefix.get() {
            return Ok(p.clone());
        }
        let stored = self
            .meta
            .run_prefix(|| {
                let mut b = [0u8; 2];
                let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
                b.iter().map(|x| char::from(b'a' + x % 26)).collect()
            })
            .await?;
        Ok(self.prefix.get_or_init(|| stored).clone())
    }

    /// Queues a run; its row, or None if its trigger key was used before.
    pub async fn queue(&self, run: NewRun) -> Result<Option<RunRow>> {
        let prefix = self.prefix().await?;
        match self.meta.queue_run(&run, &prefix).await? {
            Some(id) => {
                // Read as queued, before a worker here claims it.
                let row = self.meta.run(&id).await?;
                self.queued.notify_one();
                Ok(row)
            }
            None => Ok(None),
        }
    }

    /// What is notified when this node queues a run.
    pub fn queued(&self) -> Arc<tokio::sync::Notify> {
        self.queued.clone()
    }

    /// A new run of `spec` for `owner`, of type `run_type`, started by `trigger_kind`.
    pub fn new_run(owner: &Owner, spec: &RunSpec, source: Option<String>, platform: &Platform) -> NewRun {
        let run_type = match spec.step {
            Step::Docker { .. } => "QuickBuild",
            _ => "QuickRun",
        };
        NewRun {
            task: None,
            run_type: run_type.into(),
            owner: owner.name.clone(),
            credential: owner.credential.clone(),
            token_access: owner.token_json(),
            spec: serde_json::to_string(spec).unwrap_or_default(),
            source,
            platform: platform.as_string(),
            trigger_kind: "Manual".into(),
            trigger_detail: None,
            trigger_key: None,
        }
    }

    /// A run of task `row` (its definition as stored), started by `trigger_kind`.
    pub fn task_run(row: &TaskRow, trigger_kind: &str, branch: Option<&str>, commit: Option<&str>) -> Result<NewRun> {
        let spec = Self::task_spec(row)?;
        let record_bases = spec.base_image_trigger();
        Ok(Self::run_of(row, spec, record_bases, trigger_kind, branch, commit))
    }

    /// The stored definition of task `row`.
    pub fn task_spec(row: &TaskRow) -> Result<TaskSpec> {
        serde_json::from_str(&row.spec)
            .map_err(|e| Error::Invalid(format!("task {:?} is stored unreadable: {e}", row.name)))
    }

    /// A run of task `row` doing `spec` (the task's own, or with a manual run's overrides),
    /// recording the base images it builds from if `record_bases`.
    pub fn run_of(
        row: &TaskRow,
        spec: TaskSpec,
        record_bases: bool,
        trigger_kind: &str,
        branch: Option<&str>,
        commit: Option<&str>,
    ) -> NewRun {
        let run_spec = RunSpec {
            step: spec.step.clone(),
            timeout: spec.timeout,
            branch: branch.map(str::to_owned),
            commit: commit.map(str::to_owned),
            record_bases,
        };
        let run_type = match spec.step {
            Step::Docker { .. } => "AutoBuild",
            _ => "AutoRun",
        };
        NewRun {
            task: Some(row.name.clone()),
            run_type: run_type.into(),
            owner: row.owner.clone(),
            credential: row.credential.clone(),
            token_access: row.token_access.clone(),
            spec: serde_json::to_string(&run_spec).unwrap_or_default(),
            source: spec.context_path.clone(),
            platform: spec.platform.as_string(),
            trigger_kind: trigger_kind.into(),
            trigger_detail: None,
            trigger_key: None,
        }
    }

    /// Cancels a run (see [`MetaStore::cancel_run`]); a queued run's uploaded context goes.
    pub async fn cancel(&self, id: &str) -> Result<RunRow> {
        let run = self.meta.cancel_run(id).await?.ok_or_else(|| Error::NotFound(format!("run {id:?} not found")))?;
        if run.status == "Canceled" {
            self.forget_source(&run).await;
        }
        Ok(run)
    }

    /// Deletes a run's uploaded context, once the run no longer needs it.
    pub async fn forget_source(&self, run: &RunRow) {
        if let Some(id) = run.source.as_deref().and_then(source::upload_id)
            && let Err(e) = self.blobs.delete_source(&id).await
        {
            tracing::warn!(run = %run.id, error = %e, "cannot delete a run's uploaded context");
        }
    }

    /// Seals the values of `step`'s secret arguments, for storing.
    pub fn seal_secrets(&self, step: &mut Step) -> Result<()> {
        self.seal_arguments(step.arguments_mut())
    }

    /// Seals the values of the secret ones of `arguments`.
    pub fn seal_arguments(&self, arguments: &mut [Argument]) -> Result<()> {
        for a in arguments.iter_mut().filter(|a| a.is_secret) {
            a.value = self.master.seal(&argument_label(&a.name), a.value.as_bytes())?;
        }
        Ok(())
    }

    /// Opens the values of `step`'s secret arguments, for running.
    pub fn open_secrets(&self, step: &mut Step) -> Result<()> {
        for a in step.arguments_mut().iter_mut().filter(|a| a.is_secret) {
            let plain = self.master.open(&argument_label(&a.name), &a.value)?;
            a.value =
                String::from_utf8(plain).map_err(|_| Error::Invalid(format!("secret {:?} is not UTF-8", a.name)))?;
        }
        Ok(())
    }

    /// A new source webhook secret for `task`, sealed for storing, and its value to show once.
    pub fn new_secret(&self, task: &str) -> Result<(String, String)> {
        let mut bytes = [0u8; 24];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| Error::Invalid("the system's random generator failed".into()))?;
        let value = hex::encode(bytes);
        Ok((self.master.seal(&secret_label(task), value.as_bytes())?, value))
    }

    /// The source webhook secret of `row`.
    pub fn secret(&self, row: &TaskRow) -> Result<Option<Vec<u8>>> {
        match &row.secret {
            Some(sealed) => Ok(Some(self.master.open(&secret_label(&row.name), sealed)?)),
            None => Ok(None),
        }
    }
}

//! Audit records: the [`Auditor`] every node owns takes entries from the HTTP edge (sign-ins,
//! pulls, refused pushes, deletes and untags) without ever making a request wait, and writes
//! them to the metadata store in batches, one transaction each [`FLUSH_EVERY`] or
//! [`FLUSH_AT`] entries, whichever comes first, and once more when the server stops.
//! Successful pushes, deletes and untags are not recorded here: the transaction that makes
//! the change stores their entry (`meta`), and [`Auditor::committed`] then passes it to the
//! JSON-lines file only.
//!
//! Identical pulls within one batch (one client pulling one manifest again and again) are
//! stored as one entry with a `count`: at manifest-GET rates a row per request would cost the
//! database more than the requests cost.
//!
//! The queue between the two is bounded ([`QUEUE`] entries): if the store falls that far
//! behind, new entries are dropped and counted ([`Auditor::dropped`], and a warning at each
//! power of two) rather than making requests wait.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::time::rfc3339;
use crate::config::AuditConfig;
pub use crate::meta::{AuditCursor, AuditEntry, AuditFilter, AuditPage};
use crate::meta::{MetaStore, now_ms};

/// The longest an entry waits in memory before it is stored.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Entries that make a batch worth storing at once.
pub const FLUSH_AT: usize = 512;
/// Entries waiting at most; more are dropped (counted).
pub const QUEUE: usize = 16_384;

/// What the background task does with a queued entry.
#[derive(Debug)]
enum Item {
    /// Store it (and write it to the file).
    Store(AuditEntry),
    /// Stored already by the transaction that made the change: the file only.
    Committed(AuditEntry),
}

/// Where JSON lines go: a file opened for appending, or stderr.
type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

#[derive(Debug)]
pub struct Auditor {
    meta: MetaStore,
    /// `None` when auditing is off.
    queue: Option<mpsc::Sender<Item>>,
    pulls: bool,
    dropped: AtomicU64,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Auditor {
    /// Starts the background writer (on the current tokio runtime) as `config` says; opens
    /// `audit.file` first, so that a path that cannot be written fails the start.
    pub fn start(config: &AuditConfig, meta: MetaStore) -> std::io::Result<Self> {
        let stop = CancellationToken::new();
        let (queue, task) = if config.enabled {
            let sink = config.file.as_deref().map(open_sink).transpose()?;
            let (queue, rx) = mpsc::channel(QUEUE);
            (Some(queue), Some(tokio::spawn(run(rx, meta.clone(), sink, stop.clone()))))
        } else {
            (None, None)
        };
        Ok(Self { meta, queue, pulls: config.pulls, dropped: AtomicU64::new(0), stop, task: Mutex::new(task) })
    }

    /// A page of the stored entries matching `filter`, newest first (see `MetaStore::audit`).
    pub async fn list(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: usize,
    ) -> crate::meta::Result<AuditPage> {
        self.meta.audit(filter, after, limit).await
    }

    /// Deletes the stored entries older than `before` (Unix ms); how many.
    pub async fn prune(&self, before: i64) -> crate::meta::Result<u64> {
        self.meta.prune_audit(before).await
    }

    /// Whether entries are recorded at all.
    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Whether manifest pulls are recorded (callers skip building their entries otherwise).
    pub fn pulls(&self) -> bool {
        self.queue.is_some() && self.pulls
    }

    /// Queues `entry` for the store (and the file). Never waits: with the queue full, the
    /// entry is dropped and counted.
    pub fn record(&self, entry: AuditEntry) {
        self.send(Item::Store(entry));
    }

    /// Writes `entry`, which a committed transaction stored already, to the JSON-lines file
    /// only (nothing without one). Never waits, as [`Self::record`].
    pub fn committed(&self, entry: &AuditEntry) {
        self.send(Item::Committed(entry.clone()));
    }

    fn send(&self, item: Item) {
        let Some(queue) = &self.queue else { return };
        if queue.try_send(item).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "audit queue full (the store falls behind): entries dropped");
            }
        }
    }

    /// Entries dropped so far because the queue was full or the store failed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stores what is queued and stops the background writer: for a graceful shutdown, before
    /// the metadata store closes. Entries recorded afterwards are lost.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// `path` opened for appending (created 0600), or stderr for `-` and `stderr`.
fn open_sink(path: &Path) -> std::io::Result<Sink> {
    use std::os::unix::fs::OpenOptionsExt;
    let out: Box<dyn Write + Send> = match path.to_str() {
        Some("-" | "stderr") => Box::new(std::io::stderr()),
        _ => Box::new(std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?),
    };
    Ok(Arc::new(Mutex::new(out)))
}

/// An entry as the API and the JSON-lines file show it: camelCase fields, `time` in RFC 3339.
pub fn to_json(e: &AuditEntry) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.remove("at");
        map.insert("time".into(), rfc3339(e.at).into());
    }
    v
}

/// A login event of `identity` (the name tried) by `method`, now.
pub fn login(identity: Option<&str>, method: &str, success: bool) -> AuditEntry {
    AuditEntry {
        at: now_ms(),
        category: "login".into(),
        operation: "login".into(),
        result: outcome(success).into(),
        identity: identity.map(str::to_owned),
        method: Some(method.to_owned()),
        count: 1,
        ..AuditEntry::default()
    }
}

/// A repository event (`push`, `pull`, `delete`, `untag`) on `repository`, now; its result
/// is set when the answer is known.
pub fn repository(operation: &str, repository: &str) -> AuditEntry {
    AuditEntry {
        at: now_ms(),
        category: "repository".into(),
        operation: operation.to_owned(),
        repository: Some(repository.to_owned()),
        count: 1,
        ..AuditEntry::default()
    }
}

/// `success` or `failure`.
pub fn outcome(success: bool) -> &'static str {
    if success { "success" } else { "failure" }
}

/// The background writer: batches queued entries and stores each batch in one transaction.
async fn run(mut rx: mpsc::Receiver<Item>, meta: MetaStore, sink: Option<Sink>, stop: CancellationToken) {
    let mut batch = Vec::with_capacity(FLUSH_AT);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let room = FLUSH_AT - batch.len();
        tokio::select! {
            received = rx.recv_many(&mut batch, room) => {
                // Every sender is gone: the application was dropped.
                if received == 0 {
                    break;
                }
                if batch.len() < FLUSH_AT {
                    continue;
                }
            }
            _ = tick.tick() => {}
            () = stop.cancelled() => {
                rx.close();
                while rx.recv_many(&mut batch, FLUSH_AT).await > 0 {}
                break;
            }
        }
        flush(&meta, sink.as_ref(), &mut batch).await;
    }
    flush(&meta, sink.as_ref(), &mut batch).await;
}

/// Stores the batch's new entries and writes all of them to the file; empties `batch`.
async fn flush(meta: &MetaStore, sink: Option<&Sink>, batch: &mut Vec<Item>) {
    if batch.is_empty() {
        return;
    }
    collapse_pulls(batch);
    if let Some(sink) = sink {
        let mut lines = Vec::new();
        for item in batch.iter() {
            let (Item::Store(e) | Item::Committed(e)) = item;
            if serde_json::to_writer(&mut lines, &to_json(e)).is_ok() {
                lines.push(b'\n');
            }
        }
        let sink = sink.clone();
        // A pipe to a slow reader must not stall an async worker.
        let written = tokio::task::spawn_blocking(move || {
            let mut out = sink.lock().map_err(|_| std::io::Error::other("audit file lock poisoned"))?;
            out.write_all(&lines)?;
            out.flush()
        })
        .await;
        if let Ok(Err(e)) = written {
            tracing::warn!(error = %e, "cannot write the audit file");
        }
    }
    let entries: Vec<AuditEntry> = batch
        .drain(..)
        .filter_map(|item| match item {
            Item::Store(e) => Some(e),
            Item::Committed(_) => None,
        })
        .collect();
    if let Err(e) = meta.append_audit(&entries).await {
        tracing::warn!(error = %e, entries = entries.len(), "cannot store audit entries: they are lost");
    }
}

/// Folds identical pulls (same client, user agent, identity, manifest and answer) into the
/// first of them, counted: a client pulling one manifest thousands of times a second costs a
/// row per batch, not a row per request, which keeps auditing within the manifest-GET budget.
fn collapse_pulls(batch: &mut Vec<Item>) {
    let same = |a: &AuditEntry, b: &AuditEntry| {
        a.status == b.status
            && a.repository == b.repository
            && a.tag == b.tag
            && a.digest == b.digest
            && a.identity == b.identity
            && a.client_ip == b.client_ip
            && a.user_agent == b.user_agent
            && a.detail == b.detail
    };
    let mut kept: Vec<Item> = Vec::with_capacity(batch.len());
    // Indexes in `kept` of the pulls kept so far: few distinct ones in a batch, as a rule.
    let mut pulls: Vec<usize> = Vec::new();
    for item in batch.drain(..) {
        if let Item::Store(e) = &item
            && e.operation == "pull"
        {
            let found = pulls.iter().rev().copied().find(|&i| matches!(&kept[i], Item::Store(k) if same(k, e)));
            if let Some(i) = found
                && let Item::Store(k) = &mut kept[i]
            {
                k.count = k.count.max(1) + e.count.max(1);
                continue;
            }
            pulls.push(kept.len());
        }
        kept.push(item);
    }
    *batch = kept;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::AuditFilter;

    #[tokio::test]
    async fn shutdown_stores_what_is_queued() {
        let dir = tempfile::tempdir().expect("temp dir");
        let meta = MetaStore::open_sqlite(&dir.path().join("berth.db")).await.expect("store");
        let file = dir.path().join("audit.jsonl");
        let config = AuditConfig { file: Some(file.clone()), ..AuditConfig::default() };
        let auditor = Auditor::start(&config, meta.clone()).expect("auditor");
        for i in 0..3 {
            let mut e = repository("pull", &format!("app{i}"));
            e.result = outcome(true).into();
            auditor.record(e);
        }
        let mut pushed = repository("push", "app0");
        pushed.result = outcome(true).into();
        auditor.committed(&pushed);
        // Well before the first timed flush.
        auditor.shutdown().await;
        let page = meta.audit(&AuditFilter::default(), None, 10).await.expect("audit");
        let mut repositories: Vec<_> = page.entries.iter().filter_map(|e| e.repository.clone()).collect();
        repositories.sort();
        assert_eq!(repositories, ["app0", "app1", "app2"], "committed entries are not stored again");
        assert!(page.entries.iter().all(|e| e.operation == "pull"));
        let lines = std::fs::read_to_string(&file).expect("audit file");
        assert_eq!(lines.lines().count(), 4, "{lines}");
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap_or_default()).expect("json");
        assert_eq!(first["category"], "repository");
        assert!(first["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{first}");
        assert!(first.get("clientIp").is_some() && first.get("at").is_none(), "{first}");
        assert_eq!(auditor.dropped(), 0);
        meta.close().await;
    }

    #[test]
    fn identical_pulls_are_counted_once() {
        let pull = |tag: &str| {
            let mut e = repository("pull", "app");
            e.tag = Some(tag.into());
            e.client_ip = Some("10.0.0.1".into());
            Item::Store(e)
        };
        let mut batch =
            vec![pull("v1"), pull("v1"), pull("v2"), Item::Store(login(Some("a"), "basic", true)), pull("v1")];
        collapse_pulls(&mut batch);
        let kept: Vec<(String, Option<String>, i64)> = batch
            .iter()
            .map(|i| match i {
                Item::Store(e) | Item::Committed(e) => (e.operation.clone(), e.tag.clone(), e.count),
            })
            .collect();
        let pull = |tag: &str, n| ("pull".to_owned(), Some(tag.to_owned()), n);
        assert_eq!(kept, [pull("v1", 3), pull("v2", 1), ("login".into(), None, 1)]);
    }
}

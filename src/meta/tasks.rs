//! Tasks, their runs and run logs. A run is queued in one transaction with whatever decided it
//! (a timer's tick moved on, a base image's digest recorded, the events read), and claimed by
//! one worker with a lease; a run whose worker stopped renewing its lease ends in `Error`.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{MetaStore, Result, now_ms, set_setting_in, setting_in};

/// The setting holding the last outbox event the base image trigger has read.
const CURSOR: &str = "task_cursor";
/// The setting counting runs: a run's id is the registry's prefix and this count in base 36.
const COUNTER: &str = "run_counter";
/// The setting holding this registry's two-letter run id prefix.
const PREFIX: &str = "run_prefix";
/// The largest piece of log one row holds.
pub const LOG_PIECE: usize = 64 << 10;

/// A stored task.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub name: String,
    /// `Enabled` or `Disabled`.
    pub status: String,
    pub owner: String,
    pub credential: String,
    /// The `access` claim of the token its owner presented, JSON, if any.
    pub token_access: Option<String>,
    /// The task's definition, JSON (`tasks::TaskSpec`).
    pub spec: String,
    /// The source webhook's secret, sealed.
    pub secret: Option<String>,
    pub next_tick: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const TASK_COLUMNS: &str =
    "name, status, owner, credential, token_access, spec, secret, next_tick, created_at, updated_at";

fn task_row(r: &AnyRow) -> TaskRow {
    TaskRow {
        name: r.get(0),
        status: r.get(1),
        owner: r.get(2),
        credential: r.get(3),
        token_access: r.get(4),
        spec: r.get(5),
        secret: r.get(6),
        next_tick: r.get(7),
        created_at: r.get(8),
        updated_at: r.get(9),
    }
}

/// A run to queue.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub task: Option<String>,
    /// ACR's run types: `QuickBuild`, `QuickRun`, `AutoBuild`, `AutoRun`.
    pub run_type: String,
    pub owner: String,
    pub credential: String,
    pub token_access: Option<String>,
    /// What to run, JSON (`tasks::RunSpec`).
    pub spec: String,
    pub source: Option<String>,
    pub platform: String,
    /// `Manual`, `Commit`, `Image Update` or `Timer`.
    pub trigger_kind: String,
    /// The trigger's details, JSON.
    pub trigger_detail: Option<String>,
    /// Unique among runs: a second run for the same key is not queued.
    pub trigger_key: Option<String>,
}

/// Every status a run may have.
pub const RUN_STATUSES: &[&str] = &["Queued", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout"];

/// A stored run.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub seq: i64,
    pub task: Option<String>,
    pub run_type: String,
    /// `Queued`, `Running`, `Succeeded`, `Failed`, `Canceled`, `Error` or `Timeout`.
    pub status: String,
    pub owner: String,
    pub credential: String,
    pub token_access: Option<String>,
    pub spec: String,
    pub source: Option<String>,
    pub platform: String,
    pub trigger_kind: String,
    pub trigger_detail: Option<String>,
    pub cancel: bool,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The images pushed, JSON.
    pub outputs: Option<String>,
    pub reason: Option<String>,
    pub log_size: i64,
}

impl RunRow {
    pub fn finished(&self) -> bool {
        !matches!(self.status.as_str(), "Queued" | "Running")
    }
}

const RUN_COLUMNS: &str = "id, seq, task, run_type, status, owner, credential, token_access, spec, source, platform,
     trigger_kind, trigger_detail, cancel, queued_at, started_at, finished_at, outputs, reason, log_size";

fn run_row(r: &AnyRow) -> RunRow {
    RunRow {
        id: r.get(0),
        seq: r.get(1),
        task: r.get(2),
        run_type: r.get(3),
        status: r.get(4),
        owner: r.get(5),
        credential: r.get(6),
        token_access: r.get(7),
        spec: r.get(8),
        source: r.get(9),
        platform: r.get(10),
        trigger_kind: r.get(11),
        trigger_detail: r.get(12),
        cancel: super::flag(r, 13),
        queued_at: r.get(14),
        started_at: r.get(15),
        finished_at: r.get(16),
        outputs: r.get(17),
        reason: r.get(18),
        log_size: r.get(19),
    }
}

/// Which runs a listing shows.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<String>,
    pub task: Option<String>,
    pub top: u32,
}

/// A base image a push moved, and the task it queued a run of.
#[derive(Debug, Clone)]
pub struct BaseUpdate {
    pub task: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
}

/// `n` in base 36, lowercase, as ACR's run ids count.
fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// Queues `run` inside `tx`: None if a run with its trigger key exists.
async fn insert_run(tx: &mut Transaction<'static, Any>, run: &NewRun, prefix: &str) -> Result<Option<String>> {
    if let Some(key) = &run.trigger_key {
        let seen = sqlx::query("SELECT 1 FROM runs WHERE trigger_key = $1").bind(key).fetch_optional(&mut **tx).await?;
        if seen.is_some() {
            return Ok(None);
        }
    }
    let seq = setting_in(tx, COUNTER).await?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0) + 1;
    set_setting_in(tx, COUNTER, &seq.to_string()).await?;
    let id = format!("{prefix}{}", base36(seq.unsigned_abs()));
    sqlx::query(
        "INSERT INTO runs (id, seq, task, run_type, status, owner, credential, token_access, spec, source, platform,
         trigger_kind, trigger_detail, trigger_key, queued_at)
         VALUES ($1, $2, $3, $4, 'Queued', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&id)
    .bind(seq)
    .bind(&run.task)
    .bind(&run.run_type)
    .bind(&run.owner)
    .bind(&run.credential)
    .bind(&run.token_access)
    .bind(&run.spec)
    .bind(&run.source)
    .bind(&run.platform)
    .bind(&run.trigger_kind)
    .bind(&run.trigger_detail)
    .bind(&run.trigger_key)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(Some(id))
}

impl MetaStore {
    /// Stores a new task; `Duplicate` if the name is taken.
    pub async fn insert_task(&self, t: &TaskRow) -> Result<()> {
        let sql = format!("INSERT INTO tasks ({TASK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        self.execute(
            sqlx::query(&sql)
                .bind(&t.name)
                .bind(&t.status)
                .bind(&t.owner)
                .bind(&t.credential)
                .bind(&t.token_access)
                .bind(&t.spec)
                .bind(&t.secret)
                .bind(t.next_tick)
                .bind(t.created_at)
                .bind(t.updated_at),
        )
        .await?;
        Ok(())
    }

    /// Replaces a task's definition (its secret is kept); false if there is no such task. Its
    /// recorded base images are forgotten: the next run records them again.
    pub async fn update_task(&self, t: &TaskRow) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE tasks SET status = $2, owner = $3, credential = $4, token_access = $5, spec = $6, next_tick = $7,
             updated_at = $8 WHERE name = $1",
        )
        .bind(&t.name)
        .bind(&t.status)
        .bind(&t.owner)
        .bind(&t.credential)
        .bind(&t.token_access)
        .bind(&t.spec)
        .bind(t.next_tick)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM task_bases WHERE task = $1").bind(&t.name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn task(&self, name: &str) -> Result<Option<TaskRow>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE name = $1");
        Ok(sqlx::query(&sql).bind(name).fetch_optional(&self.reader).await?.as_ref().map(task_row))
    }

    pub async fn tasks(&self) -> Result<Vec<TaskRow>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks ORDER BY name");
        Ok(sqlx::query(&sql).fetch_all(&self.reader).await?.iter().map(task_row).collect())
    }

    /// Deletes a task and its recorded base images (its runs stay); false if there was none.
    pub async fn delete_task(&self, name: &str) -> Result<bool> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM task_bases WHERE task = $1").bind(name).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM tasks WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// This registry's run id prefix: two letters chosen by `pick` the first time.
    pub async fn run_prefix(&self, pick: impl FnOnce() -> String) -> Result<String> {
        self.setting_or_insert(PREFIX, &pick()).await
    }

    /// Queues a run; its id, or None if a run with its trigger key was queued before.
    pub async fn queue_run(&self, run: &NewRun, prefix: &str) -> Result<Option<String>> {
        let mut tx = self.write().await?;
        let id = insert_run(&mut tx, run, prefix).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn run(&self, id: &str) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        Ok(sqlx::query(&sql).bind(id).fetch_optional(&self.reader).await?.as_ref().map(run_row))
    }

    /// Runs, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR task = $2)
             ORDER BY seq DESC LIMIT $3"
        );
        let q = sqlx::query(&sql).bind(&filter.status).bind(&filter.task).bind(i64::from(filter.top));
        Ok(q.fetch_all(&self.reader).await?.iter().map(run_row).collect())
    }

    /// Ends in `Error` the runs whose worker stopped renewing its lease, then claims the oldest
    /// queued run for `holder` until `lease_ms` from now.
    pub async fn claim_run(&self, holder: &str, lease_ms: i64) -> Result<Option<RunRow>> {
        let now = now_ms();
        let due = "(status = 'Queued') OR (status = 'Running' AND lease_until < $1)";
        let probe = format!("SELECT 1 FROM runs WHERE {due} LIMIT 1");
        if sqlx::query(&probe).bind(now).fetch_optional(&self.reader).await?.is_none() {
            return Ok(None);
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE runs SET status = 'Error', holder = NULL, finished_at = $1,
             reason = 'the worker running it stopped (its lease ran out)'
             WHERE status = 'Running' AND lease_until < $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE status = 'Queued' ORDER BY seq LIMIT 1");
        let Some(row) = sqlx::query(&sql).fetch_optional(&mut *tx).await? else {
            tx.commit().await?;
            return Ok(None);
        };
        let mut run = run_row(&row);
        sqlx::query("UPDATE runs SET status = 'Running', holder = $2, lease_until = $3, started_at = $4 WHERE id = $1")
            .bind(&run.id)
            .bind(holder)
            .bind(now + lease_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        run.status = "Running".into();
        run.started_at = Some(now);
        Ok(Some(run))
    }

    /// Extends `holder`'s lease on a running run: whether it was asked to cancel, or None if
    /// the run is no longer this holder's.
    pub async fn renew_run(&self, id: &str, holder: &str, lease_ms: i64) -> Result<Option<bool>> {
        let sql = "UPDATE runs SET lease_until = $3 WHERE id = $1 AND holder = $2 AND status = 'Running'";
        let done = self.execute(sqlx::query(sql).bind(id).bind(holder).bind(now_ms() + lease_ms)).await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        Ok(self.run(id).await?.map(|r| r.cancel))
    }

    /// Records how `holder`'s run ended; false if it no longer held it.
    pub async fn finish_run(
        &self,
        id: &str,
        holder: &str,
        status: &str,
        outputs: Option<&str>,
        reason: Option<&str>,
    ) -> Result<bool> {
        let sql = "UPDATE runs SET status = $3, holder = NULL, finished_at = $4, outputs = $5, reason = $6
                   WHERE id = $1 AND holder = $2 AND status = 'Running'";
        let q = sqlx::query(sql).bind(id).bind(holder).bind(status).bind(now_ms()).bind(outputs).bind(reason);
        Ok(self.execute(q).await?.rows_affected() == 1)
    }

    /// Cancels a run: a queued one at once, a running one by asking its worker. None if there
    /// is no such run.
    pub async fn cancel_run(&self, id: &str) -> Result<Option<RunRow>> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE runs SET status = 'Canceled', finished_at = $2, reason = 'canceled before it started'
             WHERE id = $1 AND status = 'Queued'",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE runs SET cancel = 1 WHERE id = $1 AND status = 'Running'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(row.as_ref().map(run_row))
    }

    /// Appends a piece of `id`'s log (at most [`LOG_PIECE`] bytes) at byte offset `start`.
    pub async fn append_log(&self, id: &str, start: i64, data: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO run_logs (run, start, data) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(start)
            .bind(data)
            .execute(&mut *tx)
            .await?;
        let end = start + i64::try_from(data.len()).unwrap_or(i64::MAX);
        sqlx::query("UPDATE runs SET log_size = $2 WHERE id = $1").bind(id).bind(end).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The log pieces of `id` that hold bytes at or past `offset`, in order, up to `limit` pieces.
    pub async fn log_pieces(&self, id: &str, offset: i64, limit: u32) -> Result<Vec<(i64, String)>> {
        let sql = "SELECT start, data FROM run_logs WHERE run = $1 AND start > $2 ORDER BY start LIMIT $3";
        let from = offset - i64::try_from(LOG_PIECE).unwrap_or(0);
        let rows = sqlx::query(sql).bind(id).bind(from).bind(i64::from(limit)).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1))).collect())
    }

    /// Records the base images a task's run built from, replacing those recorded before.
    pub async fn set_task_bases(&self, task: &str, bases: &[(String, String, Option<String>)]) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM task_bases WHERE task = $1").bind(task).execute(&mut *tx).await?;
        for (repository, tag, digest) in bases {
            sqlx::query(
                "INSERT INTO task_bases (task, repository, tag, digest) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (task, repository, tag) DO NOTHING",
            )
            .bind(task)
            .bind(repository)
            .bind(tag)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn task_bases(&self, task: &str) -> Result<Vec<(String, String, Option<String>)>> {
        let sql = "SELECT repository, tag, digest FROM task_bases WHERE task = $1 ORDER BY repository, tag";
        let rows = sqlx::query(sql).bind(task).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// Reads up to `limit` outbox events past the trigger's cursor; for each tag pushed with a
    /// digest other than the one a task recorded for it, records the new digest and queues a
    /// run of the task (made by `run_of`), all in one transaction with moving the cursor.
    pub async fn fire_base_image_triggers(
        &self,
        limit: u32,
        prefix: &str,
        run_of: impl Fn(&TaskRow, &BaseUpdate) -> Option<NewRun>,
    ) -> Result<Vec<(BaseUpdate, String)>> {
        if !self.events_past(CURSOR).await? {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        let cursor = setting_in(&mut tx, CURSOR).await?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let rows = sqlx::query(
            "SELECT seq, repository, tag, digest FROM events WHERE seq > $1 AND action = 'push' ORDER BY seq LIMIT $2",
        )
        .bind(cursor)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let last = match rows.last() {
            Some(r) => r.get::<i64, _>(0),
            None => {
                let max = sqlx::query("SELECT MAX(seq) FROM events").fetch_one(&mut *tx).await?;
                max.get::<Option<i64>, _>(0).unwrap_or(cursor)
            }
        };
        let mut queued = Vec::new();
        for r in &rows {
            let (repository, tag, digest): (String, Option<String>, Option<String>) = (r.get(1), r.get(2), r.get(3));
            let (Some(tag), Some(digest)) = (tag, digest) else { continue };
            let moved = sqlx::query(
                "SELECT task FROM task_bases WHERE repository = $1 AND tag = $2 AND (digest IS NULL OR digest <> $3)",
            )
            .bind(&repository)
            .bind(&tag)
            .bind(&digest)
            .fetch_all(&mut *tx)
            .await?;
            for m in moved {
                let task: String = m.get(0);
                sqlx::query("UPDATE task_bases SET digest = $4 WHERE task = $1 AND repository = $2 AND tag = $3")
                    .bind(&task)
                    .bind(&repository)
                    .bind(&tag)
                    .bind(&digest)
                    .execute(&mut *tx)
                    .await?;
                let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE name = $1 AND status = 'Enabled'");
                let Some(row) = sqlx::query(&sql).bind(&task).fetch_optional(&mut *tx).await? else { continue };
                let update =
                    BaseUpdate { task, repository: repository.clone(), tag: tag.clone(), digest: digest.clone() };
                let Some(run) = run_of(&task_row(&row), &update) else { continue };
                if let Some(id) = insert_run(&mut tx, &run, prefix).await? {
                    queued.push((update, id));
                }
            }
        }
        set_setting_in(&mut tx, CURSOR, &last.to_string()).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// The uploaded contexts (`upload:<id>`) of runs that have not ended.
    pub async fn sources_in_use(&self) -> Result<Vec<String>> {
        let sql = "SELECT source FROM runs WHERE status IN ('Queued', 'Running') AND source LIKE 'upload:%'";
        let rows = sqlx::query(sql).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    /// Deletes runs that ended before `before` (Unix ms) and their logs; how many.
    pub async fn prune_runs(&self, before: i64) -> Result<u64> {
        let mut tx = self.write().await?;
        let ended = "SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < $1";
        sqlx::query(&format!("DELETE FROM run_logs WHERE run IN ({ended})")).bind(before).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Tasks whose timer's next tick is due at `now`.
    pub async fn due_timers(&self, now: i64) -> Result<Vec<TaskRow>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE next_tick IS NOT NULL AND next_tick <= $1 AND status = 'Enabled'"
        );
        Ok(sqlx::query(&sql).bind(now).fetch_all(&self.reader).await?.iter().map(task_row).collect())
    }

    /// Moves `task`'s timer from `tick` to `next` and queues `run`, in one transaction; None if
    /// another node moved it first.
    pub async fn fire_timer(
        &self,
        task: &str,
        tick: i64,
        next: Option<i64>,
        run: &NewRun,
        prefix: &str,
    ) -> Result<Option<String>> {
        let mut tx = self.write().await?;
        let moved = sqlx::query("UPDATE tasks SET next_tick = $3 WHERE name = $1 AND next_tick = $2")
            .bind(task)
            .bind(tick)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() != 1 {
            return Ok(None);
        }
        let id = insert_run(&mut tx, run, prefix).await?;
        tx.commit().await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::base36;

    #[test]
    fn run_ids_count_in_base_36() {
        assert_eq!(base36(1), "1");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(0), "0");
    }
}

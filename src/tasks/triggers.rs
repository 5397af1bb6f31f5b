//! Queuing runs of tasks from their triggers. Timers: a task's next tick is stored, and the
//! node that moves it on queues the run in the same transaction, so each tick runs once across
//! the cluster. Base images: pushes are read from the outbox; a tag a task built FROM that
//! moves to a new digest queues a run (a re-push of the same digest does not). Commits: a git
//! service's webhook, verified with the task's secret, queues one run per pushed commit.

use super::cron::Schedule;
use super::hooks::{self, Push};
use super::{Error, Result, TaskSpec, Tasks};
use crate::meta::{NewRun, RunRow, TaskRow, now_ms};

/// The first tick of `spec`'s enabled timers after `after_ms`, in Unix ms.
pub fn next_tick(spec: &TaskSpec, after_ms: i64) -> Result<Option<i64>> {
    let mut next: Option<i64> = None;
    for timer in spec.enabled_timers() {
        let schedule: Schedule =
            timer.schedule.parse().map_err(|e| Error::Invalid(format!("timer {:?}: {e}", timer.name)))?;
        if let Some(t) = schedule.next_after(after_ms.div_euclid(1000)) {
            next = Some(next.map_or(t * 1000, |n| n.min(t * 1000)));
        }
    }
    Ok(next)
}

/// The name of the timer of `spec` due at `tick_ms`.
fn timer_at(spec: &TaskSpec, tick_ms: i64) -> String {
    spec.enabled_timers()
        .find(|t| {
            t.schedule.parse::<Schedule>().ok().and_then(|s| s.next_after(tick_ms / 1000 - 1)) == Some(tick_ms / 1000)
        })
        .map(|t| t.name.clone())
        .unwrap_or_default()
}

fn spec_of(row: &TaskRow) -> Result<TaskSpec> {
    serde_json::from_str(&row.spec)
        .map_err(|e| Error::Invalid(format!("task {:?} is stored unreadable: {e}", row.name)))
}

impl Tasks {
    /// Queues the runs of timers due now; the runs queued.
    pub async fn fire_timers(&self) -> Result<Vec<String>> {
        let now = now_ms();
        let mut queued = Vec::new();
        for row in self.meta().due_timers(now).await? {
            let Some(tick) = row.next_tick else { continue };
            // One task stored unreadable must not hold up the others' timers.
            let Ok(spec) = spec_of(&row) else {
                tracing::warn!(task = row.name, "a task's definition is unreadable: its timer is skipped");
                continue;
            };
            let next = next_tick(&spec, now).unwrap_or(None);
            let mut run = Tasks::task_run(&row, "Timer", None, None)?;
            let name = timer_at(&spec, tick);
            run.trigger_detail =
                Some(serde_json::json!({ "timerTriggerName": name, "scheduleOccurrence": tick }).to_string());
            run.trigger_key = Some(format!("timer:{}:{tick}", row.name));
            let prefix = self.prefix().await?;
            if let Some(id) = self.meta().fire_timer(&row.name, tick, next, &run, &prefix).await? {
                self.queued.notify_one();
                queued.push(id);
            }
        }
        Ok(queued)
    }

    /// Queues the runs of tasks whose base images pushes moved; the runs queued.
    pub async fn fire_base_image_triggers(&self) -> Result<Vec<String>> {
        let prefix = self.prefix().await?;
        let run_of = |row: &TaskRow, update: &crate::meta::BaseUpdate| -> Option<NewRun> {
            let spec = spec_of(row).ok()?;
            if !spec.base_image_trigger() {
                return None;
            }
            let mut run = Tasks::task_run(row, "Image Update", None, None).ok()?;
            let image = serde_json::json!({
                "registry": self.registry().unwrap_or_default(),
                "repository": update.repository,
                "tag": update.tag,
                "digest": update.digest,
            });
            run.trigger_detail = Some(serde_json::json!({ "images": [image], "timestamp": now_ms() }).to_string());
            run.trigger_key =
                Some(format!("image:{}:{}:{}:{}", row.name, update.repository, update.tag, update.digest));
            Some(run)
        };
        let fired = self.meta().fire_base_image_triggers(500, &prefix, run_of).await?;
        if !fired.is_empty() {
            self.queued.notify_one();
        }
        Ok(fired.into_iter().map(|(_, id)| id).collect())
    }

    /// A git service's call to task `name`'s webhook: verified with the task's secret, then a
    /// run queued for a push to the task's branch. `Ok(None)`: verified, nothing to run.
    pub async fn source_push(
        &self,
        name: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Result<Option<RunRow>, HookError> {
        // An unknown task answers as a bad signature does: the endpoint tells no one which tasks exist.
        let row = self
            .meta()
            .task(name)
            .await
            .map_err(|e| HookError::Tasks(e.into()))?
            .ok_or(HookError::Refused(hooks::Error::Unauthorized))?;
        let secret =
            self.secret(&row).map_err(HookError::Tasks)?.ok_or(HookError::Refused(hooks::Error::Unauthorized))?;
        let push: Option<Push> = hooks::verify(headers, body, &secret).map_err(HookError::Refused)?;
        let spec = spec_of(&row).map_err(HookError::Tasks)?;
        let (Some(push), Some(branch)) = (push, spec.commit_branch()) else { return Ok(None) };
        if row.status != "Enabled" {
            return Ok(None);
        }
        let Some(Some(commit)) = push.commit_on(branch) else { return Ok(None) };
        let mut run = Tasks::task_run(&row, "Commit", Some(branch), Some(commit)).map_err(HookError::Tasks)?;
        run.trigger_detail = Some(
            serde_json::json!({
                "eventType": "commit",
                "commitId": commit,
                "branchName": branch,
                "repositoryUrl": push.repository,
                "providerType": format!("{:?}", push.provider),
            })
            .to_string(),
        );
        run.trigger_key = Some(format!("commit:{name}:{commit}"));
        self.queue(run).await.map_err(HookError::Tasks)
    }
}

/// Why a source webhook call was not taken.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Refused(hooks::Error),
    #[error(transparent)]
    Tasks(Error),
}

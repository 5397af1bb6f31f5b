//! Upload activity: each push request notes that its repository is receiving uploads (when it
//! starts, when it ends, and every second of a long body), so that garbage collection keeps the
//! repository's blobs while a push keeps making progress, however long the whole push takes.
//! Notes are written at most once a second per repository and node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::{Registry, Result};
use crate::blob::ByteStream;
use crate::meta::now_ms;
use crate::oci::RepoName;

/// How often a repository's activity is written at most: garbage collection allows this much
/// slack when it compares.
pub(super) const RESOLUTION: Duration = Duration::from_secs(1);
/// Repositories remembered at most; past it the memory starts over (a few extra writes).
const CAPACITY: usize = 10_000;

/// When this node last wrote each repository's activity.
#[derive(Debug, Default)]
pub(super) struct Noted(Mutex<HashMap<String, Instant>>);

impl Registry {
    /// Notes that `repo` is receiving uploads now (unless this node did within [`RESOLUTION`]).
    pub(super) async fn note_activity(&self, repo: &RepoName) -> Result<()> {
        {
            let Ok(mut noted) = self.activity.0.lock() else { return Ok(()) };
            if noted.get(repo.as_str()).is_some_and(|t| t.elapsed() < RESOLUTION) {
                return Ok(());
            }
            if noted.len() >= CAPACITY {
                noted.clear();
            }
            noted.insert(repo.to_string(), Instant::now());
        }
        Ok(self.meta.note_upload_activity(repo.as_str(), now_ms()).await?)
    }

    /// `body`, noting `repo`'s activity every [`RESOLUTION`] while it streams.
    pub(super) fn while_active(&self, repo: &RepoName, body: ByteStream) -> ByteStream {
        let (registry, repo) = (self.clone(), repo.clone());
        let mut last = Instant::now();
        body.then(move |chunk| {
            let due = last.elapsed() >= RESOLUTION;
            if due {
                last = Instant::now();
            }
            let (registry, repo) = (registry.clone(), repo.clone());
            async move {
                if due && let Err(e) = registry.note_activity(&repo).await {
                    tracing::warn!(error = %e, "cannot note upload activity");
                }
                chunk
            }
        })
        .boxed()
    }
}

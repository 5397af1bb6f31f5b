//! A read cache of manifests for GET/HEAD, the registry's hottest path. It is correct because a
//! SQLite database belongs to exactly one Berth process (`MetaStore::open_sqlite` holds a lock
//! file): every write goes through this process, and each write that can change what a
//! reference names clears the cache after it commits.
//!
//! A reader notes the generation before it queries and inserts only if no write happened since,
//! so a row read just before a concurrent write can never be cached after that write.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::ManifestRow;

/// Bytes of manifest content held at most; past it the cache starts over.
const BUDGET: usize = 8 << 20;
/// Larger manifests are not cached.
const LARGEST: usize = 256 << 10;

#[derive(Debug, Default)]
pub(super) struct ManifestCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    bytes: usize,
    /// (repository, tag or digest) -> manifest. Tags never contain ':' and digests always do.
    entries: HashMap<(String, String), ManifestRow>,
}

impl ManifestCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing can panic while holding the lock, so a poisoned lock still holds valid data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn get(&self, repo: &str, reference: &str) -> Option<ManifestRow> {
        self.lock().entries.get(&(repo.to_owned(), reference.to_owned())).cloned()
    }

    /// The generation to hand to [`ManifestCache::insert`] with what is read next.
    pub(super) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Caches `row`, read from the database while the cache was at `generation`.
    pub(super) fn insert(&self, generation: u64, repo: &str, reference: &str, row: &ManifestRow) {
        let size = row.content.len();
        if size > LARGEST {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.bytes + size > BUDGET {
            inner.entries.clear();
            inner.bytes = 0;
        }
        if inner.entries.insert((repo.to_owned(), reference.to_owned()), row.clone()).is_none() {
            inner.bytes += size;
        }
    }

    /// Called after every committed change to manifests or tags.
    pub(super) fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
        inner.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Digest;

    fn row(content: &'static [u8]) -> ManifestRow {
        ManifestRow {
            digest: Digest::sha256_of(content),
            media_type: "m".into(),
            content: bytes::Bytes::from_static(content),
            subject: None,
            read_lock: None,
            quarantine_state: None,
        }
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let cache = ManifestCache::default();
        let before = cache.generation();
        cache.invalidate(); // a write commits while the reader is querying
        cache.insert(before, "r", "v1", &row(b"old"));
        assert!(cache.get("r", "v1").is_none());

        let now = cache.generation();
        cache.insert(now, "r", "v1", &row(b"new"));
        assert_eq!(cache.get("r", "v1").map(|r| r.content), Some(bytes::Bytes::from_static(b"new")));
        cache.invalidate();
        assert!(cache.get("r", "v1").is_none());
    }

    #[test]
    fn memory_stays_within_the_budget() {
        let cache = ManifestCache::default();
        let big: &'static [u8] = Box::leak(vec![0u8; LARGEST].into_boxed_slice());
        for i in 0..(2 * BUDGET / LARGEST) {
            cache.insert(cache.generation(), "r", &format!("t{i}"), &row(big));
            assert!(cache.lock().bytes <= BUDGET);
        }
        let huge: &'static [u8] = Box::leak(vec![0u8; LARGEST + 1].into_boxed_slice());
        cache.insert(cache.generation(), "r", "huge", &row(huge));
        assert!(cache.get("r", "huge").is_none());
    }
}

//! The offline vulnerability database: imports of OSV files into the metadata store, and the
//! findings of a package inventory against it. What `POST /berth/v1/vulndb` and the scanner
//! call.
//!
//! An import is spooled to a file under the data directory (bounded; deleted afterwards, even
//! on failure), checked whole (structure, bounds, no decompression bomb) before anything is
//! stored, then stored a batch of records per transaction. A record replaces the stored one
//! only if its `modified` is later; a record that does not parse is counted and skipped.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::feed::{self, Limits, Raw};
use super::inventory::Package;
use super::osv::{self, Finding, Record};
use super::{Error, Result};
use crate::meta::{MetaStore, NewVuln, VulnSummary};

/// Records per transaction.
const BATCH: usize = 500;
/// Reasons for invalid records kept for the answer, at most.
const REASONS: usize = 10;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Records stored: new, or newer than the stored one.
    pub imported: u64,
    /// Records as old as or older than the stored one.
    pub skipped: u64,
    /// Records that are not OSV records (bad JSON, no id or `modified`).
    pub invalid: u64,
    /// Why, for the first few invalid ones.
    pub reasons: Vec<String>,
}

impl ImportReport {
    /// Whether the database changed: images scanned before should be scanned again.
    pub fn changed(&self) -> bool {
        self.imported > 0
    }
}

/// An upload spooled to disk; the file goes when this is dropped.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot delete a spooled vulnerability database upload");
        }
    }
}

#[derive(Debug, Clone)]
pub struct VulnDb {
    meta: MetaStore,
    spool_dir: PathBuf,
    limits: Limits,
}

impl VulnDb {
    /// `spool_dir` holds uploads while they are imported; `max_record` bounds each record.
    pub fn new(meta: MetaStore, spool_dir: PathBuf, max_record: u64) -> Self {
        Self { meta, spool_dir, limits: Limits { record: max_record } }
    }

    /// Writes `body` to a new file under the spool directory, refused (and deleted) past
    /// `limit` bytes.
    pub async fn spool<E: std::fmt::Display>(
        &self,
        mut body: impl Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        limit: u64,
    ) -> Result<Spool> {
        tokio::fs::create_dir_all(&self.spool_dir).await?;
        let spool = Spool { path: self.spool_dir.join(format!("vulndb-{}.upload", uuid::Uuid::new_v4())) };
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(&spool.path).await?);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::Invalid(format!("request body failed: {e}")))?;
            written += chunk.len() as u64;
            if written > limit {
                return Err(too_large(limit));
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(spool)
    }

    /// Imports a spooled upload: checked whole first, then stored in batches.
    pub async fn import(&self, spool: &Spool) -> Result<ImportReport> {
        let (path, limits) = (spool.path.clone(), self.limits);
        blocking(move || feed::read(&path, limits, &mut |_| ControlFlow::Continue(()))).await?;

        let (tx, mut rx) = mpsc::channel::<(Vec<NewVuln>, u64, Vec<String>)>(2);
        let path = spool.path.clone();
        let reader = tokio::task::spawn_blocking(move || parse_batches(&path, limits, &tx));
        let mut report = ImportReport::default();
        while let Some((batch, invalid, reasons)) = rx.recv().await {
            report.invalid += invalid;
            report.reasons.extend(reasons.into_iter().take(REASONS - report.reasons.len().min(REASONS)));
            if batch.is_empty() {
                continue;
            }
            let stored = self.meta.store_vulns(&batch).await?;
            report.imported += stored.stored.len() as u64;
            report.skipped += stored.skipped;
        }
        reader.await.map_err(|e| Error::Io(std::io::Error::other(e)))??;
        self.meta.record_vuln_import(report.imported, report.skipped, report.invalid).await?;
        if report.changed() {
            // Scans matched against an older generation are matched again (on any node).
            self.meta.bump_vuln_generation().await?;
        }
        Ok(report)
    }

    /// Record counts per ecosystem and the last import.
    pub async fn summary(&self) -> Result<VulnSummary> {
        Ok(self.meta.vuln_summary().await?)
    }

    /// The findings of `packages` against the database, most severe first. Packages are looked
    /// up by their source package where they have one (OSV's Debian and Alpine records name
    /// source packages), else by name.
    pub async fn findings(&self, packages: &[Package]) -> Result<Vec<Finding>> {
        let keys: BTreeSet<(String, String)> = packages
            .iter()
            .map(|p| {
                let base = osv::base(&p.ecosystem);
                (base.to_owned(), osv::normalize(base, p.source.as_deref().unwrap_or(&p.name)))
            })
            .collect();
        let keys: Vec<_> = keys.into_iter().collect();
        let mut found = Vec::new();
        for json in self.meta.vulns_for(&keys).await? {
            match Record::parse(json.as_bytes()) {
                Ok(record) => found.extend(record.findings(packages)),
                Err(e) => tracing::warn!(error = %e, "a stored vulnerability record no longer parses"),
            }
        }
        found.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then_with(|| a.package.cmp(&b.package)).then_with(|| a.id.cmp(&b.id))
        });
        Ok(found)
    }
}

fn too_large(limit: u64) -> Error {
    Error::TooLarge(format!("the upload is over the {limit}-byte limit (vulndb.max_import_size)"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Io(std::io::Error::other(e)))?
}

/// Reads the file's records, parses them and sends them on in batches, with the count of
/// invalid records (and why) since the last batch. Stops when the receiver is gone.
fn parse_batches(path: &Path, limits: Limits, tx: &mpsc::Sender<(Vec<NewVuln>, u64, Vec<String>)>) -> Result<()> {
    let mut batch = Vec::new();
    let (mut invalid, mut reasons) = (0u64, Vec::new());
    let mut open = true;
    feed::read(path, limits, &mut |Raw { name, json }| {
        match String::from_utf8(json).map_err(|_| "not UTF-8".to_owned()).and_then(|text| {
            let record = Record::parse(text.as_bytes())?;
            Ok(record.to_row(text))
        }) {
            Ok(row) => batch.push(row),
            Err(reason) => {
                invalid += 1;
                if reasons.len() < REASONS {
                    reasons.push(if name.is_empty() { reason } else { format!("{name}: {reason}") });
                }
            }
        }
        if batch.len() >= BATCH {
            open = tx.blocking_send((std::mem::take(&mut batch), invalid, std::mem::take(&mut reasons))).is_ok();
            invalid = 0;
        }
        if open { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    })?;
    if open {
        let _ = tx.blocking_send((batch, invalid, reasons));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real records stored in a SQLite store, then matched through it.
    #[tokio::test]
    async fn findings_come_from_the_stored_records() {
        let dir = tempfile::tempdir().expect("temp dir");
        let meta = MetaStore::open_sqlite(&dir.path().join("berth.db")).await.expect("open");
        let db = VulnDb::new(meta, dir.path().join("tmp"), 4 << 20);
        let mut array = String::from("[");
        for (i, name) in
            ["DSA-3029-1", "CVE-2022-27449", "GHSA-j8r2-6x86-q33q", "GHSA-m5pq-gvj9-9vr8"].iter().enumerate()
        {
            let path = format!("{}/tests/data/osv/{name}.json", env!("CARGO_MANIFEST_DIR"));
            if i > 0 {
                array.push(',');
            }
            array.push_str(&std::fs::read_to_string(path).expect("fixture"));
        }
        array.push_str(r#", {"id": "broken"}]"#);
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(array))]);
        let spool = db.spool(body, 1 << 20).await.expect("spool");
        let meta = db.meta.clone();
        let report = db.import(&spool).await.expect("import");
        assert_eq!((report.imported, report.skipped, report.invalid), (4, 0, 1));
        assert!(report.changed());
        assert_eq!(meta.vuln_generation().await.expect("generation"), 1, "a change: scans match again");
        assert_eq!(db.import(&spool).await.expect("again").skipped, 4);
        assert_eq!(meta.vuln_generation().await.expect("generation"), 1, "nothing new: no rematch");

        let found = db
            .findings(&[
                Package::of("Debian:7", "nginx-light", Some("nginx"), "1.2.1-2.2+wheezy1"),
                Package::of("PyPI", "Requests", None, "2.30.0"),
                Package::of("crates.io", "regex", None, "1.5.5"),
                Package::of("Alpine:v3.14", "mariadb-client", Some("mariadb"), "10.5.15-r0"),
            ])
            .await
            .expect("findings");
        let ids: Vec<_> = found.iter().map(|f| (f.id.as_str(), f.package.as_str(), f.fixed.as_deref())).collect();
        assert_eq!(
            ids,
            [
                ("GHSA-j8r2-6x86-q33q", "Requests", Some("2.31.0")),
                ("CVE-2022-27449", "mariadb-client", Some("10.5.16-r0")),
                ("DSA-3029-1", "nginx-light", Some("1.2.1-2.2+wheezy3")),
            ]
        );
        let summary = db.summary().await.expect("summary");
        assert_eq!(summary.records, 4);
        assert_eq!(summary.ecosystems.get("Debian"), Some(&1));
        drop(spool);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).expect("spool dir").count(), 0, "spool deleted");
    }
}

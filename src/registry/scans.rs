//! Scanning images: their layers streamed through the package inventory (`trust::layers`,
//! `trust::inventory`), the packages matched against the vulnerability database, and the SBOM
//! and the report attached to the image as referrers. A layer is read from the blob store as a
//! stream into a thread of its own at the lowest CPU priority, so no layer is ever held whole
//! and requests go first; what a scan may cost is
//! bounded by `trust::layers::Limits`.

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Registry, Result};
use crate::meta::{Actor, ScanEnd, ScanRow, now_ms};
use crate::oci::{Digest, Reference, RepoName};
use crate::trust::VulnDb;
use crate::trust::inventory::{Inventory, Package};
use crate::trust::layers::{ImageFiles, Limits};
use crate::trust::osv::Finding;
use crate::trust::policy::{ScanPolicy, TrustPolicy};
use crate::trust::sbom::{self, Summary};

/// The job name scans are recorded under, and the identity their referrers are pushed as.
pub const SCANNER: &str = "scanner";

const EMPTY_CONFIG: &[u8] = b"{}";
/// The largest report read back.
const MAX_REPORT: u64 = 64 << 20;
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const IMAGE_CONFIGS: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

impl Registry {
    /// Reads the layers of image `digest` in `repo` and builds its inventory; `Ok(Err(why))` for
    /// what is not an image or cannot be scanned (the reason says which layer and why).
    pub async fn inventory(
        &self,
        repo: &RepoName,
        digest: &Digest,
        timeout: Duration,
    ) -> Result<Result<Inventory, String>> {
        let Some(stored) = self.meta.manifest(repo, digest).await? else {
            return Ok(Err("the manifest is no longer stored".into()));
        };
        let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&stored.content) else {
            return Ok(Err("not an image manifest".into()));
        };
        match &manifest.config {
            Some(c) if IMAGE_CONFIGS.contains(&c.media_type.as_str()) => {}
            _ => return Ok(Err("not an image: an index or an artifact has no layers to scan".into())),
        }
        let mut files = ImageFiles::new(Limits::new(timeout));
        for layer in &manifest.layers {
            let Ok(layer_digest) = Digest::parse(&layer.digest) else {
                return Ok(Err(format!("layer {} has no valid digest", layer.digest)));
            };
            if self.meta.blob_size(&layer_digest).await? != Some(layer.size) {
                // A foreign (non-distributable) layer, or one the manifest misdescribes.
                return Ok(Err(format!("layer {layer_digest} is not stored here with the size the manifest gives")));
            }
            let stream = self.blobs.read(&layer_digest, 0..layer.size).await?;
            let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
            let media_type = layer.media_type.clone();
            let (done, read) = tokio::sync::oneshot::channel();
            // A thread of its own, at the lowest CPU priority (for this thread alone: it ends
            // with the layer), so that requests go first when the cores are busy.
            let started = std::thread::Builder::new().name("berth-scan".into()).spawn(move || {
                let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
                let result = files.add_layer(reader, &media_type);
                let _ = done.send((files, result));
            });
            if let Err(e) = started {
                return Ok(Err(format!("the scanner cannot start a thread: {e}")));
            }
            let Ok((back, result)) = read.await else {
                return Ok(Err("the scanner stopped while reading a layer".into()));
            };
            files = back;
            if let Err(e) = result {
                return Ok(Err(format!("layer {layer_digest}: {e}")));
            }
        }
        let mut inventory = files.inventory();
        if let Some(db) = inventory.rpmdb.take() {
            match crate::trust::rpmdb::packages(db, inventory.distro.as_ref()).await {
                Ok(found) => inventory.packages.extend(found),
                Err(e) => inventory.notes.push(format!("rpm database: {e}")),
            }
        }
        Ok(Ok(inventory))
    }

    /// Scans image `digest` of `repo` for `holder`, who claimed it: inventory, findings, the
    /// SBOM and report referrers, then the quarantine state if a scan policy sets it.
    pub async fn run_scan(
        &self,
        scan: &ScanRow,
        holder: &str,
        timeout: Duration,
        audit: bool,
        db: &VulnDb,
    ) -> Result<()> {
        let (Ok(repo), Ok(digest)) = (RepoName::parse(&scan.repository), Digest::parse(&scan.digest)) else {
            self.meta
                .finish_scan(&scan.repository, &scan.digest, holder, &ScanEnd::Skipped("not a valid name"))
                .await?;
            return Ok(());
        };
        let inventory = match self.inventory(&repo, &digest, timeout).await? {
            Ok(i) => i,
            Err(why) => {
                let end = if why.starts_with("layer") { ScanEnd::Unscannable(&why) } else { ScanEnd::Skipped(&why) };
                self.meta.finish_scan(&scan.repository, &scan.digest, holder, &end).await?;
                return Ok(());
            }
        };
        let generation = self.meta.vuln_generation().await?;
        let findings = db.findings(&inventory.packages).await.map_err(trust_error)?;
        let actor = Actor::internal(SCANNER, audit);
        let image = format!("{}@{digest}", repo.as_str());
        let created = crate::api::time::rfc3339(now_ms());
        let sbom_doc = sbom::spdx(
            &image,
            &format!("https://berth.invalid/spdx/{}/{}", repo.as_str(), digest.hex()),
            &created,
            &inventory,
        );
        let sbom_digest = self.attach(&repo, &digest, sbom::SBOM_TYPE, &sbom_doc, &actor).await;
        let report_digest = self.attach_report(&repo, &digest, generation, &inventory, &findings, &actor).await;
        let summary = Summary::of(inventory.packages.len(), &findings);
        let summary_json = serde_json::to_string(&summary).unwrap_or_default();
        let inventory_json = serde_json::to_string(&inventory.packages).unwrap_or_default();
        let (sbom_digest, report_digest) = (sbom_digest.map(|d| d.to_string()), report_digest.map(|d| d.to_string()));
        let end = ScanEnd::Done {
            generation,
            summary: &summary_json,
            inventory: &inventory_json,
            sbom_digest: sbom_digest.as_deref(),
            report_digest: report_digest.as_deref(),
        };
        if self.meta.finish_scan(&scan.repository, &scan.digest, holder, &end).await? {
            self.quarantine_by_scan(&repo, &digest, &summary, &actor).await?;
        }
        Ok(())
    }

    /// Matches the stored inventories of scans older than the database against it again, and
    /// replaces their reports; the number matched (each scan once per database generation).
    pub async fn rematch(&self, limit: u32, audit: bool, db: &VulnDb) -> Result<usize> {
        let generation = self.meta.vuln_generation().await?;
        let scans = self.meta.scans_older_than(generation, limit).await?;
        let actor = Actor::internal(SCANNER, audit);
        let mut matched = 0;
        for scan in &scans {
            let packages: Vec<Package> =
                scan.inventory.as_deref().and_then(|i| serde_json::from_str(i).ok()).unwrap_or_default();
            let inventory = Inventory { packages, ..Inventory::default() };
            let findings = db.findings(&inventory.packages).await.map_err(trust_error)?;
            let summary = Summary::of(inventory.packages.len(), &findings);
            let summary_json = serde_json::to_string(&summary).unwrap_or_default();
            let names = (RepoName::parse(&scan.repository), Digest::parse(&scan.digest));
            // A repository that refuses the new report (write-locked, full) keeps the old one;
            // the summary and the generation move on all the same, so no scan is retried forever.
            let report = match &names {
                (Ok(repo), Ok(digest)) => {
                    self.attach_report(repo, digest, generation, &inventory, &findings, &actor).await
                }
                _ => None,
            };
            let report = report.map(|d| d.to_string());
            let moved = self
                .meta
                .rematched(&scan.repository, &scan.digest, generation, &summary_json, report.as_deref())
                .await?;
            let (Ok(repo), Ok(digest)) = names else { continue };
            if !moved {
                continue;
            }
            matched += 1;
            if let (Some(_), Some(old)) = (&report, scan.report_digest.as_deref().and_then(|d| Digest::parse(d).ok())) {
                // The report it replaces goes (a locked one stays, and says so in the log).
                if let Err(e) = self.delete_manifest(&repo, &Reference::Digest(old), &actor).await {
                    tracing::warn!(error = %e, "cannot delete a replaced scan report");
                }
            }
            self.quarantine_by_scan(&repo, &digest, &summary, &actor).await?;
        }
        Ok(matched)
    }

    async fn attach_report(
        &self,
        repo: &RepoName,
        digest: &Digest,
        generation: i64,
        inventory: &Inventory,
        findings: &[Finding],
        actor: &Actor,
    ) -> Option<Digest> {
        let image = format!("{}@{digest}", repo.as_str());
        let database = json!({"generation": generation});
        let doc = sbom::report(&image, &crate::api::time::rfc3339(now_ms()), &database, inventory, findings);
        self.attach(repo, digest, sbom::REPORT_TYPE, &doc, actor).await
    }

    /// Pushes `doc` as an artifact of `artifact_type` whose subject is `subject`; its digest,
    /// or `None` (logged) if the repository refused it (locked, over quota).
    async fn attach(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: &str,
        doc: &Value,
        actor: &Actor,
    ) -> Option<Digest> {
        let result: Result<Digest> = async {
            let content = Bytes::from(serde_json::to_vec(doc).unwrap_or_default());
            let layer = Digest::sha256_of(&content);
            let config = Digest::sha256_of(EMPTY_CONFIG);
            for (d, bytes) in [(&config, Bytes::from_static(EMPTY_CONFIG)), (&layer, content.clone())] {
                let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
                self.put_blob(repo, d, Box::pin(body)).await?;
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": artifact_type,
                "config": {"mediaType": EMPTY_TYPE, "digest": config.to_string(), "size": EMPTY_CONFIG.len()},
                "layers": [{"mediaType": artifact_type, "digest": layer.to_string(), "size": content.len()}],
                "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.to_string(),
                            "size": self.meta.manifest(repo, subject).await?.map_or(0, |m| m.content.len())},
                "annotations": {"org.opencontainers.image.created": crate::api::time::rfc3339(now_ms()),
                                "org.opencontainers.image.title": artifact_type},
            });
            let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
            let digest = Digest::sha256_of(&bytes);
            let media = Some("application/vnd.oci.image.manifest.v1+json");
            self.put_manifest(repo, &Reference::Digest(digest.clone()), media, &bytes, actor).await?;
            Ok(digest)
        }
        .await;
        result
            .inspect_err(
                |e| tracing::warn!(error = %e, repository = repo.as_str(), %subject, "cannot attach {artifact_type}"),
            )
            .ok()
    }

    /// Sets the quarantine state of a quarantined image from its scan, if a scan policy for its
    /// repository says at which severity it fails.
    async fn quarantine_by_scan(
        &self,
        repo: &RepoName,
        digest: &Digest,
        summary: &Summary,
        actor: &Actor,
    ) -> Result<()> {
        let policies = self.scan_policies().await?;
        let Some(threshold) =
            crate::trust::policy::governing(&policies, repo.as_str()).and_then(|p| p.quarantine_severity)
        else {
            return Ok(());
        };
        let held = self.manifest_detail(repo, digest, crate::meta::Visibility::All).await?.row.quarantine_state;
        if held.as_deref() != Some(super::QuarantineState::Quarantined.as_str()) {
            return Ok(());
        }
        let failed = summary.at_or_above(threshold);
        let state = if failed { super::QuarantineState::Failed } else { super::QuarantineState::Passed };
        let details = json!({"scanner": "berth", "summary": summary, "threshold": threshold}).to_string();
        self.set_quarantine(repo, digest, state, Some(&details), actor).await?;
        Ok(())
    }

    pub async fn scan_policies(&self) -> Result<Vec<ScanPolicy>> {
        Ok(self.meta.policies("scan").await?.iter().filter_map(|b| serde_json::from_str(b).ok()).collect())
    }

    pub async fn trust_policies(&self) -> Result<Vec<TrustPolicy>> {
        Ok(self.meta.policies("trust").await?.iter().filter_map(|b| serde_json::from_str(b).ok()).collect())
    }

    pub async fn put_policy(&self, kind: &str, name: &str, body: &Value) -> Result<()> {
        self.meta.put_policy(kind, name, &body.to_string()).await?;
        self.policies_changed();
        Ok(())
    }

    pub async fn delete_policy(&self, kind: &str, name: &str) -> Result<bool> {
        let deleted = self.meta.delete_policy(kind, name).await?;
        self.policies_changed();
        Ok(deleted)
    }

    /// The report a finished scan attached, read back from its referrer.
    pub async fn scan_report(&self, repo: &RepoName, scan: &ScanRow) -> Result<Option<Value>> {
        let Some(digest) = scan.report_digest.as_deref().and_then(|d| Digest::parse(d).ok()) else { return Ok(None) };
        let Some(m) = self.meta.manifest(repo, &digest).await? else { return Ok(None) };
        let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&m.content) else { return Ok(None) };
        let Some(layer) = manifest.layers.first() else { return Ok(None) };
        let Ok(layer_digest) = Digest::parse(&layer.digest) else { return Ok(None) };
        if layer.size > MAX_REPORT {
            return Ok(None);
        }
        let bytes = self.whole_blob(&layer_digest, layer.size).await?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// The scan of `digest` in `repo`, if it was queued.
    pub async fn scan_of(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ScanRow>> {
        Ok(self.meta.scan(repo.as_str(), &digest.to_string()).await?)
    }

    /// Queues a scan of `digest` in `repo` now (again if it was scanned).
    pub async fn queue_scan(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        Ok(self.meta.queue_scan(repo.as_str(), &digest.to_string()).await?)
    }

    /// Queues scans of the manifests pushed since the queue last looked.
    pub async fn queue_pushed(&self) -> Result<usize> {
        Ok(self.meta.queue_pushed(500).await?)
    }
}

/// A failure to read the vulnerability database is the metadata store's (its only I/O).
fn trust_error(e: crate::trust::Error) -> super::Error {
    match e {
        crate::trust::Error::Meta(m) => super::Error::Meta(m),
        other => super::Error::Meta(crate::meta::Error::Corrupt(other.to_string())),
    }
}

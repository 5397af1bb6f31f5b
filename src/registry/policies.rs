//! Scan and trust policies applied when an image is served, and the image's signatures:
//! notation's and cosign's (as OCI 1.1 referrers, and cosign's `sha256-<hex>.sig` tags),
//! verified in Berth against the trust policy's certificates and keys.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::{Error, Registry, Result, StoredManifest};
use crate::meta::Visibility;
use crate::oci::{Digest, RepoName, Tag};
use crate::trust::policy::{ScanPolicy, TrustMode, TrustPolicy, governing};
use crate::trust::sbom::Summary;
use crate::trust::signature::TrustStore;
use crate::trust::{cosign, notation};

pub const NOTATION_TYPE: &str = "application/vnd.cncf.notary.signature";
pub const COSIGN_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const COSIGN_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
const COSIGN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
const COSIGN_CHAIN: &str = "dev.sigstore.cosign/chain";
/// How long the policies read for serving images are used before they are read again: a
/// change made on another node holds here within this time, as identity changes do.
const POLICY_TTL: Duration = Duration::from_secs(1);

/// The scan and trust policies as last read, and when.
#[derive(Debug, Default)]
pub(super) struct PolicyCache(Mutex<Option<(Instant, Arc<Policies>)>>);

#[derive(Debug)]
struct Policies {
    scan: Vec<ScanPolicy>,
    trust: Vec<TrustPolicy>,
}

/// Signature manifests looked at per image, and the largest envelope read.
const MAX_SIGNATURES: usize = 32;
const MAX_ENVELOPE: u64 = 1 << 20;

#[derive(Deserialize)]
struct SignatureManifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

impl Registry {
    /// Refuses to serve `m` (from `repo`) if a scan policy refuses its findings or a trust
    /// policy in `enforce` mode finds no valid signature by a key it trusts (`audit` logs).
    pub async fn check_policies(&self, repo: &RepoName, m: &StoredManifest) -> Result<()> {
        let policies = self.serving_policies().await?;
        if let Some(p) = governing(&policies.scan, repo.as_str())
            && let Some(threshold) = p.refuse_severity
            && let Some(scan) = self.scan_of(repo, &m.digest).await?
            && let Some(summary) = scan.summary.as_deref().and_then(|s| serde_json::from_str::<Summary>(s).ok())
            && summary.at_or_above(threshold)
        {
            return Err(Error::PolicyRefused(format!(
                "scan policy {:?} refuses images with findings of severity {threshold:?} or above: {} has {} critical, {} high, {} medium, {} low",
                p.name, m.digest, summary.critical, summary.high, summary.medium, summary.low
            )));
        }
        let Some(policy) = governing(&policies.trust, repo.as_str()) else { return Ok(()) };
        if policy.mode == TrustMode::Skip || !is_image(&m.media_type) {
            return Ok(());
        }
        match self.verify_signed_or_listed(repo, &m.digest, policy).await? {
            Ok(signer) => {
                tracing::debug!(policy = policy.name, %signer, digest = %m.digest, "signature verified");
                Ok(())
            }
            Err(why) if policy.mode == TrustMode::Enforce => Err(Error::PolicyRefused(format!(
                "trust policy {:?} requires a valid signature by a trusted key: {} of {} has none ({why})",
                policy.name,
                m.digest,
                repo.as_str()
            ))),
            Err(why) => {
                tracing::warn!(policy = policy.name, repository = repo.as_str(), digest = %m.digest, reason = why, "served an image without a trusted signature (audit)");
                Ok(())
            }
        }
    }

    /// The policies every pull checks, read at most once a [`POLICY_TTL`].
    async fn serving_policies(&self) -> Result<Arc<Policies>> {
        if let Ok(cached) = self.policies.0.lock()
            && let Some((at, p)) = cached.as_ref()
            && at.elapsed() < POLICY_TTL
        {
            return Ok(p.clone());
        }
        let read = Arc::new(Policies { scan: self.scan_policies().await?, trust: self.trust_policies().await? });
        if let Ok(mut cached) = self.policies.0.lock() {
            *cached = Some((Instant::now(), read.clone()));
        }
        Ok(read)
    }

    /// Forgets the policies read, after this node changed them.
    pub(super) fn policies_changed(&self) {
        if let Ok(mut cached) = self.policies.0.lock() {
            *cached = None;
        }
    }

    /// [`Self::verify_signatures`] of `digest`, else of an index listing it: a multi-platform
    /// image is signed as its index, and its platforms are pulled by their own digests.
    async fn verify_signed_or_listed(
        &self,
        repo: &RepoName,
        digest: &Digest,
        policy: &TrustPolicy,
    ) -> Result<Result<String, String>> {
        let own = self.verify_signatures(repo, digest, policy).await?;
        if own.is_ok() {
            return Ok(own);
        }
        for index in self.meta.indexes_listing(repo.as_str(), &digest.to_string()).await? {
            let Ok(index) = Digest::parse(&index) else { continue };
            if let Ok(signer) = self.verify_signatures(repo, &index, policy).await? {
                return Ok(Ok(format!("{signer}, of index {index}")));
            }
        }
        Ok(own)
    }

    /// The signature manifests of `digest` in `repo`: notation and cosign referrers, and the
    /// manifest cosign tags `sha256-<hex>.sig` (quarantined ones too: a signature's worth is
    /// its cryptography).
    pub async fn signatures(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<(String, StoredManifest)>> {
        let mut found = Vec::new();
        for kind in [NOTATION_TYPE, COSIGN_TYPE] {
            for r in self.referrers(repo, digest, Some(kind), Visibility::All).await?.into_iter().take(MAX_SIGNATURES) {
                if let Some(m) = self.meta.manifest(repo, &r.digest).await? {
                    found.push((kind.to_string(), m));
                }
            }
        }
        if let Ok(tag) = Tag::parse(&format!("{}.sig", digest.to_string().replacen(':', "-", 1)))
            && let Some(m) = self.meta.tagged_manifest(repo, &tag).await?
        {
            found.push((COSIGN_TYPE.to_string(), m));
        }
        Ok(found)
    }

    /// Whether `digest` has a signature (valid or not): ACR's `signed` attribute.
    pub async fn is_signed(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        Ok(!self.signed_of(repo, &[digest.to_string()]).await?.is_empty())
    }

    /// Those of `digests` that have a signature (valid or not).
    pub async fn signed_of(&self, repo: &RepoName, digests: &[String]) -> Result<std::collections::HashSet<String>> {
        Ok(self.meta.signed_of(repo.as_str(), digests, &[NOTATION_TYPE, COSIGN_TYPE]).await?)
    }

    /// The signer of the first signature of `digest` that verifies under `policy`, or why none does.
    async fn verify_signatures(
        &self,
        repo: &RepoName,
        digest: &Digest,
        policy: &TrustPolicy,
    ) -> Result<Result<String, String>> {
        let store = match TrustStore::from_pem(&policy.trusted) {
            Ok(s) => s,
            Err(e) => return Ok(Err(format!("the policy's trusted certificates cannot be read: {e}"))),
        };
        let subject = digest.to_string();
        let mut reasons = Vec::new();
        for (kind, m) in self.signatures(repo, digest).await? {
            let Ok(sig) = serde_json::from_slice::<SignatureManifest>(&m.content) else { continue };
            for layer in sig.layers.iter().take(4) {
                let Some(bytes) = self.small_blob(layer).await? else {
                    reasons.push(format!("signature {} cannot be read", m.digest));
                    continue;
                };
                let now = SystemTime::now();
                let verdict = if kind == NOTATION_TYPE {
                    notation::verify(&bytes, &layer.media_type, &subject, &store, now)
                } else if layer.media_type == COSIGN_LAYER {
                    let Some(signature) = layer.annotations.get(COSIGN_SIGNATURE) else { continue };
                    let cert = layer.annotations.get(COSIGN_CERTIFICATE).map(String::as_str);
                    let chain = layer.annotations.get(COSIGN_CHAIN).map(String::as_str);
                    cosign::verify(&bytes, signature, cert, chain, &subject, &store, now)
                } else {
                    continue;
                };
                match verdict {
                    Ok(v) => return Ok(Ok(format!("{} signature by {}", v.scheme, v.signer))),
                    Err(refusal) => reasons.push(format!("signature {}: {refusal}", m.digest)),
                }
            }
        }
        if reasons.is_empty() {
            reasons.push("no signature".into());
        }
        Ok(Err(reasons.join("; ")))
    }

    /// A signature's blob, if it is stored and small enough to be one.
    async fn small_blob(&self, layer: &Layer) -> Result<Option<Vec<u8>>> {
        let Ok(digest) = Digest::parse(&layer.digest) else { return Ok(None) };
        if layer.size > MAX_ENVELOPE || self.meta.blob_size(&digest).await? != Some(layer.size) {
            return Ok(None);
        }
        Ok(Some(self.whole_blob(&digest, layer.size).await?))
    }
}

fn is_image(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.manifest.v1+json" | "application/vnd.docker.distribution.manifest.v2+json"
    )
}

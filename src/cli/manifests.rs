//! `berth manifest list-metadata|show-metadata|update-metadata|delete|list-referrers`, with
//! `az acr manifest`'s arguments: `-r REGISTRY -n REPO[:TAG|@DIGEST]`, or one fully qualified
//! `REGISTRY/REPO[:TAG|@DIGEST]`.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Registry, SignIn, confirm};
use super::identity::cell;
use super::output::{self, OutputArgs};
use super::repositories::{Image, Locks, listing_path};

#[derive(Debug, Args)]
pub(super) struct Spec {
    /// The fully qualified name: REGISTRY/REPO (list-metadata) or REGISTRY/REPO:TAG, REGISTRY/REPO@DIGEST
    #[arg(value_name = "ID", conflicts_with_all = ["registry", "name"])]
    id: Option<String>,
    /// The registry's login server, e.g. localhost:5000
    #[arg(short = 'r', long)]
    registry: Option<String>,
    /// REPO (list-metadata), or REPO:TAG or REPO@DIGEST
    #[arg(short = 'n', long)]
    name: Option<String>,
    #[command(flatten)]
    sign_in: SignIn,
}

impl Spec {
    /// The registry and what names the repository or manifest in it.
    fn resolve(&self) -> anyhow::Result<(Registry, String)> {
        let (registry, name) = match (&self.id, &self.registry, &self.name) {
            (Some(id), _, _) => {
                let id = id.strip_prefix("https://").or_else(|| id.strip_prefix("http://")).unwrap_or(id);
                id.split_once('/').map(|(r, n)| (r.to_owned(), n.to_owned())).with_context(|| {
                    format!("{id:?} is not fully qualified: give REGISTRY/REPO:TAG, or -r REGISTRY -n REPO:TAG")
                })?
            }
            (None, Some(r), Some(n)) => (r.clone(), n.clone()),
            _ => bail!("give a fully qualified name such as localhost:5000/hello:latest, or -r REGISTRY -n REPO:TAG"),
        };
        Ok((Registry::new(&registry, &self.sign_in)?, name))
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum ManifestCommand {
    /// Every manifest of a repository with its attributes
    ListMetadata {
        #[command(flatten)]
        spec: Spec,
        /// At most this many manifests
        #[arg(long)]
        top: Option<usize>,
        /// Order by last update time
        #[arg(long, value_parser = ["time_asc", "time_desc"])]
        orderby: Option<String>,
    },
    /// One manifest's attributes
    ShowMetadata {
        #[command(flatten)]
        spec: Spec,
    },
    /// Lock or unlock a manifest (or the tag named); set its quarantine state
    UpdateMetadata {
        #[command(flatten)]
        spec: Spec,
        #[command(flatten)]
        locks: Locks,
        /// Quarantine state of the manifest (of the tag's manifest, given a tag): Passed
        /// releases it, Failed keeps it held; needs AcrQuarantineWriter or Owner
        #[arg(long, value_parser = ["Quarantined", "Passed", "Failed"])]
        quarantine_state: Option<String>,
        /// What the check found, kept with the state
        #[arg(long, value_name = "TEXT", requires = "quarantine_state")]
        quarantine_details: Option<String>,
    },
    /// Delete a manifest and every tag on it
    Delete {
        #[command(flatten)]
        spec: Spec,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Artifacts whose subject is this manifest (signatures, SBOMs, …)
    ListReferrers {
        #[command(flatten)]
        spec: Spec,
        /// Only referrers of this artifact type
        #[arg(long)]
        artifact_type: Option<String>,
        /// Also the referrers of the referrers
        #[arg(long)]
        recursive: bool,
    },
}

pub(super) async fn manifest(cmd: ManifestCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let result = match cmd {
        ManifestCommand::ListMetadata { spec, top, orderby } => {
            let (registry, repository) = spec.resolve()?;
            if repository.contains([':', '@']) {
                bail!("list-metadata takes a repository, without a tag or digest");
            }
            let path = listing_path(&repository, "_manifests", top, orderby.as_deref());
            Value::Array(registry.list(&path, "manifests", top).await?)
        }
        ManifestCommand::ShowMetadata { spec } => {
            let (registry, name) = spec.resolve()?;
            let (path, field) = Image::parse(&name)?.attributes_path();
            registry.call(Method::GET, &path, None).await?[field].take()
        }
        ManifestCommand::UpdateMetadata { spec, locks, quarantine_state, quarantine_details } => {
            let (registry, name) = spec.resolve()?;
            let image = Image::parse(&name)?;
            let (path, field) = image.attributes_path();
            let patch = locks.patch();
            if let Some(state) = quarantine_state {
                // The state is a manifest's, whatever names it: a tag is resolved first.
                let digest = image.digest(&registry).await?;
                let manifest = format!("/acr/v1/{}/_manifests/{digest}", image.repository());
                let body = json!({ "quarantineState": state, "quarantineDetails": quarantine_details });
                let set = registry.call(Method::PATCH, &manifest, Some(&body)).await?;
                if patch.is_none() {
                    return output::print(&set["manifest"], out, None);
                }
            }
            let method = if patch.is_some() { Method::PATCH } else { Method::GET };
            registry.call(method, &path, patch.as_ref()).await?[field].take()
        }
        ManifestCommand::Delete { spec, yes } => {
            let (registry, name) = spec.resolve()?;
            let image = Image::parse(&name)?;
            let digest = image.digest(&registry).await?;
            confirm(
                &format!("Are you sure you want to delete the artifact '{digest}' and all manifests that refer to it?"),
                yes,
            )?;
            registry.call(Method::DELETE, &format!("/v2/{}/manifests/{digest}", image.repository()), None).await?;
            return Ok(());
        }
        ManifestCommand::ListReferrers { spec, artifact_type, recursive } => {
            let (registry, name) = spec.resolve()?;
            let image = Image::parse(&name)?;
            let digest = image.digest(&registry).await?;
            let mut manifests = referrers(&registry, image.repository(), &digest, artifact_type.as_deref()).await?;
            if recursive {
                let mut nested = Vec::new();
                for r in &manifests {
                    let d = r["digest"].as_str().unwrap_or_default();
                    nested.extend(referrers(&registry, image.repository(), d, None).await?);
                }
                manifests.extend(nested);
            }
            // az's shape since it moved to the OCI referrers API (Azure/azure-cli#25069).
            let listed = json!({ "manifests": manifests });
            return output::print(&listed, out, Some(referrer_columns));
        }
    };
    output::print(&result, out, None)
}

/// az's `list_referrers_output_format`: one row per referrer.
fn referrer_columns(item: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("Digest", cell(&item["digest"])),
        ("ArtifactType", cell(&item["artifactType"])),
        ("MediaType", cell(&item["mediaType"])),
        ("Size", cell(&item["size"])),
    ]
}

/// The descriptors `GET /v2/<repo>/referrers/<digest>` lists.
async fn referrers(
    registry: &Registry,
    repo: &str,
    digest: &str,
    artifact_type: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let filter = artifact_type
        .map(|t| {
            format!("?artifactType={}", percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC))
        })
        .unwrap_or_default();
    let index = registry.call(Method::GET, &format!("/v2/{repo}/referrers/{digest}{filter}"), None).await?;
    Ok(index["manifests"].as_array().cloned().unwrap_or_default())
}

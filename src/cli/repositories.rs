//! `berth repository list|show|show-tags|show-manifests|update|untag|delete`, with
//! `az acr repository`'s flags and output, over `/v2/_catalog` and `/acr/v1`.

use anyhow::bail;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Registry, confirm};
use super::identity::{Target, bool_value};
use super::output::{self, OutputArgs};

/// az's `_parse_image_name`: `REPO@DIGEST`, `REPO:TAG`, or `REPO` (tag `latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Image {
    Tag { repository: String, tag: String },
    Digest { repository: String, digest: String },
}

impl Image {
    pub(super) fn parse(image: &str) -> anyhow::Result<Self> {
        if let Some((repository, digest)) = image.split_once('@') {
            return Ok(Self::Digest { repository: repository.into(), digest: digest.into() });
        }
        match image.split(':').collect::<Vec<_>>()[..] {
            [repository] => Ok(Self::Tag { repository: repository.into(), tag: "latest".into() }),
            [repository, tag] => Ok(Self::Tag { repository: repository.into(), tag: tag.into() }),
            _ => bail!("{image:?}: the image may include a tag as 'name:tag' or a digest as 'name@digest'"),
        }
    }

    pub(super) fn repository(&self) -> &str {
        match self {
            Self::Tag { repository, .. } | Self::Digest { repository, .. } => repository,
        }
    }

    /// The `/acr/v1` path of the tag or manifest, and the field its answer is under.
    pub(super) fn attributes_path(&self) -> (String, &'static str) {
        match self {
            Self::Tag { repository, tag } => (format!("/acr/v1/{repository}/_tags/{tag}"), "tag"),
            Self::Digest { repository, digest } => (format!("/acr/v1/{repository}/_manifests/{digest}"), "manifest"),
        }
    }

    /// The manifest digest, asking the registry what a tag points at.
    pub(super) async fn digest(&self, registry: &Registry) -> anyhow::Result<String> {
        match self {
            Self::Digest { digest, .. } => Ok(digest.clone()),
            Self::Tag { repository, tag } => {
                let found = registry.call(Method::GET, &format!("/acr/v1/{repository}/_tags/{tag}"), None).await?;
                match found["tag"]["digest"].as_str() {
                    Some(d) => Ok(d.to_owned()),
                    None => bail!("could not get the manifest digest for image '{repository}:{tag}'"),
                }
            }
        }
    }
}

/// `--repository REPO` or `--image IMAGE` (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(super) struct Subject {
    /// A repository
    #[arg(long)]
    repository: Option<String>,
    /// An image: REPO:TAG or REPO@DIGEST
    #[arg(short = 't', long)]
    image: Option<String>,
}

/// The four locks, as `--delete-enabled true|false` etc.
#[derive(Debug, Args)]
pub(super) struct Locks {
    /// Whether it may be deleted
    #[arg(long, value_name = "BOOL", value_parser = bool_value)]
    delete_enabled: Option<bool>,
    /// Whether it may be listed
    #[arg(long, value_name = "BOOL", value_parser = bool_value)]
    list_enabled: Option<bool>,
    /// Whether it may be pulled
    #[arg(long, value_name = "BOOL", value_parser = bool_value)]
    read_enabled: Option<bool>,
    /// Whether it may be written (pushed, moved, overwritten, deleted)
    #[arg(long, value_name = "BOOL", value_parser = bool_value)]
    write_enabled: Option<bool>,
}

impl Locks {
    /// The PATCH body; `None` if no lock was given (then the command only shows).
    pub(super) fn patch(&self) -> Option<Value> {
        let fields = [
            ("deleteEnabled", self.delete_enabled),
            ("listEnabled", self.list_enabled),
            ("readEnabled", self.read_enabled),
            ("writeEnabled", self.write_enabled),
        ];
        let set: serde_json::Map<String, Value> =
            fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), Value::Bool(v)))).collect();
        (!set.is_empty()).then_some(Value::Object(set))
    }
}

#[derive(Debug, Args)]
pub(super) struct Listing {
    /// The repository
    #[arg(long)]
    repository: String,
    /// At most this many items
    #[arg(long)]
    top: Option<usize>,
    /// Order by last update time
    #[arg(long, value_parser = ["time_asc", "time_desc"])]
    orderby: Option<String>,
    /// Whole objects, not just names
    #[arg(long)]
    detail: bool,
}

impl Listing {
    fn path(&self, what: &str) -> String {
        listing_path(&self.repository, what, self.top, self.orderby.as_deref())
    }
}

/// `/acr/v1/<repository>/<what>` with az's page size (`--top`, at most 100 a page) and its
/// `--orderby time_asc|time_desc` in ACR's spelling.
pub(super) fn listing_path(repository: &str, what: &str, top: Option<usize>, orderby: Option<&str>) -> String {
    let order = match orderby {
        Some("time_asc") => "&orderby=timeasc",
        Some("time_desc") => "&orderby=timedesc",
        _ => "",
    };
    let n = top.unwrap_or(100).min(100);
    format!("/acr/v1/{repository}/{what}?n={n}{order}")
}

#[derive(Debug, Subcommand)]
pub(super) enum RepositoryCommand {
    /// List repositories
    List {
        #[command(flatten)]
        target: Target,
        /// At most this many repositories
        #[arg(long)]
        top: Option<usize>,
    },
    /// Attributes of a repository, or of an image by tag or digest
    Show {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        subject: Subject,
    },
    /// Tags of a repository (names, or objects with --detail)
    ShowTags {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        listing: Listing,
    },
    /// Manifests of a repository (digest, tags, timestamp; objects with --detail)
    ShowManifests {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        listing: Listing,
    },
    /// Lock or unlock a repository or image
    Update {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        subject: Subject,
        #[command(flatten)]
        locks: Locks,
    },
    /// Remove a tag; the manifest stays
    Untag {
        #[command(flatten)]
        target: Target,
        /// REPO:TAG
        #[arg(short = 't', long)]
        image: String,
    },
    /// Delete a repository, or an image's manifest with every tag on it
    Delete {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        subject: Subject,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

pub(super) async fn repository(cmd: RepositoryCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let result = match cmd {
        RepositoryCommand::List { target, top } => {
            let n = top.unwrap_or(100).min(100);
            Value::Array(target.registry()?.list(&format!("/v2/_catalog?n={n}"), "repositories", top).await?)
        }
        RepositoryCommand::Show { target, subject } => attributes(&target.registry()?, &subject, None).await?,
        RepositoryCommand::Update { target, subject, locks } => {
            attributes(&target.registry()?, &subject, locks.patch()).await?
        }
        RepositoryCommand::ShowTags { target, listing } => {
            let tags = target.registry()?.list(&listing.path("_tags"), "tags", listing.top).await?;
            if listing.detail { Value::Array(tags) } else { tags.iter().map(|t| t["name"].clone()).collect() }
        }
        RepositoryCommand::ShowManifests { target, listing } => {
            let manifests = target.registry()?.list(&listing.path("_manifests"), "manifests", listing.top).await?;
            if listing.detail {
                Value::Array(manifests)
            } else {
                let brief = |m: &Value| json!({"digest": m["digest"], "tags": m.get("tags").cloned().unwrap_or(json!([])), "timestamp": m["lastUpdateTime"]});
                manifests.iter().map(brief).collect()
            }
        }
        RepositoryCommand::Untag { target, image } => {
            let Image::Tag { repository, tag } = Image::parse(&image)? else {
                bail!("untag takes REPO:TAG, not a digest");
            };
            target.registry()?.call(Method::DELETE, &format!("/acr/v1/{repository}/_tags/{tag}"), None).await?;
            return Ok(());
        }
        RepositoryCommand::Delete { target, subject, yes } => {
            let registry = target.registry()?;
            match (&subject.repository, &subject.image) {
                (Some(repository), _) => {
                    let question = format!(
                        "Are you sure you want to delete the repository '{repository}' and all images under it?"
                    );
                    confirm(&question, yes)?;
                    registry.call(Method::DELETE, &format!("/acr/v1/{repository}"), None).await?
                }
                (None, Some(image)) => {
                    let image = Image::parse(image)?;
                    let digest = image.digest(&registry).await?;
                    let question = format!(
                        "This operation will delete the manifest '{digest}' and all the tags that point at it. Are you sure?"
                    );
                    confirm(&question, yes)?;
                    registry
                        .call(Method::DELETE, &format!("/v2/{}/manifests/{digest}", image.repository()), None)
                        .await?;
                    return Ok(());
                }
                (None, None) => bail!("give --repository or --image"),
            }
        }
    };
    output::print(&result, out, None)
}

/// Shows (or with `patch`, changes) the attributes of a repository, tag or manifest; for an
/// image, the `tag` or `manifest` object of the answer, as az prints it.
async fn attributes(registry: &Registry, subject: &Subject, patch: Option<Value>) -> anyhow::Result<Value> {
    let method = if patch.is_some() { Method::PATCH } else { Method::GET };
    match (&subject.repository, &subject.image) {
        (Some(repository), _) => registry.call(method, &format!("/acr/v1/{repository}"), patch.as_ref()).await,
        (None, Some(image)) => {
            let (path, field) = Image::parse(image)?.attributes_path();
            Ok(registry.call(method, &path, patch.as_ref()).await?[field].take())
        }
        (None, None) => bail!("give --repository or --image"),
    }
}

#[cfg(test)]
mod tests {
    use super::Image;

    #[test]
    fn images_parse_as_az_does() {
        let tag = |r: &str, t: &str| Image::Tag { repository: r.into(), tag: t.into() };
        assert_eq!(Image::parse("team/app:v1").expect("valid"), tag("team/app", "v1"));
        assert_eq!(Image::parse("team/app").expect("valid"), tag("team/app", "latest"));
        let digest = Image::parse("app@sha256:abc").expect("valid");
        assert_eq!(digest, Image::Digest { repository: "app".into(), digest: "sha256:abc".into() });
        assert!(Image::parse("a:b:c").is_err());
    }
}

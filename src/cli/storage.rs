//! `berth show-usage`, `berth usage check` (Berth's own), `berth gc run|show`,
//! `berth config retention show|update`, `berth config quarantine show|update` and `berth purge` (ACR's `acr purge`, run from the
//! client over `/acr/v1`).

use anyhow::Context;
use clap::{Args, Subcommand};
use regex::Regex;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::Registry;
use super::identity::{RegistryTarget, Target, cell};
use super::output::{self, OutputArgs};
use crate::config::Duration;

/// `az acr show-usage`.
pub(super) async fn show_usage(target: Target, out: &OutputArgs) -> anyhow::Result<()> {
    let usage = target.registry()?.call(Method::GET, "/berth/v1/usage", None).await?;
    output::print(&usage, out, Some(usage_columns))
}

/// az's usage table, one row per item of `value`.
fn usage_columns(item: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("NAME", cell(&item["name"])),
        ("LIMIT", cell(&item["limit"])),
        ("CURRENT VALUE", cell(&item["currentValue"])),
        ("UNIT", cell(&item["unit"])),
    ]
}

#[derive(Debug, Subcommand)]
pub(super) enum UsageCommand {
    /// Recompute usage from the stored blobs and manifests, compare it with the counters that
    /// show-usage and the quota read, and repair them if they differ
    Check(Target),
}

pub(super) async fn usage(UsageCommand::Check(target): UsageCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let result = target.registry()?.call(Method::POST, "/berth/v1/usage/check", None).await?;
    output::print(&result, out, Some(recount_columns))
}

fn recount_columns(r: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("COUNTED BYTES", cell(&r["counted"]["totalBytes"])),
        ("RECOMPUTED BYTES", cell(&r["recomputed"]["totalBytes"])),
        ("REPAIRED", cell(&r["repaired"])),
    ]
}

#[derive(Debug, Subcommand)]
pub(super) enum GcCommand {
    /// Run one garbage-collection pass now and print what it freed (and what waits for its grace period)
    Run {
        #[command(flatten)]
        target: Target,
        /// Report what would be deleted, delete nothing
        #[arg(long)]
        dry_run: bool,
        /// Keep unreferenced blobs younger than this instead of the server's gc.grace (30s, 10m, 1h, 2d)
        #[arg(long, value_parser = |s: &str| Duration::parse(s).map(|_| s.to_owned()))]
        grace: Option<String>,
    },
    /// The schedule and the last pass
    Show(Target),
}

pub(super) async fn gc(cmd: GcCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let result = match cmd {
        GcCommand::Run { target, dry_run, grace } => {
            let body = json!({ "dryRun": dry_run, "grace": grace });
            target.registry()?.call(Method::POST, "/berth/v1/gc", Some(&body)).await?
        }
        GcCommand::Show(target) => target.registry()?.call(Method::GET, "/berth/v1/gc", None).await?,
    };
    output::print(&result, out, None)
}

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// Retention of untagged manifests
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Quarantine of new images until released (ACR's quarantine policy)
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum QuarantineCommand {
    /// Whether new images start quarantined
    Show(RegistryTarget),
    /// Turn it on or off; off releases nothing already held
    Update {
        #[command(flatten)]
        target: RegistryTarget,
        #[arg(long, value_parser = ["enabled", "disabled"])]
        status: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum RetentionCommand {
    /// The policy
    Show(RegistryTarget),
    /// Change it; garbage collection applies it
    Update {
        #[command(flatten)]
        target: RegistryTarget,
        /// Days an untagged manifest is kept (0 to 365)
        #[arg(long)]
        days: Option<u32>,
        #[arg(long, value_parser = ["enabled", "disabled"])]
        status: Option<String>,
        #[arg(long = "type", value_parser = ["UntaggedManifests"], default_value = "UntaggedManifests")]
        kind: String,
    },
}

pub(super) async fn config(cmd: ConfigCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let cmd = match cmd {
        ConfigCommand::Retention(cmd) => cmd,
        ConfigCommand::Quarantine(cmd) => return quarantine(cmd, out).await,
    };
    let result = match cmd {
        RetentionCommand::Show(target) => target.registry()?.call(Method::GET, "/berth/v1/retention", None).await?,
        RetentionCommand::Update { target, days, status, kind } => {
            let body = json!({ "days": days, "status": status, "type": kind });
            target.registry()?.call(Method::PATCH, "/berth/v1/retention", Some(&body)).await?
        }
    };
    output::print(&result, out, Some(|r: &Value| vec![("STATUS", cell(&r["status"])), ("TYPE", cell(&r["type"]))]))
}

async fn quarantine(cmd: QuarantineCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let result = match cmd {
        QuarantineCommand::Show(target) => target.registry()?.call(Method::GET, "/berth/v1/quarantine", None).await?,
        QuarantineCommand::Update { target, status } => {
            let body = json!({ "status": status });
            target.registry()?.call(Method::PATCH, "/berth/v1/quarantine", Some(&body)).await?
        }
    };
    output::print(&result, out, Some(|r: &Value| vec![("STATUS", cell(&r["status"]))]))
}

#[derive(Debug, Args)]
pub(super) struct PurgeArgs {
    #[command(flatten)]
    target: RegistryTarget,
    /// REPOSITORY_REGEX:TAG_REGEX, each matched whole; repeatable
    #[arg(long, required = true)]
    filter: Vec<String>,
    /// Only what was last updated longer ago than this: 30m, 2h, 1d, 2d3h6m
    #[arg(long, value_parser = Duration::parse)]
    ago: Duration,
    /// Keep the latest N matching tags of each repository
    #[arg(long, default_value_t = 0)]
    keep: usize,
    /// Also delete untagged manifests (older than --ago) of the matched repositories
    #[arg(long)]
    untagged: bool,
    /// Print what would be deleted, delete nothing
    #[arg(long)]
    dry_run: bool,
}

/// One `REPOSITORY_REGEX:TAG_REGEX`, anchored at both ends as `acr purge` matches them.
fn parse_filter(filter: &str) -> anyhow::Result<(Regex, Regex)> {
    let (repo, tag) = filter
        .rsplit_once(':')
        .with_context(|| format!("--filter {filter:?}: use REPOSITORY_REGEX:TAG_REGEX, e.g. 'hello-world:.*'"))?;
    let anchored =
        |r: &str| Regex::new(&format!("^(?:{r})$")).with_context(|| format!("--filter {filter:?}: bad regex {r:?}"));
    Ok((anchored(repo)?, anchored(tag)?))
}

/// Whether `attributes` allow deleting (neither a delete nor a write lock).
fn deletable(item: &Value) -> bool {
    let a = &item["changeableAttributes"];
    a["deleteEnabled"] != false && a["writeEnabled"] != false
}

pub(super) async fn purge(args: PurgeArgs) -> anyhow::Result<()> {
    let registry = args.target.registry()?;
    let filters = args.filter.iter().map(|f| parse_filter(f)).collect::<anyhow::Result<Vec<_>>>()?;
    let cutoff = std::time::SystemTime::now() - args.ago.0;
    let cutoff =
        crate::api::time::iso8601_z(cutoff.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64));
    let repositories: Vec<String> = registry
        .list("/v2/_catalog?n=100", "repositories", None)
        .await?
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    let (mut tags_deleted, mut manifests_deleted) = (0, 0);
    for repo in repositories {
        let tag_filters: Vec<&Regex> = filters.iter().filter(|(r, _)| r.is_match(&repo)).map(|(_, t)| t).collect();
        if tag_filters.is_empty() {
            continue;
        }
        let untagged = purge_tags(&registry, &repo, &tag_filters, &cutoff, &args).await?;
        tags_deleted += untagged.len();
        if args.untagged {
            manifests_deleted += purge_untagged(&registry, &repo, &cutoff, args.dry_run, &untagged).await?;
        }
    }
    if args.dry_run {
        println!(
            "Number of tags to be deleted: {tags_deleted}\nNumber of manifests to be deleted: {manifests_deleted}"
        );
    } else {
        println!("Number of deleted tags: {tags_deleted}\nNumber of deleted manifests: {manifests_deleted}");
    }
    Ok(())
}

/// Deletes (untags) the matching tags older than the cutoff, newest `keep` spared; returns
/// their names (those a dry run would delete).
async fn purge_tags(
    registry: &Registry,
    repo: &str,
    filters: &[&Regex],
    cutoff: &str,
    args: &PurgeArgs,
) -> anyhow::Result<Vec<String>> {
    let tags = registry.list(&format!("/acr/v1/{repo}/_tags?n=100&orderby=timedesc"), "tags", None).await?;
    let matching: Vec<&Value> = tags
        .iter()
        .filter(|t| t["name"].as_str().is_some_and(|n| filters.iter().any(|f| f.is_match(n))))
        .skip(args.keep)
        .filter(|t| t["lastUpdateTime"].as_str().is_some_and(|u| u < cutoff) && deletable(t))
        .collect();
    let names: Vec<String> = matching.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect();
    if names.is_empty() {
        return Ok(names);
    }
    println!("{} for repository: {repo}", if args.dry_run { "Tags that would be deleted" } else { "Deleting tags" });
    for name in &names {
        if !args.dry_run {
            registry.call(Method::DELETE, &format!("/acr/v1/{repo}/_tags/{name}"), None).await?;
        }
        println!("{repo}:{name}");
    }
    Ok(names)
}

/// Deletes untagged manifests older than the cutoff, except locked ones and the children of
/// an index that stays. A manifest whose only tags are `untagged` (the tags this purge
/// deleted, or would have in a dry run) counts as untagged, so that a dry run reports what
/// the run does.
async fn purge_untagged(
    registry: &Registry,
    repo: &str,
    cutoff: &str,
    dry_run: bool,
    untagged: &[String],
) -> anyhow::Result<usize> {
    let manifests = registry.list(&format!("/acr/v1/{repo}/_manifests?n=100"), "manifests", None).await?;
    let tagged = |m: &Value| {
        m["tags"].as_array().is_some_and(|tags| tags.iter().any(|t| !untagged.iter().any(|u| t == u.as_str())))
    };
    let children: Vec<&str> = manifests
        .iter()
        .flat_map(|m| m["references"].as_array().into_iter().flatten().filter_map(|r| r["digest"].as_str()))
        .collect();
    let doomed: Vec<&str> = manifests
        .iter()
        .filter(|m| !tagged(m) && deletable(m))
        .filter(|m| m["lastUpdateTime"].as_str().is_some_and(|u| u < cutoff))
        .filter_map(|m| m["digest"].as_str())
        .filter(|d| !children.contains(d))
        .collect();
    if doomed.is_empty() {
        return Ok(0);
    }
    println!(
        "{} for repository: {repo}",
        if dry_run { "Manifests that would be deleted" } else { "Deleting manifests" }
    );
    for digest in &doomed {
        if !dry_run {
            registry.call(Method::DELETE, &format!("/v2/{repo}/manifests/{digest}"), None).await?;
        }
        println!("{repo}@{digest}");
    }
    Ok(doomed.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_match_whole_names() {
        let (repo, tag) = super::parse_filter("team/.*:v[0-9]+").expect("valid");
        assert!(repo.is_match("team/app") && !repo.is_match("other/team/app"));
        assert!(tag.is_match("v12") && !tag.is_match("v1-rc"));
        assert!(super::parse_filter("no-colon").is_err());
        assert!(super::parse_filter("app:(").is_err());
    }
}

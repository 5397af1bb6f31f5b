//! `berth audit list` (Berth's own; ACR keeps these in Azure Monitor): the registry's audit
//! log of sign-ins and repository events, newest first, from `GET /berth/v1/audit`.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::identity::{Target, cell};
use super::output::{self, OutputArgs};

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Audit entries, newest first
    List(ListArgs),
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    #[command(flatten)]
    target: Target,
    /// Entries at or after this time (RFC 3339, e.g. 2026-11-22T10:00:00Z, or a date)
    #[arg(long)]
    since: Option<String>,
    /// Entries before this time (RFC 3339, or a date)
    #[arg(long)]
    until: Option<String>,
    /// Only this identity's entries (the name signed in as, or tried)
    #[arg(long)]
    identity: Option<String>,
    /// Only this repository's entries
    #[arg(long)]
    repository: Option<String>,
    /// Only this operation
    #[arg(long, value_parser = ["login", "push", "pull", "delete", "untag"])]
    operation: Option<String>,
    /// Only successes or failures
    #[arg(long, value_parser = ["success", "failure"])]
    result: Option<String>,
    /// Only login or repository events
    #[arg(long, value_parser = ["login", "repository"])]
    category: Option<String>,
    /// At most this many entries [default: 100]
    #[arg(long)]
    top: Option<usize>,
}

pub(super) async fn audit(cmd: AuditCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let AuditCommand::List(args) = cmd;
    let registry = args.target.registry()?;
    let top = args.top.unwrap_or(100);
    let mut query: Vec<(&str, String)> = [
        ("since", args.since),
        ("until", args.until),
        ("identity", args.identity),
        ("repository", args.repository),
        ("operation", args.operation),
        ("result", args.result),
        ("category", args.category),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect();
    query.push(("top", top.min(1000).to_string()));
    let path = format!("/berth/v1/audit?{}", serde_urlencoded::to_string(query)?);
    let entries = registry.list(&path, "value", Some(top)).await?;
    output::print(&Value::Array(entries), out, Some(audit_columns))
}

fn audit_columns(item: &Value) -> Vec<(&'static str, String)> {
    let target = match (&item["repository"], &item["tag"], &item["digest"]) {
        (Value::String(r), Value::String(t), _) => format!("{r}:{t}"),
        (Value::String(r), _, Value::String(d)) => format!("{r}@{d}"),
        (r, ..) => cell(r),
    };
    vec![
        ("Time", cell(&item["time"])),
        ("Operation", cell(&item["operation"])),
        ("Result", cell(&item["result"])),
        ("Identity", cell(&item["identity"])),
        ("Method", cell(&item["method"])),
        ("Target", target),
        ("ClientIp", cell(&item["clientIp"])),
        ("Status", cell(&item["status"])),
    ]
}

//! `berth scan` (scan an image now and print its findings) and `berth policy scan|trust`
//! (what scans and signatures decide about serving images), Berth's own commands.

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::identity::{RegistryTarget, cell};
use super::output::{self, OutputArgs};

#[derive(Debug, Args)]
pub(super) struct ScanArgs {
    #[command(flatten)]
    target: RegistryTarget,
    /// The image: REPOSITORY:TAG or REPOSITORY@DIGEST
    #[arg(long)]
    image: String,
    /// Queue the scan and return without waiting for it
    #[arg(long)]
    no_wait: bool,
}

/// Scans the image now, waits for the scan (unless `--no-wait`) and prints its findings.
pub(super) async fn scan(args: ScanArgs, out: &OutputArgs) -> anyhow::Result<()> {
    let registry = args.target.registry()?;
    let body = json!({"image": args.image, "wait": !args.no_wait});
    let mut result = registry.call(Method::POST, "/berth/v1/scans", Some(&body)).await?;
    if !args.no_wait {
        let path = format!(
            "/berth/v1/scans?image={}",
            percent_encoding::utf8_percent_encode(&args.image, percent_encoding::NON_ALPHANUMERIC)
        );
        result = registry.call(Method::GET, &path, None).await?;
    }
    // The table lists the findings; JSON prints the whole scan.
    if out.format == output::Format::Table && out.query.is_none() {
        let findings = result["findings"].clone();
        return output::print(&findings, out, Some(finding_columns));
    }
    output::print(&result, out, None)
}

fn finding_columns(f: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("PACKAGE", cell(&f["package"])),
        ("INSTALLED", cell(&f["installed"])),
        ("FIXED IN", cell(&f["fixedIn"])),
        ("ID", cell(&f["id"])),
        ("SEVERITY", cell(&f["severity"])),
    ]
}

#[derive(Debug, Subcommand)]
pub(super) enum PolicyCommand {
    /// Scan policies: refuse pulls of images with findings at or above a severity, or set the
    /// quarantine state from the scan
    #[command(subcommand)]
    Scan(ScanPolicyCommand),
    /// Trust policies: require signatures (notation, cosign) by trusted certificates or keys
    #[command(subcommand)]
    Trust(TrustPolicyCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum ScanPolicyCommand {
    /// Create or replace a scan policy
    Create {
        #[command(flatten)]
        target: RegistryTarget,
        #[arg(short = 'n', long)]
        name: String,
        /// Repositories it governs: a name, or a pattern with * (team/*, *)
        #[arg(long)]
        repository: String,
        /// Refuse pulls of images with a finding at or above this severity
        #[arg(long, value_parser = SEVERITIES)]
        refuse_severity: Option<String>,
        /// Set quarantined images Failed with a finding at or above this severity, else Passed
        #[arg(long, value_parser = SEVERITIES)]
        quarantine_severity: Option<String>,
    },
    List(RegistryTarget),
    Delete {
        #[command(flatten)]
        target: RegistryTarget,
        #[arg(short = 'n', long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum TrustPolicyCommand {
    /// Create or replace a trust policy
    Create {
        #[command(flatten)]
        target: RegistryTarget,
        #[arg(short = 'n', long)]
        name: String,
        /// Repositories it governs: a name, or a pattern with * (team/*, *)
        #[arg(long)]
        repository: String,
        /// enforce: refuse images without a valid trusted signature; audit: serve and log; skip
        #[arg(long, value_parser = ["enforce", "audit", "skip"])]
        mode: String,
        /// PEM files of trusted root certificates (notation, cosign with certificates) and
        /// public keys (cosign keys); repeatable
        #[arg(long = "trusted")]
        trusted: Vec<std::path::PathBuf>,
    },
    List(RegistryTarget),
    Delete {
        #[command(flatten)]
        target: RegistryTarget,
        #[arg(short = 'n', long)]
        name: String,
    },
}

const SEVERITIES: [&str; 5] = ["Unknown", "Low", "Medium", "High", "Critical"];

pub(super) async fn policy(cmd: PolicyCommand, out: &OutputArgs) -> anyhow::Result<()> {
    let (kind, result) = match cmd {
        PolicyCommand::Scan(ScanPolicyCommand::Create {
            target,
            name,
            repository,
            refuse_severity,
            quarantine_severity,
        }) => {
            let body = json!({"repository": repository, "refuseSeverity": refuse_severity, "quarantineSeverity": quarantine_severity});
            (
                "scan",
                target.registry()?.call(Method::PUT, &format!("/berth/v1/policies/scan/{name}"), Some(&body)).await?,
            )
        }
        PolicyCommand::Trust(TrustPolicyCommand::Create { target, name, repository, mode, trusted }) => {
            let mut pem = String::new();
            for path in &trusted {
                pem.push_str(
                    &std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
                );
                pem.push('\n');
            }
            let body = json!({"repository": repository, "mode": mode, "trusted": pem});
            (
                "trust",
                target.registry()?.call(Method::PUT, &format!("/berth/v1/policies/trust/{name}"), Some(&body)).await?,
            )
        }
        PolicyCommand::Scan(ScanPolicyCommand::List(target)) => {
            ("scan", target.registry()?.call(Method::GET, "/berth/v1/policies/scan", None).await?)
        }
        PolicyCommand::Trust(TrustPolicyCommand::List(target)) => {
            ("trust", target.registry()?.call(Method::GET, "/berth/v1/policies/trust", None).await?)
        }
        PolicyCommand::Scan(ScanPolicyCommand::Delete { target, name }) => {
            target.registry()?.call(Method::DELETE, &format!("/berth/v1/policies/scan/{name}"), None).await?;
            return Ok(());
        }
        PolicyCommand::Trust(TrustPolicyCommand::Delete { target, name }) => {
            target.registry()?.call(Method::DELETE, &format!("/berth/v1/policies/trust/{name}"), None).await?;
            return Ok(());
        }
    };
    if kind == "scan" {
        output::print(
            &result,
            out,
            Some(|p: &Value| {
                vec![
                    ("NAME", cell(&p["name"])),
                    ("REPOSITORY", cell(&p["repository"])),
                    ("REFUSE SEVERITY", cell(&p["refuseSeverity"])),
                    ("QUARANTINE SEVERITY", cell(&p["quarantineSeverity"])),
                ]
            }),
        )
    } else {
        output::print(
            &result,
            out,
            Some(|p: &Value| {
                vec![("NAME", cell(&p["name"])), ("REPOSITORY", cell(&p["repository"])), ("MODE", cell(&p["mode"]))]
            }),
        )
    }
}

//! `berth vulndb import|show` (Berth's own; ACR scans with Microsoft Defender): loads OSV
//! records into a registry's offline vulnerability database from files (OSV's per-ecosystem
//! `all.zip` exports, single records, arrays of records), each streamed from disk, and shows
//! what is loaded, over `/berth/v1/vulndb`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use super::identity::{RegistryTarget, cell};
use super::output::{self, OutputArgs};

#[derive(Debug, Subcommand)]
pub(super) enum VulndbCommand {
    /// Import OSV records from FILE.zip, FILE.json, or every .zip and .json file in DIR (in
    /// name order, one upload each); newer records replace older ones
    Import {
        #[command(flatten)]
        target: RegistryTarget,
        /// A zip of OSV records (e.g. OSV's Debian/all.zip), one record or an array of records
        /// as JSON, or a directory of such files
        path: PathBuf,
    },
    /// Records per ecosystem and the last import
    Show(RegistryTarget),
}

pub(super) async fn vulndb(cmd: VulndbCommand, out: &OutputArgs) -> anyhow::Result<()> {
    match cmd {
        VulndbCommand::Show(target) => {
            let shown = target.registry()?.call(reqwest::Method::GET, "/berth/v1/vulndb", None).await?;
            output::print(&shown, out, Some(show_columns))
        }
        VulndbCommand::Import { target, path } => {
            let registry = target.registry()?;
            let mut results = Vec::new();
            for file in files(&path)? {
                let body =
                    tokio::fs::File::open(&file).await.with_context(|| format!("cannot open {}", file.display()))?;
                let content_type = if is_zip(&file) { "application/zip" } else { "application/json" };
                let mut answer = registry
                    .upload("/berth/v1/vulndb", body.into(), content_type)
                    .await
                    .with_context(|| format!("importing {}", file.display()))?;
                answer["file"] = json!(file.display().to_string());
                results.push(answer);
            }
            let shown = if path.is_dir() { Value::Array(results) } else { results.pop().unwrap_or_default() };
            output::print(&shown, out, Some(import_columns))
        }
    }
}

fn is_zip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// `path` itself, or the .zip and .json files directly in it, by name.
fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))? {
        let file = entry?.path();
        let json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if file.is_file() && (json || is_zip(&file)) {
            files.push(file);
        }
    }
    files.sort();
    anyhow::ensure!(!files.is_empty(), "{} holds no .zip or .json files", path.display());
    Ok(files)
}

fn show_columns(v: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("RECORDS", cell(&v["records"])),
        ("ECOSYSTEMS", v["ecosystems"].as_object().map(|m| m.len().to_string()).unwrap_or_default()),
        ("LAST IMPORT", cell(&v["lastImport"]["time"])),
    ]
}

fn import_columns(v: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("FILE", cell(&v["file"])),
        ("IMPORTED", cell(&v["imported"])),
        ("SKIPPED", cell(&v["skipped"])),
        ("INVALID", cell(&v["invalid"])),
        ("RECORDS", cell(&v["records"])),
    ]
}

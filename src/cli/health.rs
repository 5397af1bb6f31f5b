//! `berth check-health`: `az acr check-health`'s checks, error codes and messages. The local
//! clients (docker, its daemon and a pull from the registry; helm and its version; notary), then, with `-n`, the registry: DNS, the challenge on
//! `/v2/`, a refresh token, an access token, and access with it. Progress goes to stderr;
//! without `--ignore-errors` the first error ends the command with a failure.

use anyhow::bail;
use clap::Args;
use reqwest::{Method, StatusCode, header};
use std::process::Stdio;

use super::client::{Registry, SignIn};

#[derive(Debug, Args)]
pub(super) struct HealthArgs {
    /// The registry's login server; without it only the local clients are checked
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
    /// Check access to this repository (default: the catalog)
    #[arg(long)]
    repository: Option<String>,
    /// Report errors and go on
    #[arg(long)]
    ignore_errors: bool,
    /// Pull without asking (the docker pull check pulls REPOSITORY, default hello-world, with
    /// tag latest from the registry); without a terminal to ask on, the pull is skipped
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    #[command(flatten)]
    sign_in: SignIn,
}

struct Report {
    ignore_errors: bool,
}

impl Report {
    fn pass(&self, what: &str) {
        eprintln!("{what} : OK");
    }

    fn error(&self, code: &str, message: String) -> anyhow::Result<()> {
        let text = format!("An error occurred: {code}\n{message}");
        if self.ignore_errors {
            eprintln!("{text}");
            Ok(())
        } else {
            bail!("{text}")
        }
    }
}

/// What running a local program gave.
enum Ran {
    /// It could not be started (not installed, not on PATH).
    Missing,
    Failed(String),
    /// Its standard output, trimmed.
    Succeeded(String),
}

/// Runs `program args…` to its end. A failure is described as az describes it: "Failed to run
/// command '…'. <its stderr>".
async fn run(program: &str, args: &[&str]) -> Ran {
    let Ok(out) = tokio::process::Command::new(program).args(args).stdin(Stdio::null()).output().await else {
        return Ran::Missing;
    };
    if out.status.success() {
        return Ran::Succeeded(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = if stderr.trim().is_empty() { out.status.to_string() } else { stderr.trim().to_owned() };
    Ran::Failed(format!("Failed to run command '{program} {}'. {why}", args.join(" ")))
}

/// The oldest Helm az accepts without HELM_VERSION_ERROR.
const MIN_HELM_VERSION: [u32; 3] = [2, 11, 0];

/// The version in Helm 2's `SemVer:"v2.16.1"` (Helm 3 prints none: az shows its whole line).
fn helm_semver(output: &str) -> Option<&str> {
    let start = output.find("SemVer:\"v")? + "SemVer:\"v".len();
    let rest = &output[start..];
    let len = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
    Some(&rest[..len]).filter(|v| !v.is_empty())
}

/// Whether dotted version `v` is older than `min` (missing parts count as 0).
fn older(v: &str, min: [u32; 3]) -> bool {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let v: Vec<u32> = (0..3).map(|_| parts.next().unwrap_or(0)).collect();
    v.as_slice() < min.as_slice()
}

pub(super) async fn check_health(args: HealthArgs) -> anyhow::Result<()> {
    let report = Report { ignore_errors: args.ignore_errors };
    docker(&report, &args).await?;
    eprintln!("Berth CLI version: {}", env!("CARGO_PKG_VERSION"));
    helm(&report).await?;
    match run("notary", &["version"]).await {
        Ran::Succeeded(v) => eprintln!("Notary version: {}", v.lines().next().unwrap_or_default()),
        _ => report.error("NOTARY_COMMAND_ERROR", "Please verify if Notary is installed.".into())?,
    }
    if let Some(name) = &args.name {
        connectivity(&report, name, &args).await?;
    }
    eprintln!("Please refer to https://aka.ms/acr/health-check for more information.");
    Ok(())
}

/// az's docker checks, in its order: the command and its daemon (`docker ps`), the version,
/// then (daemon up and a registry named) a pull from that registry.
async fn docker(report: &Report, args: &HealthArgs) -> anyhow::Result<()> {
    let daemon = match run("docker", &["ps"]).await {
        Ran::Missing => {
            let message = "Please verify if Docker client is installed and running.";
            return report.error("DOCKER_COMMAND_ERROR", message.into());
        }
        Ran::Failed(why) => {
            let message = "Please verify if Docker daemon is running, or try restarting it.";
            report.error("DOCKER_DAEMON_ERROR", format!("{message}\n{why}"))?;
            false
        }
        Ran::Succeeded(_) => {
            eprintln!("Docker daemon status: available");
            true
        }
    };
    let message = "An error occurred while retrieving Docker version. Please try verifying it manually.";
    match run("docker", &["--version"]).await {
        Ran::Succeeded(v) => eprintln!("Docker version: {v}"),
        Ran::Failed(why) => report.error("DOCKER_VERSION_ERROR", format!("{message}\n{why}"))?,
        Ran::Missing => report.error("DOCKER_VERSION_ERROR", message.into())?,
    }
    let (true, Some(name)) = (daemon, &args.name) else { return Ok(()) };
    let Ok(registry) = Registry::new(name, &args.sign_in) else { return Ok(()) };
    let image = format!("{}/{}:latest", registry.login_server, args.repository.as_deref().unwrap_or("hello-world"));
    if !args.yes && !confirm(&format!("This will pull the image {image}. Proceed?")) {
        eprintln!("Skipping pull check.");
        return Ok(());
    }
    match run("docker", &["pull", &image]).await {
        Ran::Succeeded(_) => {
            report.pass(&format!("Docker pull of '{image}'"));
            Ok(())
        }
        Ran::Failed(why) => report.error("DOCKER_PULL_ERROR", format!("{PULL_ERROR}\n{why}")),
        Ran::Missing => report.error("DOCKER_PULL_ERROR", PULL_ERROR.into()),
    }
}

const PULL_ERROR: &str = "An error occurred while pulling a sample image. Please validate your network connection \
                          and verify if Docker daemon is running properly.";

/// Asks on the terminal; without one (a script, CI) the answer is no, as `--yes` is how a
/// script says yes.
fn confirm(question: &str) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} (y/n): ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("y")
}

/// az's helm checks: the command (`helm --help`), then its version, which must be 2.11.0 or
/// later where Helm says it (Helm 2's `SemVer`).
async fn helm(report: &Report) -> anyhow::Result<()> {
    const MISSING: &str = "Please verify if Helm is installed.";
    match run("helm", &["--help"]).await {
        Ran::Missing => return report.error("HELM_COMMAND_ERROR", MISSING.into()),
        Ran::Failed(why) => return report.error("HELM_COMMAND_ERROR", format!("{MISSING}\n{why}")),
        Ran::Succeeded(_) => {}
    }
    let output = match run("helm", &["version", "--client"]).await {
        Ran::Succeeded(output) => output,
        Ran::Failed(why) => return report.error("HELM_VERSION_ERROR", format!("{HELM_VERSION_ERROR}\n{why}")),
        Ran::Missing => return report.error("HELM_VERSION_ERROR", HELM_VERSION_ERROR.into()),
    };
    let version = helm_semver(&output);
    eprintln!("Helm version: {}", version.unwrap_or(&output));
    match version {
        Some(v) if older(v, MIN_HELM_VERSION) => report.error(
            "HELM_VERSION_ERROR",
            "Current Helm client version is not recommended. Please upgrade your Helm client to at least version 2.11.0."
                .into(),
        ),
        _ => Ok(()),
    }
}

const HELM_VERSION_ERROR: &str = "An error occurred while retrieving Helm version. Please make sure that you have the \
                                  latest Berth CLI version, and that you are using the recommended Helm version.";

async fn connectivity(report: &Report, name: &str, args: &HealthArgs) -> anyhow::Result<()> {
    let registry = match Registry::new(name, &args.sign_in) {
        Ok(r) => r,
        Err(e) => return report.error("LOGIN_SERVER_ERROR", format!("{e:#}")),
    };
    let server = registry.login_server.clone();
    let host_port =
        if server.contains(':') && !server.ends_with(']') { server.clone() } else { format!("{server}:443") };
    match tokio::net::lookup_host(&host_port).await.map(|mut a| a.next()) {
        Ok(Some(addr)) => report.pass(&format!("DNS lookup to {server} at IP {}", addr.ip())),
        _ => return report.error("CONNECTIVITY_DNS_ERROR", format!("DNS lookup to {server} failed.")),
    }

    let challenge = registry.send(registry.bare(Method::GET, "/v2/")).await;
    let bearer = match &challenge {
        Ok(res) if res.status() == StatusCode::UNAUTHORIZED => res
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer realm=") && v.contains("service=")),
        Ok(res) => res.status().is_success(),
        Err(_) => false,
    };
    if !bearer {
        let why = match challenge {
            Ok(res) => format!("it answered {}", res.status()),
            Err(e) => format!("{e:#}"),
        };
        return report.error(
            "CONNECTIVITY_CHALLENGE_ERROR",
            format!("Sending the challenge request to https://{server}/v2/ failed: {why}."),
        );
    }
    report.pass(&format!("Challenge endpoint {server}/v2/"));

    let Some(creds) = registry.creds.clone() else {
        eprintln!("No credentials for {server} (berth login, or -u/-p): token checks skipped.");
        return Ok(());
    };
    let refresh = match registry.refresh_token(&creds).await {
        Ok(token) => token,
        Err(e) => {
            return report
                .error("CONNECTIVITY_REFRESH_TOKEN_ERROR", format!("Access to registry {server} was denied: {e:#}"));
        }
    };
    report.pass(&format!("Fetch refresh token for registry '{server}'"));

    let scope = match &args.repository {
        Some(repo) => format!("repository:{repo}:pull"),
        None => "registry:catalog:*".to_owned(),
    };
    let form = [("grant_type", "refresh_token"), ("service", &server), ("scope", &scope), ("refresh_token", &refresh)];
    let res = registry.send(registry.bare(Method::POST, "/oauth2/token").form(&form)).await;
    let token = match res {
        Ok(res) if res.status().is_success() => {
            res.json::<serde_json::Value>().await.ok().and_then(|b| b["access_token"].as_str().map(str::to_owned))
        }
        Ok(res) if res.status() == StatusCode::TOO_MANY_REQUESTS => {
            return report
                .error("CONNECTIVITY_TOOMANYREQUESTS_ERROR", format!("Too many requests to registry {server}."));
        }
        _ => None,
    };
    let Some(token) = token else {
        return report.error("CONNECTIVITY_ACCESS_TOKEN_ERROR", format!("Access to registry {server} was denied."));
    };
    report.pass(&format!("Fetch access token for registry '{server}'"));

    let path = match &args.repository {
        Some(repo) => format!("/v2/{repo}/tags/list"),
        None => "/v2/_catalog".to_owned(),
    };
    match registry.send(registry.bare(Method::GET, &path).bearer_auth(token)).await.map(|r| r.status()) {
        Ok(StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED) => report.error(
            "CONNECTIVITY_FORBIDDEN_ERROR",
            format!("Look-up for {path} on {server} was forbidden: the signed-in identity may not pull or list there."),
        ),
        Ok(_) => {
            report.pass(&format!("Access to {path} on {server}"));
            Ok(())
        }
        Err(e) => report.error("CONNECTIVITY_CHALLENGE_ERROR", format!("{server} stopped answering: {e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_versions_are_read_as_az_reads_them() {
        let helm2 = r#"Client: &version.Version{SemVer:"v2.10.0", GitCommit:"9ad53aac", GitTreeState:"clean"}"#;
        assert_eq!(helm_semver(helm2), Some("2.10.0"));
        assert_eq!(helm_semver(r#"version.BuildInfo{Version:"v3.14.0", GitCommit:"3fc9f4b"}"#), None);
        assert!(older("2.10.0", MIN_HELM_VERSION) && older("1.99", MIN_HELM_VERSION));
        assert!(!older("2.11.0", MIN_HELM_VERSION) && !older("2.16.1", MIN_HELM_VERSION));
    }
}

//! `berth check-health`: `az acr check-health`'s checks and error codes. The local clients
//! (docker and its daemon, helm, notary), then, with `-n`, the registry: DNS, the challenge on
//! `/v2/`, a refresh token, an access token, and access with it. Progress goes to stderr;
//! without `--ignore-errors` the first error ends the command with a failure.

use anyhow::bail;
use clap::Args;
use reqwest::{Method, StatusCode, header};

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
    /// Accepted for az compatibility (nothing here asks)
    #[arg(short = 'y', long = "yes")]
    _yes: bool,
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

/// Runs `program args…`; its first output line, if it ran and succeeded.
async fn version(program: &str, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new(program).args(args).output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| text.lines().next().unwrap_or_default().trim().to_owned())
}

pub(super) async fn check_health(args: HealthArgs) -> anyhow::Result<()> {
    let report = Report { ignore_errors: args.ignore_errors };
    match version("docker", &["--version"]).await {
        Some(v) => {
            eprintln!("Docker version: {v}");
            match version("docker", &["info", "--format", "{{.ServerVersion}}"]).await {
                Some(_) => eprintln!("Docker daemon status: available"),
                None => report.error("DOCKER_DAEMON_ERROR", "Please verify if the Docker daemon is running.".into())?,
            }
        }
        None => report.error("DOCKER_COMMAND_ERROR", "Please verify if Docker client is installed.".into())?,
    }
    eprintln!("Berth CLI version: {}", env!("CARGO_PKG_VERSION"));
    match version("helm", &["version", "--short"]).await {
        Some(v) => eprintln!("Helm version: {v}"),
        None => report.error("HELM_COMMAND_ERROR", "Please verify if Helm is installed.".into())?,
    }
    match version("notary", &["version"]).await {
        Some(v) => eprintln!("Notary version: {v}"),
        None => report.error("NOTARY_COMMAND_ERROR", "Please verify if Notary is installed.".into())?,
    }
    if let Some(name) = &args.name {
        connectivity(&report, name, &args).await?;
    }
    eprintln!("Please refer to https://aka.ms/acr/health-check for more information.");
    Ok(())
}

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

//! The client side of every `berth` command but `serve`: which registry (`-n localhost:5000`),
//! who signs in (`-u/-p`, else what `berth login` or `docker login` stored), and calls to its JSON
//! APIs with their error envelope turned into a [`Failure`] (which decides the exit code).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::Args;
use reqwest::Method;
use serde_json::Value;

use super::docker_config;
use super::error::Failure;

#[derive(Clone)]
pub(crate) struct Creds {
    pub(crate) username: String,
    pub(crate) password: String,
}

/// `-u/--username` and `-p/--password`, as `az acr` takes them.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct SignIn {
    /// User name: the admin user, a user, a service principal or a repository token
    #[arg(short = 'u', long)]
    pub(crate) username: Option<String>,
    /// Password for --username
    #[arg(short = 'p', long)]
    pub(crate) password: Option<String>,
}

pub(crate) struct Registry {
    /// Host and port, lowercased: the key in docker's config and the token `service`.
    pub(crate) login_server: String,
    base: String,
    http: reqwest::Client,
    pub(crate) creds: Option<Creds>,
}

impl Registry {
    /// `name` is a login server (`localhost:5000`, `registry.example.com`), optionally with
    /// `https://` or `http://`. Without a scheme, loopback hosts use HTTP and others HTTPS.
    pub(crate) fn new(name: &str, sign_in: &SignIn) -> anyhow::Result<Self> {
        let (scheme, rest) = match name.split_once("://") {
            Some((s @ ("http" | "https"), rest)) => (Some(s), rest),
            Some((s, _)) => bail!("unsupported scheme {s:?} in {name:?}: use https:// or http://"),
            None => (None, name),
        };
        let login_server = rest.trim_end_matches('/').to_ascii_lowercase();
        if login_server.is_empty() || login_server.contains(['/', '@', '?', '#', ' ']) {
            bail!("{name:?} is not a login server: give a host and optional port, such as localhost:5000");
        }
        let scheme = scheme.unwrap_or(if is_loopback(&login_server) { "http" } else { "https" });
        let creds = match (&sign_in.username, &sign_in.password) {
            (Some(username), Some(password)) => Some(Creds { username: username.clone(), password: password.clone() }),
            (Some(_), None) | (None, Some(_)) => bail!("give both -u/--username and -p/--password"),
            (None, None) => docker_config::credentials(&login_server)?,
        };
        Ok(Self { base: format!("{scheme}://{login_server}"), login_server, http: http_client()?, creds })
    }

    /// A request to `path` with no credentials, for probes that check each step themselves.
    pub(crate) fn bare(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Calls a JSON API of the registry with the stored credentials; `Value::Null` for an empty
    /// answer (204).
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(c) = &self.creds {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = self.send(req).await?;
        self.answer(res, &format!("{method} {path}")).await
    }

    /// POSTs `body` (streamed, e.g. from a file) to a JSON API of the registry with the stored
    /// credentials; its JSON answer.
    pub(crate) async fn upload(&self, path: &str, body: reqwest::Body, content_type: &str) -> anyhow::Result<Value> {
        let mut req =
            self.http.post(format!("{}{path}", self.base)).header(reqwest::header::CONTENT_TYPE, content_type);
        if let Some(c) = &self.creds {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let res = self.send(req.body(body)).await?;
        self.answer(res, &format!("POST {path}")).await
    }

    /// GETs a text answer (such as a run's log) with the stored credentials: its body and
    /// headers. An error answer is a [`Failure`], as [`Registry::call`]'s are.
    pub(crate) async fn text(&self, path: &str) -> anyhow::Result<(String, reqwest::header::HeaderMap)> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.creds {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let res = self.send(req).await?;
        if !res.status().is_success() {
            return Err(self
                .answer(res, &format!("GET {path}"))
                .await
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("GET {path}: the registry refused without saying why")));
        }
        let headers = res.headers().clone();
        let body = res.text().await.with_context(|| format!("GET {path}: the answer was cut off"))?;
        Ok((body, headers))
    }

    /// Every item of a paged `/acr/v1` listing (following `Link: <…>; rel="next"`): the arrays
    /// under `field`, at most `top` items.
    pub(crate) async fn list(&self, path: &str, field: &str, top: Option<usize>) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next.take() {
            let mut req = self.http.get(format!("{}{path}", self.base));
            if let Some(c) = &self.creds {
                req = req.basic_auth(&c.username, Some(&c.password));
            }
            let res = self.send(req).await?;
            next = res
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.strip_prefix('<')?.split_once('>'))
                .map(|(url, _)| url.to_owned());
            let page = self.answer(res, &format!("GET {path}")).await?;
            items.extend(page[field].as_array().cloned().unwrap_or_default());
            if top.is_some_and(|t| items.len() >= t) {
                items.truncate(top.unwrap_or_default());
                break;
            }
        }
        Ok(items)
    }

    /// `POST /oauth2/exchange` with a user name and password: a refresh token (ACR's
    /// `az acr login --expose-token`), which also proves the credentials.
    pub(crate) async fn refresh_token(&self, creds: &Creds) -> anyhow::Result<String> {
        let form = [
            ("grant_type", "password"),
            ("service", &self.login_server),
            ("username", &creds.username),
            ("password", &creds.password),
        ];
        let res = self.send(self.bare(Method::POST, "/oauth2/exchange").form(&form)).await?;
        let body = self.answer(res, "sign-in").await?;
        body["refresh_token"].as_str().map(str::to_owned).context("the registry answered without a refresh_token")
    }

    async fn answer(&self, res: reqwest::Response, what: &str) -> anyhow::Result<Value> {
        let status = res.status();
        let bytes = res.bytes().await.with_context(|| format!("{what}: the answer was cut off"))?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).with_context(|| format!("{what}: the answer is not JSON"));
        }
        // The OCI error envelope: {"errors": [{"code", "message"}]}.
        let parsed: Option<(String, String)> = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
            let e = v["errors"].get(0)?;
            Some((e["code"].as_str()?.to_owned(), e["message"].as_str().unwrap_or_default().to_owned()))
        });
        let (code, mut message) =
            parsed.unwrap_or_else(|| (status.to_string(), String::from_utf8_lossy(&bytes).into()));
        if status == reqwest::StatusCode::UNAUTHORIZED && self.creds.is_none() {
            message += &format!(
                " (no credentials for {0}: run `berth login -n {0} -u USER -p PASSWORD` or give -u/-p)",
                self.login_server
            );
        }
        Err(anyhow::Error::new(Failure::Refused { status: status.as_u16(), code, message }).context(what.to_owned()))
    }

    /// Sends `req`. When no answer comes back over `http://` but the same port answers in
    /// TLS, says to use `https://` instead of hyper's "invalid HTTP version parsed" (a loopback
    /// host without a scheme is tried over HTTP first).
    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let error = match req.send().await {
            Ok(res) => return Ok(res),
            Err(e) => e,
        };
        if let Some(https) = self.base.strip_prefix("http://").map(with_port)
            && speaks_tls(&https).await
        {
            bail!("cannot reach {}: the registry answered in TLS: use https://{https}", self.base);
        }
        Err(anyhow::Error::new(error).context(format!("cannot reach {}", self.base)))
    }
}

/// `host:port`, with HTTP's port 80 made explicit.
fn with_port(server: &str) -> String {
    let port = server.rsplit_once(':').map(|(_, port)| port);
    if port.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        server.to_owned()
    } else {
        format!("{server}:80")
    }
}

/// Whether `https://host_port/v2/` answers at all. Only a probe after a failure: no
/// credentials are sent, so the certificate need not be trusted for it.
async fn speaks_tls(host_port: &str) -> bool {
    let probe =
        reqwest::Client::builder().danger_accept_invalid_certs(true).timeout(std::time::Duration::from_secs(5)).build();
    match probe {
        Ok(client) => client.get(format!("https://{host_port}/v2/")).send().await.is_ok(),
        Err(_) => false,
    }
}

fn is_loopback(server: &str) -> bool {
    let host = match server.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => server.rsplit_once(':').map_or(server, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An HTTPS client that also trusts `REQUESTS_CA_BUNDLE` or `SSL_CERT_FILE` (az honours the
/// former), e.g. the certificate of `berth serve --tls-self-signed`.
fn http_client() -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().user_agent(concat!("berth-cli/", env!("CARGO_PKG_VERSION")));
    for var in ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"] {
        if let Some(file) = std::env::var_os(var) {
            let pem = std::fs::read(&file).with_context(|| format!("{var}: cannot read {}", file.to_string_lossy()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).with_context(|| format!("{var}: not PEM"))? {
                builder = builder.add_root_certificate(cert);
            }
        }
    }
    Ok(builder.build()?)
}

/// Asks before a destructive command unless `--yes` was given; without a terminal to ask on,
/// refuses as az does.
pub(crate) fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("unable to prompt for confirmation as no tty is available: use --yes");
    }
    eprint!("{question} (y/n): ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") { Ok(()) } else { bail!("Operation cancelled.") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_server_is_lowercased_and_scheme_follows_the_host() {
        let none = SignIn { username: Some("u".into()), password: Some("p".into()) };
        let r = Registry::new("LocalHost:5000", &none).expect("valid");
        assert_eq!((r.login_server.as_str(), r.base.as_str()), ("localhost:5000", "http://localhost:5000"));
        let r = Registry::new("Registry.Example.com", &none).expect("valid");
        assert_eq!(r.base, "https://registry.example.com");
        let r = Registry::new("https://127.0.0.1:5443/", &none).expect("valid");
        assert_eq!((r.login_server.as_str(), r.base.as_str()), ("127.0.0.1:5443", "https://127.0.0.1:5443"));
        assert_eq!(Registry::new("[::1]:5000", &none).expect("valid").base, "http://[::1]:5000");
        assert!(Registry::new("ftp://x", &none).is_err());
        assert!(Registry::new("localhost:5000/repo", &none).is_err());
        let half = SignIn { username: Some("u".into()), password: None };
        assert!(Registry::new("localhost:5000", &half).is_err());
    }

    #[test]
    fn probes_name_the_port_http_used() {
        assert_eq!(with_port("127.0.0.1:5443"), "127.0.0.1:5443");
        assert_eq!(with_port("localhost"), "localhost:80");
        assert_eq!(with_port("[::1]:5000"), "[::1]:5000");
        assert_eq!(with_port("[::1]"), "[::1]:80");
    }
}

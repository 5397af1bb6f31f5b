//! Sending a webhook's request to a URI its owner chose, treated as hostile: http and https
//! only, addresses checked after resolution and the connection pinned to the checked address
//! (no second lookup a DNS rebinding could answer differently), no proxies, no redirects
//! followed, bounded time, and at most [`MAX_RESPONSE`] bytes of the answer read.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use reqwest::Url;

use crate::config::WebhooksConfig;

/// Bytes of a receiver's answer kept (and read at all).
const MAX_RESPONSE: usize = 16 << 10;

/// Addresses no webhook reaches unless allowed: link-local (where clouds serve instance
/// metadata and credentials), the metadata endpoints outside it, and addresses that are no
/// single host.
const ALWAYS_DENIED: &[&str] = &[
    "169.254.0.0/16",
    "fe80::/10",
    "100.100.100.200/32",
    "fd00:ec2::254/128",
    "0.0.0.0/8",
    "::/128",
    "224.0.0.0/4",
    "ff00::/8",
    "255.255.255.255/32",
];

/// What came of one request.
#[derive(Debug, Clone, Default)]
pub(super) struct Outcome {
    pub status: Option<u16>,
    pub reason: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// Why there is no answer (refused address, timeout, connection error).
    pub error: Option<String>,
    pub duration: Duration,
}

impl Outcome {
    pub(super) fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Sender {
    deny: Vec<IpNet>,
    allow: Vec<IpNet>,
    connect_timeout: Duration,
    timeout: Duration,
}

/// Checks a service URI's form: an absolute http or https URL with a host.
pub(crate) fn check_uri(uri: &str) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|e| format!("service URI {uri:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("service URI {uri:?}: only http and https are allowed"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("service URI {uri:?} has no host"));
    }
    Ok(url)
}

fn not_allowed(ip: IpAddr) -> String {
    format!("address {ip} is not allowed for webhooks (see webhooks.deny and webhooks.allow)")
}

impl Sender {
    pub(crate) fn new(config: &WebhooksConfig) -> Self {
        let mut deny: Vec<IpNet> = ALWAYS_DENIED.iter().filter_map(|n| n.parse().ok()).collect();
        deny.extend(config.deny.iter().copied());
        Sender {
            deny,
            allow: config.allow.clone(),
            connect_timeout: config.connect_timeout.0,
            timeout: config.timeout.0,
        }
    }

    /// Whether a webhook may reach `ip` (IPv4-mapped IPv6 addresses are checked as IPv4).
    pub(super) fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allow.iter().any(|n| n.contains(&ip)) || !self.deny.iter().any(|n| n.contains(&ip))
    }

    /// Refuses a URL whose host is an address webhooks may not reach, when it is given; a
    /// name is checked when sending, against what it resolves to then.
    pub(crate) fn check_literal(&self, url: &Url) -> Result<(), String> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.permits(ip) { Ok(()) } else { Err(not_allowed(ip)) }
    }

    /// The address to connect to for `url`: every address its host resolves to must be
    /// permitted (a name must not mix allowed and denied ones), and the first is used.
    pub(crate) async fn address(&self, url: &Url) -> Result<SocketAddr, String> {
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => {
                let lookup = tokio::net::lookup_host((name, port));
                match tokio::time::timeout(self.connect_timeout, lookup).await {
                    Ok(Ok(found)) => found.collect(),
                    Ok(Err(e)) => return Err(format!("cannot resolve {name}: {e}")),
                    Err(_) => return Err(format!("resolving {name} timed out")),
                }
            }
            None => return Err("the service URI has no host".into()),
        };
        if let Some(denied) = addrs.iter().find(|a| !self.permits(a.ip())) {
            return Err(not_allowed(denied.ip()));
        }
        addrs.first().copied().ok_or_else(|| "the host resolves to no address".into())
    }

    /// POSTs `body` with `headers` to `uri`.
    pub(super) async fn post(&self, uri: &str, headers: &[(String, String)], body: Vec<u8>) -> Outcome {
        let start = Instant::now();
        let mut outcome = match self.try_post(uri, headers, body).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome { error: Some(error), ..Outcome::default() },
        };
        outcome.duration = start.elapsed();
        outcome
    }

    async fn try_post(&self, uri: &str, headers: &[(String, String)], body: Vec<u8>) -> Result<Outcome, String> {
        let url = check_uri(uri)?;
        let addr = self.address(&url).await?;
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout);
        if let Some(url::Host::Domain(name)) = url.host() {
            client = client.resolve(name, addr);
        }
        let client = client.build().map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let mut request = client.post(url);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let mut res = request.body(body).send().await.map_err(|e| describe(&e))?;
        let status = res.status();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut kept = Vec::new();
        // The answer is read only up to the bound; the rest is never received.
        while kept.len() < MAX_RESPONSE {
            match res.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(MAX_RESPONSE - kept.len())]),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Outcome {
            status: Some(status.as_u16()),
            reason: status.canonical_reason().unwrap_or_default().to_owned(),
            headers,
            body: String::from_utf8_lossy(&kept).into_owned(),
            error: None,
            duration: Duration::ZERO,
        })
    }
}

/// A request error with its causes.
fn describe(e: &reqwest::Error) -> String {
    let text = crate::error_chain(e);
    if e.is_timeout() { format!("timed out: {text}") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_endpoints_are_refused_and_loopback_is_not() {
        let sender = Sender::new(&WebhooksConfig::default());
        for denied in ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254", "100.100.100.200", "fd00:ec2::254"] {
            assert!(!sender.permits(denied.parse().expect("ip")), "{denied}");
        }
        for allowed in ["127.0.0.1", "::1", "10.0.0.5", "192.168.1.1", "203.0.113.7"] {
            assert!(sender.permits(allowed.parse().expect("ip")), "{allowed}");
        }
        let config = WebhooksConfig {
            deny: vec!["10.0.0.0/8".parse().expect("net")],
            allow: vec!["169.254.10.0/24".parse().expect("net")],
            ..WebhooksConfig::default()
        };
        let sender = Sender::new(&config);
        assert!(!sender.permits("10.1.2.3".parse().expect("ip")));
        assert!(sender.permits("169.254.10.9".parse().expect("ip")));
        assert!(!sender.permits("169.254.169.254".parse().expect("ip")));
    }

    #[test]
    fn only_http_and_https_uris_with_a_host() {
        assert!(check_uri("https://ci.example.com/hook?x=1").is_ok());
        assert!(check_uri("http://127.0.0.1:8080/").is_ok());
        for bad in ["file:///etc/passwd", "ftp://x/", "gopher://x/", "http://", "not a url", "unix:/run/x.sock"] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
    }
}

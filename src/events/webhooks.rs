//! Webhooks as ACR has them: settings (`az acr webhook create|update`), ACR's event payloads,
//! and delivery from the outbox — in order per webhook, retried with exponential backoff, every
//! attempt logged (`list-events`), state kept in the database so it survives restarts. Beyond
//! ACR: `redeliver`, and an HMAC-SHA256 signature of each body when a secret is set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::metrics::Metrics;
use super::send::{self, Outcome, Sender};
use crate::api::time::iso8601_z;
use crate::auth::seal::{self, MasterKeys};
use crate::config::WebhooksConfig;
use crate::meta::{self, DeliveryRow, DeliveryState, EventRow, MetaStore, WebhookRow, WebhookSettings, now_ms};

/// The actions a webhook can subscribe to (az's `--actions`). Berth emits `push`, `delete` and,
/// with quarantine on, `quarantine`; Helm charts are pushed as OCI artifacts and so send `push`,
/// as ACR does for them.
pub const ACTIONS: &[&str] = &["push", "delete", "quarantine", "chart_push", "chart_delete"];

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>` when the webhook has a secret.
pub const SIGNATURE_HEADER: &str = "X-Berth-Signature-256";

/// Events read per round of one webhook.
const ROUND: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("webhook {0:?} not found")]
    NotFound(String),
    #[error("event {0:?} not found (events are kept for webhooks.log_retention)")]
    EventNotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("webhook {0:?} already exists")]
    Duplicate(String),
    #[error("the tier allows {limit} webhooks and {count} exist (berth update --sku raises the limit)")]
    LimitReached { count: u64, limit: u64 },
    #[error("webhook settings: {0}")]
    Sealed(#[from] seal::Error),
    #[error(transparent)]
    Meta(meta::Error),
}

impl From<meta::Error> for Error {
    fn from(e: meta::Error) -> Self {
        match e {
            meta::Error::LimitReached { count, limit } => Error::LimitReached { count, limit },
            other => Error::Meta(other),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What `get-config` shows, sealed at rest: the URI, headers and secret often carry credentials.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Callback {
    pub service_uri: String,
    pub custom_headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A webhook as listed (no secrets).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    pub enabled: bool,
    pub scope: String,
    pub actions: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Settings given to create or update; `None` keeps (update) or defaults (create).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSpec {
    pub service_uri: Option<String>,
    pub custom_headers: Option<BTreeMap<String, String>>,
    pub actions: Option<Vec<String>>,
    pub scope: Option<String>,
    pub status: Option<String>,
    /// `""` removes the secret.
    pub secret: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Webhooks {
    meta: MetaStore,
    master: Arc<MasterKeys>,
    sender: Sender,
    config: WebhooksConfig,
    metrics: Arc<Metrics>,
    /// Woken after a change committed events here; other nodes' events are found by polling.
    wake: Arc<tokio::sync::Notify>,
}

fn sealed_label(name: &str) -> String {
    format!("webhook:{name}")
}

/// ACR's webhook names: 5 to 50 letters and digits.
fn check_name(name: &str) -> Result<()> {
    if (5..=50).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(Error::Invalid(format!("webhook name {name:?}: use 5 to 50 letters and digits")))
    }
}

fn check_actions(actions: &[String]) -> Result<String> {
    if actions.is_empty() {
        return Err(Error::Invalid(format!("give at least one action of: {}", ACTIONS.join(", "))));
    }
    if let Some(bad) = actions.iter().find(|a| !ACTIONS.contains(&a.as_str())) {
        return Err(Error::Invalid(format!("action {bad:?}: use {}", ACTIONS.join(", "))));
    }
    let mut unique: Vec<&str> = actions.iter().map(String::as_str).collect();
    unique.dedup();
    Ok(unique.join(","))
}

/// A scope is empty (every event), `repository`, or `repository:tag`, with `*` matching any run
/// of characters in either part.
fn check_scope(scope: &str) -> Result<()> {
    let ok = scope.is_empty()
        || (scope.len() <= 512
            && scope.split(':').count() <= 2
            && scope.bytes().all(|b| b.is_ascii_alphanumeric() || b"*:/._-".contains(&b)));
    if ok { Ok(()) } else { Err(Error::Invalid(format!("scope {scope:?}: use REPOSITORY[:TAG] with * wildcards"))) }
}

fn check_status(status: &str) -> Result<()> {
    match status {
        "enabled" | "disabled" => Ok(()),
        _ => Err(Error::Invalid(format!("status {status:?}: use enabled or disabled"))),
    }
}

fn check_headers(headers: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in headers {
        let name_ok = reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_ok();
        if !name_ok || reqwest::header::HeaderValue::from_str(v).is_err() {
            return Err(Error::Invalid(format!("custom header {k:?} is not a valid HTTP header")));
        }
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("host") {
            return Err(Error::Invalid(format!("custom header {k:?} is set by Berth")));
        }
    }
    Ok(())
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(text) = text.strip_prefix(head) else { return false };
            (0..=text.len()).filter(|&i| text.is_char_boundary(i)).any(|i| glob(rest, &text[i..]))
        }
    }
}

/// Whether an event on `repository` (and `tag`, if it names one) is in `scope`. As in ACR,
/// `repo` alone means `repo:latest`; an event without a tag (a delete by digest) is in a scope
/// whose tag part is `*`.
fn in_scope(scope: &str, repository: &str, tag: Option<&str>) -> bool {
    if scope.is_empty() {
        return true;
    }
    let (repo_pattern, tag_pattern) = scope.split_once(':').unwrap_or((scope, "latest"));
    glob(repo_pattern, repository)
        && match tag {
            Some(tag) => glob(tag_pattern, tag),
            None => tag_pattern == "*",
        }
}

/// ACR's event payload for an outbox event.
pub fn payload(e: &EventRow) -> Value {
    let mut target = serde_json::Map::new();
    if let Some(m) = &e.media_type {
        target.insert("mediaType".into(), json!(m));
    }
    if let Some(size) = e.size {
        target.insert("size".into(), json!(size));
    }
    if let Some(d) = &e.digest {
        target.insert("digest".into(), json!(d));
    }
    if let Some(size) = e.size {
        target.insert("length".into(), json!(size));
    }
    target.insert("repository".into(), json!(e.repository));
    if let Some(t) = &e.tag {
        target.insert("tag".into(), json!(t));
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    json!({
        "id": e.id,
        "timestamp": iso8601_z(e.at),
        "action": e.action,
        "target": target,
        "request": {
            "id": text(&e.request_id),
            "host": text(&e.host),
            "method": text(&e.method),
            "useragent": text(&e.user_agent),
        },
    })
}

/// Wait before retry `attempt` (1-based): 1 s, 2 s, 4 s… up to `max`.
fn backoff(attempt: i64, max: Duration) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1)).unwrap_or(u32::MAX).min(20);
    Duration::from_secs(1u64 << exp).min(max)
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, body).as_ref())
}

impl Webhooks {
    pub fn new(meta: MetaStore, master: Arc<MasterKeys>, config: &WebhooksConfig, metrics: Arc<Metrics>) -> Self {
        Webhooks {
            wake: meta.events_committed(),
            meta,
            master,
            sender: Sender::new(config),
            config: config.clone(),
            metrics,
        }
    }

    /// Wakes the delivery job (after this node committed events).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// What wakes the delivery job.
    pub fn signal(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Whether any enabled webhook has an attempt due (cheap: one read of a small table).
    pub async fn any_due(&self) -> Result<bool> {
        let now = now_ms();
        Ok(self.meta.webhooks().await?.iter().any(|w| w.status == "enabled" && w.next_attempt_at <= now))
    }

    fn view(row: &WebhookRow) -> Webhook {
        Webhook {
            name: row.name.clone(),
            enabled: row.status == "enabled",
            scope: row.scope.clone(),
            actions: row.actions.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    fn seal_callback(&self, name: &str, callback: &Callback) -> Result<String> {
        let plain = serde_json::to_vec(callback).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(self.master.seal(&sealed_label(name), &plain)?)
    }

    fn open_callback(&self, row: &WebhookRow) -> Result<Callback> {
        let plain = self.master.open(&sealed_label(&row.name), &row.config)?;
        serde_json::from_slice(&plain).map_err(|e| Error::Meta(meta::Error::Corrupt(e.to_string())))
    }

    async fn row(&self, name: &str) -> Result<WebhookRow> {
        self.meta.webhook(name).await?.ok_or_else(|| Error::NotFound(name.to_owned()))
    }

    pub async fn list(&self) -> Result<Vec<Webhook>> {
        Ok(self.meta.webhooks().await?.iter().map(Self::view).collect())
    }

    pub async fn show(&self, name: &str) -> Result<Webhook> {
        Ok(Self::view(&self.row(name).await?))
    }

    /// `get-config`: the service URI and custom headers (and the secret, Berth's own).
    pub async fn callback(&self, name: &str) -> Result<Callback> {
        self.open_callback(&self.row(name).await?)
    }

    /// A service URI's form, and its address if it names one (see [`Sender::check_literal`]).
    fn check_target(&self, uri: &str) -> Result<()> {
        let url = send::check_uri(uri).map_err(Error::Invalid)?;
        self.sender.check_literal(&url).map_err(Error::Invalid)
    }

    /// Creates a webhook; at most `limit` exist (the tier's).
    pub async fn create(&self, name: &str, spec: WebhookSpec, limit: u64) -> Result<Webhook> {
        check_name(name)?;
        let uri = spec.service_uri.ok_or_else(|| Error::Invalid("a service URI is required (--uri)".into()))?;
        self.check_target(&uri)?;
        let actions = check_actions(&spec.actions.unwrap_or_default())?;
        let scope = spec.scope.unwrap_or_default();
        check_scope(&scope)?;
        let status = spec.status.unwrap_or_else(|| "enabled".into());
        check_status(&status)?;
        let headers = spec.custom_headers.unwrap_or_default();
        check_headers(&headers)?;
        let callback =
            Callback { service_uri: uri, custom_headers: headers, secret: spec.secret.filter(|s| !s.is_empty()) };
        let config = self.seal_callback(name, &callback)?;
        let settings = WebhookSettings { status: &status, scope: &scope, actions: &actions, config: &config };
        match self.meta.create_webhook(name, &settings, limit).await {
            Err(meta::Error::Duplicate) => return Err(Error::Duplicate(name.to_owned())),
            other => other?,
        }
        self.show(name).await
    }

    pub async fn update(&self, name: &str, spec: WebhookSpec) -> Result<Webhook> {
        let row = self.row(name).await?;
        let mut callback = self.open_callback(&row)?;
        if let Some(uri) = spec.service_uri {
            self.check_target(&uri)?;
            callback.service_uri = uri;
        }
        if let Some(headers) = spec.custom_headers {
            check_headers(&headers)?;
            callback.custom_headers = headers;
        }
        if let Some(secret) = spec.secret {
            callback.secret = Some(secret).filter(|s| !s.is_empty());
        }
        let actions = match spec.actions {
            Some(a) => check_actions(&a)?,
            None => row.actions.clone(),
        };
        let scope = spec.scope.unwrap_or(row.scope.clone());
        check_scope(&scope)?;
        let status = spec.status.unwrap_or(row.status.clone());
        check_status(&status)?;
        let config = self.seal_callback(name, &callback)?;
        let settings = WebhookSettings { status: &status, scope: &scope, actions: &actions, config: &config };
        if !self.meta.update_webhook(name, &settings).await? {
            return Err(Error::NotFound(name.to_owned()));
        }
        self.wake();
        self.show(name).await
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        if self.meta.delete_webhook(name).await? { Ok(()) } else { Err(Error::NotFound(name.to_owned())) }
    }

    /// The delivery attempts of a webhook, newest first.
    pub async fn deliveries(&self, name: &str, limit: u32) -> Result<Vec<DeliveryRow>> {
        self.row(name).await?;
        Ok(self.meta.deliveries(name, limit).await?)
    }

    /// Sends ACR's ping event now, outside the queue; the attempt is logged. Its event id.
    pub async fn ping(&self, name: &str, host: &str) -> Result<String> {
        let row = self.row(name).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "id": id,
            "timestamp": iso8601_z(now_ms()),
            "action": "ping",
            "target": {},
            "request": {"id": "", "host": host, "method": "", "useragent": ""},
        });
        let attempt = self.attempt(&row, &id, "ping", 1, &body).await?;
        self.meta.log_delivery(&attempt.0).await?;
        Ok(id)
    }

    /// Sends event `event_id` to the webhook again now, whatever its queue's state (Berth's own).
    pub async fn redeliver(&self, name: &str, event_id: &str) -> Result<DeliveryRow> {
        let row = self.row(name).await?;
        let event = self.meta.event(event_id).await?.ok_or_else(|| Error::EventNotFound(event_id.to_owned()))?;
        let (attempt, _) = self.attempt(&row, &event.id, &event.action, 0, &payload(&event)).await?;
        self.meta.log_delivery(&attempt).await?;
        Ok(attempt)
    }

    /// One POST of `body` to the webhook, as a log row (attempt 0: a redelivery by hand).
    async fn attempt(
        &self,
        row: &WebhookRow,
        event_id: &str,
        action: &str,
        attempt: i64,
        body: &Value,
    ) -> Result<(DeliveryRow, bool)> {
        let callback = self.open_callback(row)?;
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut headers: Vec<(String, String)> = vec![
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), concat!("berth/", env!("CARGO_PKG_VERSION")).into()),
        ];
        headers.extend(callback.custom_headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(secret) = &callback.secret {
            headers.push((SIGNATURE_HEADER.into(), format!("sha256={}", hmac_hex(secret, &bytes))));
        }
        let outcome = self.sender.post(&callback.service_uri, &headers, bytes).await;
        let ok = outcome.ok();
        self.metrics.webhook_delivery(&row.name, ok);
        // The log shows custom header names but not their values: they often are credentials.
        let logged: BTreeMap<&str, &str> = headers
            .iter()
            .map(|(k, v)| {
                let shown = if callback.custom_headers.contains_key(k) { "(hidden)" } else { v.as_str() };
                (k.as_str(), shown)
            })
            .collect();
        let request = json!({
            "headers": logged,
            "method": "POST",
            "requestUri": redacted_uri(&callback.service_uri),
            "version": "1.1",
            "content": body,
        });
        let response = response_json(&outcome);
        let delivery = DeliveryRow {
            id: uuid::Uuid::new_v4().to_string(),
            webhook: row.name.clone(),
            event_id: event_id.to_owned(),
            action: action.to_owned(),
            attempt,
            at: now_ms(),
            status: outcome.status.map(i64::from),
            duration_ms: outcome.duration.as_millis() as i64,
            request: request.to_string(),
            response: response.to_string(),
        };
        Ok((delivery, ok))
    }

    /// One round of delivery for every enabled webhook that is due, webhooks side by side (a
    /// slow receiver delays only its own queue).
    pub async fn deliver_due(&self) -> Result<()> {
        let now = now_ms();
        let due: Vec<WebhookRow> = self
            .meta
            .webhooks()
            .await?
            .into_iter()
            .filter(|w| w.status == "enabled" && w.next_attempt_at <= now)
            .collect();
        let rounds = due.iter().map(|w| self.deliver_one(w));
        for (row, result) in due.iter().zip(futures_util::future::join_all(rounds).await) {
            if let Err(e) = result {
                tracing::warn!(webhook = row.name, error = %e, "webhook delivery failed");
            }
        }
        Ok(())
    }

    /// Delivers the webhook's next events in order, until one fails (it waits for its retry)
    /// or none is left.
    async fn deliver_one(&self, row: &WebhookRow) -> Result<()> {
        let actions: Vec<&str> = row.actions.split(',').collect();
        let mut state = DeliveryState { done_seq: row.done_seq, attempts: row.attempts, next_attempt_at: 0 };
        loop {
            let events = self.meta.events_after(state.done_seq, ROUND).await?;
            if events.is_empty() {
                return Ok(());
            }
            let skipped_from = state.done_seq;
            for event in &events {
                if !actions.contains(&event.action.as_str())
                    || !in_scope(&row.scope, &event.repository, event.tag.as_deref())
                {
                    state.done_seq = event.seq;
                    continue;
                }
                let attempt = state.attempts + 1;
                let (delivery, ok) = self.attempt(row, &event.id, &event.action, attempt, &payload(event)).await?;
                if ok || attempt >= i64::from(self.config.max_attempts) {
                    if !ok {
                        tracing::warn!(
                            webhook = row.name,
                            event = event.id,
                            attempts = attempt,
                            "webhook event given up"
                        );
                    }
                    state = DeliveryState { done_seq: event.seq, attempts: 0, next_attempt_at: 0 };
                    self.meta.record_delivery(&row.name, Some(&delivery), state).await?;
                } else {
                    let wait = backoff(attempt, self.config.retry_max.0);
                    state.attempts = attempt;
                    state.next_attempt_at = now_ms() + wait.as_millis() as i64;
                    self.meta.record_delivery(&row.name, Some(&delivery), state).await?;
                    return Ok(());
                }
            }
            if state.done_seq > skipped_from {
                self.meta.record_delivery(&row.name, None, state).await?;
            }
        }
    }

    /// Drops events and attempts older than `webhooks.log_retention` (events only once every
    /// webhook is past them).
    pub async fn prune(&self) -> Result<u64> {
        let before = now_ms() - self.config.log_retention.0.as_millis() as i64;
        Ok(self.meta.prune_events(before, before).await?)
    }
}

/// A URI as logged: without user name and password.
fn redacted_uri(uri: &str) -> String {
    match reqwest::Url::parse(uri) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

/// ACR's `eventResponseMessage`, or the error where there was no response.
fn response_json(o: &Outcome) -> Value {
    match (&o.status, &o.error) {
        (Some(status), _) => json!({
            "headers": o.headers,
            "statusCode": status.to_string(),
            "reasonPhrase": o.reason,
            "version": "1.1",
            "content": o.body,
        }),
        (None, error) => json!({ "error": error.clone().unwrap_or_default() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_acr() {
        assert!(in_scope("", "any/repo", None));
        assert!(in_scope("app:*", "app", Some("v1")));
        assert!(in_scope("app:*", "app", None));
        assert!(!in_scope("app:*", "app2", Some("v1")));
        assert!(in_scope("app", "app", Some("latest")));
        assert!(!in_scope("app", "app", Some("v1")));
        assert!(!in_scope("app:v1", "app", None));
        assert!(in_scope("team/*:v*", "team/web", Some("v2.1")));
        assert!(!in_scope("team/*:v*", "other/web", Some("v2.1")));
        assert!(in_scope("*:*", "x", Some("y")));
    }

    #[test]
    fn retries_back_off_exponentially_to_a_cap() {
        let max = Duration::from_secs(600);
        let waits: Vec<u64> = (1..=12).map(|a| backoff(a, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(backoff(i64::MAX, max), max);
    }

    #[test]
    fn names_actions_and_headers_are_checked() {
        assert!(check_name("hook1").is_ok() && check_name("ab").is_err() && check_name("a-b-c-d").is_err());
        assert!(check_actions(&["push".into(), "delete".into()]).is_ok());
        assert!(check_actions(&[]).is_err() && check_actions(&["pull".into()]).is_err());
        let mut h = BTreeMap::new();
        h.insert("Authorization".to_owned(), "Basic x".to_owned());
        assert!(check_headers(&h).is_ok());
        h.insert("Bad Header".to_owned(), "v".to_owned());
        assert!(check_headers(&h).is_err());
    }

    #[test]
    fn payloads_are_acrs() {
        let e = EventRow {
            seq: 1,
            id: "e1".into(),
            at: 0,
            action: "push".into(),
            repository: "hello-world".into(),
            tag: Some("v1".into()),
            digest: Some("sha256:ab".into()),
            media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
            size: Some(524),
            request_id: Some("r1".into()),
            host: Some("reg.example.com".into()),
            method: Some("PUT".into()),
            user_agent: Some("docker/27".into()),
        };
        let p = payload(&e);
        assert_eq!(p["target"]["length"], 524);
        assert_eq!(p["target"]["tag"], "v1");
        assert_eq!(p["request"]["useragent"], "docker/27");
        assert_eq!(p["timestamp"], "1970-01-01T00:00:00.0000000Z");
        let keys: Vec<&String> = p["target"].as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert_eq!(keys.len(), 6);
    }

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_hex("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

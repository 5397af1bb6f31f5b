//! The counters `/metrics` exports, in Prometheus' text format through `prometheus-client`.
//! The HTTP edge records every request ([`Metrics::request`]); sign-in, garbage collection and
//! webhook delivery record their outcomes. What the stores hold (usage, the last GC pass,
//! database pools) is read at scrape time by the caller and handed to [`Metrics::encode`].
//!
//! Recording a request takes no allocation: its labels are small `Copy` enums, and a series
//! once created is found again under a read lock.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::meta::PoolUse;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the request-latency buckets: a cached manifest GET takes well
/// under a millisecond, a large blob transfer minutes.
const LATENCY_BUCKETS: [f64; 16] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];

/// Defines a label value enum spelled as `$text` in the exported series.
macro_rules! label_value {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }
    };
}

label_value!(
    /// What a request asked for, from its method and path.
    Route {
        V2Base => "v2_base",
        V2Catalog => "v2_catalog",
        V2Manifest => "v2_manifest",
        V2Blob => "v2_blob",
        V2Upload => "v2_upload",
        V2Tags => "v2_tags",
        V2Referrers => "v2_referrers",
        Acr => "acr",
        OAuth2 => "oauth2",
        Management => "management",
        Metrics => "metrics",
        Health => "health",
        Storage => "storage",
        Other => "other",
    }
);

label_value!(
    /// An HTTP method; anything unusual is `OTHER`, so clients cannot mint series.
    Method {
        Get => "GET",
        Head => "HEAD",
        Post => "POST",
        Put => "PUT",
        Patch => "PATCH",
        Delete => "DELETE",
        Options => "OPTIONS",
        Other => "OTHER",
    }
);

label_value!(
    Outcome {
        Success => "success",
        Failure => "failure",
    }
);

label_value!(
    /// How the refused credentials came.
    AuthMethod {
        Basic => "basic",
        Bearer => "bearer",
        RefreshToken => "refresh_token",
    }
);

label_value!(
    /// Why a sign-in was refused.
    AuthReason {
        WrongPassword => "wrong_password",
        UnknownIdentity => "unknown_identity",
        Disabled => "disabled",
        ExpiredCredential => "expired_credential",
        BadToken => "bad_token",
        Malformed => "malformed",
        Throttled => "throttled",
        Other => "other",
    }
);

label_value!(
    /// What started a garbage-collection pass.
    GcTrigger {
        Schedule => "schedule",
        Manual => "manual",
    }
);

impl Route {
    /// The class of `path` (the path only, no query). Looks at the last two segments of
    /// `/v2/…` paths, since repository names may contain `manifests` or `blobs` themselves.
    pub fn of(path: &str) -> Self {
        if let Some(rest) = path.strip_prefix("/v2") {
            return match rest {
                "" | "/" => Route::V2Base,
                "/_catalog" => Route::V2Catalog,
                _ => {
                    let mut segments = rest.rsplit('/');
                    let last = segments.next().unwrap_or_default();
                    let kind = segments.next().unwrap_or_default();
                    match (segments.next().unwrap_or_default(), kind, last) {
                        (_, "manifests", _) => Route::V2Manifest,
                        (_, "blobs", "uploads") | ("blobs", "uploads", _) => Route::V2Upload,
                        (_, "blobs", _) => Route::V2Blob,
                        (_, "tags", "list") => Route::V2Tags,
                        (_, "referrers", _) => Route::V2Referrers,
                        _ => Route::Other,
                    }
                }
            };
        }
        let first = path.split('/').nth(1).unwrap_or_default();
        match first {
            "acr" => Route::Acr,
            "oauth2" => Route::OAuth2,
            "berth" => Route::Management,
            "metrics" => Route::Metrics,
            "healthz" | "readyz" => Route::Health,
            "_storage" => Route::Storage,
            _ => Route::Other,
        }
    }
}

impl Method {
    pub fn of(method: &str) -> Self {
        match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: Route,
    method: Method,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LatencyLabels {
    route: Route,
    method: Method,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: Route,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AuthLabels {
    method: AuthMethod,
    reason: AuthReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GcLabels {
    trigger: GcTrigger,
    result: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    webhook: String,
    result: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolStateLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Debug, Clone, Copy)]
struct LatencyHistogram;

impl MetricConstructor<Histogram> for LatencyHistogram {
    fn new_metric(&self) -> Histogram {
        Histogram::new(LATENCY_BUCKETS)
    }
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// What the stores hold, read at scrape time.
#[derive(Debug, Default)]
pub struct Scrape {
    pub storage_used: u64,
    pub storage_limit: u64,
    pub last_gc: Option<LastGc>,
    pub pools: Vec<PoolUse>,
    /// Audit entries dropped since start because the store fell behind.
    pub audit_dropped: u64,
}

/// The last garbage-collection pass, by whichever node ran it.
#[derive(Debug, Clone, Copy)]
pub struct LastGc {
    pub finished_at_ms: i64,
    pub duration_ms: i64,
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
    pub manifests_deleted: u64,
    pub uploads_expired: u64,
}

/// The process's counters; one per [`crate::App`], shared by every request.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram, LatencyHistogram>,
    bytes_in: Family<RouteLabels, Counter>,
    bytes_out: Family<RouteLabels, Counter>,
    pulls: Family<ResultLabels, Counter>,
    pushes: Family<ResultLabels, Counter>,
    auth_failures: Family<AuthLabels, Counter>,
    gc_passes: Family<GcLabels, Counter>,
    gc_blobs: Counter,
    gc_bytes: Counter,
    webhooks: Family<WebhookLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("berth");
        let requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route class, method and status code",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(LatencyHistogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival until its response headers were ready, by route class and method",
            Unit::Seconds,
            latency.clone(),
        );
        let bytes_in = Family::default();
        registry.register_with_unit(
            "http_received",
            "Request body bytes, by route class (as declared by Content-Length)",
            Unit::Bytes,
            bytes_in.clone(),
        );
        let bytes_out = Family::default();
        registry.register_with_unit(
            "http_sent",
            "Response body bytes, by route class (as known when the response started)",
            Unit::Bytes,
            bytes_out.clone(),
        );
        let pulls = Family::default();
        registry.register(
            "pulls",
            "Image pulls as ACR counts them (TotalPullCount; SuccessfulPullCount is result=\"success\"): \
             GET of a manifest by tag or digest, success when answered 2xx",
            pulls.clone(),
        );
        let pushes = Family::default();
        registry.register(
            "pushes",
            "Image pushes as ACR counts them (TotalPushCount; SuccessfulPushCount is result=\"success\"): \
             PUT of a manifest, success when answered 2xx",
            pushes.clone(),
        );
        let auth_failures = Family::default();
        registry.register(
            "auth_failures",
            "Refused sign-ins, by how the credentials came and why they were refused",
            auth_failures.clone(),
        );
        let gc_passes = Family::default();
        registry.register(
            "gc_passes",
            "Garbage-collection passes run by this node (dry runs not counted)",
            gc_passes.clone(),
        );
        let gc_blobs = Counter::default();
        registry.register("gc_blobs_deleted", "Blobs deleted by this node's garbage collection", gc_blobs.clone());
        let gc_bytes = Counter::default();
        registry.register_with_unit(
            "gc_freed",
            "Bytes freed by this node's garbage collection",
            Unit::Bytes,
            gc_bytes.clone(),
        );
        let webhooks = Family::default();
        registry.register("webhook_deliveries", "Webhook deliveries, by webhook and result", webhooks.clone());
        Self {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            pulls,
            pushes,
            auth_failures,
            gc_passes,
            gc_blobs,
            gc_bytes,
            webhooks,
        }
    }

    /// One answered request.
    pub fn request(&self, method: &str, path: &str, status: u16, bytes_in: u64, bytes_out: u64, seconds: f64) {
        let route = Route::of(path);
        let method = Method::of(method);
        self.requests.get_or_create(&RequestLabels { route, method, status }).inc();
        self.latency.get_or_create(&LatencyLabels { route, method }).observe(seconds);
        if bytes_in > 0 {
            self.bytes_in.get_or_create(&RouteLabels { route }).inc_by(bytes_in);
        }
        if bytes_out > 0 {
            self.bytes_out.get_or_create(&RouteLabels { route }).inc_by(bytes_out);
        }
        let counted = match (route, method) {
            (Route::V2Manifest, Method::Get) => &self.pulls,
            (Route::V2Manifest, Method::Put) => &self.pushes,
            _ => return,
        };
        let result = if (200..300).contains(&status) { Outcome::Success } else { Outcome::Failure };
        counted.get_or_create(&ResultLabels { result }).inc();
    }

    /// A refused sign-in.
    pub fn auth_failure(&self, method: AuthMethod, reason: AuthReason) {
        self.auth_failures.get_or_create(&AuthLabels { method, reason }).inc();
    }

    /// A garbage-collection pass that deleted `blobs` blobs of `bytes` bytes.
    pub fn gc_pass(&self, trigger: GcTrigger, blobs: u64, bytes: u64) {
        self.gc_passes.get_or_create(&GcLabels { trigger, result: Outcome::Success }).inc();
        self.gc_blobs.inc_by(blobs);
        self.gc_bytes.inc_by(bytes);
    }

    /// A garbage-collection pass that failed.
    pub fn gc_failed(&self, trigger: GcTrigger) {
        self.gc_passes.get_or_create(&GcLabels { trigger, result: Outcome::Failure }).inc();
    }

    /// One delivery attempt of the webhook named `webhook`.
    pub fn webhook_delivery(&self, webhook: &str, ok: bool) {
        let result = if ok { Outcome::Success } else { Outcome::Failure };
        self.webhooks.get_or_create(&WebhookLabels { webhook: webhook.to_owned(), result }).inc();
    }

    /// Every counter, then the gauges of `scrape`, in Prometheus' text format.
    pub fn encode(&self, scrape: &Scrape) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)?;
        prometheus_text::encode(&mut text, &gauges(scrape))?;
        Ok(text)
    }
}

/// A count or a number of bytes, read at scrape time (printed as an integer).
fn count(n: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(n).unwrap_or(i64::MAX));
    g
}

/// A time in seconds, read at scrape time.
fn seconds(secs: f64) -> FloatGauge {
    let g = FloatGauge::default();
    g.set(secs);
    g
}

fn register(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    metric: impl prometheus_client::registry::Metric,
) {
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric),
        None => registry.register(name, help, metric),
    }
}

/// A registry of the values read at scrape time, made for one scrape.
fn gauges(scrape: &Scrape) -> Registry {
    let mut registry = Registry::with_prefix("berth");
    let r = &mut registry;
    register(
        r,
        "storage_used",
        "Bytes stored, each distinct blob and manifest once",
        Some(Unit::Bytes),
        count(scrape.storage_used),
    );
    register(
        r,
        "storage_limit",
        "The storage limit of the tier or quota",
        Some(Unit::Bytes),
        count(scrape.storage_limit),
    );
    if let Some(gc) = scrape.last_gc {
        register(
            r,
            "gc_last_run_timestamp",
            "When the last garbage-collection pass (by any node) finished",
            Some(Unit::Seconds),
            seconds(gc.finished_at_ms as f64 / 1000.0),
        );
        register(
            r,
            "gc_last_duration",
            "How long the last pass took",
            Some(Unit::Seconds),
            seconds(gc.duration_ms as f64 / 1000.0),
        );
        register(r, "gc_last_blobs_deleted", "Blobs the last pass deleted", None, count(gc.blobs_deleted));
        register(r, "gc_last_freed", "Bytes the last pass freed", Some(Unit::Bytes), count(gc.bytes_freed));
        register(
            r,
            "gc_last_manifests_deleted",
            "Untagged manifests the last pass's retention deleted",
            None,
            count(gc.manifests_deleted),
        );
        register(
            r,
            "gc_last_uploads_expired",
            "Idle upload sessions the last pass dropped",
            None,
            count(gc.uploads_expired),
        );
    }
    register(
        r,
        "audit_dropped_entries",
        "Audit entries dropped since start because the audit store fell behind",
        None,
        count(scrape.audit_dropped),
    );
    let connections = Family::<PoolStateLabels, Gauge>::default();
    let max = Family::<PoolLabels, Gauge>::default();
    for pool in &scrape.pools {
        let (open, idle) = (i64::from(pool.open), i64::try_from(pool.idle).unwrap_or(i64::MAX));
        connections.get_or_create(&PoolStateLabels { pool: pool.name, state: "idle" }).set(idle);
        connections.get_or_create(&PoolStateLabels { pool: pool.name, state: "in_use" }).set(open - idle);
        max.get_or_create(&PoolLabels { pool: pool.name }).set(i64::from(pool.max));
    }
    registry.register("db_pool_connections", "Open database connections, by pool and state", connections);
    registry.register("db_pool_max_connections", "The most connections each database pool opens", max);
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classed_by_their_last_segments() {
        for (path, route) in [
            ("/v2", Route::V2Base),
            ("/v2/", Route::V2Base),
            ("/v2/_catalog", Route::V2Catalog),
            ("/v2/app/manifests/v1", Route::V2Manifest),
            ("/v2/blobs/manifests/sha256:ab", Route::V2Manifest),
            ("/v2/a/manifests/b/blobs/sha256:ab", Route::V2Blob),
            ("/v2/app/blobs/uploads/", Route::V2Upload),
            ("/v2/app/blobs/uploads", Route::V2Upload),
            ("/v2/app/blobs/uploads/0b7e", Route::V2Upload),
            ("/v2/app/tags/list", Route::V2Tags),
            ("/v2/app/referrers/sha256:ab", Route::V2Referrers),
            ("/v2/app/nothing", Route::Other),
            ("/acr/v1/_catalog", Route::Acr),
            ("/oauth2/token", Route::OAuth2),
            ("/berth/v1/usage", Route::Management),
            ("/metrics", Route::Metrics),
            ("/healthz", Route::Health),
            ("/readyz", Route::Health),
            ("/_storage/blobs/x", Route::Storage),
            ("/", Route::Other),
            ("/v2x", Route::Other),
        ] {
            assert_eq!(Route::of(path), route, "{path}");
        }
    }

    #[test]
    fn counters_and_scrape_gauges_are_encoded() {
        let m = Metrics::new();
        m.request("GET", "/v2/app/manifests/v1", 200, 0, 512, 0.0004);
        m.request("GET", "/v2/app/manifests/v2", 404, 0, 80, 0.0004);
        m.request("PUT", "/v2/app/manifests/v1", 201, 512, 0, 0.003);
        m.request("BREW", "/coffee", 418, 0, 0, 0.001);
        m.auth_failure(AuthMethod::Basic, AuthReason::WrongPassword);
        m.gc_pass(GcTrigger::Manual, 2, 2048);
        m.webhook_delivery("hook1", true);
        m.webhook_delivery("hook1", false);
        m.webhook_delivery("hook1", false);
        let pools = vec![PoolUse { name: "reader", open: 3, idle: 1, max: 4 }];
        let text = m
            .encode(&Scrape { storage_used: 10, storage_limit: 20, last_gc: None, pools, audit_dropped: 0 })
            .expect("encode");
        for line in [
            "berth_http_requests_total{route=\"v2_manifest\",method=\"GET\",status=\"200\"} 1",
            "berth_http_requests_total{route=\"other\",method=\"OTHER\",status=\"418\"} 1",
            "berth_http_request_duration_seconds_bucket{route=\"v2_manifest\",method=\"GET\",le=\"0.0005\"} 2",
            "berth_http_sent_bytes_total{route=\"v2_manifest\"} 592",
            "berth_pulls_total{result=\"success\"} 1",
            "berth_pulls_total{result=\"failure\"} 1",
            "berth_pushes_total{result=\"success\"} 1",
            "berth_auth_failures_total{method=\"basic\",reason=\"wrong_password\"} 1",
            "berth_gc_passes_total{trigger=\"manual\",result=\"success\"} 1",
            "berth_gc_freed_bytes_total 2048",
            "berth_webhook_deliveries_total{webhook=\"hook1\",result=\"failure\"} 2",
            "berth_webhook_deliveries_total{webhook=\"hook1\",result=\"success\"} 1",
            "berth_storage_used_bytes 10",
            "berth_db_pool_connections{pool=\"reader\",state=\"in_use\"} 2",
            "berth_db_pool_max_connections{pool=\"reader\"} 4",
            "# TYPE berth_pulls_total counter",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("gc_last_"), "no pass yet: no last-pass gauges\n{text}");
    }
}

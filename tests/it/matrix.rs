//! The authorization matrix: every route of `/v2/`, `/acr/v1`, `/oauth2`, `/berth/v1`,
//! `/metrics`, `/_storage`, `/healthz`, `/readyz` and the portal against every kind of caller,
//! each cell's expected status written down once in [`TABLE`]. The portal's pages take no
//! `Authorization` header (a browser would send Basic credentials by itself): every caller here
//! is sent to sign in; what a session may see is `portal/`'s to test. A route found in the router's source without a row fails the test, so
//! a new route cannot go in without deciding who may call it.
//!
//! Mutating cells act on things made for their caller alone (`{p}` in a path is the column's
//! name), so the order of cells does not matter.

use std::collections::{BTreeSet, HashMap};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

/// The callers, in the order of the table's columns.
const COLUMNS: [&str; 14] = [
    "owner", "contrib", "reader", "pull", "push", "delete", "signer", "qread", "qwrite", "token", "narrow", "anon",
    "anon_on", "disabled",
];

/// What a caller is: Basic credentials, a bearer token, or nothing.
#[derive(Clone)]
enum Auth {
    Basic(String, String),
    Bearer(String),
    None,
}

/// A request body.
#[derive(Clone, Copy)]
enum Body {
    Empty,
    /// JSON, with `{p}` replaced by the column's name.
    Json(&'static str),
    /// The form of a token request in the caller's own terms: a password grant with its
    /// credentials, an `access_token` (exchange) or `refresh_token` (token) grant with its
    /// bearer token, or an anonymous password grant.
    TokenForm,
}

/// (route as the router spells it, request, body,
///  owner contrib reader pull push delete signer qread qwrite token narrow anon anon_on disabled)
///
/// `narrow` gets 403 where its principal may but its token does not reach, with the challenge
/// naming the scope to ask for, except for the catalog, where it is 401 (see `api/auth.rs`).
/// `owner` etc. are users with that built-in role (registry-wide; `qread` and `qwrite` are
/// AcrQuarantineReader and AcrQuarantineWriter); `token` is a repository token
/// with content/read, content/write and metadata/read on `app`; `narrow` an Owner's bearer token
/// that claims only `repository:app:pull`; `anon` no credentials with anonymous pull off,
/// `anon_on` with it on; `disabled` a bearer token of an Owner disabled after it was issued.
#[rustfmt::skip]
const TABLE: &[(&str, &str, Body, [u16; 14])] = &[
    //                                                                                          own  con  rdr  pul  psh  del  sig  qrd  qwr  tok  nar  ano  aon  dis
    ("GET /v2", "GET /v2", Body::Empty,                                                         [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 401]),
    ("GET /v2/", "GET /v2/", Body::Empty,                                                       [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 401]),
    ("v2 GET Catalog", "GET /v2/_catalog", Body::Empty,                                         [200, 200, 200, 200, 200, 403, 403, 200, 200, 403, 401, 401, 200, 401]),
    ("v2 GET Tags", "GET /v2/app/tags/list", Body::Empty,                                       [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 200, 401, 200, 401]),
    ("v2 GET Manifest", "GET /v2/app/manifests/v1", Body::Empty,                                [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 200, 401, 200, 401]),
    ("v2 HEAD Manifest", "HEAD /v2/app/manifests/v1", Body::Empty,                              [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 200, 401, 200, 401]),
    ("v2 PUT Manifest", "PUT /v2/app/manifests/put-{p}", Body::Json("MANIFEST"),               [201, 201, 403, 403, 201, 403, 403, 403, 403, 201, 403, 401, 401, 401]),
    ("v2 DELETE Manifest", "DELETE /v2/app/manifests/{m1}", Body::Empty,                       [202, 202, 403, 403, 403, 202, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("v2 GET Blob", "GET /v2/app/blobs/{layer}", Body::Empty,                                   [307, 307, 307, 307, 307, 403, 403, 307, 307, 307, 307, 401, 307, 401]),
    ("v2 HEAD Blob", "HEAD /v2/app/blobs/{layer}", Body::Empty,                                 [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 200, 401, 200, 401]),
    ("v2 DELETE Blob", "DELETE /v2/app/blobs/{blob}", Body::Empty,                              [202, 202, 403, 403, 403, 202, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("v2 POST Uploads", "POST /v2/app/blobs/uploads/", Body::Empty,                             [202, 202, 403, 403, 202, 403, 403, 403, 403, 202, 403, 401, 401, 401]),
    ("v2 GET Upload", "GET {s_get}", Body::Empty,                                               [204, 204, 403, 403, 204, 403, 403, 403, 403, 204, 403, 401, 401, 401]),
    ("v2 PATCH Upload", "PATCH {s_get}", Body::Empty,                                           [202, 202, 403, 403, 202, 403, 403, 403, 403, 202, 403, 401, 401, 401]),
    ("v2 PUT Upload", "PUT {s_put}", Body::Empty,                                               [201, 201, 403, 403, 201, 403, 403, 403, 403, 201, 403, 401, 401, 401]),
    ("v2 DELETE Upload", "DELETE {s_del}", Body::Empty,                                         [204, 204, 403, 403, 204, 403, 403, 403, 403, 204, 403, 401, 401, 401]),
    ("v2 GET Referrers", "GET /v2/app/referrers/{digest}", Body::Empty,                         [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 200, 401, 200, 401]),
    ("acr GET Catalog", "GET /acr/v1/_catalog", Body::Empty,                                    [200, 200, 200, 200, 200, 403, 403, 200, 200, 403, 401, 401, 200, 401]),
    ("acr GET Repository", "GET /acr/v1/app", Body::Empty,                                      [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 403, 401, 200, 401]),
    ("acr PATCH Repository", "PATCH /acr/v1/app", Body::Json(r#"{"readEnabled": true}"#),     [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("acr DELETE Repository", "DELETE /acr/v1/gone-{p}", Body::Empty,                           [202, 202, 403, 403, 403, 202, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("acr GET Tags", "GET /acr/v1/app/_tags", Body::Empty,                                      [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 403, 401, 200, 401]),
    ("acr GET Tag", "GET /acr/v1/app/_tags/v1", Body::Empty,                                    [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 403, 401, 200, 401]),
    ("acr PATCH Tag", "PATCH /acr/v1/app/_tags/v1", Body::Json(r#"{"readEnabled": true}"#),   [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("acr DELETE Tag", "DELETE /acr/v1/app/_tags/t-{p}", Body::Empty,                           [202, 202, 403, 403, 403, 202, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("acr GET Manifests", "GET /acr/v1/app/_manifests", Body::Empty,                            [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 403, 401, 200, 401]),
    ("acr GET Manifest", "GET /acr/v1/app/_manifests/{digest}", Body::Empty,                    [200, 200, 200, 200, 200, 403, 403, 200, 200, 200, 403, 401, 200, 401]),
    ("acr PATCH Manifest", "PATCH /acr/v1/app/_manifests/{digest}", Body::Json(r#"{"readEnabled": true}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("acr DELETE Manifest", "DELETE /acr/v1/app/_manifests/{m2}", Body::Empty,                  [202, 202, 403, 403, 403, 202, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /oauth2/token", "GET /oauth2/token?scope=repository:app:pull", Body::Empty,            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 400, 401, 200, 400]),
    ("POST /oauth2/token", "POST /oauth2/token", Body::TokenForm,                                [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401]),
    ("POST /oauth2/exchange", "POST /oauth2/exchange", Body::TokenForm,                          [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 400, 400, 401]),
    ("GET /oauth2/jwks", "GET /oauth2/jwks", Body::Empty,                                        [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /metrics", "GET /metrics", Body::Empty,                                                [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /_storage/{*key}", "GET {storage}", Body::Empty,                                       [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /healthz", "GET /healthz", Body::Empty,                                                [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /readyz", "GET /readyz", Body::Empty,                                                  [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /berth/v1/credentials", "GET /berth/v1/credentials", Body::Empty,                      [200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/credentials/renew", "POST /berth/v1/credentials/renew", Body::Json(r#"{"name": "password2"}"#), [200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/settings", "GET /berth/v1/settings", Body::Empty,                            [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PATCH /berth/v1/settings", "PATCH /berth/v1/settings", Body::Json(r#"{"anonymousPullEnabled": false}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/users", "GET /berth/v1/users", Body::Empty,                                  [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/users", "POST /berth/v1/users", Body::Json(r#"{"name": "new-{p}"}"#),      [201, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/users/{name}", "GET /berth/v1/users/victim-{p}", Body::Empty,                [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PATCH /berth/v1/users/{name}", "PATCH /berth/v1/users/victim-{p}", Body::Json(r#"{"status": "enabled"}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("DELETE /berth/v1/users/{name}", "DELETE /berth/v1/users/gone-{p}", Body::Empty,            [204, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/users/{name}/credentials", "POST /berth/v1/users/victim-{p}/credentials", Body::Empty, [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/roleassignments", "GET /berth/v1/roleassignments", Body::Empty,              [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/roleassignments", "POST /berth/v1/roleassignments", Body::Json(r#"{"assignee": "victim-{p}", "role": "AcrPush"}"#), [201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("DELETE /berth/v1/roleassignments/{id}", "DELETE /berth/v1/roleassignments/{ra}", Body::Empty, [204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/tokens", "GET /berth/v1/tokens", Body::Empty,                                [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/tokens", "POST /berth/v1/tokens", Body::Json(r#"{"name": "tok-new-{p}", "scopeMap": "_repositories_pull"}"#), [201, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/tokens/{name}", "GET /berth/v1/tokens/tok-{p}", Body::Empty,                 [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PATCH /berth/v1/tokens/{name}", "PATCH /berth/v1/tokens/tok-{p}", Body::Json(r#"{"status": "enabled"}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("DELETE /berth/v1/tokens/{name}", "DELETE /berth/v1/tokens/tok-gone-{p}", Body::Empty,      [204, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/tokens/{name}/credentials", "POST /berth/v1/tokens/tok-{p}/credentials", Body::Json(r#"{"names": ["password1"]}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("DELETE /berth/v1/tokens/{name}/credentials/{password}", "DELETE /berth/v1/tokens/tok-{p}/credentials/password2", Body::Empty, [204, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/signingkeys", "GET /berth/v1/signingkeys", Body::Empty,                      [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/signingkeys/rotate", "POST /berth/v1/signingkeys/rotate", Body::Empty,      [200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/usage", "GET /berth/v1/usage", Body::Empty,                                  [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/audit", "GET /berth/v1/audit", Body::Empty,                                  [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/usage/check", "POST /berth/v1/usage/check", Body::Empty,                    [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/gc", "GET /berth/v1/gc", Body::Empty,                                        [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/gc", "POST /berth/v1/gc", Body::Json(r#"{"dryRun": true}"#),               [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/retention", "GET /berth/v1/retention", Body::Empty,                          [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PATCH /berth/v1/retention", "PATCH /berth/v1/retention", Body::Json(r#"{"status": "disabled"}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/quarantine", "GET /berth/v1/quarantine", Body::Empty,                        [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PATCH /berth/v1/quarantine", "PATCH /berth/v1/quarantine", Body::Json(r#"{"status": "disabled"}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/scans", "GET /berth/v1/scans?image=nosuch:v1", Body::Empty,                 [404, 404, 404, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/scans", "POST /berth/v1/scans", Body::Json(r#"{"image": "app:v1"}"#),       [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/policies/{kind}", "GET /berth/v1/policies/trust", Body::Empty,               [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PUT /berth/v1/policies/{kind}/{name}", "PUT /berth/v1/policies/scan/pol-{p}", Body::Json(r#"{"repository": "nothing-here/*", "refuseSeverity": "Critical"}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("DELETE /berth/v1/policies/{kind}/{name}", "DELETE /berth/v1/policies/scan/gone-{p}", Body::Empty, [404, 404, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/vulndb", "GET /berth/v1/vulndb", Body::Empty,                              [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/vulndb", "POST /berth/v1/vulndb", Body::Json("[]"),                        [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/webhooks", "GET /berth/v1/webhooks", Body::Empty,                            [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/webhooks", "POST /berth/v1/webhooks", Body::Json(r#"{"name": "new{wh}", "serviceUri": "http://127.0.0.1:9/", "actions": ["push"]}"#), [201, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/webhooks/{name}", "GET /berth/v1/webhooks/{wh}", Body::Empty,                [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PATCH /berth/v1/webhooks/{name}", "PATCH /berth/v1/webhooks/{wh}", Body::Json(r#"{"scope": "app:*"}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("DELETE /berth/v1/webhooks/{name}", "DELETE /berth/v1/webhooks/gone{wh}", Body::Empty,      [204, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/webhooks/{name}/config", "GET /berth/v1/webhooks/{wh}/config", Body::Empty,  [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/webhooks/{name}/ping", "POST /berth/v1/webhooks/{wh}/ping", Body::Empty,    [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/webhooks/{name}/events", "GET /berth/v1/webhooks/{wh}/events", Body::Empty,  [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    // An unknown event: the cell shows the route let the caller through (404) or not.
    ("POST /berth/v1/webhooks/{name}/events/{id}/redeliver", "POST /berth/v1/webhooks/{wh}/events/none/redeliver", Body::Empty, [404, 404, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/runs", "GET /berth/v1/runs", Body::Empty,                                    [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/runs", "POST /berth/v1/runs", Body::Json(r#"{"type": "EncodedTaskRunRequest", "encodedTaskContent": "dmVyc2lvbjogdjEuMS4wCnN0ZXBzOgogIC0gY21kOiBub3RoaW5nL2hlcmU6MSB0cnVlCg=="}"#), [202, 202, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/runs/sources", "POST /berth/v1/runs/sources", Body::Empty,                  [201, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/runs/{id}", "GET /berth/v1/runs/{run}", Body::Empty,                         [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/runs/{id}/log", "GET /berth/v1/runs/{run}/log", Body::Empty,                 [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    // An unknown run: the cell shows the route let the caller through (404) or not.
    ("POST /berth/v1/runs/{id}/cancel", "POST /berth/v1/runs/none/cancel", Body::Empty,         [404, 404, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/tasks", "GET /berth/v1/tasks", Body::Empty,                                  [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/tasks", "POST /berth/v1/tasks", Body::Json(r#"{"name": "task-new-{p}", "encodedTaskContent": "dmVyc2lvbjogdjEuMS4wCnN0ZXBzOgogIC0gY21kOiBub3RoaW5nL2hlcmU6MSB0cnVlCg=="}"#), [201, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/tasks/{name}", "GET /berth/v1/tasks/task-{p}", Body::Empty,                  [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PATCH /berth/v1/tasks/{name}", "PATCH /berth/v1/tasks/task-{p}", Body::Json(r#"{"status": "Disabled"}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("DELETE /berth/v1/tasks/{name}", "DELETE /berth/v1/tasks/task-gone-{p}", Body::Empty,       [204, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/tasks/{name}/run", "POST /berth/v1/tasks/task-{p}/run", Body::Empty,        [202, 202, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    // Only the git service's signature lets a call in: every caller without one is refused.
    ("POST /berth/v1/tasks/{name}/webhook", "POST /berth/v1/tasks/task-{p}/webhook", Body::Empty, [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401]),
    ("GET /berth/v1/scopemaps", "GET /berth/v1/scopemaps", Body::Empty,                          [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("POST /berth/v1/scopemaps", "POST /berth/v1/scopemaps", Body::Json(r#"{"name": "map-new-{p}", "actions": ["repositories/app/content/read"]}"#), [201, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /berth/v1/scopemaps/{name}", "GET /berth/v1/scopemaps/map-{p}", Body::Empty,           [200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("PATCH /berth/v1/scopemaps/{name}", "PATCH /berth/v1/scopemaps/map-{p}", Body::Json(r#"{"description": "changed"}"#), [200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
    ("GET /", "GET /", Body::Empty,                                                              [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /signin", "GET /signin", Body::Empty,                                                  [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST /signin", "POST /signin", Body::Empty,                                                [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401]),
    ("POST /signout", "POST /signout", Body::Empty,                                              [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /repositories", "GET /repositories?q=a", Body::Empty,                                  [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /repository", "GET /repository?name=app", Body::Empty,                                 [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /manifest", "GET /manifest?name=app&digest={digest}", Body::Empty,                     [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /repository/locks", "POST /repository/locks", Body::Empty,                            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /repository/quarantine", "POST /repository/quarantine", Body::Empty,                  [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /repository/untag", "POST /repository/untag", Body::Empty,                            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /repository/delete-manifest", "POST /repository/delete-manifest", Body::Empty,        [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /repository/delete", "POST /repository/delete", Body::Empty,                          [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /access", "GET /access", Body::Empty,                                                  [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/admin/status", "POST /access/admin/status", Body::Empty,                      [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/admin/renew", "POST /access/admin/renew", Body::Empty,                        [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/users", "POST /access/users", Body::Empty,                                    [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/users/status", "POST /access/users/status", Body::Empty,                      [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/users/renew", "POST /access/users/renew", Body::Empty,                        [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/users/delete", "POST /access/users/delete", Body::Empty,                      [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/roles", "POST /access/roles", Body::Empty,                                    [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/roles/delete", "POST /access/roles/delete", Body::Empty,                      [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/tokens", "POST /access/tokens", Body::Empty,                                  [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/tokens/status", "POST /access/tokens/status", Body::Empty,                    [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/tokens/renew", "POST /access/tokens/renew", Body::Empty,                      [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/tokens/delete", "POST /access/tokens/delete", Body::Empty,                    [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/scopemaps", "POST /access/scopemaps", Body::Empty,                            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /access/scopemaps/delete", "POST /access/scopemaps/delete", Body::Empty,              [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /settings", "GET /settings", Body::Empty,                                              [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /settings/registry", "POST /settings/registry", Body::Empty,                          [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /settings/retention", "POST /settings/retention", Body::Empty,                        [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /settings/gc", "POST /settings/gc", Body::Empty,                                      [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /settings/webhooks", "POST /settings/webhooks", Body::Empty,                          [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /settings/webhook", "GET /settings/webhook?name={wh}", Body::Empty,                    [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /settings/webhook/status", "POST /settings/webhook/status", Body::Empty,              [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /settings/webhook/ping", "POST /settings/webhook/ping", Body::Empty,                  [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /settings/webhook/redeliver", "POST /settings/webhook/redeliver", Body::Empty,        [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /settings/webhook/delete", "POST /settings/webhook/delete", Body::Empty,              [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /tasks", "GET /tasks", Body::Empty,                                                    [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /runs", "GET /runs?task=x&status=Queued", Body::Empty,                                 [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /runs/{id}", "GET /runs/r1", Body::Empty,                                              [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /runs/{id}/log", "GET /runs/r1/log?offset=0", Body::Empty,                             [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("POST /runs/{id}/cancel", "POST /runs/r1/cancel", Body::Empty,                              [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303]),
    ("GET /portal.css", "GET /portal.css", Body::Empty,                                          [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /portal.js", "GET /portal.js", Body::Empty,                                            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("DELETE /berth/v1/scopemaps/{name}", "DELETE /berth/v1/scopemaps/map-gone-{p}", Body::Empty, [204, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
];

const ROUTES: &str = include_str!("../../src/api/mod.rs");
const ADMIN_ROUTES: &str = include_str!("../../src/api/admin/mod.rs");
const V2_ROUTES: &str = include_str!("../../src/api/v2/mod.rs");
const ACR_ROUTES: &str = include_str!("../../src/api/acr/mod.rs");
const PORTAL_ROUTES: &str = include_str!("../../src/api/portal/mod.rs");

/// `"<prefix> <METHOD> <Endpoint>"` of each `(Method::X, Endpoint::Y …)` arm of a dispatcher.
fn dispatched(source: &str, prefix: &str) -> Vec<String> {
    source
        .split("(Method::")
        .skip(1)
        .filter_map(|arm| {
            let (method, rest) = arm.split_once(", Endpoint::")?;
            let endpoint: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
            Some(format!("{prefix} {method} {endpoint}"))
        })
        .collect()
}

/// Every route the router's source serves, as the table's first column spells them.
fn served_routes() -> BTreeSet<String> {
    let mut routes = routes_in(ROUTES, "");
    routes.extend(routes_in(ADMIN_ROUTES, "/berth/v1"));
    // Served at `portal.path`: `/` by default, as the matrix's server has it.
    routes.extend(routes_in(PORTAL_ROUTES, ""));
    let mut served: BTreeSet<String> = routes
        .into_iter()
        .filter(|(path, _)| path != "/v2/{*path}" && path != "/acr/v1/{*path}")
        .flat_map(|(path, methods)| methods.into_iter().map(move |m| format!("{} {path}", m.to_uppercase())))
        .collect();
    served.extend(dispatched(V2_ROUTES, "v2"));
    served.extend(dispatched(ACR_ROUTES, "acr"));
    served
}

#[test]
fn every_route_has_a_row() {
    let served = served_routes();
    assert!(served.len() >= 60, "router source parsed: {served:?}");
    let rows: BTreeSet<String> = TABLE.iter().map(|(route, ..)| (*route).to_owned()).collect();
    let missing: Vec<_> = served.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&served).collect();
    assert!(missing.is_empty(), "routes without a row in the authorization matrix: {missing:?}");
    assert!(stale.is_empty(), "rows for routes no longer served: {stale:?}");
}

/// What the cells refer to: `{name}` → value, per column where it differs.
struct Fixtures {
    shared: HashMap<&'static str, String>,
    per_column: HashMap<(&'static str, &'static str), String>,
    manifest: String,
}

impl Fixtures {
    fn fill(&self, template: &str, p: &str) -> String {
        let mut out = template.replace("{p}", p);
        for (key, value) in &self.shared {
            out = out.replace(&format!("{{{key}}}"), value);
        }
        for ((column, key), value) in &self.per_column {
            if *column == p {
                out = out.replace(&format!("{{{key}}}"), value);
            }
        }
        out
    }
}

async fn post_location(app: &TestApp) -> String {
    let res = app.req(Method::POST, "/v2/app/blobs/uploads/").send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    res.headers()["location"].to_str().expect("location").to_owned()
}

/// The things every cell needs, and the things each column's mutating cells act on.
async fn fixtures(app: &TestApp) -> Fixtures {
    let (manifest, digest) = app.push_image("app", "v1", &[b"shared layer"]).await;
    let layer = sha256(b"shared layer");
    let res = app.req(Method::GET, &format!("/v2/app/blobs/{layer}")).send().await.expect("GET blob");
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    let storage = res.headers()["location"].to_str().expect("location").to_owned();
    let mut shared = HashMap::from([("digest", digest), ("layer", layer), ("storage", storage)]);
    shared.insert("s_get", post_location(app).await);
    let mut per_column = HashMap::new();
    for p in COLUMNS {
        let (_, m1) = app.push_image("app", &format!("m1-{p}"), &[format!("m1 {p}").as_bytes()]).await;
        let (_, m2) = app.push_image("app", &format!("m2-{p}"), &[format!("m2 {p}").as_bytes()]).await;
        let blob = app.push_blob("app", format!("blob {p}").as_bytes()).await;
        let res = app.put_manifest("app", &format!("t-{p}"), OCI_MANIFEST, &manifest).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        app.push_image(&format!("gone-{p}"), "v1", &[b"gone"]).await;
        let empty = sha256(b"");
        let s_put = post_location(app).await;
        let sep = if s_put.contains('?') { '&' } else { '?' };
        per_column.insert((p, "m1"), m1);
        per_column.insert((p, "m2"), m2);
        per_column.insert((p, "blob"), blob);
        per_column.insert((p, "s_put"), format!("{s_put}{sep}digest={empty}"));
        per_column.insert((p, "s_del"), post_location(app).await);
        for user in [format!("victim-{p}"), format!("gone-{p}")] {
            app.admin(Method::POST, "/users", Some(json!({"name": user}))).await;
        }
        let ra = app
            .admin(
                Method::POST,
                "/roleassignments",
                Some(json!({"assignee": format!("victim-{p}"), "role": "AcrPull"})),
            )
            .await;
        per_column.insert((p, "ra"), ra["id"].as_str().expect("id").to_owned());
        for token in [format!("tok-{p}"), format!("tok-gone-{p}")] {
            app.admin(Method::POST, "/tokens", Some(json!({"name": token, "scopeMap": "_repositories_pull"}))).await;
        }
        // Webhook names are letters and digits only.
        let wh = format!("hook{}", per_column.len());
        for name in [wh.clone(), format!("gone{wh}")] {
            let hook = json!({"name": name, "serviceUri": "http://127.0.0.1:9/", "actions": ["push"]});
            app.admin(Method::POST, "/webhooks", Some(hook)).await;
        }
        per_column.insert((p, "wh"), wh);
        for task in [format!("task-{p}"), format!("task-gone-{p}")] {
            app.admin(Method::POST, "/tasks", Some(json!({"name": task, "encodedTaskContent": "dmVyc2lvbjogdjEuMS4wCnN0ZXBzOgogIC0gY21kOiBub3RoaW5nL2hlcmU6MSB0cnVlCg=="}))).await;
        }
        for map in [format!("map-{p}"), format!("map-gone-{p}")] {
            let actions = ["repositories/app/content/read"];
            app.admin(Method::POST, "/scopemaps", Some(json!({"name": map, "actions": actions}))).await;
        }
    }
    let run = app
        .admin(Method::POST, "/runs", Some(json!({"type": "EncodedTaskRunRequest", "encodedTaskContent": "dmVyc2lvbjogdjEuMS4wCnN0ZXBzOgogIC0gY21kOiBub3RoaW5nL2hlcmU6MSB0cnVlCg=="})))
        .await;
    shared.insert("run", run["runId"].as_str().expect("runId").to_owned());
    let config = app.push_blob("app", b"{}").await;
    let manifest = String::from_utf8(image_manifest(&config, 2, Vec::new())).expect("utf-8");
    Fixtures { shared, per_column, manifest }
}

/// The callers of every column.
async fn callers(app: &TestApp) -> HashMap<&'static str, Auth> {
    let mut callers = HashMap::new();
    for (name, role) in [
        ("owner", "Owner"),
        ("contrib", "Contributor"),
        ("reader", "Reader"),
        ("pull", "AcrPull"),
        ("push", "AcrPush"),
        ("delete", "AcrDelete"),
        ("signer", "AcrImageSigner"),
        ("qread", "AcrQuarantineReader"),
        ("qwrite", "AcrQuarantineWriter"),
    ] {
        let pw = user_with(app, name, &[role]).await;
        callers.insert(name, Auth::Basic(name.to_owned(), pw));
    }
    let actions = ["content/read", "content/write", "metadata/read"];
    let created = app
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"name": "token", "repositories": [{"repository": "app", "actions": actions}]})),
        )
        .await;
    callers.insert("token", Auth::Basic("token".into(), password(&created, "password1")));
    let Auth::Basic(_, owner_pw) = &callers["owner"] else { unreachable!() };
    callers.insert("narrow", Auth::Bearer(token(app, "owner", owner_pw, "repository:app:pull").await));
    callers.insert("anon", Auth::None);
    callers.insert("anon_on", Auth::None);
    let pw = user_with(app, "disabled", &["Owner"]).await;
    let wide =
        "repository:app:pull,push,delete,metadata_read,metadata_write registry:catalog:* registry:management:owner";
    let bearer = token(app, "disabled", &pw, wide).await;
    app.admin(Method::PATCH, "/users/disabled", Some(json!({"status": "disabled"}))).await;
    callers.insert("disabled", Auth::Bearer(bearer));
    callers
}

/// The form of a token request made in the caller's own terms (see [`Body::TokenForm`]).
fn token_form(auth: &Auth, path: &str) -> Vec<(&'static str, String)> {
    match auth {
        Auth::Basic(user, pass) => {
            vec![("grant_type", "password".into()), ("username", user.clone()), ("password", pass.clone())]
        }
        Auth::Bearer(t) if path.ends_with("exchange") => {
            vec![("grant_type", "access_token".into()), ("access_token", t.clone())]
        }
        Auth::Bearer(t) => vec![("grant_type", "refresh_token".into()), ("refresh_token", t.clone())],
        Auth::None => vec![("grant_type", "password".into())],
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_table_says() {
    // Premium: room for every column's webhooks.
    let app = TestApp::spawn_with(|c| {
        c.storage.redirect = true;
        c.limits.sku = berth::config::Sku::Premium;
    })
    .await;
    let fixtures = fixtures(&app).await;
    let callers = callers(&app).await;
    let mut wrong = Vec::new();
    let mut cells = 0;
    for (column, p) in COLUMNS.iter().enumerate() {
        if *p == "anon_on" {
            app.admin(Method::PATCH, "/settings", Some(json!({"anonymousPullEnabled": true}))).await;
        }
        let auth = &callers[p];
        for (route, request, body, expected) in TABLE {
            let (method, path) = request.split_once(' ').expect("METHOD path");
            let path = fixtures.fill(path, p);
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = app.anon(method.clone(), &path);
            req = match body {
                Body::Empty => req,
                Body::Json("MANIFEST") => req.header("content-type", OCI_MANIFEST).body(fixtures.manifest.clone()),
                Body::Json(text) => req.header("content-type", "application/json").body(fixtures.fill(text, p)),
                Body::TokenForm => req.form(&token_form(auth, &path)),
            };
            req = match (auth, body) {
                (_, Body::TokenForm) => req,
                (Auth::Basic(u, pw), _) => req.basic_auth(u, Some(pw)),
                (Auth::Bearer(t), _) => req.bearer_auth(t),
                (Auth::None, _) => req,
            };
            let res = req.send().await.expect("request");
            cells += 1;
            let status = res.status().as_u16();
            if status != expected[column] {
                let text: String = res.text().await.unwrap_or_default().chars().take(160).collect();
                wrong.push(format!("{route} as {p}: {status}, table says {} ({text})", expected[column]));
            }
        }
    }
    assert_eq!(cells, TABLE.len() * COLUMNS.len());
    assert!(wrong.is_empty(), "{} cells differ from the table:\n{}", wrong.len(), wrong.join("\n"));
}

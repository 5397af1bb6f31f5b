//! `docs/openapi.json` and the server agree: every route of `/berth/v1` and `/oauth2` in the
//! router is documented with its methods, and every documented operation answers (no 404/405).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::*;

const OPENAPI: &str = include_str!("../../docs/openapi.json");
const ADMIN_ROUTES: &str = include_str!("../../src/api/admin/mod.rs");
const ROUTES: &str = include_str!("../../src/api/mod.rs");

fn documented() -> Value {
    let doc: Value = serde_json::from_str(OPENAPI).expect("docs/openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    doc["paths"].clone()
}

#[test]
fn every_management_and_token_route_is_documented_with_its_methods() {
    let paths = documented();
    let mut routes = routes_in(ADMIN_ROUTES, "/berth/v1");
    routes.extend(routes_in(ROUTES, "").into_iter().filter(|(p, _)| p.starts_with("/oauth2/")));
    assert!(routes.len() >= 17, "router source parsed: {routes:?}");
    for (path, methods) in routes {
        let entry = &paths[&path];
        assert!(entry.is_object(), "{path} is served but not in docs/openapi.json");
        let mut listed: Vec<&str> = entry.as_object().into_iter().flatten().map(|(m, _)| m.as_str()).collect();
        listed.sort_unstable();
        let mut served: Vec<&str> = methods.iter().map(String::as_str).collect();
        served.sort_unstable();
        assert_eq!(listed, served, "methods of {path}: documented vs served");
    }
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let paths = documented();
    for (path, ops) in paths.as_object().expect("paths") {
        let concrete = path.replace("{name}", "x").replace("{id}", "x").replace("{password}", "password1");
        for method in ops.as_object().expect("operations").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let res = app.anon(method.clone(), &concrete).send().await.expect("request");
            let status = res.status();
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {concrete} is documented but answers {status}"
            );
        }
    }
}

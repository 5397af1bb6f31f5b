//! tags/list and _catalog: lexical order, `n`/`last` paging, `Link` headers.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

async fn get_json(app: &TestApp, path: &str) -> (Option<String>, Value) {
    let res = app.req(Method::GET, path).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let link = res.headers().get("link").map(|v| v.to_str().expect("link").to_owned());
    (link, res.json().await.expect("json"))
}

#[tokio::test]
async fn tags_are_listed_in_order_and_paged() {
    let app = TestApp::spawn().await;
    let (manifest, _) = app.push_image("lib/app", "b", &[b"x"]).await;
    for tag in ["a", "c", "d", "e"] {
        assert_eq!(app.put_manifest("lib/app", tag, OCI_MANIFEST, &manifest).await.status(), StatusCode::CREATED);
    }
    let (link, all) = get_json(&app, "/v2/lib/app/tags/list").await;
    assert_eq!(all, json!({"name": "lib/app", "tags": ["a", "b", "c", "d", "e"]}));
    assert_eq!(link, None);

    let (link, first) = get_json(&app, "/v2/lib/app/tags/list?n=2").await;
    assert_eq!(first["tags"], json!(["a", "b"]));
    assert_eq!(link.as_deref(), Some("</v2/lib/app/tags/list?n=2&last=b>; rel=\"next\""));
    let (link, second) = get_json(&app, "/v2/lib/app/tags/list?n=2&last=b").await;
    assert_eq!(second["tags"], json!(["c", "d"]));
    assert!(link.is_some());
    let (link, third) = get_json(&app, "/v2/lib/app/tags/list?n=2&last=d").await;
    assert_eq!(third["tags"], json!(["e"]));
    assert_eq!(link, None, "no Link on the last page");
    let (_, exact) = get_json(&app, "/v2/lib/app/tags/list?n=5").await;
    assert_eq!(exact["tags"].as_array().map(Vec::len), Some(5));

    let res = app.req(Method::GET, "/v2/lib/app/tags/list?n=-1").send().await.expect("bad n");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "PAGINATION_NUMBER_INVALID");
    let res = app.req(Method::GET, "/v2/never/pushed/tags/list").send().await.expect("unknown repo");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "NAME_UNKNOWN");
}

#[tokio::test]
async fn catalog_lists_repositories_in_order_and_paged() {
    let app = TestApp::spawn().await;
    for repo in ["zeta", "alpha/one", "alpha/two", "mid"] {
        app.push_image(repo, "latest", &[repo.as_bytes()]).await;
    }
    let (_, all) = get_json(&app, "/v2/_catalog").await;
    assert_eq!(all, json!({"repositories": ["alpha/one", "alpha/two", "mid", "zeta"]}));
    let (link, page) = get_json(&app, "/v2/_catalog?n=3").await;
    assert_eq!(page["repositories"], json!(["alpha/one", "alpha/two", "mid"]));
    assert_eq!(link.as_deref(), Some("</v2/_catalog?n=3&last=mid>; rel=\"next\""));
    let (link, rest) = get_json(&app, "/v2/_catalog?n=3&last=mid").await;
    assert_eq!(rest["repositories"], json!(["zeta"]));
    assert_eq!(link, None);
}

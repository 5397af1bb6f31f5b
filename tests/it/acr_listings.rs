//! `/acr/v1` tag and manifest listings paged in SQL: every order walked page by page through
//! `Link` headers, across ties in time; what manifest listings show without reading the bytes
//! (and how start-up fills it in for manifests stored before); and repositories that leave
//! both catalogs with their last manifest.

use reqwest::header::LINK;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const TAGS: usize = 300;
const MANIFESTS: usize = 120;

/// The database behind `app`, opened beside it (SQLite or PostgreSQL).
async fn database(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.database_url()).await.expect("database")
}

/// Every item of the listing at `path` (`field`: `tags` or `manifests`) as the pages give
/// them, following `Link` until there is none; `key` names an item. Each page but the last is
/// full.
async fn walk(app: &TestApp, path: &str, field: &str, key: &str, n: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(path) = next.take() {
        let res = app.req(Method::GET, &path).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        next = res.headers().get(LINK).map(|l| {
            let l = l.to_str().expect("ASCII");
            l.strip_prefix('<').and_then(|l| l.split_once('>')).expect("<url>; rel=\"next\"").0.to_owned()
        });
        let page: Value = res.json().await.expect("JSON");
        let got = page[field].as_array().expect("list").clone();
        if next.is_some() {
            assert_eq!(got.len(), n, "{path}: a page before the last is full");
            let last = got.last().and_then(|i| i[key].as_str()).expect("key");
            assert!(next.as_deref().is_some_and(|l| l.contains(&format!("last={}", last.replace(':', "%3A")))));
        }
        items.extend(got);
        assert!(items.len() <= TAGS + MANIFESTS, "the walk does not end");
    }
    items
}

fn keys(items: &[Value], key: &str) -> Vec<String> {
    items.iter().map(|i| i[key].as_str().expect("key").to_owned()).collect()
}

/// `names` sorted as `order` lists them, given their times: by name; by time then name.
fn ordered(mut items: Vec<(i64, String)>, order: &str) -> Vec<String> {
    match order {
        "timeasc" => items.sort(),
        "timedesc" => items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1))),
        _ => items.sort_by(|a, b| a.1.cmp(&b.1)),
    }
    items.into_iter().map(|(_, name)| name).collect()
}

#[tokio::test]
async fn listings_page_in_every_order_across_ties() {
    let app = TestApp::spawn().await;
    let config = app.push_blob("big", br#"{"architecture":"arm64","os":"linux"}"#).await;
    let layer = app.push_blob("big", b"one layer").await;
    let layers = vec![json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 9})];
    let mut manifests = Vec::new();
    for i in 0..MANIFESTS {
        let mut m: Value = serde_json::from_slice(&image_manifest(&config, 37, layers.clone())).expect("json");
        m["annotations"] = json!({ "n": i.to_string() });
        manifests.push(serde_json::to_vec(&m).expect("json"));
    }
    // Tag i is on manifest i % MANIFESTS: every manifest has two or three tags.
    for i in 0..TAGS {
        let res = app.put_manifest("big", &format!("t{i:03}"), OCI_MANIFEST, &manifests[i % MANIFESTS]).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let digests: Vec<String> = manifests.iter().map(|m| sha256(m)).collect();
    // Times that run against names and tie in groups (pushes within one millisecond tie too,
    // but not on cue).
    let db = database(&app).await;
    let tag_times: Vec<(i64, String)> = (0..TAGS).map(|i| (1_000 + (i as i64 * 37) % 50, format!("t{i:03}"))).collect();
    for (time, name) in &tag_times {
        sqlx::query("UPDATE tags SET updated_at = $1 WHERE repository = 'big' AND name = $2")
            .bind(time)
            .bind(name)
            .execute(&db)
            .await
            .expect("set a tag's time");
    }
    let manifest_times: Vec<(i64, String)> =
        digests.iter().enumerate().map(|(i, d)| (2_000 + (i as i64 * 13) % 40, d.clone())).collect();
    for (time, digest) in &manifest_times {
        sqlx::query("UPDATE manifests SET updated_at = $1 WHERE repository = 'big' AND digest = $2")
            .bind(time)
            .bind(digest)
            .execute(&db)
            .await
            .expect("set a manifest's time");
    }
    db.close().await;
    // A hidden tag is skipped, also where it would end a page.
    let res = app.req(Method::PATCH, "/acr/v1/big/_tags/t007").json(&json!({"listEnabled": false})).send().await;
    assert_eq!(res.expect("PATCH").status(), StatusCode::OK);
    let tag_times: Vec<(i64, String)> = tag_times.into_iter().filter(|(_, n)| n != "t007").collect();

    for order in ["", "timeasc", "timedesc"] {
        let expected = ordered(tag_times.clone(), order);
        for n in [7, 100] {
            let tags = walk(&app, &format!("/acr/v1/big/_tags?n={n}&orderby={order}"), "tags", "name", n).await;
            assert_eq!(keys(&tags, "name"), expected, "tags, orderby={order:?}, n={n}");
        }
        let expected = ordered(manifest_times.clone(), order);
        let listed = walk(&app, &format!("/acr/v1/big/_manifests?n=7&orderby={order}"), "manifests", "digest", 7).await;
        assert_eq!(keys(&listed, "digest"), expected, "manifests, orderby={order:?}");
        for m in &listed {
            let i = digests.iter().position(|d| m["digest"] == *d).expect("pushed");
            let tags: Vec<String> =
                (i..TAGS).step_by(MANIFESTS).map(|t| format!("t{t:03}")).filter(|t| t != "t007").collect();
            assert_eq!(m["tags"], json!(tags), "{}", m["digest"]);
            assert_eq!(m["architecture"], "arm64");
        }
    }
    // The digest filter pages too; a `last` that is not there starts a time order over.
    let on = &digests[5];
    let tags = walk(&app, &format!("/acr/v1/big/_tags?n=1&orderby=timeasc&digest={on}"), "tags", "name", 1).await;
    let on_5: Vec<(i64, String)> =
        tag_times.iter().filter(|(_, n)| ["t005", "t125", "t245"].contains(&n.as_str())).cloned().collect();
    assert_eq!(keys(&tags, "name"), ordered(on_5, "timeasc"));
    let res = app.req(Method::GET, "/acr/v1/big/_tags?n=2&orderby=timedesc&last=gone").send().await;
    let page: Value = res.expect("GET").json().await.expect("JSON");
    assert_eq!(keys(page["tags"].as_array().expect("tags"), "name"), ordered(tag_times, "timedesc")[..2]);
}

#[tokio::test]
async fn manifests_stored_before_summaries_are_summarized_at_start() {
    let mut app = TestApp::spawn().await;
    let (image, digest) = app.push_image("app", "v1", &[b"layer"]).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": image.len(),
                       "platform": {"architecture": "arm64", "os": "linux"}}],
    }))
    .expect("json");
    assert_eq!(app.put_manifest("app", "multi", OCI_INDEX, &index).await.status(), StatusCode::CREATED);
    let listing = |app: &TestApp| {
        let res = app.req(Method::GET, "/acr/v1/app/_manifests").send();
        async { res.await.expect("GET").json::<Value>().await.expect("JSON")["manifests"].clone() }
    };
    let before = listing(&app).await;
    let shown = |key: &str| before.as_array().is_some_and(|all| all.iter().any(|m| m.get(key).is_some()));
    assert!(shown("configMediaType") && shown("references"), "{before}");

    // As a database from before migration 0009 holds them.
    let db = database(&app).await;
    let sql = "UPDATE manifests SET image_size = NULL, config_media_type = NULL, child_platforms = NULL";
    sqlx::query(sql).execute(&db).await.expect("forget the summaries");
    db.close().await;
    app.restart().await;
    assert_eq!(listing(&app).await, before);
}

async fn catalogs(app: &TestApp) -> (Value, Value) {
    let get = |path: &'static str| async move {
        let res = app.req(Method::GET, path).send().await.expect("GET");
        res.json::<Value>().await.expect("JSON")["repositories"].clone()
    };
    (get("/v2/_catalog").await, get("/acr/v1/_catalog").await)
}

#[tokio::test]
async fn a_repository_leaves_both_catalogs_with_its_last_manifest() {
    let app = TestApp::spawn().await;
    let (_, a1) = app.push_image("a", "v1", &[b"a one"]).await;
    let (_, a2) = app.push_image("a", "v2", &[b"a two"]).await;
    app.push_image("b", "v1", &[b"b one"]).await;
    let (_, c1) = app.push_image("c", "v1", &[b"c one"]).await;
    assert_eq!(catalogs(&app).await, (json!(["a", "b", "c"]), json!(["a", "b", "c"])));

    // Untagging leaves the manifest, and the repository.
    app.req(Method::DELETE, "/v2/a/manifests/v1").send().await.expect("untag");
    assert_eq!(catalogs(&app).await.0, json!(["a", "b", "c"]));
    app.req(Method::DELETE, &format!("/v2/a/manifests/{a1}")).send().await.expect("delete");
    assert_eq!(catalogs(&app).await.1, json!(["a", "b", "c"]), "one manifest left");
    let res = app.req(Method::DELETE, &format!("/acr/v1/a/_manifests/{a2}")).send().await.expect("delete");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(catalogs(&app).await, (json!(["b", "c"]), json!(["b", "c"])));
    for path in ["/acr/v1/a", "/acr/v1/a/_tags", "/v2/a/tags/list"] {
        let res = app.req(Method::GET, path).send().await.expect("GET");
        assert_eq!((res.status(), error_code(res).await.as_str()), (StatusCode::NOT_FOUND, "NAME_UNKNOWN"), "{path}");
    }

    // A delete-locked repository cannot lose its last manifest; a list-locked one can, and its
    // lock goes with it: pushed again, it is a new repository, listed.
    let res = app.req(Method::PATCH, "/acr/v1/c").json(&json!({"deleteEnabled": false})).send().await;
    assert_eq!(res.expect("PATCH").status(), StatusCode::OK);
    let res = app.req(Method::DELETE, &format!("/v2/c/manifests/{c1}")).send().await.expect("delete");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.req(Method::PATCH, "/acr/v1/c")
        .json(&json!({"deleteEnabled": true, "listEnabled": false}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(catalogs(&app).await.0, json!(["b"]));
    app.req(Method::DELETE, &format!("/v2/c/manifests/{c1}")).send().await.expect("delete");
    app.push_image("c", "v2", &[b"c two"]).await;
    assert_eq!(catalogs(&app).await, (json!(["b", "c"]), json!(["b", "c"])));
}

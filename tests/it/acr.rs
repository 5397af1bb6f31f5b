//! ACR's data plane (`/acr/v1`) over raw HTTP, field by field and status by status, and its
//! locks (`changeableAttributes`) as `/v2/` and `/acr/v1` both enforce them.

use reqwest::header::{LINK, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

async fn get(app: &TestApp, path: &str) -> Value {
    let res = app.req(Method::GET, path).send().await.expect("GET");
    let status = res.status();
    let text = res.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

async fn patch(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.req(Method::PATCH, path).json(&body).send().await.expect("PATCH")
}

/// A refusal's status, code and message.
async fn refusal(res: reqwest::Response) -> (StatusCode, String, String) {
    let status = res.status();
    let body: Value = res.json().await.expect("error JSON");
    let e = &body["errors"][0];
    (status, e["code"].as_str().unwrap_or_default().into(), e["message"].as_str().unwrap_or_default().into())
}

/// ACR's time format: `2026-11-25T10:00:00.1230000Z`.
fn is_acr_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 28 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.')
}

fn unlocked() -> Value {
    json!({"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true})
}

/// Pushes a one-layer image whose layer differs from every other call's.
async fn image(app: &TestApp, repo: &str, tag: &str) -> String {
    let layer = format!("{repo}:{tag} layer");
    app.push_image(repo, tag, &[layer.as_bytes()]).await.1
}

#[tokio::test]
async fn catalog_and_repository_attributes_follow_acr() {
    let app = TestApp::spawn().await;
    let (m1, _) = app.push_image("hello", "v1", &[b"one", b"two"]).await;
    let v2 = image(&app, "hello", "v2").await;
    image(&app, "team/app", "latest").await;
    image(&app, "zeta", "1").await;

    let res = app.req(Method::GET, "/acr/v1/_catalog?n=2").send().await.expect("catalog");
    assert_eq!(res.headers()[LINK], "</acr/v1/_catalog?last=team%2Fapp&n=2>; rel=\"next\"");
    assert_eq!(res.json::<Value>().await.expect("json"), json!({"repositories": ["hello", "team/app"]}));
    assert_eq!(get(&app, "/acr/v1/_catalog?last=team%2Fapp&n=2").await, json!({"repositories": ["zeta"]}));

    let repo = get(&app, "/acr/v1/hello").await;
    assert_eq!(repo["registry"], app.host());
    assert_eq!(repo["imageName"], "hello");
    assert!(is_acr_time(&repo["createdTime"]) && is_acr_time(&repo["lastUpdateTime"]), "{repo}");
    assert_eq!((repo["manifestCount"].as_u64(), repo["tagCount"].as_u64()), (Some(2), Some(2)));
    let mut attributes = unlocked();
    attributes["teleportEnabled"] = false.into();
    assert_eq!(repo["changeableAttributes"], attributes);
    assert_eq!(get(&app, "/acr/v1/team%2Fapp").await["imageName"], "team/app");

    let (status, code, _) = refusal(app.req(Method::GET, "/acr/v1/nope").send().await.expect("GET")).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "NAME_UNKNOWN"));
    let (status, code, _) = refusal(app.req(Method::GET, "/acr/v1/Bad%20Name").send().await.expect("GET")).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "NAME_INVALID"));
    let (status, code, _) = refusal(patch(&app, "/acr/v1/hello", json!({"writeEnabled": "no"})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));

    let res = app.req(Method::DELETE, "/acr/v1/hello").send().await.expect("DELETE");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mut manifests = vec![sha256(&m1), v2];
    manifests.sort();
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"manifestsDeleted": manifests, "tagsDeleted": ["v1", "v2"]})
    );
    assert_eq!(app.req(Method::GET, "/v2/hello/tags/list").send().await.expect("tags").status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/acr/v1/_catalog").await, json!({"repositories": ["team/app", "zeta"]}));
}

#[tokio::test]
async fn tags_list_page_order_filter_and_lock() {
    let app = TestApp::spawn().await;
    let mut digests = Vec::new();
    for tag in ["b", "a", "c"] {
        digests.push(image(&app, "app", tag).await);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let digest_a = digests[1].clone();
    // Another tag on a's manifest, for the digest filter.
    let res = app.put_manifest("app", "a2", OCI_MANIFEST, &manifest_of(&app, "app", &digest_a).await).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let listing = get(&app, "/acr/v1/app/_tags").await;
    assert_eq!((listing["registry"].as_str(), listing["imageName"].as_str()), (Some(app.host().as_str()), Some("app")));
    let names: Vec<&str> =
        listing["tags"].as_array().expect("tags").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["a", "a2", "b", "c"]);
    let a = &listing["tags"][0];
    assert_eq!((a["digest"].as_str(), a["signed"].as_bool()), (Some(digest_a.as_str()), Some(false)));
    assert!(is_acr_time(&a["createdTime"]) && is_acr_time(&a["lastUpdateTime"]));
    assert_eq!(a["changeableAttributes"], unlocked());

    let order = |v: &Value| {
        v["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&get(&app, "/acr/v1/app/_tags?orderby=timedesc").await), ["a2", "c", "a", "b"]);
    assert_eq!(order(&get(&app, "/acr/v1/app/_tags?orderby=timeasc").await), ["b", "a", "c", "a2"]);
    let res = app.req(Method::GET, "/acr/v1/app/_tags?n=2&orderby=timedesc").send().await.expect("page");
    assert_eq!(res.headers()[LINK], "</acr/v1/app/_tags?last=c&n=2&orderby=timedesc>; rel=\"next\"");
    assert_eq!(order(&res.json().await.expect("json")), ["a2", "c"]);
    assert_eq!(order(&get(&app, "/acr/v1/app/_tags?n=2&orderby=timedesc&last=c").await), ["a", "b"]);
    assert_eq!(order(&get(&app, &format!("/acr/v1/app/_tags?digest={digest_a}")).await), ["a", "a2"]);

    for (query, code) in
        [("orderby=size", "BAD_REQUEST"), ("n=0", "PAGINATION_NUMBER_INVALID"), ("digest=sha256:zz", "DIGEST_INVALID")]
    {
        let res = app.req(Method::GET, &format!("/acr/v1/app/_tags?{query}")).send().await.expect("GET");
        let (status, got, _) = refusal(res).await;
        assert_eq!((status, got.as_str()), (StatusCode::BAD_REQUEST, code), "{query}");
    }

    let one = get(&app, "/acr/v1/app/_tags/a").await;
    assert_eq!(
        (one["registry"].as_str(), one["imageName"].as_str(), one["tag"]["name"].as_str()),
        (Some(app.host().as_str()), Some("app"), Some("a"))
    );
    let (status, code, _) = refusal(app.req(Method::GET, "/acr/v1/app/_tags/nope").send().await.expect("GET")).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "TAG_UNKNOWN"));

    // Write lock: the tag cannot move, be overwritten or be deleted; re-pushing what it already names is fine.
    let locked = patch(&app, "/acr/v1/app/_tags/a", json!({"writeEnabled": false})).await;
    assert_eq!(locked.status(), StatusCode::OK);
    assert_eq!(locked.json::<Value>().await.expect("json")["tag"]["changeableAttributes"]["writeEnabled"], false);
    let other = manifest_of(&app, "app", &digests[0]).await;
    let (status, code, message) = refusal(app.put_manifest("app", "a", OCI_MANIFEST, &other).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(message.contains("\"a\"") && message.contains("writeEnabled"), "{message}");
    let same = manifest_of(&app, "app", &digest_a).await;
    assert_eq!(app.put_manifest("app", "a", OCI_MANIFEST, &same).await.status(), StatusCode::CREATED);
    let (status, _, message) =
        refusal(app.req(Method::DELETE, "/acr/v1/app/_tags/a").send().await.expect("DELETE")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("writeEnabled"), "{message}");
    let (status, _, _) = refusal(app.req(Method::DELETE, "/v2/app/manifests/a").send().await.expect("DELETE")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Delete lock alone: the tag may move but not go.
    patch(&app, "/acr/v1/app/_tags/a", json!({"writeEnabled": true, "deleteEnabled": false})).await;
    let (_, _, message) = refusal(app.req(Method::DELETE, "/acr/v1/app/_tags/a").send().await.expect("DELETE")).await;
    assert!(message.contains("deleteEnabled"), "{message}");
    patch(&app, "/acr/v1/app/_tags/a", json!({"deleteEnabled": true})).await;
    assert_eq!(
        app.req(Method::DELETE, "/acr/v1/app/_tags/a").send().await.expect("DELETE").status(),
        StatusCode::ACCEPTED
    );
    let by_digest = app.req(Method::GET, &format!("/v2/app/manifests/{digest_a}")).header("accept", OCI_MANIFEST);
    assert_eq!(by_digest.send().await.expect("GET").status(), StatusCode::OK, "untag keeps the manifest");

    // List lock: hidden from both listings, still pullable.
    patch(&app, "/acr/v1/app/_tags/b", json!({"listEnabled": false})).await;
    let v2_tags = get(&app, "/v2/app/tags/list").await;
    assert_eq!(v2_tags["tags"], json!(["a2", "c"]));
    assert_eq!(order(&get(&app, "/acr/v1/app/_tags").await), ["a2", "c"]);
    assert_eq!(app.req(Method::GET, "/v2/app/manifests/b").send().await.expect("GET").status(), StatusCode::OK);

    // Read lock on a tag: no pull through it; the manifest by digest still pulls.
    patch(&app, "/acr/v1/app/_tags/c", json!({"readEnabled": false})).await;
    let (status, code, message) = refusal(app.req(Method::GET, "/v2/app/manifests/c").send().await.expect("GET")).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(message.contains("readEnabled") && message.contains("tag c"), "{message}");
    let by_digest = app.req(Method::GET, &format!("/v2/app/manifests/{}", digests[2]));
    assert_eq!(by_digest.send().await.expect("GET").status(), StatusCode::OK);
}

/// The stored bytes of manifest `digest`.
async fn manifest_of(app: &TestApp, repo: &str, digest: &str) -> Vec<u8> {
    let res =
        app.req(Method::GET, &format!("/v2/{repo}/manifests/{digest}")).header("accept", OCI_MANIFEST).send().await;
    res.expect("GET").bytes().await.expect("bytes").to_vec()
}

#[tokio::test]
async fn manifests_list_details_and_locks() {
    let app = TestApp::spawn().await;
    let (image_bytes, digest) = app.push_image("app", "v1", &[b"layer-1", b"layer-22"]).await;
    let (untagged_bytes, untagged) = app.push_image("app", "tmp", &[b"other"]).await;
    app.req(Method::DELETE, "/v2/app/manifests/tmp").send().await.expect("untag");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": image_bytes.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .expect("json");
    let res = app.put_manifest("app", "multi", OCI_INDEX, &index).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let index_digest = sha256(&index);

    let listing = get(&app, "/acr/v1/app/_manifests").await;
    assert_eq!((listing["registry"].as_str(), listing["imageName"].as_str()), (Some(app.host().as_str()), Some("app")));
    let all = listing["manifests"].as_array().expect("manifests");
    assert_eq!(all.len(), 3);
    let find = |d: &str| all.iter().find(|m| m["digest"] == d).expect("listed").clone();
    let m = find(&digest);
    // The manifest itself, its config and both layers.
    let parsed: Value = serde_json::from_slice(&image_bytes).expect("json");
    let config_len = parsed["config"]["size"].as_u64().expect("config size");
    assert_eq!(m["imageSize"].as_u64(), Some(image_bytes.len() as u64 + config_len + 7 + 8), "{m}");
    assert_eq!((m["architecture"].as_str(), m["os"].as_str()), (Some("amd64"), Some("linux")));
    assert_eq!(
        (m["mediaType"].as_str(), m["configMediaType"].as_str()),
        (Some(OCI_MANIFEST), Some("application/vnd.oci.image.config.v1+json"))
    );
    assert_eq!(m["tags"], json!(["v1"]));
    assert_eq!(m["changeableAttributes"], unlocked());
    assert!(is_acr_time(&m["createdTime"]) && is_acr_time(&m["lastUpdateTime"]));
    assert!(find(&untagged).get("tags").is_none(), "untagged: no tags field");
    assert_eq!(find(&untagged)["imageSize"].as_u64().map(|s| s > untagged_bytes.len() as u64), Some(true));
    let idx = find(&index_digest);
    assert_eq!(idx["references"], json!([{"digest": digest, "architecture": "amd64", "os": "linux"}]));
    assert!(idx.get("architecture").is_none() && idx.get("configMediaType").is_none(), "{idx}");

    // The digest may come percent-encoded, as the SDKs send it.
    let one = get(&app, &format!("/acr/v1/app/_manifests/{}", digest.replace(':', "%3A"))).await;
    assert_eq!(one["manifest"]["digest"], digest);
    let res = app.req(Method::GET, "/acr/v1/app/_manifests/sha256:0000").send().await.expect("GET");
    assert_eq!(refusal(res).await.1, "DIGEST_INVALID");

    // Delete lock on the manifest: not deletable, nor is its repository.
    let res = patch(&app, &format!("/acr/v1/app/_manifests/{digest}"), json!({"deleteEnabled": false})).await;
    assert_eq!(res.json::<Value>().await.expect("json")["manifest"]["changeableAttributes"]["deleteEnabled"], false);
    for (method, path) in [
        (Method::DELETE, format!("/v2/app/manifests/{digest}")),
        (Method::DELETE, format!("/acr/v1/app/_manifests/{digest}")),
        (Method::DELETE, "/acr/v1/app".to_owned()),
    ] {
        let (status, code, message) = refusal(app.req(method, &path).send().await.expect("DELETE")).await;
        assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "DENIED"), "{path}");
        assert!(message.contains("deleteEnabled") && message.contains(&digest), "{path}: {message}");
    }
    // Read lock on the manifest: no pull by digest or tag.
    patch(&app, &format!("/acr/v1/app/_manifests/{digest}"), json!({"readEnabled": false})).await;
    for reference in [digest.as_str(), "v1"] {
        let res = app.req(Method::GET, &format!("/v2/app/manifests/{reference}")).send().await.expect("GET");
        let (status, _, message) = refusal(res).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{reference}");
        assert!(message.contains("readEnabled"), "{message}");
    }
    // List lock: hidden from the listing.
    patch(&app, &format!("/acr/v1/app/_manifests/{digest}"), json!({"listEnabled": false})).await;
    assert_eq!(get(&app, "/acr/v1/app/_manifests").await["manifests"].as_array().map(Vec::len), Some(2));
    // Unlocked, it goes.
    patch(
        &app,
        &format!("/acr/v1/app/_manifests/{digest}"),
        json!({"deleteEnabled": true, "readEnabled": true, "listEnabled": true}),
    )
    .await;
    let res = app.req(Method::DELETE, &format!("/acr/v1/app/_manifests/{untagged}")).send().await.expect("DELETE");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(get(&app, "/acr/v1/app").await["manifestCount"], 2);
}

#[tokio::test]
async fn repository_locks_stop_pushes_pulls_and_listing() {
    let app = TestApp::spawn().await;
    let digest = image(&app, "app", "v1").await;
    image(&app, "other", "v1").await;
    let layer = b"app:v1 layer";

    let res = patch(&app, "/acr/v1/app", json!({"writeEnabled": false})).await;
    assert_eq!(res.json::<Value>().await.expect("json")["changeableAttributes"]["writeEnabled"], false);
    let res = app.req(Method::POST, "/v2/app/blobs/uploads/").send().await.expect("POST");
    let (status, code, message) = refusal(res).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(message.contains("repository \"app\"") && message.contains("writeEnabled"), "{message}");
    let res = app
        .req(Method::POST, &format!("/v2/app/blobs/uploads/?digest={}", sha256(b"new")))
        .body(&b"new"[..])
        .send()
        .await;
    assert_eq!(res.expect("POST").status(), StatusCode::FORBIDDEN);
    let same = manifest_of(&app, "app", &digest).await;
    assert_eq!(app.put_manifest("app", "v2", OCI_MANIFEST, &same).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.req(Method::DELETE, "/acr/v1/app").send().await.expect("DELETE").status(), StatusCode::FORBIDDEN);
    patch(&app, "/acr/v1/app", json!({"writeEnabled": true})).await;
    assert_eq!(app.put_manifest("app", "v2", OCI_MANIFEST, &same).await.status(), StatusCode::CREATED);

    patch(&app, "/acr/v1/app", json!({"readEnabled": false})).await;
    let res = app.req(Method::GET, &format!("/v2/app/blobs/{}", sha256(layer))).send().await.expect("GET");
    let (status, _, message) = refusal(res).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("readEnabled"), "{message}");
    assert_eq!(app.req(Method::GET, "/v2/app/manifests/v1").send().await.expect("GET").status(), StatusCode::FORBIDDEN);
    assert_eq!(app.req(Method::GET, "/v2/other/manifests/v1").send().await.expect("GET").status(), StatusCode::OK);
    patch(&app, "/acr/v1/app", json!({"readEnabled": true, "listEnabled": false})).await;
    assert_eq!(get(&app, "/v2/_catalog").await["repositories"], json!(["other"]));
    assert_eq!(get(&app, "/acr/v1/_catalog").await["repositories"], json!(["other"]));
    assert_eq!(app.req(Method::GET, "/v2/app/manifests/v1").send().await.expect("GET").status(), StatusCode::OK);
}

#[tokio::test]
async fn acr_endpoints_challenge_and_check_acr_scopes() {
    let app = TestApp::spawn().await;
    image(&app, "app", "v1").await;
    let host = app.host();
    for (method, path, scope) in [
        (Method::GET, "/acr/v1/_catalog", "registry:catalog:*"),
        (Method::GET, "/acr/v1/app/_tags", "repository:app:metadata_read"),
        (Method::PATCH, "/acr/v1/app/_tags/v1", "repository:app:metadata_write"),
        (Method::DELETE, "/acr/v1/app", "repository:app:delete"),
        (Method::GET, "/acr/v1/team%2Fapp/_manifests", "repository:team/app:metadata_read"),
    ] {
        let res = app.anon(method, path).send().await.expect("request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        let expected = format!("Bearer realm=\"http://{host}/oauth2/token\",service=\"{host}\",scope=\"{scope}\"");
        assert_eq!(res.headers()[WWW_AUTHENTICATE], expected.as_str(), "{path}");
    }

    // A token that may pull but not read metadata gets 403 on /acr/v1.
    let create = |name: &str, actions: Vec<&str>| {
        app.req(Method::POST, "/berth/v1/tokens")
            .json(&json!({"name": name, "repositories": [{"repository": "app", "actions": actions}]}))
            .send()
    };
    let pull: Value = create("puller", vec!["content/read"]).await.expect("token").json().await.expect("json");
    let reader: Value = create("reader", vec!["metadata/read"]).await.expect("token").json().await.expect("json");
    let pass = |t: &Value| t["credentials"]["passwords"][0]["value"].as_str().expect("password").to_owned();
    let res = app.anon(Method::GET, "/acr/v1/app/_tags").basic_auth("puller", Some(pass(&pull))).send().await;
    let (status, code, message) = refusal(res.expect("GET")).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(message.contains("metadata/read"), "{message}");
    let res = app.anon(Method::GET, "/acr/v1/app/_tags").basic_auth("reader", Some(pass(&reader))).send().await;
    assert_eq!(res.expect("GET").status(), StatusCode::OK);
    let res = app
        .anon(Method::PATCH, "/acr/v1/app/_tags/v1")
        .basic_auth("reader", Some(pass(&reader)))
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(res.expect("PATCH").status(), StatusCode::FORBIDDEN);
}

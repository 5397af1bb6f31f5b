//! The repository page's actions in a real browser: lock toggles that the registry then
//! enforces on clients nobody here wrote, untag and delete behind a confirmation, usage that
//! follows a delete; and a caller without the rights finding neither the controls nor a way
//! around them.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::browser::{Browser, csrf_in, session_of};
use crate::clients::skopeo::{put_image, skopeo, tag_layout};
use crate::support::*;

/// Copies a one-layer image (content `seed`) from a fresh OCI layout to `repo:tag` on `app`.
async fn skopeo_push(app: &TestApp, repo: &str, tag: &str, seed: &[u8]) -> (bool, String) {
    let (_guard, tmp) = temp_dir();
    let image = put_image(&tmp, "amd64", &[("file", seed)]);
    tag_layout(&tmp, image, tag);
    let dest = format!("docker://{}/{repo}:{tag}", app.host());
    let (ok, _, stderr) =
        skopeo(app, &["copy", "--dest-tls-verify=false", &format!("oci:{}:{tag}", tmp.display()), &dest]).await;
    (ok, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_write_lock_on_a_tag_makes_a_skopeo_push_onto_it_fail_until_unlocked() {
    if !have_tool("skopeo") {
        return;
    }
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let (ok, stderr) = skopeo_push(&app, "team/api", "v1", b"first build").await;
    assert!(ok, "{stderr}");

    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.open_repository(&app, "team/api").await;
    let write_lock = "tr[data-tag='v1'] button[name=lock][value^='write:']";
    // The page after the click holds the same button: wait for what it says, not for a page.
    let pressed = |state: &str| format!("document.querySelector({write_lock:?})?.ariaPressed === '{state}'");
    browser.click(write_lock).await;
    browser.wait_for(&pressed("true")).await;
    assert!(browser.text("tr[data-tag='v1'] td.locks").await.contains("write locked"));
    browser.screenshot("repository").await;

    let (ok, stderr) = skopeo_push(&app, "team/api", "v1", b"second build").await;
    assert!(!ok, "a push onto a write-locked tag must fail");
    assert!(stderr.to_lowercase().contains("denied") || stderr.contains("locked"), "{stderr}");
    let (ok, stderr) = skopeo_push(&app, "team/api", "v2", b"second build").await;
    assert!(ok, "other tags take pushes: {stderr}");
    let tag = app.req(Method::GET, "/acr/v1/team/api/_tags/v1").send().await.expect("GET");
    let tag: serde_json::Value = tag.json().await.expect("json");
    assert_eq!(tag["tag"]["changeableAttributes"]["writeEnabled"], false, "{tag}");

    browser.click(write_lock).await;
    browser.wait_for(&pressed("false")).await;
    let (ok, stderr) = skopeo_push(&app, "team/api", "v1", b"second build").await;
    assert!(ok, "unlocked, the push goes through: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_deleting_an_image_asks_first_then_usage_drops() {
    let Some(browser) = Browser::start().await else { return };
    // No grace period: the collection frees the deleted image's layer at once.
    let app = TestApp::spawn_with(|c| c.gc.grace = berth::config::Duration::parse("0s").expect("duration")).await;
    app.push_image("app", "keep", &[&layer(1, 20_000)]).await;
    let (_, digest) = app.push_image("app", "gone", &[&layer(2, 300_000)]).await;
    let storage = "return Number(document.getElementById('storage').value)";

    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    let before = browser.script(storage).await.as_u64().expect("storage shown");
    assert_eq!(before, app.used().await, "the gauge shows what show-usage reports");
    browser.open_repository(&app, "app").await;
    browser.click_then("nav.tabs a[href*='view=manifests']", "#manifests").await;
    let delete = format!("tr[data-digest='{digest}'] button.delete");
    browser.click_then(&delete, "#question").await;
    assert!(browser.text("#question").await.contains(&digest), "the question names the manifest");
    browser.click_then("form.confirm a", "#manifests").await;
    assert_eq!(browser.count(&format!("tr[data-digest='{digest}']")).await, 1, "cancelled: still there");

    browser.click_then(&delete, "#question").await;
    browser.click_then("form.confirm button[type=submit]", "#manifests").await;
    assert_eq!(browser.count(&format!("tr[data-digest='{digest}']")).await, 0, "deleted");
    assert_eq!(browser.count("#manifests tbody tr").await, 1, "the other image stays");
    browser.click_then("nav.tabs a[href*='view=tags']", "#tags").await;
    assert_eq!(browser.count("tr[data-tag='gone']").await, 0, "with its tag");
    assert_eq!(browser.count("tr[data-tag='keep']").await, 1);
    let res = app.req(Method::GET, &format!("/v2/app/manifests/{digest}")).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    browser.go(&app.url("/")).await;
    let after_delete = browser.script(storage).await.as_u64().expect("storage shown");
    assert!(after_delete < before, "the manifest's bytes are gone at once: {after_delete} < {before}");
    app.admin(Method::POST, "/gc", Some(json!({}))).await;
    browser.go(&app.url("/")).await;
    let after_gc = browser.script(storage).await.as_u64().expect("storage shown");
    assert!(after_gc + 300_000 <= after_delete, "its layer went with the collection: {after_gc} vs {after_delete}");
    assert_eq!(after_gc, app.assert_usage_consistent().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_search_as_you_type_swaps_the_list_in_place() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let rows: Vec<String> = (0..150).map(|i| format!("('svc/{i:03}', 1, {i})")).collect();
    app.execute_sql(&format!("INSERT INTO repositories (name, created_at, updated_at) VALUES {}", rows.join(", ")))
        .await;
    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url("/repositories")).await;
    assert_eq!(browser.count("#repositories li").await, 100, "a page of 100");
    browser.screenshot("repositories").await;
    browser.script("window.stayed = true; document.getElementById('q').focus(); return true").await;
    browser.type_into("#q", "svc/12").await;
    browser.wait_for("document.querySelectorAll('#repositories li').length === 10").await;
    assert_eq!(browser.text("#repositories li:first-child a").await, "svc/120");
    assert_eq!(browser.script("return window.stayed === true").await, true, "no page load");
    assert_eq!(browser.script("return document.activeElement.id").await, "q", "the focus stays in the box");
    assert!(browser.url().await.ends_with("/repositories?q=svc%2F12&sort=name"), "{}", browser.url().await);
    browser.type_into("#q", "x").await;
    browser.wait_for("!!document.getElementById('none')").await;
}

#[tokio::test]
async fn portal_actions_need_the_rights_the_api_needs() {
    let app = TestApp::spawn().await;
    let (_, digest) = app.push_image("app", "v1", &[b"layer"]).await;
    let token = token_with(&app, "puller", "app", &["content/read", "metadata/read"]).await;
    let cookie = session_of(&app, "puller", &token).await;
    let mut html = String::new();
    for view in ["tags", "manifests"] {
        let page = app.client.get(app.url(&format!("/repository?name=app&view={view}"))).header("cookie", &cookie);
        html = page.send().await.expect("GET").text().await.expect("html");
        assert!(html.contains("data-tag=") || html.contains("data-digest="), "{view} listed: {html}");
        for control in ["name=\"lock\"", "class=\"untag\"", "class=\"delete\"", "id=\"delete-repository\""] {
            assert!(!html.contains(control), "a pull-only token sees no {control} ({view})");
        }
    }
    let csrf = csrf_in(&html);
    for (path, fields) in [
        ("/repository/locks", vec![("name", "app"), ("target", "tag"), ("lock", "write:on:v1")]),
        ("/repository/untag", vec![("name", "app"), ("tag", "v1"), ("confirm", "yes")]),
        ("/repository/delete-manifest", vec![("name", "app"), ("digest", &digest), ("confirm", "yes")]),
        ("/repository/delete", vec![("name", "app"), ("confirm", "yes")]),
    ] {
        let mut form = fields.clone();
        form.push(("csrf", &csrf));
        let res = app.client.post(app.url(path)).header("cookie", &cookie).form(&form).send().await.expect("POST");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let tags = app.req(Method::GET, "/v2/app/tags/list").send().await.expect("GET");
    assert_eq!(tags.json::<serde_json::Value>().await.expect("json")["tags"], json!(["v1"]), "nothing changed");

    // The admin's session may, but not past a delete lock, and not without its CSRF token.
    let admin = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let page = app.client.get(app.url("/repository?name=app")).header("cookie", &admin).send().await.expect("GET");
    let csrf = csrf_in(&page.text().await.expect("html"));
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        app.client.post(app.url(path)).header("cookie", &admin).form(&form).send()
    };
    let lock = vec![
        ("name", "app".into()),
        ("target", "repository".into()),
        ("lock", "delete:on:".into()),
        ("csrf", csrf.clone()),
    ];
    assert_eq!(post("/repository/locks", lock).await.expect("POST").status(), StatusCode::SEE_OTHER);
    let delete = vec![("name", "app".into()), ("confirm", "yes".into())];
    let res = post("/repository/delete", delete.clone()).await.expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let mut with_token = delete.clone();
    with_token.push(("csrf", csrf.clone()));
    let res = post("/repository/delete", with_token).await.expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "delete-locked");
    assert!(res.text().await.expect("html").contains("locked"));
    for (target, lock) in
        [("repository", "everything:on:"), ("tag", "write:on:no such tag"), ("tag", "write"), ("space", "write:on:")]
    {
        let bad =
            vec![("name", "app".into()), ("target", target.into()), ("lock", lock.into()), ("csrf", csrf.clone())];
        assert_eq!(post("/repository/locks", bad).await.expect("POST").status(), StatusCode::BAD_REQUEST, "{lock}");
    }
    let gone = vec![
        ("name", "app".into()),
        ("target", "tag".into()),
        ("lock", "write:on:nope".into()),
        ("csrf", csrf.clone()),
    ];
    assert_eq!(post("/repository/locks", gone).await.expect("POST").status(), StatusCode::NOT_FOUND);
    let unconfirmed = vec![("name", "app".into()), ("tag", "v1".into()), ("csrf", csrf.clone())];
    let res = post("/repository/untag", unconfirmed).await.expect("POST");
    assert_eq!(res.status(), StatusCode::OK, "the confirmation page");
    assert!(res.text().await.expect("html").contains("id=\"question\""));
    let unlock = vec![
        ("name", "app".into()),
        ("target", "repository".into()),
        ("lock", "delete:off:".into()),
        ("csrf", csrf.clone()),
    ];
    assert_eq!(post("/repository/locks", unlock).await.expect("POST").status(), StatusCode::SEE_OTHER);
    let untag = vec![("name", "app".into()), ("tag", "v1".into()), ("confirm", "yes".into()), ("csrf", csrf.clone())];
    assert_eq!(post("/repository/untag", untag).await.expect("POST").status(), StatusCode::SEE_OTHER);
    let res = app.req(Method::GET, &format!("/v2/app/manifests/{digest}")).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK, "untag keeps the manifest");
    let delete = vec![("name", "app".into()), ("confirm", "yes".into()), ("csrf", csrf)];
    let res = post("/repository/delete", delete).await.expect("POST");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/repositories");
    let res = app.req(Method::GET, &format!("/v2/app/manifests/{digest}")).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the repository is gone");
}

#[tokio::test]
async fn a_quarantine_writer_releases_an_image_from_the_portal() {
    let app = TestApp::spawn().await;
    app.admin(Method::PATCH, "/quarantine", Some(json!({"status": "enabled"}))).await;
    let (_, digest) = app.push_image("app", "v1", &[b"held"]).await;
    let puller = user_with(&app, "puller", &["AcrPull"]).await;
    let writer = user_with(&app, "qwriter", &["AcrQuarantineWriter"]).await;
    let manifests = "/repository?name=app&view=manifests";

    // An AcrPull user finds no trace of it, and cannot release it by hand.
    let cookie = session_of(&app, "puller", &puller).await;
    let html = app.client.get(app.url(manifests)).header("cookie", &cookie).send().await.expect("GET");
    let html = html.text().await.expect("html");
    assert!(!html.contains(&digest), "a held image is listed to AcrPull: {html}");
    let state = format!("Passed:{digest}");
    let form = [("name", "app"), ("state", state.as_str()), ("csrf", &csrf_in(&html))];
    let res = app.client.post(app.url("/repository/quarantine")).header("cookie", &cookie).form(&form);
    assert_eq!(res.send().await.expect("POST").status(), StatusCode::FORBIDDEN);

    // The writer sees its state and a Release button, and releases it.
    let cookie = session_of(&app, "qwriter", &writer).await;
    let html = app.client.get(app.url(manifests)).header("cookie", &cookie).send().await.expect("GET");
    let html = html.text().await.expect("html");
    assert!(html.contains(&digest) && html.contains("Quarantined") && html.contains(&state), "{html}");
    let manifest = app.client.get(app.url(&format!("/manifest?name=app&digest={digest}"))).header("cookie", &cookie);
    let page = manifest.send().await.expect("GET").text().await.expect("html");
    assert!(page.contains("id=\"quarantine\"") && page.contains("Release"), "{page}");
    let form = [("name", "app"), ("state", state.as_str()), ("csrf", &csrf_in(&html))];
    let res = app.client.post(app.url("/repository/quarantine")).header("cookie", &cookie).form(&form);
    assert_eq!(res.send().await.expect("POST").status(), StatusCode::SEE_OTHER);
    let pulled = app.anon(Method::GET, "/v2/app/manifests/v1").basic_auth("puller", Some(&puller)).send().await;
    assert_eq!(pulled.expect("GET").status(), StatusCode::OK, "released from the portal");
}

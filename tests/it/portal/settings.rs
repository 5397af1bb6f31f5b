//! The portal's Settings page: registry settings, quota and tier, GC now and webhooks in a real
//! browser; who may see and change what, and CSRF, over raw HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::browser::{Browser, csrf_in, page, post_with_csrf, session_of};
use crate::support::*;
use crate::webhooks::Receiver;

/// Waits until the element `css` exists and its text contains `text`.
async fn wait_text(browser: &Browser, css: &str, text: &str) {
    let condition = format!(
        "document.readyState === 'complete' && !!document.querySelector({css:?}) && document.querySelector({css:?}).textContent.includes({text:?})"
    );
    browser.wait_for(&condition).await;
}

async fn settings(app: &TestApp) -> Value {
    app.admin(Method::GET, "/settings", None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_anonymous_pull_turns_on_and_off_in_the_browser() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"public layer"]).await;
    let anonymous = || app.anon(Method::GET, "/v2/app/tags/list").send();
    assert_eq!(anonymous().await.expect("GET").status(), StatusCode::UNAUTHORIZED, "off by default");

    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.click_then("header nav a[href='/settings']", "#registry").await;
    assert!(browser.text("#anonymous-pull").await.starts_with("off"));
    browser.click("#anonymous-pull-toggle").await;
    wait_text(&browser, "#anonymous-pull", "on Turn anonymous pull off").await;
    assert_eq!(settings(&app).await["anonymousPullEnabled"], true);
    assert_eq!(anonymous().await.expect("GET").status(), StatusCode::OK);

    browser.click("#anonymous-pull-toggle").await;
    wait_text(&browser, "#anonymous-pull", "off Turn anonymous pull on").await;
    assert_eq!(anonymous().await.expect("GET").status(), StatusCode::UNAUTHORIZED);

    // The quarantine of new images, as `berth config quarantine update`.
    browser.click("#quarantine-toggle").await;
    wait_text(&browser, "#quarantine-setting", "on Turn quarantine off").await;
    assert_eq!(app.admin(Method::GET, "/quarantine", None).await["status"], "enabled");
    browser.click("#quarantine-toggle").await;
    wait_text(&browser, "#quarantine-setting", "off Turn quarantine on").await;
    assert_eq!(app.admin(Method::GET, "/quarantine", None).await["status"], "disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_quota_refuses_the_next_push_and_tiers_change() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"first layer"]).await;
    let quota = app.used().await + 100;

    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url("/settings")).await;
    assert!(browser.text("#quota").await.contains("the tier's included storage"));
    browser.click("#sku option[value=Premium]").await;
    browser.click("#quota-custom").await;
    browser.type_into("#quota-bytes", &quota.to_string()).await;
    browser.click("#limits button[type=submit]").await;
    wait_text(&browser, "#tier", "Premium").await;
    assert!(!browser.text("#quota").await.contains("included"), "{}", browser.text("#quota").await);
    let now = settings(&app).await;
    assert_eq!(now["sku"]["name"], "Premium");
    assert_eq!(now["storageQuotaBytes"], quota);

    let big = layer(9, 4096);
    let res = app.req(Method::POST, &format!("/v2/app/blobs/uploads/?digest={}", sha256(&big))).body(big).send();
    let res = res.await.expect("push");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.expect("json");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("quota")), "{body}");

    // Back to the tier's storage, on another tier.
    browser.click("#sku option[value=Basic]").await;
    browser.click("#quota-default").await;
    browser.click("#limits button[type=submit]").await;
    wait_text(&browser, "#tier", "Basic").await;
    assert!(browser.text("#quota").await.contains("10.0 GiB (the tier's included storage)"));
    let now = settings(&app).await;
    assert_eq!(now["sku"]["name"], "Basic");
    assert_eq!(now["storageQuotaBytes"], 10u64 << 30);
    app.push_image("app", "v2", &[&layer(9, 4096)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_gc_now_reports_what_it_freed() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    app.admin(
        Method::POST,
        "/webhooks",
        Some(json!({"name": "builds", "serviceUri": receiver.uri("/hook"), "actions": ["push"]})),
    )
    .await;
    let (_, digest) = app.push_image("old", "v1", &[&layer(3, 20_000)]).await;
    let res = app.req(Method::DELETE, &format!("/v2/old/manifests/{digest}")).send().await.expect("DELETE");
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url("/settings")).await;
    assert!(browser.text("#management").await.contains("never"), "no pass yet");
    browser.click("#gc-dry-run").await;
    browser.type_into("#gc-grace", "0s").await;
    browser.click_then("#gc-form button[type=submit]", "#gc-report").await;
    assert!(browser.text("#gc-report").await.starts_with("A dry run"));
    assert!(app.blob_stored(&sha256(&layer(3, 20_000))).await, "a dry run deletes nothing");

    browser.type_into("#gc-grace", "0s").await;
    browser.click("#gc-form button[type=submit]").await;
    wait_text(&browser, "#gc-report", "just ran").await;
    let blobs: u64 = browser.text("#gc-blobs").await.parse().expect("a count");
    assert!(blobs >= 2, "the layer and the config: {blobs}");
    let freed = browser.text("#gc-bytes").await;
    assert!(freed.ends_with("KiB") && !freed.starts_with("0"), "{freed}");
    assert!(!app.blob_stored(&sha256(&layer(3, 20_000))).await, "the layer is gone");
    assert_eq!(browser.count("#webhook-list tbody tr").await, 1);
    browser.screenshot("settings").await;

    browser.go(&app.url("/settings")).await;
    assert_eq!(browser.count("#gc-report").await, 0, "the report belongs to the answer of the POST");
    assert!(browser.text("#management").await.contains("blobs deleted"), "the last pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_webhook_is_created_pinged_logged_and_deleted_after_confirming() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url("/settings")).await;
    assert_eq!(browser.count("#no-webhooks").await, 1);
    browser.type_into("#webhook-name", "hook1").await;
    browser.type_into("#webhook-uri", &receiver.uri("/hook")).await;
    browser.click("#action-delete").await;
    browser.type_into("#webhook-scope", "app:*").await;
    browser.type_into("#webhook-headers", "Authorization: Bearer header-secret-value").await;
    browser.type_into("#webhook-secret", "signing-secret-value").await;
    browser.click_then("#create-webhook button[type=submit]", "#webhook-list").await;
    let row = browser.text("#webhook-list tbody tr").await;
    for part in ["hook1", &receiver.addr.to_string(), "push, delete", "app:*", "enabled"] {
        assert!(row.contains(part), "{part} in {row}");
    }
    let source = browser.source().await;
    assert!(!source.contains("header-secret-value") && !source.contains("signing-secret-value"), "no secrets");

    browser.click("button[aria-label='Ping hook1']").await;
    wait_text(&browser, "#result", "Ping sent").await;
    assert_eq!(browser.text("#result-outcome").await, "delivered");
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].body["action"], "ping");
    assert_eq!(got[0].headers["authorization"], "Bearer header-secret-value");
    assert_eq!(browser.text("#deliveries td.action").await, "ping");
    assert_eq!(browser.text("#deliveries td.http").await, "200");
    assert_eq!(browser.text("#deliveries td.result").await, "delivered");
    assert_eq!(browser.text("#webhook-headers").await, "Authorization (set)");
    assert_eq!(browser.text("#webhook-secret").await, "set");
    let source = browser.source().await;
    assert!(!source.contains("header-secret-value") && !source.contains("signing-secret-value"), "no secrets");

    // A push is delivered, and can be sent again from the log.
    app.push_image("app", "v1", &[b"hooked layer"]).await;
    receiver.events(1).await;
    browser.go(&app.url("/settings/webhook?name=hook1")).await;
    browser.click("#deliveries button[aria-label^='Redeliver']").await;
    wait_text(&browser, "#result", "sent again").await;
    assert_eq!(browser.text("#result-outcome").await, "delivered");
    assert_eq!(receiver.events(2).await.len(), 2);

    // Deleting asks first.
    browser.go(&app.url("/settings")).await;
    browser.click_then("button[aria-label='Delete hook1']", "#question").await;
    assert!(browser.text("#question").await.contains("hook1"));
    assert_eq!(app.admin(Method::GET, "/webhooks", None).await.as_array().map(Vec::len), Some(1), "not yet");
    browser.click("form.confirm button.danger").await;
    browser.wait_for("document.readyState === 'complete' && !!document.querySelector('#no-webhooks')").await;
    let res = app.req(Method::GET, "/berth/v1/webhooks/hook1").send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn settings_webhook_errors_are_pages_with_their_status() {
    let app = TestApp::spawn().await;
    let cookie = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let create = async |name: &str, uri: &str| {
        post_with_csrf(&app, &cookie, "/settings/webhooks", &[("name", name), ("uri", uri), ("actions", "push")]).await
    };
    for uri in ["file:///etc/passwd", "gopher://127.0.0.1:70/", "http://"] {
        let (status, html) = create("hostile", uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(html.contains("<p class=\"error\" role=\"alert\">") && html.contains("service URI"), "{html}");
    }
    let (status, html) = create("metadata", "http://169.254.169.254/latest/meta-data/").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the cloud metadata address");
    assert!(html.contains("address 169.254.169.254 is not allowed"), "{html}");
    assert_eq!(create("metadata", "http://127.0.0.1:9/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(create("metadata", "http://127.0.0.1:9/").await.0, StatusCode::CONFLICT);
    let (status, html) = create("bad name!", "http://127.0.0.1:9/").await;
    assert!(status == StatusCode::BAD_REQUEST && html.contains("5 to 50 letters"), "{html}");
    let (status, html) =
        post_with_csrf(&app, &cookie, "/settings/webhooks", &[("name", "noactions"), ("uri", "http://127.0.0.1:9/")])
            .await;
    assert!(status == StatusCode::BAD_REQUEST && html.contains("at least one action"), "{html}");
    let headers = [("name", "badheader"), ("uri", "http://127.0.0.1:9/"), ("actions", "push"), ("headers", "no colon")];
    assert_eq!(post_with_csrf(&app, &cookie, "/settings/webhooks", &headers).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(page(&app, &cookie, "/settings/webhook?name=nosuchhook").await.0, StatusCode::NOT_FOUND);
    let (status, _) = post_with_csrf(&app, &cookie, "/settings/webhook/delete", &[("name", "nosuchhook")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let redeliver = [("name", "metadata"), ("id", "none")];
    assert_eq!(post_with_csrf(&app, &cookie, "/settings/webhook/redeliver", &redeliver).await.0, StatusCode::NOT_FOUND);
    let bad = [("quota_mode", "custom"), ("quota", "lots")];
    assert_eq!(post_with_csrf(&app, &cookie, "/settings/registry", &bad).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        post_with_csrf(&app, &cookie, "/settings/registry", &[("sku", "Gold")]).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_with_csrf(&app, &cookie, "/settings/retention", &[("days", "400")]).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(post_with_csrf(&app, &cookie, "/settings/gc", &[("grace", "soon")]).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_rights_follow_the_api() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"layer"]).await;
    app.admin(
        Method::POST,
        "/webhooks",
        Some(json!({"name": "hook1", "serviceUri": "http://127.0.0.1:9/", "actions": ["push"]})),
    )
    .await;
    let reader_pw = user_with(&app, "reader", &["Reader"]).await;
    let contrib_pw = user_with(&app, "contrib", &["Contributor"]).await;
    let puller_pw = token_with(&app, "puller", "app", &["content/read", "metadata/read"]).await;

    // A Reader sees the values, without a form; also in the browser.
    if let Some(browser) = Browser::start().await {
        browser.sign_in(&app, "reader", &reader_pw).await;
        browser.click_then("header nav a[href='/settings']", "#registry").await;
        assert_eq!(browser.count("main form").await, 0, "no forms");
        assert_eq!(browser.text("#tier").await, "Standard");
        assert!(browser.text("#anonymous-pull").await.starts_with("off"));
        assert!(browser.text("#webhook-list").await.contains("hook1"));
        assert!(browser.text("#webhook-list").await.contains("shown to Contributors"), "no URI for a Reader");
        browser.go(&app.url("/settings/webhook?name=hook1")).await;
        assert_eq!(browser.count("main form").await, 0, "no forms");
        assert_eq!(browser.count("#webhook-secret").await, 0);
    }
    let reader = session_of(&app, "reader", &reader_pw).await;
    let (status, html) = page(&app, &reader, "/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("<main id=\"main\"><form") && !html.contains("/settings/registry"), "no forms");
    for (path, form) in [
        ("/settings/registry", vec![("anonymous_pull", "on")]),
        ("/settings/retention", vec![("days", "3"), ("enabled", "on")]),
        ("/settings/gc", vec![]),
        ("/settings/webhook/ping", vec![("name", "hook1")]),
        ("/settings/webhook/delete", vec![("name", "hook1"), ("confirm", "yes")]),
    ] {
        assert_eq!(post_with_csrf(&app, &reader, path, &form).await.0, StatusCode::FORBIDDEN, "a Reader posts {path}");
    }
    assert_eq!(settings(&app).await["anonymousPullEnabled"], false);

    // A pull-only repository token has no management rights at all.
    let puller = session_of(&app, "puller", &puller_pw).await;
    assert_eq!(page(&app, &puller, "/settings").await.0, StatusCode::FORBIDDEN);
    assert_eq!(page(&app, &puller, "/settings/webhook?name=hook1").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        post_with_csrf(&app, &puller, "/settings/registry", &[("anonymous_pull", "on")]).await.0,
        StatusCode::FORBIDDEN
    );

    // A Contributor changes what the API lets a Contributor change...
    let contrib = session_of(&app, "contrib", &contrib_pw).await;
    let (_, html) = page(&app, &contrib, "/settings").await;
    assert!(html.contains("anonymous-pull-toggle") && !html.contains("admin-user-toggle"), "{html}");
    assert_eq!(
        post_with_csrf(&app, &contrib, "/settings/registry", &[("anonymous_pull", "on")]).await.0,
        StatusCode::SEE_OTHER
    );
    let limits = [("sku", "Premium"), ("quota_mode", "custom"), ("quota", "123456789")];
    assert_eq!(post_with_csrf(&app, &contrib, "/settings/registry", &limits).await.0, StatusCode::SEE_OTHER);
    let now = settings(&app).await;
    assert_eq!((&now["anonymousPullEnabled"], &now["sku"]["name"]), (&json!(true), &json!("Premium")));
    assert_eq!(now["storageQuotaBytes"], 123_456_789);
    let retention = [("days", "3"), ("enabled", "on")];
    assert_eq!(post_with_csrf(&app, &contrib, "/settings/retention", &retention).await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        app.admin(Method::GET, "/retention", None).await,
        json!({"days": 3, "status": "enabled", "type": "UntaggedManifests"})
    );
    assert_eq!(post_with_csrf(&app, &contrib, "/settings/gc", &[("dry_run", "on")]).await.0, StatusCode::OK);
    let (status, html) =
        post_with_csrf(&app, &contrib, "/settings/webhook/status", &[("name", "hook1"), ("status", "disabled")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert_eq!(app.admin(Method::GET, "/webhooks/hook1", None).await["status"], "disabled");
    // ... and nothing the API refuses: the admin user is Owner's.
    let (status, html) = post_with_csrf(&app, &contrib, "/settings/registry", &[("admin_user", "off")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("rights the caller does not hold"), "{html}");
    let res = app
        .anon(Method::PATCH, "/berth/v1/settings")
        .basic_auth("contrib", Some(&contrib_pw))
        .json(&json!({"adminUserEnabled": false}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "the API refuses it too");
    assert_eq!(settings(&app).await["adminUserEnabled"], true);
}

#[tokio::test]
async fn settings_posts_without_the_csrf_token_or_from_elsewhere_change_nothing() {
    let app = TestApp::spawn().await;
    app.admin(
        Method::POST,
        "/webhooks",
        Some(json!({"name": "hook1", "serviceUri": "http://127.0.0.1:9/", "actions": ["push"]})),
    )
    .await;
    let cookie = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &cookie, "/settings").await;
    let csrf = csrf_in(&html);
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        ("/settings/registry", vec![("anonymous_pull", "on"), ("sku", "Basic")]),
        ("/settings/retention", vec![("days", "1"), ("enabled", "on")]),
        ("/settings/webhooks", vec![("name", "hook2"), ("uri", "http://127.0.0.1:9/"), ("actions", "push")]),
        ("/settings/webhook/status", vec![("name", "hook1"), ("status", "disabled")]),
        ("/settings/webhook/delete", vec![("name", "hook1"), ("confirm", "yes")]),
    ];
    for (path, form) in &cases {
        let res = app.client.post(app.url(path)).header("cookie", &cookie).form(form).send().await.expect("POST");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} without the token");
        let mut with_token = form.clone();
        with_token.push(("csrf", &csrf));
        let res = app
            .client
            .post(app.url(path))
            .header("cookie", &cookie)
            .header("sec-fetch-site", "cross-site")
            .form(&with_token)
            .send()
            .await
            .expect("POST");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} from another site");
    }
    let now = settings(&app).await;
    assert_eq!((&now["anonymousPullEnabled"], &now["sku"]["name"]), (&json!(false), &json!("Standard")));
    assert_eq!(app.admin(Method::GET, "/retention", None).await["status"], "disabled");
    let hooks = app.admin(Method::GET, "/webhooks", None).await;
    assert_eq!(hooks.as_array().map(Vec::len), Some(1), "{hooks}");
    assert_eq!(hooks[0]["status"], "enabled");
    // The same form with the token, from the page itself, goes through.
    let form = [("anonymous_pull", "on"), ("csrf", csrf.as_str())];
    let res = app.client.post(app.url("/settings/registry")).header("cookie", &cookie).form(&form).send();
    assert_eq!(res.await.expect("POST").status(), StatusCode::SEE_OTHER);
    assert_eq!(settings(&app).await["anonymousPullEnabled"], true);
}

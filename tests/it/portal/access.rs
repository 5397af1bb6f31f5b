//! The portal's Access page: tokens, users, role assignments, scope maps and the admin user,
//! in a real browser and over raw HTTP, under the same rules as the management API.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::browser::{Browser, csrf_in, page, post, session_of};
use crate::clients::skopeo::{put_image, skopeo, tag_layout};
use crate::support::*;

/// The status of `GET /berth/v1<path>` as the admin user.
async fn api_status(app: &TestApp, path: &str) -> StatusCode {
    app.req(Method::GET, &format!("/berth/v1{path}")).send().await.expect("GET").status()
}

/// The `<main>` of a page: what the page shows apart from the shared header (whose sign-out
/// button is a form on every page).
fn main_of(html: &str) -> &str {
    html.split("<main").nth(1).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_access_token_made_in_the_browser_pushes_with_skopeo_to_its_repository_only() {
    if !have_tool("skopeo") {
        return;
    }
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url("/access")).await;
    browser.type_into("#token-name", "ci").await;
    browser.type_into("#token-repository", "team/app").await;
    browser.click("#token-action-content-read").await;
    browser.click("#token-action-content-write").await;
    browser.click_then("#new-token button[type=submit]", "#tokens tr[data-name='ci']").await;
    assert!(browser.url().await.ends_with("/access#tokens"), "back on the page: {}", browser.url().await);
    let row = browser.text("#tokens tr[data-name='ci']").await;
    assert!(row.contains("ci-scope-map") && row.contains("enabled") && row.contains("none"), "{row}");
    browser.screenshot("access").await;

    browser.click_then("#tokens tr[data-name='ci'] button[aria-label='New password1 for ci']", ".secret").await;
    let password = browser.text("#new-password .secret").await;
    assert!(password.len() >= 16, "a generated password: {password:?}");
    assert!(!browser.url().await.contains(&password), "no secret in the URL");
    assert!(browser.text("#tokens tr[data-name='ci']").await.contains("password1"), "listed, without its value");

    let (_guard, dir) = temp_dir();
    let image = put_image(&dir, "amd64", &[("a.txt", b"pushed with a portal token")]);
    tag_layout(&dir, image, "v1");
    let src = format!("oci:{}:v1", dir.display());
    let creds = format!("ci:{password}");
    let app = &app;
    let copy = |repo: &str| {
        let dest = format!("docker://{}/{repo}:v1", app.host());
        let (src, creds) = (src.clone(), creds.clone());
        async move { skopeo(app, &["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &src, &dest]).await }
    };
    let (ok, _, stderr) = copy("team/app").await;
    assert!(ok, "the token pushes to its repository: {stderr}");
    let res = app.req(Method::GET, "/v2/team/app/tags/list").send().await.expect("GET");
    assert_eq!(res.json::<serde_json::Value>().await.expect("json")["tags"], json!(["v1"]));
    let (ok, _, _) = copy("other/app").await;
    assert!(!ok, "the token does not push to another repository");
    let res = app.req(Method::GET, "/v2/other/app/tags/list").send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "nothing pushed there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_access_reader_sees_lists_only_and_a_repository_token_is_refused() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url("/access")).await;
    browser.type_into("#user-name", "rita").await;
    browser.click("#user-role option[value='Reader']").await;
    browser.click_then("#new-user button[type=submit]", ".secret").await;
    let password = browser.text("#new-password .secret").await;
    assert!(browser.text("#users tr[data-name='rita']").await.contains("User"));
    assert!(browser.text("#roles tr[data-name='rita']").await.contains("Reader"));
    let roles = app.admin(Method::GET, "/roleassignments", None).await;
    assert!(
        roles
            .as_array()
            .expect("list")
            .iter()
            .any(|r| r["principalName"] == "rita" && r["roleDefinitionName"] == "Reader")
    );

    let reader = session_of(&app, "rita", &password).await;
    let (status, html) = page(&app, &reader, "/access").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("rita") && html.contains("Reader") && html.contains("_repositories_pull"), "lists shown");
    assert!(!main_of(&html).contains("<form"), "no forms for a Reader: {html}");
    assert!(!main_of(&html).contains("password2"), "no admin passwords for a Reader");
    let csrf = csrf_in(&html);
    let (status, _) =
        post(&app, &reader, "/access/tokens", &[("csrf", &csrf), ("name", "r"), ("scope_map", "_repositories_pull")])
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a Reader changes nothing");
    assert_eq!(api_status(&app, "/tokens/r").await, StatusCode::NOT_FOUND);

    let puller = token_with(&app, "puller", "app", &["content/read", "metadata/read"]).await;
    let token = session_of(&app, "puller", &puller).await;
    let (status, html) = page(&app, &token, "/access").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("class=\"error\""), "an error page: {html}");
    let home = app.client.get(app.url("/")).header("cookie", &token).send().await.expect("GET");
    let home = home.text().await.expect("html");
    assert!(home.contains("Overview") && !home.contains("href=\"/access\""), "no Access link for a token: {home}");
}

#[tokio::test]
async fn portal_access_contributor_cannot_assign_owner_or_renew_the_admin_password() {
    let app = TestApp::spawn().await;
    let contributor_password = user_with(&app, "carl", &["Contributor"]).await;
    let carl = session_of(&app, "carl", &contributor_password).await;
    let (status, html) = page(&app, &carl, "/access").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"new-token\"") && html.contains("id=\"new-user\""), "a Contributor's forms");
    assert!(!html.contains("id=\"new-role\"") && !html.contains("/access/admin/renew"), "but not Owner's");
    let csrf = csrf_in(&html);

    let refused = [
        ("/access/roles", vec![("principal", "carl"), ("role", "Owner")]),
        ("/access/admin/renew", vec![("name", "password")]),
        ("/access/admin/status", vec![("enabled", "false")]),
        ("/access/users", vec![("name", "sneaky"), ("kind", "user"), ("role", "Owner")]),
    ];
    for (path, fields) in refused {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let (status, html) = post(&app, &carl, path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {html}");
        assert!(html.contains("class=\"error\""), "{path}: an error page: {html}");
    }
    let roles = app.admin(Method::GET, "/roleassignments", None).await;
    let owners: Vec<_> =
        roles.as_array().expect("list").iter().filter(|r| r["roleDefinitionName"] == "Owner").collect();
    assert!(owners.is_empty(), "no Owner assigned: {owners:?}");
    assert_eq!(api_status(&app, "/users/sneaky").await, StatusCode::NOT_FOUND);
    let res = app.req(Method::GET, "/v2/").send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK, "the admin password is unchanged");
    assert_eq!(app.admin(Method::GET, "/settings", None).await["adminUserEnabled"], true);

    // What a Contributor may do, it does: a user without a role.
    let (status, html) =
        post(&app, &carl, "/access/users", &[("csrf", &csrf), ("name", "dora"), ("kind", "servicePrincipal")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("class=\"secret\""), "its password, once");
    assert_eq!(app.admin(Method::GET, "/users/dora", None).await["kind"], "servicePrincipal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_access_renewed_admin_password_is_shown_once_and_replaces_the_old() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let mut visited = Vec::new();
    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    visited.push(browser.url().await);
    browser.go(&app.url("/access")).await;
    visited.push(browser.url().await);
    assert_eq!(browser.text("#admin-status").await, "enabled");
    browser.click_then("#admin-passwords button[aria-label='Renew password']", ".secret").await;
    visited.push(browser.url().await);
    let renewed = browser.text("#new-password .secret").await;
    assert!(renewed.len() >= 16 && renewed != ADMIN_PASSWORD, "{renewed:?}");
    assert_eq!(browser.text("#new-password dt").await, "password");

    let v2 = |password: String| app.anon(Method::GET, "/v2/").basic_auth(ADMIN, Some(password)).send();
    assert_eq!(v2(renewed.clone()).await.expect("GET").status(), StatusCode::OK, "the new password works");
    assert_eq!(v2(ADMIN_PASSWORD.into()).await.expect("GET").status(), StatusCode::UNAUTHORIZED, "the old does not");

    // The session was signed in with the renewed password: it ends, and the new one signs in.
    browser.go(&app.url("/access")).await;
    visited.push(browser.url().await);
    assert!(browser.url().await.ends_with("/signin"), "the old password's session is over");
    browser.sign_in(&app, ADMIN, &renewed).await;
    visited.push(browser.url().await);
    browser.go(&app.url("/access")).await;
    visited.push(browser.url().await);
    assert_eq!(browser.count(".secret").await, 0, "shown once");
    assert!(!browser.source().await.contains(&renewed), "not in the page any more");
    for url in &visited {
        assert!(!url.contains(&renewed), "no secret in a URL: {url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_access_delete_asks_first_and_deletes_only_when_confirmed() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    token_with(&app, "doomed", "app", &["content/read"]).await;
    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url("/access")).await;
    browser.click_then("#tokens tr[data-name='doomed'] button[aria-label='Delete doomed']", "#question").await;
    assert!(browser.text("#question").await.contains("doomed"));
    assert_eq!(api_status(&app, "/tokens/doomed").await, StatusCode::OK, "not deleted before confirming");
    browser.click_then("form.confirm button[type=submit]", "#tokens").await;
    assert_eq!(api_status(&app, "/tokens/doomed").await, StatusCode::NOT_FOUND, "deleted once confirmed");
    assert_eq!(browser.count("#tokens tr[data-name='doomed']").await, 0);

    // The same over raw HTTP for a scope map, a user and a role assignment.
    app.admin(Method::POST, "/scopemaps", Some(json!({"name": "map", "actions": ["repositories/app/content/read"]})))
        .await;
    user_with(&app, "ursula", &["AcrPull"]).await;
    let roles = app.admin(Method::GET, "/roleassignments", None).await;
    let id = roles[0]["id"].as_str().expect("id").to_owned();
    let admin = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let csrf = csrf_in(&page(&app, &admin, "/access").await.1);
    for (path, field, value, api) in [
        ("/access/scopemaps/delete", "name", "map", "/scopemaps/map"),
        ("/access/users/delete", "name", "ursula", "/users/ursula"),
        ("/access/roles/delete", "id", id.as_str(), "/users/ursula"),
    ] {
        let (status, html) = post(&app, &admin, path, &[("csrf", &csrf), (field, value)]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains("id=\"question\"") && html.contains("name=\"confirm\" value=\"yes\""), "{path}: {html}");
        assert_eq!(api_status(&app, api).await, StatusCode::OK, "{path}: nothing deleted yet");
    }
    assert_eq!(app.admin(Method::GET, "/roleassignments", None).await.as_array().map(Vec::len), Some(1));
    let (status, _) =
        post(&app, &admin, "/access/scopemaps/delete", &[("csrf", &csrf), ("name", "map"), ("confirm", "yes")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(api_status(&app, "/scopemaps/map").await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn portal_access_posts_without_the_csrf_token_or_from_elsewhere_change_nothing() {
    let app = TestApp::spawn().await;
    token_with(&app, "keep", "app", &["content/read"]).await;
    let cookie = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let csrf = csrf_in(&page(&app, &cookie, "/access").await.1);
    let create = [("name", "t1"), ("repository", "app"), ("action", "content/read")];
    let delete = [("name", "keep"), ("confirm", "yes")];
    for (path, fields) in [("/access/tokens", &create[..]), ("/access/tokens/delete", &delete[..])] {
        let res = app.client.post(app.url(path)).header("cookie", &cookie).form(fields).send().await.expect("POST");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} without the token");
        let mut with_token = vec![("csrf", csrf.as_str())];
        with_token.extend_from_slice(fields);
        let res = app.client.post(app.url(path)).header("cookie", &cookie).header("sec-fetch-site", "cross-site");
        let res = res.form(&with_token).send().await.expect("POST");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} from another site");
        let res = app.client.post(app.url(path)).header("cookie", &cookie).header("origin", "http://evil.example");
        let res = res.form(&with_token).send().await.expect("POST");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} from another origin");
    }
    assert_eq!(api_status(&app, "/tokens/t1").await, StatusCode::NOT_FOUND, "nothing created");
    assert_eq!(api_status(&app, "/tokens/keep").await, StatusCode::OK, "nothing deleted");

    let mut with_token = vec![("csrf", csrf.as_str())];
    with_token.extend_from_slice(&create);
    assert_eq!(post(&app, &cookie, "/access/tokens", &with_token).await.0, StatusCode::SEE_OTHER, "with the token");
    assert_eq!(api_status(&app, "/tokens/t1").await, StatusCode::OK);
}

#[tokio::test]
async fn portal_access_bad_input_gets_an_error_page_with_its_status() {
    let app = TestApp::spawn().await;
    let cookie = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let csrf = csrf_in(&page(&app, &cookie, "/access").await.1);
    let c = csrf.as_str();
    let cases = [
        ("/access/scopemaps", vec![("name", "m"), ("actions", "nonsense")], StatusCode::BAD_REQUEST),
        ("/access/scopemaps", vec![("name", "m"), ("actions", "")], StatusCode::BAD_REQUEST),
        ("/access/tokens", vec![("name", "t"), ("repository", "app")], StatusCode::BAD_REQUEST),
        ("/access/tokens", vec![("name", "bad name"), ("scope_map", "_repositories_pull")], StatusCode::BAD_REQUEST),
        ("/access/tokens", vec![("name", "t"), ("scope_map", "no-such-map")], StatusCode::NOT_FOUND),
        ("/access/users", vec![("name", "u"), ("kind", "robot")], StatusCode::BAD_REQUEST),
        ("/access/roles", vec![("principal", "nobody"), ("role", "AcrPull")], StatusCode::NOT_FOUND),
        ("/access/roles", vec![("principal", "nobody"), ("role", "Admin")], StatusCode::BAD_REQUEST),
        ("/access/tokens/renew", vec![("name", "nobody"), ("password", "password1")], StatusCode::NOT_FOUND),
    ];
    for (path, fields, expected) in cases {
        let mut form = vec![("csrf", c)];
        form.extend(fields.iter().copied());
        let (status, html) = post(&app, &cookie, path, &form).await;
        assert_eq!(status, expected, "{path} {fields:?}: {html}");
        assert!(html.contains("class=\"error\""), "{path}: an error page: {html}");
    }
    let token = [("csrf", c), ("name", "twice"), ("scope_map", "_repositories_pull")];
    assert_eq!(post(&app, &cookie, "/access/tokens", &token).await.0, StatusCode::SEE_OTHER);
    let (status, html) = post(&app, &cookie, "/access/tokens", &token).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    let (status, _) =
        post(&app, &cookie, "/access/tokens/renew", &[("csrf", c), ("name", "twice"), ("password", "password3")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a password name of a token");
}

#[tokio::test]
async fn portal_access_pages_tokens_fifty_at_a_time() {
    let app = TestApp::spawn().await;
    for i in 0..55 {
        let token =
            json!({"name": format!("tok{i:02}"), "repositories": [{"repository": "app", "actions": ["content/read"]}]});
        app.admin(Method::POST, "/tokens", Some(token)).await;
    }
    let cookie = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let tokens_in = |html: &str| -> Vec<String> {
        let section = html.split("<section id=\"tokens\"").nth(1).unwrap_or_default();
        let section = section.split("</section>").next().unwrap_or_default();
        section.split("<tr data-name=\"").skip(1).filter_map(|s| s.split('"').next().map(str::to_owned)).collect()
    };
    let (status, first) = page(&app, &cookie, "/access").await;
    assert_eq!(status, StatusCode::OK);
    assert!(first.len() < 150 * 1024, "a page of tokens weighs {} bytes", first.len());
    let listed = tokens_in(&first);
    assert_eq!(listed.len(), 50, "{listed:?}");
    assert_eq!((listed[0].as_str(), listed[49].as_str()), ("tok00", "tok49"));
    let next = first.split("rel=\"next\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("a next page");
    assert_eq!(next, "/access?tokens_last=tok49#tokens");
    let (_, second) = page(&app, &cookie, "/access?tokens_last=tok49").await;
    assert_eq!(tokens_in(&second), ["tok50", "tok51", "tok52", "tok53", "tok54"]);
    assert!(!second.contains("rel=\"next\""), "the last page");
}

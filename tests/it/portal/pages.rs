//! The portal's reading pages, its sign-in and its security headers, in a real browser and
//! over raw HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::browser::{Browser, cookie_of, raw_sign_in, session_of};
use crate::clients::skopeo::{put_image, skopeo_ok, tag_layout};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_admin_browses_to_the_layers_of_a_skopeo_image_then_signs_out() {
    if !have_tool("skopeo") {
        return;
    }
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let (_guard, tmp) = temp_dir();
    let image = put_image(&tmp, "amd64", &[("a.txt", b"first layer"), ("b.bin", &[7u8; 70_000])]);
    let digest = image["digest"].as_str().expect("digest").to_owned();
    tag_layout(&tmp, image, "v1");
    let dest = format!("docker://{}/team/web:v1", app.host());
    skopeo_ok(&app, &["copy", "--dest-tls-verify=false", &format!("oci:{}:v1", tmp.display()), &dest]).await;

    browser.go(&app.url("/signin")).await;
    browser.screenshot("signin").await;
    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    assert!(browser.text("main").await.contains("Login server"), "the overview after signing in");
    browser.screenshot("overview").await;
    assert!(browser.count("#management meter#storage").await == 1, "the admin sees storage against the limit");
    browser.open_repository(&app, "team/web").await;
    let pull = browser.text("#tags code").await;
    assert_eq!(pull, format!("docker pull {}/team/web:v1", app.host()));
    browser.click("#tags td.digest a").await;
    browser.wait_for("document.readyState === 'complete' && !!document.querySelector('#layers')").await;
    assert!(browser.url().await.contains(&digest.replace(':', "%3A")), "on the manifest page");
    assert_eq!(browser.count("#layers tbody tr").await, 2, "both layers listed");
    browser.screenshot("manifest").await;
    let layers = browser.text("#layers").await;
    assert!(layers.contains("application/vnd.oci.image.layer.v1.tar+gzip"), "{layers}");
    assert_eq!(browser.script("return document.querySelectorAll('script').length").await, json!(0));

    browser.click("header button[type=submit]").await;
    browser.wait_for("document.readyState === 'complete' && !!document.querySelector('#username')").await;
    assert!(browser.url().await.ends_with("/signin"), "signed out to the sign-in page");
    assert!(browser.session_cookie().await.is_none(), "the session cookie is gone");
    browser.go(&app.url("/repositories")).await;
    assert!(browser.url().await.ends_with("/signin"), "no page without a session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_wrong_password_shows_an_error_and_gives_no_session() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    browser.sign_in(&app, ADMIN, "not the password").await;
    assert_eq!(browser.text("p.error").await, "Wrong user name or password.");
    assert!(browser.session_cookie().await.is_none(), "no session cookie");
    browser.go(&app.url("/")).await;
    assert!(browser.url().await.ends_with("/signin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_shows_a_hostile_annotation_as_text() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    let hostile = "<script>alert(1)</script>";
    let config = app.push_blob("app", b"{}").await;
    let mut manifest: Value = serde_json::from_slice(&image_manifest(&config, 2, Vec::new())).expect("json");
    manifest["annotations"] = json!({ "org.example.note": hostile, hostile: "key too" });
    let bytes = serde_json::to_vec(&manifest).expect("json");
    let res = app.put_manifest("app", "v1", OCI_MANIFEST, &bytes).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    browser.sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    browser.go(&app.url(&format!("/manifest?name=app&digest={}", sha256(&bytes)))).await;
    let shown = browser.text("#annotations").await;
    assert!(shown.contains(hostile) && shown.contains("key too"), "shown as text: {shown}");
    assert!(browser.source().await.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "escaped in the page");
    assert_eq!(browser.script("return document.querySelectorAll('script').length").await, json!(0));
    let alert = browser.call(Method::GET, "/alert/text", None).await;
    assert_eq!(alert["error"], "no such alert", "no script ran: {alert}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_repository_token_sees_only_its_repository() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"app layer"]).await;
    app.push_image("other", "v1", &[b"other layer"]).await;
    let puller = token_with(&app, "puller", "app", &["content/read", "metadata/read"]).await;
    browser.sign_in(&app, "puller", &puller).await;
    assert_eq!(browser.count("#management").await, 0, "no management figures");
    assert_eq!(browser.count("#no-management").await, 1);
    browser.go(&app.url("/repositories")).await;
    assert_eq!(browser.count("#repositories li").await, 1, "only its repository");
    assert_eq!(browser.text("#repositories a").await, "app");
    browser.open_repository(&app, "app").await;
    assert_eq!(browser.count("#tags tbody tr").await, 1);
    browser.go(&app.url("/repository?name=other")).await;
    assert!(browser.text("p.error").await.contains("access denied"));
    let refused = app.client.get(app.url("/repository?name=other")).header("cookie", cookie_of(&browser).await);
    assert_eq!(refused.send().await.expect("GET").status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn portal_responses_carry_the_security_headers_and_the_cookie_its_flags() {
    let app = TestApp::spawn().await;
    let (_, digest) = app.push_image("app", "v1", &[b"layer"]).await;
    let set = raw_sign_in(&app).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let cookie = set.split(';').next().expect("name=value").to_owned();
    let manifest = format!("/manifest?name=app&digest={digest}");
    for (path, with_cookie, status) in [
        ("/", true, 200),
        ("/", false, 303),
        ("/signin", false, 200),
        ("/repositories?q=a", true, 200),
        ("/repository?name=app", true, 200),
        ("/repository?name=NOPE", true, 400),
        ("/repository?name=gone", true, 404),
        (manifest.as_str(), true, 200),
        ("/portal.css", false, 200),
    ] {
        let mut req = app.client.get(app.url(path));
        if with_cookie {
            req = req.header("cookie", &cookie);
        }
        let res = req.send().await.expect("GET");
        assert_eq!(res.status().as_u16(), status, "{path}");
        let h = res.headers();
        let csp = h.get("content-security-policy").map(|v| v.to_str().unwrap_or_default()).unwrap_or_default();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }

    let tls = TestApp::spawn_tls().await;
    assert!(raw_sign_in(&tls).await.contains("; Secure"), "Secure under TLS");
}

#[tokio::test]
async fn portal_posts_without_the_csrf_token_or_from_elsewhere_are_refused() {
    let app = TestApp::spawn().await;
    let cookie = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let signout = |form: Vec<(&'static str, String)>| {
        app.client.post(app.url("/signout")).header("cookie", &cookie).form(&form).send()
    };
    assert_eq!(signout(Vec::new()).await.expect("POST").status(), StatusCode::FORBIDDEN, "no token");
    let wrong = vec![("csrf", "0".repeat(32))];
    assert_eq!(signout(wrong).await.expect("POST").status(), StatusCode::FORBIDDEN, "a wrong token");
    let page = app.client.get(app.url("/")).header("cookie", &cookie).send().await.expect("GET");
    let html = page.text().await.expect("html");
    let token = html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("token");
    let res = app
        .client
        .post(app.url("/signout"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", token)])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a post from another site");
    let res = app.client.post(app.url("/signout")).header("cookie", &cookie).form(&[("csrf", token)]).send();
    let res = res.await.expect("POST");
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "with the token");
    assert!(res.headers()["set-cookie"].to_str().expect("cookie").contains("Max-Age=0"));
    // A copy of the cookie kept past sign-out (stolen, or a second tab) no longer holds.
    let page = app.client.get(app.url("/")).header("cookie", &cookie).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "the ended session is refused");
    assert!(page.headers()["location"].to_str().expect("location").ends_with("/signin"));
    let fresh = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let page = app.client.get(app.url("/")).header("cookie", &fresh).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::OK, "a new session holds");

    let form = [("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let res = app.client.post(app.url("/signin")).header("origin", "http://evil.example").form(&form).send();
    let res = res.await.expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a sign-in from another site");
    assert!(res.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn portal_off_leaves_the_root_unknown() {
    let app = TestApp::spawn_with(|c| c.portal.enabled = false).await;
    let res = app.anon(Method::GET, "/").send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.anon(Method::GET, "/signin").send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn portal_at_a_prefix_links_and_scopes_its_cookie_there() {
    let app = TestApp::spawn_with(|c| c.portal.path = "/portal".into()).await;
    assert_eq!(app.anon(Method::GET, "/").send().await.expect("GET").status(), StatusCode::NOT_FOUND);
    let page = app.anon(Method::GET, "/portal/signin").send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("action=\"/portal/signin\"") && html.contains("href=\"/portal/portal.css\""), "{html}");
    let form = [("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let res = app.client.post(app.url("/portal/signin")).form(&form).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/portal");
    let set = res.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(set.contains("Path=/portal;"), "{set}");
    let cookie = set.split(';').next().expect("name=value").to_owned();
    let home = app.client.get(app.url("/portal")).header("cookie", &cookie).send().await.expect("GET");
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.expect("html").contains("href=\"/portal/repositories\""));
}

#[tokio::test]
async fn portal_repositories_are_searched_by_prefix_and_paged_by_the_last_name() {
    let app = TestApp::spawn().await;
    // Updated in threes (r000-r002 at 0, r003-r005 at 1, …): a page ends inside a tie.
    let rows: Vec<String> =
        (0..102).map(|i| format!("('r{i:03}', 1, {})", i / 3)).chain(["('s1', 1, 99)".into()]).collect();
    app.execute_sql(&format!("INSERT INTO repositories (name, created_at, updated_at) VALUES {}", rows.join(", ")))
        .await;
    let cookie = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let get = |path: String| app.client.get(app.url(&path)).header("cookie", &cookie).send();
    let first = get("/repositories?q=R".into()).await.expect("GET").text().await.expect("html");
    let listed = names(&first);
    assert_eq!(listed.len(), 100, "a page: {listed:?}");
    assert_eq!((listed[0].as_str(), listed[99].as_str()), ("r000", "r099"));
    let next = first.split("rel=\"next\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("a next page");
    assert_eq!(next, "/repositories?q=r&amp;sort=name&amp;last=r099");
    let second = get(next.replace("&amp;", "&")).await.expect("GET").text().await.expect("html");
    assert_eq!(names(&second), ["r100", "r101"]);
    assert!(!second.contains("rel=\"next\""), "the last page");
    let other = get("/repositories?q=s".into()).await.expect("GET").text().await.expect("html");
    assert_eq!(names(&other), ["s1"]);

    let mut newest: Vec<(i64, String)> = (0..102).map(|i| (-(i / 3), format!("r{i:03}"))).collect();
    newest.sort();
    let newest: Vec<String> = newest.into_iter().map(|(_, n)| n).collect();
    let first = get("/repositories?q=r&sort=updated".into()).await.expect("GET").text().await.expect("html");
    assert_eq!(names(&first), newest[..100], "newest first, ties by name");
    let next = first.split("rel=\"next\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("a next page");
    assert_eq!(next, format!("/repositories?q=r&amp;sort=updated&amp;last={}", newest[99]));
    let second = get(next.replace("&amp;", "&")).await.expect("GET").text().await.expect("html");
    assert_eq!(names(&second), newest[100..], "the rest of the tie, then nothing older");
}

#[tokio::test]
async fn portal_manifest_page_shows_an_index_platforms_and_referrers_by_type() {
    let app = TestApp::spawn().await;
    let (amd, amd_digest) = app.push_image("multi", "amd", &[b"amd64 layer"]).await;
    let (arm, arm_digest) = app.push_image("multi", "arm", &[b"arm64 layer"]).await;
    let child = |bytes: &[u8], digest: &str, arch: &str| {
        json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": bytes.len(),
            "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [child(&amd, &amd_digest, "amd64"), child(&arm, &arm_digest, "arm64")]}))
    .expect("json");
    assert_eq!(app.put_manifest("multi", "v1", OCI_INDEX, &index).await.status(), StatusCode::CREATED);
    let index_digest = sha256(&index);
    let empty = app.push_blob("multi", b"{}").await;
    let refer = async |artifact_type: &str, subject: Value| {
        let referrer = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [], "subject": subject}))
        .expect("json");
        let res = app.put_manifest("multi", &sha256(&referrer), OCI_MANIFEST, &referrer).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        referrer
    };
    let on_index = json!({"mediaType": OCI_INDEX, "digest": index_digest, "size": index.len()});
    let sbom = refer("application/vnd.example.sbom", on_index.clone()).await;
    refer("application/vnd.example.sig", on_index).await;
    let on_sbom = json!({"mediaType": OCI_MANIFEST, "digest": sha256(&sbom), "size": sbom.len()});
    refer("application/vnd.example.sbom-sig", on_sbom).await;
    let cookie = session_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let page =
        app.client.get(app.url(&format!("/manifest?name=multi&digest={index_digest}"))).header("cookie", &cookie);
    let html = page.send().await.expect("GET").text().await.expect("html");
    for arch in ["linux/amd64", "linux/arm64"] {
        assert!(html.contains(arch), "{arch} in {html}");
    }
    assert!(html.contains(&format!("/manifest?name=multi&amp;digest={}", amd_digest.replace(':', "%3A"))), "{html}");
    let group = |t: &str| format!("<strong class=\"artifact-type\">{t}</strong>");
    let sbom = html.find(&group("application/vnd.example.sbom")).expect("the SBOM group");
    let sig = html.find(&group("application/vnd.example.sig")).expect("the signature group");
    assert!(sbom < sig, "groups in order");
    // A signature of the SBOM shows under the SBOM, one level down.
    let nested = html[sbom..sig].matches("<ul class=\"referrers\">").count();
    assert_eq!(nested, 1, "the SBOM's own referrers: {}", &html[sbom..sig]);
    assert!(html[sbom..sig].contains("application/vnd.example.sbom-sig"), "{}", &html[sbom..sig]);
}

#[tokio::test]
async fn portal_session_cookies_are_no_api_credentials() {
    let app = TestApp::spawn().await;
    let set = raw_sign_in(&app).await;
    let session = set.split(';').next().and_then(|c| c.strip_prefix("berth_session=")).expect("value").to_owned();
    let v2 = |req: reqwest::RequestBuilder| async move { req.send().await.expect("GET").status() };
    assert_eq!(v2(app.anon(Method::GET, "/v2/").bearer_auth(&session)).await, StatusCode::UNAUTHORIZED);
    let as_refresh = app.anon(Method::GET, "/v2/").basic_auth("00000000-0000-0000-0000-000000000000", Some(&session));
    assert_eq!(v2(as_refresh).await, StatusCode::UNAUTHORIZED);
    let form = [("grant_type", "refresh_token"), ("refresh_token", session.as_str()), ("service", &app.host())];
    let res = app.anon(Method::POST, "/oauth2/token").form(&form).send().await.expect("token");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let form = [("grant_type", "access_token"), ("access_token", session.as_str()), ("service", &app.host())];
    let res = app.anon(Method::POST, "/oauth2/exchange").form(&form).send().await.expect("exchange");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(v2(app.anon(Method::GET, "/berth/v1/users").bearer_auth(&session)).await, StatusCode::UNAUTHORIZED);
    // The portal itself takes it.
    let page = app.anon(Method::GET, "/").header("cookie", format!("berth_session={session}")).send().await;
    assert_eq!(page.expect("GET").status(), StatusCode::OK);
}

#[tokio::test]
async fn portal_token_with_a_wildcard_lists_the_repositories_it_covers() {
    let app = TestApp::spawn().await;
    for repo in ["team/a", "team/b", "teamx", "other/c"] {
        app.push_image(repo, "v1", &[repo.as_bytes()]).await;
    }
    let token = token_with(&app, "teamreader", "team/*", &["content/read", "metadata/read"]).await;
    let cookie = session_of(&app, "teamreader", &token).await;
    let get =
        |q: &'static str| app.client.get(app.url(&format!("/repositories?q={q}"))).header("cookie", &cookie).send();
    let html = get("").await.expect("GET").text().await.expect("html");
    assert_eq!(names(&html), ["team/a", "team/b"], "what team/* covers, and nothing else");
    let html = get("team%2Fb").await.expect("GET").text().await.expect("html");
    assert_eq!(names(&html), ["team/b"], "searched within it");
    let html = get("other").await.expect("GET").text().await.expect("html");
    assert!(names(&html).is_empty(), "nothing outside it: {html}");
}

/// The repository names a repository list page shows, in order.
fn names(html: &str) -> Vec<String> {
    html.split("<li><a href=\"")
        .skip(1)
        .filter_map(|s| s.split('>').nth(1)?.split('<').next().map(str::to_owned))
        .collect()
}

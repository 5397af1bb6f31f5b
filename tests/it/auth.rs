//! Identity and access over raw HTTP: the challenge in ACR's exact format, the token server,
//! forged and stale JWTs, scope-map tokens, roles, anonymous pull, password rotation, the
//! management API's own permissions and the sign-in throttle.

use berth::auth::jwt::{Claims, Grant, ISSUER, SigningKey};
use berth::auth::scope::AccessEntry;
use reqwest::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

async fn push_blob_as(app: &TestApp, auth: (&str, &str), repo: &str, data: &[u8]) -> reqwest::Response {
    let path = format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(data));
    app.anon(Method::POST, &path).basic_auth(auth.0, Some(auth.1)).body(data.to_vec()).send().await.expect("push")
}

#[tokio::test]
async fn http2_clients_get_the_same_challenge() {
    let app = TestApp::spawn().await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().expect("client");
    let res = h2.get(app.url("/v2/team/app/tags/list")).send().await.expect("HTTP/2 GET");
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    let host = app.host();
    let expected =
        format!("Bearer realm=\"http://{host}/oauth2/token\",service=\"{host}\",scope=\"repository:team/app:pull\"");
    assert_eq!(res.headers()[WWW_AUTHENTICATE], expected.as_str());
}

#[tokio::test]
async fn challenges_name_the_scope_each_request_needs() {
    let app = TestApp::spawn().await;
    let host = app.host();
    let expect = |scope: Option<&str>| {
        let base = format!("Bearer realm=\"http://{host}/oauth2/token\",service=\"{host}\"");
        scope.map_or(base.clone(), |s| format!("{base},scope=\"{s}\""))
    };
    let digest = sha256(b"x");
    let cases = [
        (Method::GET, "/v2/".to_owned(), None),
        (Method::GET, "/v2/team/app/manifests/latest".to_owned(), Some("repository:team/app:pull")),
        (Method::HEAD, format!("/v2/team/app/blobs/{digest}"), Some("repository:team/app:pull")),
        (Method::POST, "/v2/team/app/blobs/uploads/".to_owned(), Some("repository:team/app:pull,push")),
        (Method::PUT, "/v2/team/app/manifests/v1".to_owned(), Some("repository:team/app:pull,push")),
        (Method::DELETE, format!("/v2/team/app/manifests/{digest}"), Some("repository:team/app:delete")),
        (Method::GET, "/v2/team/app/tags/list".to_owned(), Some("repository:team/app:pull")),
        (Method::GET, "/v2/_catalog".to_owned(), Some("registry:catalog:*")),
    ];
    for (method, path, scope) in cases {
        let res = app.anon(method.clone(), &path).send().await.expect("request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(res.headers()[WWW_AUTHENTICATE], expect(scope).as_str(), "{method} {path}");
        if method != Method::HEAD {
            assert_eq!(error_code(res).await, "UNAUTHORIZED");
        }
    }
    let wrong = app.anon(Method::GET, "/v2/").basic_auth(ADMIN, Some("wrong")).send().await.expect("GET");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(wrong).await, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_mount_challenge_names_the_source_too_and_its_scope_mounts() {
    let app = TestApp::spawn().await;
    let digest = app.push_blob("src/app", b"shared layer").await;
    let path = format!("/v2/dst/app/blobs/uploads/?mount={digest}&from=src/app");
    let res = app.anon(Method::POST, &path).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()[WWW_AUTHENTICATE].to_str().expect("ascii").to_owned();
    let scope = "repository:dst/app:pull,push repository:src/app:pull";
    assert!(challenge.ends_with(&format!("scope=\"{scope}\"")), "{challenge}");
    // A client that asks for exactly the challenged scope mounts.
    let t = token(&app, ADMIN, ADMIN_PASSWORD, &scope.replace(' ', "%20")).await;
    let res = app.anon(Method::POST, &path).bearer_auth(&t).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["docker-content-digest"], digest.as_str());
}

#[tokio::test]
async fn bearer_tokens_grant_the_intersection_of_asked_and_allowed() {
    let app = TestApp::spawn().await;
    let pull = token(&app, ADMIN, ADMIN_PASSWORD, "repository:app:pull").await;
    let push = token(&app, ADMIN, ADMIN_PASSWORD, "repository:app:pull,push").await;
    let path = format!("/v2/app/blobs/uploads/?digest={}", sha256(b"layer"));
    let res = app.anon(Method::POST, &path).bearer_auth(&push).body(b"layer".to_vec()).send().await.expect("push");
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.anon(Method::HEAD, &format!("/v2/app/blobs/{}", sha256(b"layer"))).bearer_auth(&pull).send().await;
    assert_eq!(res.expect("head").status(), StatusCode::OK);
    // A pull-only token may not push, though the admin may: 403 with the challenge naming the
    // scope (insufficient_scope), so the client fetches a wider token (oras-py does on 403).
    let res = app.anon(Method::POST, "/v2/app/blobs/uploads/").bearer_auth(&pull).send().await.expect("push");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()[WWW_AUTHENTICATE].to_str().expect("ascii").to_owned();
    assert!(challenge.ends_with("scope=\"repository:app:pull,push\",error=\"insufficient_scope\""), "{challenge}");
    assert_eq!(error_code(res).await, "DENIED");
    // Nor may it read another repository.
    let res = app.anon(Method::GET, "/v2/other/tags/list").bearer_auth(&pull).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Nor list the catalog: there it is 401 with the scope (podman's search asks again only then).
    let res = app.anon(Method::GET, "/v2/_catalog").bearer_auth(&pull).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()[WWW_AUTHENTICATE].to_str().expect("ascii").to_owned();
    assert!(challenge.ends_with("scope=\"registry:catalog:*\",error=\"insufficient_scope\""), "{challenge}");
    // POST /oauth2/token (form) gives the same; asking for another service is refused.
    let form = [("grant_type", "password"), ("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let res = app.anon(Method::POST, "/oauth2/token").form(&form).send().await.expect("POST token");
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .anon(Method::GET, "/oauth2/token?service=elsewhere.example&scope=repository:app:pull")
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// The server's signing key, read from its database and unsealed with its master key file (as
/// only someone holding both could). The database alone does not yield it.
async fn server_key(app: &TestApp) -> SigningKey {
    sqlx::any::install_default_drivers();
    let url = match app.database_url() {
        url if url.starts_with("sqlite:") => format!("{url}?mode=ro"),
        url => url,
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("open the database");
    let (id, stored): (String, Vec<u8>) =
        sqlx::query_as("SELECT id, private_key FROM signing_keys WHERE retires_at IS NULL")
            .fetch_one(&pool)
            .await
            .expect("key");
    pool.close().await;
    assert!(SigningKey::from_pkcs8(&stored).is_err(), "the database holds the key sealed, not in clear");
    let master = std::fs::read_to_string(app.data_dir().join("berth.key")).expect("master key file");
    let master = berth::auth::seal::MasterKeys::parse(&master).expect("master key");
    let der =
        master.open(&format!("signing-key:{id}"), std::str::from_utf8(&stored).expect("sealed text")).expect("unseal");
    SigningKey::from_pkcs8(&der).expect("key")
}

fn claims(app: &TestApp, exp_in: i64, credential: &str) -> Claims {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    Claims {
        iss: ISSUER.into(),
        sub: ADMIN.into(),
        aud: app.host(),
        exp: now.saturating_add_signed(exp_in),
        nbf: now - 120,
        iat: now - 120,
        jti: "test".into(),
        grant_type: Grant::AccessToken,
        credential: credential.into(),
        access: vec![AccessEntry { kind: "repository".into(), name: "app".into(), actions: vec!["pull".into()] }],
    }
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"layer"]).await;
    let get = |t: String| app.anon(Method::GET, "/v2/app/tags/list").bearer_auth(t).send();
    let real = token(&app, ADMIN, ADMIN_PASSWORD, "repository:app:pull").await;
    assert_eq!(get(real.clone()).await.expect("GET").status(), StatusCode::OK);

    // The credential id the real token carries, to build otherwise valid claims.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload: Value = serde_json::from_slice(&b64.decode(real.split('.').nth(1).expect("payload")).expect("b64"))
        .expect("claims json");
    let credential = payload["credential"].as_str().expect("credential claim");
    for (name, value) in payload.as_object().expect("object") {
        let text = value.to_string();
        assert!(text.is_ascii() && !text.contains(['>', '?', '~']), "claim {name} decodes with either base64 alphabet");
    }

    let key = server_key(&app).await;
    let valid = key.sign(&claims(&app, 300, credential)).expect("sign");
    assert_eq!(get(valid).await.expect("GET").status(), StatusCode::OK, "the test's own construction is sound");

    let expired = key.sign(&claims(&app, -60, credential)).expect("sign");
    let other_key = SigningKey::from_pkcs8(&SigningKey::generate().expect("gen")).expect("key");
    let foreign = other_key.sign(&claims(&app, 300, credential)).expect("sign");
    let mut other_service = claims(&app, 300, credential);
    other_service.aud = "other.registry.example".into();
    let other_service = key.sign(&other_service).expect("sign");
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    parts[1] = b64.encode(
        b64.decode(&parts[1]).map(|p| String::from_utf8_lossy(&p).replace("\"app\"", "\"other\"")).expect("b64"),
    );
    let tampered = parts.join(".");
    for (what, t) in
        [("expired", expired), ("other key", foreign), ("other service", other_service), ("tampered", tampered)]
    {
        let res = get(t).await.expect("GET");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
    // A token used through another login server name is for another service.
    let res = app.anon(Method::GET, "/v2/app/tags/list").header(HOST, "registry.other:443").bearer_auth(&real).send();
    assert_eq!(res.await.expect("GET").status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn scope_map_tokens_reach_only_their_repositories_and_stop_when_disabled() {
    let app = TestApp::spawn().await;
    let created = app.admin(
        Method::POST,
        "/tokens",
        Some(json!({"name": "ci", "repositories": [{"repository": "team/app", "actions": ["content/read", "content/write"]}]})),
    )
    .await;
    assert_eq!(created["scopeMapId"], "/berth/v1/scopemaps/ci-scope-map");
    assert_eq!(created["status"], "enabled");
    let (p1, p2) = (password(&created, "password1"), password(&created, "password2"));

    assert_eq!(push_blob_as(&app, ("ci", &p1), "team/app", b"a").await.status(), StatusCode::CREATED);
    let res = push_blob_as(&app, ("ci", &p1), "other", b"a").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "DENIED");
    let msg = body["errors"][0]["message"].as_str().expect("message");
    assert!(msg.contains("content/write") && msg.contains("\"other\""), "{msg}");

    // Disabled: refused on the very next request, bearer tokens issued before included.
    let bearer = token(&app, "ci", &p1, "repository:team/app:pull").await;
    app.admin(Method::PATCH, "/tokens/ci", Some(json!({"status": "disabled"}))).await;
    assert_eq!(push_blob_as(&app, ("ci", &p1), "team/app", b"b").await.status(), StatusCode::UNAUTHORIZED);
    let res = app.anon(Method::GET, "/v2/team/app/tags/list").bearer_auth(&bearer).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.admin(Method::PATCH, "/tokens/ci", Some(json!({"status": "enabled"}))).await;

    // Regenerating password1 revokes the old one; password2 keeps working.
    let fresh = app.admin(Method::POST, "/tokens/ci/credentials", Some(json!({"names": ["password1"]}))).await;
    let new1 = password(&fresh, "password1");
    assert_eq!(push_blob_as(&app, ("ci", &p1), "team/app", b"c").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(push_blob_as(&app, ("ci", &new1), "team/app", b"c").await.status(), StatusCode::CREATED);
    assert_eq!(push_blob_as(&app, ("ci", &p2), "team/app", b"d").await.status(), StatusCode::CREATED);

    // Changing the scope map changes what the token may do, at once.
    app.admin(
        Method::PATCH,
        "/scopemaps/ci-scope-map",
        Some(json!({"removeActions": ["repositories/team/app/content/write"]})),
    )
    .await;
    assert_eq!(push_blob_as(&app, ("ci", &p2), "team/app", b"e").await.status(), StatusCode::FORBIDDEN);
    // A scope map in use cannot be deleted.
    let res = app.req(Method::DELETE, "/berth/v1/scopemaps/ci-scope-map").send().await.expect("DELETE");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Bad actions are refused with the action named.
    let res = app
        .req(Method::POST, "/berth/v1/scopemaps")
        .json(&json!({"name": "bad", "actions": ["repositories/x/content/fly"]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.expect("body").contains("content/fly"));
}

#[tokio::test]
async fn roles_decide_what_users_may_do() {
    let app = TestApp::spawn().await;
    app.push_image("team/app", "v1", &[b"layer"]).await;
    let puller = app.admin(Method::POST, "/users", Some(json!({"name": "puller", "roles": ["AcrPull"]}))).await;
    let pw = password(&puller, "password");
    let res = app.anon(Method::GET, "/v2/team/app/manifests/v1").basic_auth("puller", Some(&pw)).send().await;
    assert_eq!(res.expect("GET").status(), StatusCode::OK);
    assert_eq!(push_blob_as(&app, ("puller", &pw), "team/app", b"x").await.status(), StatusCode::FORBIDDEN);
    // Pull rights do not include management.
    let res = app.anon(Method::GET, "/berth/v1/tokens").basic_auth("puller", Some(&pw)).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // AcrPush on a repository pattern, then removed.
    let dev = app.admin(Method::POST, "/users", Some(json!({"name": "dev", "password": "dev-password-1"}))).await;
    assert_eq!(dev["credentials"]["passwords"][0]["value"], "dev-password-1");
    let assignment = app
        .admin(
            Method::POST,
            "/roleassignments",
            Some(json!({"assignee": "dev", "role": "AcrPush", "scope": "/repositories/team/*"})),
        )
        .await;
    let auth = ("dev", "dev-password-1");
    assert_eq!(push_blob_as(&app, auth, "team/web", b"y").await.status(), StatusCode::CREATED);
    assert_eq!(push_blob_as(&app, auth, "elsewhere", b"y").await.status(), StatusCode::FORBIDDEN);
    let id = assignment["id"].as_str().expect("id");
    app.admin(Method::DELETE, &format!("/roleassignments/{id}"), None).await;
    assert_eq!(push_blob_as(&app, auth, "team/web", b"z").await.status(), StatusCode::FORBIDDEN);

    // A Reader may read management data but not change it; only an Owner assigns roles.
    let reader = app.admin(Method::POST, "/users", Some(json!({"name": "auditor", "roles": ["Reader"]}))).await;
    let rpw = password(&reader, "password");
    let res = app.anon(Method::GET, "/berth/v1/tokens").basic_auth("auditor", Some(&rpw)).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .anon(Method::POST, "/berth/v1/tokens")
        .basic_auth("auditor", Some(&rpw))
        .json(&json!({"name": "t", "scopeMap": "_repositories_pull"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .req(Method::POST, "/berth/v1/roleassignments")
        .json(&json!({"assignee": "dev", "role": "AcrBoss"}))
        .send()
        .await;
    assert_eq!(res.expect("POST").status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn anonymous_pull_allows_pull_and_list_and_nothing_else() {
    let app = TestApp::spawn().await;
    // Off: an anonymous token request is told to authenticate, not that its (unsent)
    // credentials are wrong.
    let url = format!("/oauth2/token?service={}&scope=repository:app:pull", app.host());
    let res = app.anon(Method::GET, &url).send().await.expect("token");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.expect("json");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("authentication required") && !message.contains("invalid"), "{message}");
    app.push_image("public/app", "v1", &[b"layer"]).await;
    let get = || app.anon(Method::GET, "/v2/public/app/manifests/v1").send();
    assert_eq!(get().await.expect("GET").status(), StatusCode::UNAUTHORIZED, "off by default");
    let settings = app.admin(Method::PATCH, "/settings", Some(json!({"anonymousPullEnabled": true}))).await;
    assert_eq!(settings["anonymousPullEnabled"], true);
    assert_eq!(get().await.expect("GET").status(), StatusCode::OK);
    assert_eq!(app.anon(Method::GET, "/v2/_catalog").send().await.expect("GET").status(), StatusCode::OK);
    let res = app.anon(Method::POST, "/v2/public/app/blobs/uploads/").send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "anonymous callers are asked to sign in to push");
    // Anonymous tokens from both token endpoints, pull only.
    let res = app.anon(Method::GET, "/oauth2/token?scope=repository:public/app:pull,push").send().await.expect("GET");
    let t: Value = res.json().await.expect("json");
    let t = t["access_token"].as_str().expect("token").to_owned();
    let res = app.anon(Method::GET, "/v2/public/app/manifests/v1").bearer_auth(&t).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.anon(Method::POST, "/v2/public/app/blobs/uploads/").bearer_auth(&t).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "an anonymous token is asked to sign in");
    let res = app
        .anon(Method::POST, "/oauth2/token")
        .form(&[("grant_type", "password"), ("scope", "repository:public/app:pull")]);
    assert_eq!(res.send().await.expect("POST").status(), StatusCode::OK);
    app.admin(Method::PATCH, "/settings", Some(json!({"anonymousPullEnabled": false}))).await;
    assert_eq!(get().await.expect("GET").status(), StatusCode::UNAUTHORIZED);
    let res = app.anon(Method::GET, "/v2/public/app/manifests/v1").bearer_auth(&t).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "anonymous tokens stop with anonymous pull");
}

#[tokio::test]
async fn admin_passwords_rotate_one_at_a_time() {
    let app = TestApp::spawn().await;
    let shown = app.admin(Method::GET, "/credentials", None).await;
    assert_eq!(shown["username"], ADMIN);
    assert_eq!(shown["passwords"][0]["name"], "password");
    assert_eq!(shown["passwords"][1]["name"], "password2");
    // An Owner reads them back (sealed at rest), as in ACR.
    assert_eq!(shown["passwords"][0]["value"], ADMIN_PASSWORD);
    let first_pw2 = shown["passwords"][1]["value"].as_str().expect("password2 shown").to_owned();
    // Renewing password2 changes it alone.
    let renewed = app.admin(Method::POST, "/credentials/renew", Some(json!({"name": "password2"}))).await;
    assert_eq!(renewed["passwords"][0]["value"], ADMIN_PASSWORD, "password keeps its value");
    let pw2 = renewed["passwords"][1]["value"].as_str().expect("new password2").to_owned();
    assert_ne!(pw2, first_pw2);
    let renewed = app.admin(Method::POST, "/credentials/renew", Some(json!({"name": "password"}))).await;
    let pw1 = renewed["passwords"][0]["value"].as_str().expect("new password").to_owned();
    let app = &app;
    let status = |pw: String| async move {
        app.anon(Method::GET, "/v2/").basic_auth(ADMIN, Some(pw)).send().await.expect("GET").status()
    };
    assert_eq!(status(ADMIN_PASSWORD.into()).await, StatusCode::UNAUTHORIZED, "the old password is revoked");
    assert_eq!(status(pw2.clone()).await, StatusCode::OK, "password2 keeps working");
    assert_eq!(status(pw1.clone()).await, StatusCode::OK);

    // An Owner user can disable and re-enable the admin user.
    let owner = app
        .anon(Method::POST, "/berth/v1/users")
        .basic_auth(ADMIN, Some(&pw1))
        .json(&json!({"name": "root", "password": "root-password", "roles": ["Owner"]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(owner.status(), StatusCode::CREATED);
    let patch = |on: bool| {
        app.anon(Method::PATCH, "/berth/v1/settings")
            .basic_auth("root", Some("root-password"))
            .json(&json!({"adminUserEnabled": on}))
            .send()
    };
    assert_eq!(patch(false).await.expect("PATCH").status(), StatusCode::OK);
    assert_eq!(status(pw1.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(patch(true).await.expect("PATCH").status(), StatusCode::OK);
    assert_eq!(status(pw1).await, StatusCode::OK);
}

#[tokio::test]
async fn a_deny_policy_keeps_the_admin_user_disabled() {
    let client = reqwest::Client::new();
    let get = |addr: std::net::SocketAddr, user: &'static str, pass: String| {
        client.get(format!("http://{addr}/berth/v1/settings")).basic_auth(user, Some(pass)).send()
    };
    // Set from the very first start: the admin user cannot sign in at all.
    let dir = tempfile::tempdir().expect("dir");
    let mut config = test_config(dir.path());
    config.auth.admin_policy = berth::config::AdminPolicy::Deny;
    let (addr, stop, task) = start_with(config).await;
    let res = get(addr, ADMIN, ADMIN_PASSWORD.into()).await.expect("GET");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "deny from the first start");
    let _ = stop.send(());
    task.await.expect("stopped");

    // Set later: an Owner created before sees it off, and cannot turn it on.
    let dir = tempfile::tempdir().expect("dir");
    let config = test_config(dir.path());
    let (addr, stop, task) = start_with(config.clone()).await;
    let res = client
        .post(format!("http://{addr}/berth/v1/users"))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .json(&json!({"name": "owner", "roles": ["Owner"]}))
        .send()
        .await
        .expect("POST");
    let owner_pw = password(&res.json::<Value>().await.expect("json"), "password");
    let _ = stop.send(());
    task.await.expect("stopped");
    let mut config = config;
    config.auth.admin_policy = berth::config::AdminPolicy::Deny;
    let (addr, _stop, _task) = start_with(config).await;
    assert_eq!(get(addr, ADMIN, ADMIN_PASSWORD.into()).await.expect("GET").status(), StatusCode::UNAUTHORIZED);
    let settings: Value = get(addr, "owner", owner_pw.clone()).await.expect("GET").json().await.expect("json");
    assert_eq!(settings["adminUserEnabled"], false);
    let res = client
        .patch(format!("http://{addr}/berth/v1/settings"))
        .basic_auth("owner", Some(owner_pw))
        .json(&json!({"adminUserEnabled": true}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.expect("body").contains("policy"));
}

#[tokio::test]
async fn refresh_tokens_come_from_exchange_and_sign_in_like_passwords() {
    let app = TestApp::spawn().await;
    let service = app.host();
    let form = [("grant_type", "password"), ("service", &service), ("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let res = app.anon(Method::POST, "/oauth2/exchange").form(&form).send().await.expect("exchange");
    assert_eq!(res.status(), StatusCode::OK);
    let refresh = res.json::<Value>().await.expect("json")["refresh_token"].as_str().expect("refresh").to_owned();

    // As docker does after `az acr login`: the null GUID and the refresh token, Basic.
    let res = app.anon(Method::GET, "/v2/").basic_auth("00000000-0000-0000-0000-000000000000", Some(&refresh)).send();
    assert_eq!(res.await.expect("GET").status(), StatusCode::OK);
    let form = [
        ("grant_type", "refresh_token"),
        ("service", &service),
        ("refresh_token", &refresh),
        ("scope", "repository:a:pull"),
    ];
    let res = app.anon(Method::POST, "/oauth2/token").form(&form).send().await.expect("token");
    let access = res.json::<Value>().await.expect("json")["access_token"].as_str().expect("access").to_owned();
    // The two kinds are not interchangeable.
    let res = app.anon(Method::GET, "/v2/a/tags/list").header(AUTHORIZATION, format!("Bearer {refresh}")).send();
    assert_eq!(res.await.expect("GET").status(), StatusCode::UNAUTHORIZED);
    // An access token Berth issued exchanges for a refresh token (ACR's Entra-token exchange).
    let form = [("grant_type", "access_token"), ("service", &service), ("access_token", &access)];
    let res = app.anon(Method::POST, "/oauth2/exchange").form(&form).send().await.expect("exchange");
    assert_eq!(res.status(), StatusCode::OK);
    // So does a refresh token (ACR's SDKs send whatever their credential holds).
    let form = [("grant_type", "access_token"), ("service", &service), ("access_token", &refresh)];
    let res = app.anon(Method::POST, "/oauth2/exchange").form(&form).send().await.expect("exchange");
    assert_eq!(res.status(), StatusCode::OK);
    let keys: Value = app.anon(Method::GET, "/oauth2/jwks").send().await.expect("jwks").json().await.expect("json");
    assert_eq!(keys["keys"][0]["alg"], "ES256");
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_account_and_address() {
    let app = TestApp::spawn().await;
    let bob = app.admin(Method::POST, "/users", Some(json!({"name": "bob", "roles": ["AcrPull"]}))).await;
    let bob_pw = password(&bob, "password");
    let carol = app.admin(Method::POST, "/users", Some(json!({"name": "carol", "roles": ["AcrPull"]}))).await;
    let carol_pw = password(&carol, "password");
    for _ in 0..10 {
        let res = app.anon(Method::GET, "/v2/").basic_auth("carol", Some("guess")).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.anon(Method::GET, "/v2/").basic_auth("carol", Some(&carol_pw)).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the guessed account waits, right password or not");
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(error_code(res).await, "TOOMANYREQUESTS");
    // Someone else behind the same address (a NAT, a proxy) signs in as usual.
    let res = app.anon(Method::GET, "/v2/").basic_auth("bob", Some(&bob_pw)).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK, "an address throttled for one account serves the others");
}

#[tokio::test]
async fn parallel_guesses_are_counted_while_in_flight() {
    let app = TestApp::spawn().await;
    let guesses = (0..200).map(|i| {
        let req = app.anon(Method::GET, "/v2/").basic_auth(ADMIN, Some(format!("guess-{i}")));
        async move { req.send().await.expect("GET").status() }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + refused, 200, "{statuses:?}");
    assert!(checked <= 10, "{checked} of 200 parallel guesses were checked; at most 10 a minute may be");
}

#[tokio::test]
async fn unknown_names_take_as_long_to_refuse_as_known_ones() {
    let app = TestApp::spawn().await;
    let time = |user: &'static str| {
        let req = app.anon(Method::GET, "/v2/").basic_auth(user, Some("wrong password"));
        async move {
            let started = std::time::Instant::now();
            assert_eq!(req.send().await.expect("GET").status(), StatusCode::UNAUTHORIZED);
            started.elapsed()
        }
    };
    // Fewer than the throttle's 10 failures for each account, interleaved against noise.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        known.push(time(ADMIN).await);
        unknown.push(time("nobody-by-this-name").await);
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[2].as_secs_f64(), unknown[2].as_secs_f64());
    assert!(u > k * 0.5 && u < k * 2.0, "median refusal: known {k:.4} s, unknown {u:.4} s");
}

//! A token carries what it claims and nothing more; no caller grants more than it holds.

use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

async fn manage_with_bearer(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> reqwest::Response {
    app.anon(method, path).bearer_auth(token).json(&body).send().await.expect("request")
}

#[tokio::test]
async fn the_management_api_needs_a_management_scope_asked_for() {
    let app = TestApp::spawn().await;
    let owner_pw = user_with(&app, "owner", &["Owner"]).await;
    let new_user = json!({"name": "mallory", "roles": ["Owner"]});

    // A pull token of an Owner creates no users and reads no metrics.
    let pull = token(&app, "owner", &owner_pw, "repository:app:pull").await;
    let res = manage_with_bearer(&app, &pull, Method::POST, "/berth/v1/users", new_user.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()[WWW_AUTHENTICATE].to_str().expect("ascii").to_owned();
    assert!(challenge.contains("scope=\"registry:management:write\"") && challenge.contains("insufficient_scope"));
    assert_eq!(error_code(res).await, "DENIED");
    let res = app.anon(Method::GET, "/metrics").bearer_auth(&pull).send().await.expect("metrics");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.anon(Method::GET, "/berth/v1/users").bearer_auth(&pull).send().await.expect("list");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Asked for, it is granted as far as the principal holds it.
    let read = token(&app, "owner", &owner_pw, "registry:management:read").await;
    assert_eq!(jwt_claims(&read)["access"], json!([{"type": "registry", "name": "management", "actions": ["read"]}]));
    let res = app.anon(Method::GET, "/metrics").bearer_auth(&read).send().await.expect("metrics");
    assert_eq!(res.status(), StatusCode::OK);
    let res = manage_with_bearer(&app, &read, Method::POST, "/berth/v1/users", new_user.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "read is not write");
    let owner = token(&app, "owner", &owner_pw, "registry:management:owner").await;
    let res = manage_with_bearer(&app, &owner, Method::POST, "/berth/v1/users", json!({"name": "dev"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // ...and not past it: a pull-only user asking for management gets none.
    let puller_pw = user_with(&app, "puller", &["AcrPull"]).await;
    let asked = token(&app, "puller", &puller_pw, "registry:management:owner repository:app:pull").await;
    assert!(!jwt_claims(&asked)["access"].to_string().contains("management"));

    // A refresh token (the data plane) given as a password does not manage either.
    let form = [("grant_type", "password"), ("username", "owner"), ("password", owner_pw.as_str())];
    let res = app.anon(Method::POST, "/oauth2/exchange").form(&form).send().await.expect("exchange");
    let refresh = res.json::<Value>().await.expect("json")["refresh_token"].as_str().expect("refresh").to_owned();
    let res = app
        .anon(Method::GET, "/berth/v1/users")
        .basic_auth("00000000-0000-0000-0000-000000000000", Some(&refresh))
        .send()
        .await
        .expect("list");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .anon(Method::GET, "/v2/_catalog")
        .basic_auth("00000000-0000-0000-0000-000000000000", Some(&refresh))
        .send()
        .await
        .expect("catalog");
    assert_eq!(res.status(), StatusCode::OK, "but it does the data plane");
}

#[tokio::test]
async fn a_contributor_cannot_become_owner() {
    let app = TestApp::spawn().await;
    let contrib_pw = user_with(&app, "contrib", &["Contributor"]).await;
    user_with(&app, "boss", &["Owner"]).await;
    user_with(&app, "pusher", &["AcrPush"]).await;
    let as_contrib = |method: Method, path: &str, body: Option<Value>| {
        let mut req = app.anon(method, &format!("/berth/v1{path}")).basic_auth("contrib", Some(&contrib_pw));
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.expect("request");
            let status = res.status();
            (status, res.text().await.expect("body"))
        }
    };
    let refused = [
        (Method::POST, "/users", Some(json!({"name": "mallory", "roles": ["Owner"]}))),
        (Method::POST, "/users", Some(json!({"name": "mallory", "roles": ["AcrPull"]}))),
        (Method::POST, "/roleassignments", Some(json!({"assignee": "contrib", "role": "Owner"}))),
        (Method::POST, "/credentials/renew", Some(json!({"name": "password2"}))),
        (Method::GET, "/credentials", None),
        (Method::PATCH, "/settings", Some(json!({"adminUserEnabled": false}))),
        (Method::POST, "/users/boss/credentials", None),
        (Method::PATCH, "/users/boss", Some(json!({"status": "disabled"}))),
        (Method::DELETE, "/users/boss", None),
    ];
    for (method, path, body) in refused {
        let (status, text) = as_contrib(method.clone(), path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {text}");
    }
    // Nothing of that happened.
    let users = app.admin(Method::GET, "/users", None).await;
    assert!(!users.to_string().contains("mallory"));
    let boss = app.admin(Method::GET, "/users/boss", None).await;
    assert_eq!(boss["status"], "enabled");
    let res = app.req(Method::GET, "/v2/").send().await.expect("admin still signs in");
    assert_eq!(res.status(), StatusCode::OK);

    // What a Contributor may do, it still does.
    let allowed = [
        (Method::POST, "/users", Some(json!({"name": "newcomer"}))),
        (Method::POST, "/users/pusher/credentials", None),
        (Method::PATCH, "/users/pusher", Some(json!({"status": "disabled"}))),
        (Method::PATCH, "/settings", Some(json!({"anonymousPullEnabled": true}))),
        (
            Method::POST,
            "/tokens",
            Some(json!({"name": "ci", "repositories": [{"repository": "app", "actions": ["content/read"]}]})),
        ),
    ];
    for (method, path, body) in allowed {
        let (status, text) = as_contrib(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {text}");
    }
}

#[tokio::test]
async fn an_exchange_never_widens_what_the_presented_token_was_good_for() {
    let app = TestApp::spawn().await;
    let service = app.host();
    let narrow = token(&app, ADMIN, ADMIN_PASSWORD, "repository:app:pull").await;
    let form = [("grant_type", "access_token"), ("service", service.as_str()), ("access_token", narrow.as_str())];
    let res = app.anon(Method::POST, "/oauth2/exchange").form(&form).send().await.expect("exchange");
    assert_eq!(res.status(), StatusCode::OK);
    let refresh = res.json::<Value>().await.expect("json")["refresh_token"].as_str().expect("refresh").to_owned();
    assert!(jwt_claims(&refresh)["exp"].as_u64() <= jwt_claims(&narrow)["exp"].as_u64(), "no longer than the token");

    // Used as a password, it pulls app and nothing else.
    let null_user = "00000000-0000-0000-0000-000000000000";
    let push = app
        .anon(Method::POST, &format!("/v2/app/blobs/uploads/?digest={}", sha256(b"x")))
        .basic_auth(null_user, Some(&refresh))
        .body(b"x".to_vec())
        .send()
        .await
        .expect("push");
    assert_eq!(push.status(), StatusCode::FORBIDDEN);
    let res = app.anon(Method::GET, "/berth/v1/users").basic_auth(null_user, Some(&refresh)).send().await;
    assert_eq!(res.expect("list").status(), StatusCode::FORBIDDEN);
    // Exchanged for access tokens, it yields only what it carries.
    let form = [
        ("grant_type", "refresh_token"),
        ("service", service.as_str()),
        ("refresh_token", refresh.as_str()),
        ("scope", "repository:app:pull,push,delete repository:other:pull registry:catalog:* registry:management:owner"),
    ];
    let res = app.anon(Method::POST, "/oauth2/token").form(&form).send().await.expect("token");
    let access = res.json::<Value>().await.expect("json")["access_token"].as_str().expect("access").to_owned();
    let granted: Vec<(String, Vec<String>)> = jwt_claims(&access)["access"]
        .as_array()
        .expect("access")
        .iter()
        .map(|e| {
            let actions = e["actions"].as_array().expect("actions").iter().map(|a| a.as_str().expect("a").to_owned());
            (e["name"].as_str().expect("name").to_owned(), actions.collect::<Vec<_>>())
        })
        .filter(|(_, actions)| !actions.is_empty())
        .collect();
    // pull, with quarantine_read for an identity that holds it (the Owner here): what the
    // presented token carried, and no more.
    let pull = ["pull", "quarantine_read"].map(str::to_owned).to_vec();
    assert_eq!(granted, [("app".to_owned(), pull.clone())]);
    assert_eq!(jwt_claims(&narrow)["access"][0]["actions"], serde_json::json!(pull), "the presented token's");
    // Nor does exchanging the exchanged one again.
    let form = [("grant_type", "refresh_token"), ("service", service.as_str()), ("refresh_token", refresh.as_str())];
    let res = app.anon(Method::POST, "/oauth2/exchange").form(&form).send().await.expect("exchange");
    let again = res.json::<Value>().await.expect("json")["refresh_token"].as_str().expect("refresh").to_owned();
    assert_eq!(jwt_claims(&again)["access"], jwt_claims(&refresh)["access"]);
    assert!(jwt_claims(&again)["exp"].as_u64() <= jwt_claims(&refresh)["exp"].as_u64());
}

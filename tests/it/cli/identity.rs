//! `login` (docker's config, `--expose-token`), `credential`, `update`, `token`, `scope-map` and
//! `role assignment`, with az's JSON, table and tsv output. Each effect is checked through the
//! registry itself.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Berth, columns, value_of};
use crate::support::*;

/// Pushes a small blob into `repo` with Basic credentials: the status tells what they may do.
async fn push(app: &TestApp, user: &str, pass: &str, repo: &str) -> StatusCode {
    let data = format!("{repo} {user} {pass}").into_bytes();
    let path = format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(&data));
    let res = app.anon(Method::POST, &path).basic_auth(user, Some(pass)).body(data).send().await.expect("push");
    res.status()
}

#[tokio::test]
async fn login_stores_credentials_that_docker_skopeo_and_berth_use() {
    let app = TestApp::spawn().await;
    app.push_image("hello", "v1", &[b"layer"]).await;
    let berth = Berth::new(&app);

    let err = berth.fails(&["token", "list", "-r", "{R}"]).await;
    assert!(err.contains("UNAUTHORIZED") && err.contains("berth login -n"), "{err}");
    let err = berth.fails(&["login", "-n", "{R}", "-u", ADMIN, "-p", "wrong-password"]).await;
    assert!(err.contains("UNAUTHORIZED"), "{err}");
    assert!(!berth.docker_config.join("config.json").exists(), "a failed login stores nothing");

    // The login server is case-insensitive: stored under its lowercase form.
    let port = app.addr.port();
    berth.ok(&["login", "-n", &format!("LocalHost:{port}"), "-u", ADMIN, "-p", ADMIN_PASSWORD]).await;
    assert!(berth.stored()["auths"][format!("localhost:{port}")]["auth"].is_string());
    let out = berth.ok(&["login", "-n", "{R}", "-u", ADMIN, "-p", ADMIN_PASSWORD]).await;
    assert_eq!(out, "Login Succeeded\n");
    let stored = berth.stored();
    assert_eq!(stored["auths"][app.host()]["auth"], base64_encode(&format!("{ADMIN}:{ADMIN_PASSWORD}")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(berth.docker_config.join("config.json")).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "credentials readable by their owner only");
    }

    // Later commands sign in with what login stored.
    let creds = berth.json(&["credential", "show", "-n", "{R}"]).await;
    assert_eq!(creds["username"], ADMIN);
    let names: Vec<&str> =
        creds["passwords"].as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["password", "password2"]);

    // Clients nobody here wrote read the same file.
    if have_tool("docker") {
        let out = tokio::process::Command::new("docker")
            .args(["manifest", "inspect", "--insecure", &format!("{}/hello:v1", app.host())])
            .env("DOCKER_CONFIG", &berth.docker_config)
            .output()
            .await
            .expect("docker runs");
        assert!(out.status.success(), "docker with berth's stored login: {}", String::from_utf8_lossy(&out.stderr));
    }
    if have_tool("skopeo") {
        let file = berth.docker_config.join("config.json");
        let out = tokio::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--authfile"])
            .arg(&file)
            .arg(format!("docker://{}/hello:v1", app.host()))
            .output()
            .await
            .expect("skopeo runs");
        assert!(out.status.success(), "skopeo with berth's stored login: {}", String::from_utf8_lossy(&out.stderr));
    }

    // Without DOCKER_CONFIG: ~/.docker/config.json, where skopeo looks by default.
    let (_home_guard, home) = temp_dir();
    let login = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["login", "-n", &app.host(), "-u", ADMIN, "-p", ADMIN_PASSWORD])
        .env("HOME", &home)
        .env_remove("DOCKER_CONFIG")
        .output()
        .await
        .expect("berth runs");
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    assert!(home.join(".docker/config.json").is_file());
    if have_tool("skopeo") {
        let out = tokio::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", &format!("docker://{}/hello:v1", app.host())])
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG")
            .output()
            .await
            .expect("skopeo runs");
        assert!(out.status.success(), "skopeo with ~/.docker/config.json: {}", String::from_utf8_lossy(&out.stderr));
    }

    // --expose-token: a refresh token for the null-GUID user, and nothing written.
    let token = berth.json(&["login", "-n", "{R}", "--expose-token"]).await;
    assert_eq!(token["loginServer"], app.host());
    assert_eq!(token["username"], "00000000-0000-0000-0000-000000000000");
    let refresh = token["accessToken"].as_str().expect("accessToken");
    let res = app
        .anon(Method::GET, "/v2/hello/tags/list")
        .basic_auth(token["username"].as_str().unwrap_or_default(), Some(refresh));
    assert_eq!(res.send().await.expect("tags").status(), StatusCode::OK);
    assert_eq!(token["refreshToken"], token["accessToken"], "recent az prints the refresh token under both names");
    let tsv = berth.ok(&["login", "-n", "{R}", "--expose-token", "--query", "loginServer", "-o", "tsv"]).await;
    assert_eq!(tsv, format!("{}\n", app.host()));
}

#[tokio::test]
async fn credential_renew_and_update_change_the_registry() {
    let app = TestApp::spawn().await;
    let berth = Berth::new(&app);
    let admin = ["-u", ADMIN, "-p", ADMIN_PASSWORD];

    let renewed =
        berth.json(&[&["credential", "renew", "-n", "{R}", "--password-name", "password2"][..], &admin].concat()).await;
    let password2 = value_of(&renewed["passwords"], "password2");
    assert_eq!(renewed["passwords"][0]["value"], ADMIN_PASSWORD, "the unchanged password keeps its value");
    // Both passwords work: rotation without downtime.
    assert_eq!(push(&app, ADMIN, ADMIN_PASSWORD, "rotate").await, StatusCode::CREATED);
    assert_eq!(push(&app, ADMIN, &password2, "rotate").await, StatusCode::CREATED);
    let table = berth.ok(&["credential", "show", "-n", "{R}", "-u", ADMIN, "-p", &password2, "-o", "table"]).await;
    assert_eq!(columns(&table), ["USERNAME", "PASSWORD", "PASSWORD2"]);

    let err = berth
        .fails(&[&["credential", "renew", "-n", "{R}", "--password-name", "password3"][..], &admin].concat())
        .await;
    assert!(err.contains("password3"), "{err}");

    assert_eq!(
        app.anon(Method::GET, "/v2/rotate/tags/list").send().await.expect("anon").status(),
        StatusCode::UNAUTHORIZED
    );
    let registry =
        berth.json(&[&["update", "-n", "{R}", "--anonymous-pull-enabled", "true"][..], &admin].concat()).await;
    assert_eq!(
        (registry["anonymousPullEnabled"].clone(), registry["loginServer"].clone()),
        (json!(true), json!(app.host()))
    );
    assert_ne!(
        app.anon(Method::GET, "/v2/rotate/tags/list").send().await.expect("anon").status(),
        StatusCode::UNAUTHORIZED
    );
    let flag = berth
        .ok(&[&["update", "-n", "{R}", "--query", "anonymousPullEnabled", "-o", "tsv"][..], &admin].concat())
        .await;
    assert_eq!(flag, "true\n");
    let table = berth
        .ok(&[&["update", "-n", "{R}", "--anonymous-pull-enabled", "false", "-o", "table"][..], &admin].concat())
        .await;
    assert_eq!(
        columns(&table),
        ["NAME", "RESOURCE GROUP", "LOCATION", "SKU", "LOGIN SERVER", "CREATION DATE", "ADMIN ENABLED"]
    );
    assert!(table.lines().nth(2).is_some_and(|row| row.contains(&app.host()) && row.contains("True")), "{table}");
    assert_eq!(
        app.anon(Method::GET, "/v2/rotate/tags/list").send().await.expect("anon").status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn token_and_scope_map_commands_control_access() {
    let app = TestApp::spawn().await;
    let berth = Berth::new(&app);
    berth.ok(&["login", "-n", "{R}", "-u", ADMIN, "-p", ADMIN_PASSWORD]).await;

    let map = berth
        .json(&[
            "scope-map",
            "create",
            "-n",
            "pushers",
            "-r",
            "{R}",
            "--repository",
            "app",
            "content/read",
            "content/write",
            "--description",
            "CI pushers",
        ])
        .await;
    assert_eq!(map["actions"], json!(["repositories/app/content/read", "repositories/app/content/write"]));
    let created = berth.json(&["token", "create", "-n", "ci", "-r", "{R}", "--scope-map", "pushers"]).await;
    assert_eq!(created["status"], "enabled");
    let (p1, p2) = (
        value_of(&created["credentials"]["passwords"], "password1"),
        value_of(&created["credentials"]["passwords"], "password2"),
    );
    assert_eq!(push(&app, "ci", &p1, "app").await, StatusCode::CREATED);
    assert_eq!(push(&app, "ci", &p2, "other").await, StatusCode::FORBIDDEN);

    let reader = berth
        .json(&[
            "token",
            "create",
            "-n",
            "reader",
            "-r",
            "{R}",
            "--repository",
            "app",
            "content/read",
            "--repository",
            "lib/*",
            "content/read",
        ])
        .await;
    assert!(reader["scopeMapId"].as_str().is_some_and(|id| id.ends_with("/reader-scope-map")), "{reader}");
    let actions = berth.json(&["scope-map", "show", "-n", "reader-scope-map", "-r", "{R}", "--query", "actions"]).await;
    assert_eq!(actions, json!(["repositories/app/content/read", "repositories/lib/*/content/read"]));

    let table = berth.ok(&["token", "list", "-r", "{R}", "-o", "table"]).await;
    let expected =
        ["NAME", "SCOPE MAP", "PASSWORD1 EXPIRY", "PASSWORD2 EXPIRY", "STATUS", "PROVISIONING STATE", "CREATION DATE"];
    assert_eq!(columns(&table), expected);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ci ") && l.contains("pushers") && l.contains("Never") && l.contains("Enabled")),
        "{table}"
    );
    let mut names: Vec<&str> = Vec::new();
    let tsv = berth.ok(&["token", "list", "-r", "{R}", "--query", "[].name", "-o", "tsv"]).await;
    names.extend(tsv.lines());
    names.sort_unstable();
    assert_eq!(names, ["ci", "reader"]);

    // Disabled: refused on the very next request; enabled again: back.
    let updated = berth.json(&["token", "update", "-n", "ci", "-r", "{R}", "--status", "disabled"]).await;
    assert_eq!(updated["status"], "disabled");
    assert_eq!(push(&app, "ci", &p1, "app").await, StatusCode::UNAUTHORIZED);
    berth.ok(&["token", "update", "-n", "ci", "-r", "{R}", "--status", "enabled"]).await;
    assert_eq!(push(&app, "ci", &p1, "app").await, StatusCode::CREATED);

    // A new password1 (with an expiry) replaces the old; password2 is untouched.
    let generated = berth
        .json(&[
            "token",
            "credential",
            "generate",
            "-n",
            "ci",
            "-r",
            "{R}",
            "--password1",
            "--expiration-in-days",
            "30",
        ])
        .await;
    assert_eq!(generated["username"], "ci");
    assert_eq!(generated["passwords"].as_array().map(Vec::len), Some(1));
    assert!(generated["passwords"][0]["expiry"].is_string());
    let new1 = value_of(&generated["passwords"], "password1");
    assert_eq!(push(&app, "ci", &p1, "app").await, StatusCode::UNAUTHORIZED);
    assert_eq!(push(&app, "ci", &new1, "app").await, StatusCode::CREATED);
    assert_eq!(push(&app, "ci", &p2, "app").await, StatusCode::CREATED);
    let table = berth.ok(&["token", "credential", "generate", "-n", "reader", "-r", "{R}", "-o", "table"]).await;
    assert_eq!(columns(&table), ["USERNAME", "PASSWORD1", "PASSWORD1 EXPIRY", "PASSWORD2", "PASSWORD2 EXPIRY"]);
    berth.ok(&["token", "credential", "delete", "-n", "ci", "-r", "{R}", "--password2"]).await;
    assert_eq!(push(&app, "ci", &p2, "app").await, StatusCode::UNAUTHORIZED);

    // Scope-map changes reach the token on its next request.
    berth
        .ok(&["scope-map", "update", "-n", "pushers", "-r", "{R}", "--remove-repository", "app", "content/write"])
        .await;
    assert_eq!(push(&app, "ci", &new1, "app").await, StatusCode::FORBIDDEN);
    berth.ok(&["scope-map", "update", "-n", "pushers", "-r", "{R}", "--add-repository", "app", "content/write"]).await;
    assert_eq!(push(&app, "ci", &new1, "app").await, StatusCode::CREATED);
    let table = berth.ok(&["scope-map", "list", "-r", "{R}", "-o", "table"]).await;
    assert_eq!(columns(&table), ["NAME", "TYPE", "CREATION DATE", "DESCRIPTION"]);
    assert!(table.lines().any(|l| l.starts_with("_repositories_pull ") && l.contains("SystemDefined")), "{table}");

    // Deleting asks first; a scope map in use cannot go.
    let err = berth.fails(&["scope-map", "delete", "-n", "pushers", "-r", "{R}"]).await;
    assert!(err.contains("--yes"), "{err}");
    let err = berth.fails(&["scope-map", "delete", "-n", "pushers", "-r", "{R}", "--yes"]).await;
    assert!(err.contains("CONFLICT"), "{err}");
    assert_eq!(berth.ok(&["token", "delete", "-n", "ci", "-r", "{R}", "--yes"]).await, "");
    assert_eq!(push(&app, "ci", &new1, "app").await, StatusCode::UNAUTHORIZED);
    assert!(berth.fails_with(3, &["token", "show", "-n", "ci", "-r", "{R}"]).await.contains("NOT_FOUND"));
    berth.ok(&["scope-map", "delete", "-n", "pushers", "-r", "{R}", "-y"]).await;
}

#[tokio::test]
async fn role_assignment_commands_grant_and_revoke() {
    let app = TestApp::spawn().await;
    let berth = Berth::new(&app);
    berth.ok(&["login", "-n", "{R}", "-u", ADMIN, "-p", ADMIN_PASSWORD]).await;
    // The README's walk-through, as written: a user first, then its role.
    berth.ok(&["user", "create", "-n", "dev", "-r", "{R}", "--new-password", "dev-password-1"]).await;

    let err =
        berth.fails(&["role", "assignment", "create", "-r", "{R}", "--assignee", "dev", "--role", "AcrNope"]).await;
    assert!(err.contains("BAD_REQUEST") && err.contains("AcrNope"), "{err}");
    let created = berth
        .json(&[
            "role",
            "assignment",
            "create",
            "-r",
            "{R}",
            "--assignee",
            "dev",
            "--role",
            "AcrPush",
            "--scope",
            "/repositories/team/*",
        ])
        .await;
    assert_eq!(
        (created["roleDefinitionName"].clone(), created["scope"].clone()),
        (json!("AcrPush"), json!("/repositories/team/*"))
    );
    assert_eq!(push(&app, "dev", "dev-password-1", "team/app").await, StatusCode::CREATED);
    assert_eq!(push(&app, "dev", "dev-password-1", "elsewhere").await, StatusCode::FORBIDDEN);
    berth.ok(&["role", "assignment", "create", "-r", "{R}", "--assignee", "dev", "--role", "Reader"]).await;

    let table = berth.ok(&["role", "assignment", "list", "-r", "{R}", "--assignee", "dev", "-o", "table"]).await;
    assert_eq!(columns(&table), ["Principal", "Role", "Scope"]);
    assert_eq!(table.lines().count(), 4, "two assignments: {table}");
    let roles = berth
        .ok(&[
            "role",
            "assignment",
            "list",
            "-r",
            "{R}",
            "--role",
            "AcrPush",
            "--query",
            "[].{p:principalName, s:scope}",
            "-o",
            "tsv",
        ])
        .await;
    assert_eq!(roles, "dev\t/repositories/team/*\n");

    // Reader may list tokens but not create them; the refusal names the role needed.
    let as_dev = ["-u", "dev", "-p", "dev-password-1"];
    assert_eq!(berth.json(&[&["token", "list", "-r", "{R}"][..], &as_dev].concat()).await, json!([]));
    let err = berth
        .fails(
            &[&["token", "create", "-n", "t", "-r", "{R}", "--repository", "a", "content/read"][..], &as_dev].concat(),
        )
        .await;
    assert!(err.contains("DENIED") && err.contains("Contributor"), "{err}");

    // As `az role assignment delete`: filters delete without asking and print nothing; no
    // match is an error; no filter at all means every assignment, so it asks first.
    assert!(berth.fails(&["role", "assignment", "delete", "-r", "{R}"]).await.contains("--yes"));
    let err = berth.fails_with(1, &["role", "assignment", "delete", "-r", "{R}", "--assignee", "nobody"]).await;
    assert!(err.contains("No matched assignments were found to delete"), "{err}");
    let err =
        berth.fails_with(1, &["role", "assignment", "delete", "-r", "{R}", "--ids", "x", "--role", "Reader"]).await;
    assert!(err.contains("When assignment ids are used"), "{err}");
    berth.fails_with(3, &["role", "assignment", "delete", "-r", "{R}", "--ids", "no-such-id"]).await;
    let deleted =
        berth.ok(&["role", "assignment", "delete", "-r", "{R}", "--assignee", "dev", "--role", "AcrPush"]).await;
    assert_eq!(deleted, "");
    assert_eq!(push(&app, "dev", "dev-password-1", "team/app").await, StatusCode::FORBIDDEN);
    let left =
        berth.ok(&["role", "assignment", "list", "-r", "{R}", "--query", "[].roleDefinitionName", "-o", "tsv"]).await;
    assert_eq!(left, "Reader\n");
}

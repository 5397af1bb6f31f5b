//! `user` and `sp`: create with a role, list and show, pull with the password and the role
//! given, reset the password (the old one refused from then on), disable, delete; each kind
//! sees only its own; a Contributor giving roles is refused with the registry's message.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Berth, columns};
use crate::support::*;

/// Pulls `app:v1`'s manifest with Basic credentials: the status says whether they may.
async fn pull(app: &TestApp, user: &str, pass: &str) -> StatusCode {
    let req = app.anon(Method::GET, "/v2/app/manifests/v1").header("Accept", OCI_MANIFEST);
    req.basic_auth(user, Some(pass)).send().await.expect("pull").status()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect()
}

#[tokio::test]
async fn user_lifecycle_through_the_cli() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"layer"]).await;
    let berth = Berth::logged_in(&app).await;

    let created = berth.json(&["user", "create", "-n", "dev", "-r", "{R}", "--role", "AcrPull"]).await;
    assert_eq!((created["name"].as_str(), created["kind"].as_str()), (Some("dev"), Some("user")));
    let first = password(&created, "password");
    assert_eq!(pull(&app, "dev", &first).await, StatusCode::OK, "AcrPull may pull");
    let roles = berth
        .ok(&[
            "role",
            "assignment",
            "list",
            "-r",
            "{R}",
            "--assignee",
            "dev",
            "--query",
            "[].roleDefinitionName",
            "-o",
            "tsv",
        ])
        .await;
    assert_eq!(roles, "AcrPull\n");
    if have_tool("skopeo") {
        let out = tokio::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--creds", &format!("dev:{first}")])
            .arg(format!("docker://{}/app:v1", app.host()))
            .output()
            .await
            .expect("skopeo runs");
        assert!(out.status.success(), "skopeo as the new user: {}", String::from_utf8_lossy(&out.stderr));
    }

    assert_eq!(names(&berth.json(&["user", "list", "-r", "{R}"]).await), ["dev"]);
    let table = berth.ok(&["user", "list", "-r", "{R}", "-o", "table"]).await;
    assert_eq!(columns(&table), ["NAME", "STATUS", "EXPIRY", "CREATION DATE"]);
    let row: Vec<&str> = table.lines().nth(2).expect("a row").split_whitespace().collect();
    assert_eq!(row[..3], ["dev", "Enabled", "Never"], "{table}");
    let shown = berth.json(&["user", "show", "--id", "dev", "-r", "{R}"]).await;
    assert_eq!(shown["credentials"]["passwords"][0]["value"], Value::Null, "a password is shown only once");

    // A new password, printed once; the old one is refused from the next request on.
    let reset = berth.json(&["user", "credential", "reset", "-n", "dev", "-r", "{R}"]).await;
    assert_eq!((reset["username"].as_str(), reset["loginServer"].as_str()), (Some("dev"), Some(app.host().as_str())));
    let second = reset["password"].as_str().expect("password").to_owned();
    assert_ne!(second, first);
    assert_eq!(pull(&app, "dev", &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(pull(&app, "dev", &second).await, StatusCode::OK);

    let disabled = berth.json(&["user", "update", "-n", "dev", "-r", "{R}", "--account-enabled", "false"]).await;
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(pull(&app, "dev", &second).await, StatusCode::UNAUTHORIZED);
    berth.ok(&["user", "update", "-n", "dev", "-r", "{R}", "--account-enabled", "true"]).await;
    assert_eq!(pull(&app, "dev", &second).await, StatusCode::OK);

    // A user is not a service principal: not found there (exit 3), and left alone.
    let err = berth.fails_with(3, &["sp", "delete", "-n", "dev", "-r", "{R}"]).await;
    assert!(err.contains("berth user show -n dev"), "{err}");
    assert_eq!(pull(&app, "dev", &second).await, StatusCode::OK);

    assert_eq!(berth.ok(&["user", "delete", "-n", "dev", "-r", "{R}"]).await, "");
    assert_eq!(pull(&app, "dev", &second).await, StatusCode::UNAUTHORIZED);
    assert!(berth.fails_with(3, &["user", "show", "-n", "dev", "-r", "{R}"]).await.contains("NOT_FOUND"));
    assert_eq!(berth.json(&["role", "assignment", "list", "-r", "{R}", "--assignee", "dev"]).await, json!([]));
}

#[tokio::test]
async fn service_principal_lifecycle_through_the_cli() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"layer"]).await;
    let berth = Berth::logged_in(&app).await;
    berth.ok(&["user", "create", "-n", "dev", "-r", "{R}"]).await;

    // As `az ad sp create-for-rbac`: what signing in takes, once, and nothing else.
    let created = berth.json(&["sp", "create", "-n", "ci", "-r", "{R}", "--role", "AcrPull"]).await;
    let mut keys: Vec<&String> = created.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["loginServer", "password", "username"]);
    assert_eq!(
        (created["username"].as_str(), created["loginServer"].as_str()),
        (Some("ci"), Some(app.host().as_str()))
    );
    let first = created["password"].as_str().expect("password").to_owned();
    assert_eq!(pull(&app, "ci", &first).await, StatusCode::OK);

    // ACR's service-principal recipe, with az replaced by berth and appId by username.
    let run = berth
        .sh("PASSWORD=$(berth sp create -n ci2 -r {R} --role AcrPull --query password -o tsv) && \
             USER_NAME=$(berth sp list -r {R} --query \"[?name=='ci2'].name\" -o tsv) && \
             echo \"$USER_NAME:$PASSWORD\"")
        .await;
    assert!(run.ok, "{}", run.stderr);
    let (user, pass) = run.stdout.trim().split_once(':').expect("user:password");
    assert_eq!((user, pull(&app, user, pass).await), ("ci2", StatusCode::OK));

    assert_eq!(names(&berth.json(&["sp", "list", "-r", "{R}"]).await), ["ci", "ci2"]);
    assert_eq!(names(&berth.json(&["user", "list", "-r", "{R}"]).await), ["dev"]);
    assert_eq!(berth.json(&["sp", "show", "-n", "ci", "-r", "{R}"]).await["kind"], "servicePrincipal");
    berth.fails_with(3, &["sp", "show", "-n", "dev", "-r", "{R}"]).await;
    berth.fails_with(3, &["user", "credential", "reset", "-n", "ci", "-r", "{R}"]).await;

    let reset = berth.json(&["sp", "credential", "reset", "--id", "ci", "-r", "{R}"]).await;
    let second = reset["password"].as_str().expect("password").to_owned();
    assert_eq!(pull(&app, "ci", &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(pull(&app, "ci", &second).await, StatusCode::OK);

    assert_eq!(berth.ok(&["sp", "delete", "-n", "ci", "-r", "{R}"]).await, "");
    assert_eq!(pull(&app, "ci", &second).await, StatusCode::UNAUTHORIZED);
    berth.fails_with(3, &["sp", "show", "-n", "ci", "-r", "{R}"]).await;
}

#[tokio::test]
async fn only_an_owner_gives_roles_to_new_identities() {
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let lead = ["-u", "lead", "-p", "lead-password-1"];
    berth
        .ok(&[
            "user",
            "create",
            "-n",
            "lead",
            "-r",
            "{R}",
            "--new-password",
            "lead-password-1",
            "--role",
            "Contributor",
        ])
        .await;

    let err = berth
        .fails_with(1, &[&["sp", "create", "-n", "ci", "-r", "{R}", "--role", "AcrPush"][..], &lead].concat())
        .await;
    assert!(err.contains("DENIED") && err.contains("only Owner writes role assignments"), "{err}");
    berth.fails_with(3, &["sp", "show", "-n", "ci", "-r", "{R}"]).await;
    // Without roles a Contributor may create one; an Owner then gives it its role.
    berth.ok(&[&["sp", "create", "-n", "ci", "-r", "{R}"][..], &lead].concat()).await;
    berth.ok(&["role", "assignment", "create", "-r", "{R}", "--assignee", "ci", "--role", "AcrPush"]).await;
    let err = berth.fails_with(2, &["user", "create", "-r", "{R}"]).await;
    assert!(err.contains("--name"), "{err}");
}

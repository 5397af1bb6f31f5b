//! Secrets at rest: files only this user reads, secrets sealed under a master key kept outside
//! the database, and key rotations that keep what was issued before valid until it expires.

use std::os::unix::fs::PermissionsExt;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    let (_guard, dir) = temp_dir();
    let data = dir.join("data");
    std::fs::create_dir(&data).expect("data dir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = BerthProcess::start(&data, &["--tls-self-signed"]);
    drop(server);
    assert_eq!(mode(&data), 0o700, "data directory");
    for file in ["berth.db", "berth.db.lock", "berth.key", "tls/self-signed.key"] {
        let path = data.join(file);
        if file.starts_with("berth.db") && std::env::var("BERTH_TEST_DATABASE").as_deref() == Ok("postgres") {
            continue;
        }
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    for side in ["berth.db-wal", "berth.db-shm"] {
        if data.join(side).exists() {
            assert_eq!(mode(&data.join(side)), 0o600, "{side}");
        }
    }
    // Everything else the server wrote is its own too (umask 077).
    let mut open_to_others = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if mode(&path) & 0o077 != 0 {
                open_to_others.push(path.display().to_string());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    assert!(open_to_others.is_empty(), "readable by others: {open_to_others:?}");
}

#[tokio::test]
async fn a_rotated_signing_key_still_verifies_the_tokens_it_signed() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"layer"]).await;
    let before = token(&app, ADMIN, ADMIN_PASSWORD, "repository:app:pull").await;
    let keys = app.admin(Method::POST, "/signingkeys/rotate", None).await;
    let keys = keys["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 2);
    assert_eq!((keys[0]["current"].as_bool(), keys[1]["current"].as_bool()), (Some(true), Some(false)));
    assert!(keys[1]["retiresAt"].is_string());
    let after = token(&app, ADMIN, ADMIN_PASSWORD, "repository:app:pull").await;
    let kid = |t: &str| {
        use base64::Engine as _;
        let head = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.split('.').next().expect("header"));
        serde_json::from_slice::<Value>(&head.expect("b64")).expect("json")["kid"].clone()
    };
    assert_eq!(kid(&after), keys[0]["kid"]);
    assert_eq!(kid(&before), keys[1]["kid"]);
    for t in [&before, &after] {
        let res = app.anon(Method::GET, "/v2/app/manifests/v1").bearer_auth(t).header("accept", OCI_MANIFEST).send();
        assert_eq!(res.await.expect("GET").status(), StatusCode::OK);
    }
    let jwks: Value = app.anon(Method::GET, "/oauth2/jwks").send().await.expect("jwks").json().await.expect("json");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2), "both keys are published");
}

#[tokio::test]
async fn a_new_master_key_reseals_and_the_old_one_can_then_go() {
    let (_guard, dir) = temp_dir();
    let data = dir.join("data");
    std::fs::create_dir(&data).expect("data dir");
    let server = BerthProcess::start(&data, &[]);
    let get =
        |s: &BerthProcess| reqwest::Client::new().get(s.url("/v2/")).basic_auth(ADMIN, Some(ADMIN_PASSWORD)).send();
    assert_eq!(get(&server).await.expect("GET").status(), StatusCode::OK);
    drop(server);
    let old = std::fs::read_to_string(data.join("berth.key")).expect("key file");
    let old_key = old.lines().find(|l| !l.starts_with('#')).expect("a key").to_owned();
    let new_key = berth::auth::seal::MasterKeys::generate().expect("key");

    // Without the key file the database's secrets cannot be opened: refused with a clear word.
    std::fs::remove_file(data.join("berth.key")).expect("remove");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&data);
    match postgres_database_blocking(&data) {
        Some(url) => cmd.env("BERTH_DATABASE_URL", url),
        None => cmd.env_remove("BERTH_DATABASE_URL"),
    };
    let out = cmd.output().expect("berth runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("sealed with master key") && stderr.contains("berth.key"), "{stderr}");
    assert!(!data.join("berth.key").exists(), "no wrong key is left behind");

    // The new key first, the old one second: it starts, and seals everything anew.
    std::fs::write(data.join("berth.key"), format!("{new_key}\n{old_key}\n")).expect("key file");
    let server = BerthProcess::start(&data, &[]);
    assert_eq!(get(&server).await.expect("GET").status(), StatusCode::OK);
    drop(server);
    // Now the new key alone opens it.
    std::fs::write(data.join("berth.key"), format!("{new_key}\n")).expect("key file");
    let server = BerthProcess::start(&data, &[]);
    assert_eq!(get(&server).await.expect("GET").status(), StatusCode::OK);
}

//! The real `berth` binary: embedded defaults, configuration precedence, the request log, and a
//! clean shutdown on SIGTERM that lets a request in flight finish.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::*;

fn berth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth"))
}

#[test]
fn defaults_file_environment_and_flags_combine_in_that_order() {
    let (_guard, dir) = temp_dir();
    let file = dir.join("berth.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:6001\"\ndata_dir = \"/from/file\"\n").expect("write config");

    let out = berth().args(["serve", "--print-config"]).current_dir(&dir).env_remove("BERTH_LISTEN").output();
    let text = String::from_utf8(out.expect("runs").stdout).expect("utf8");
    assert!(text.contains("listen = \"127.0.0.1:5000\"") && text.contains("data_dir = \"berth-data\""), "{text}");

    let out = berth()
        .args(["serve", "--print-config", "--config"])
        .arg(&file)
        .env("BERTH_DATA_DIR", "/from/env")
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("127.0.0.1:6001") && text.contains("/from/env"), "file, then environment: {text}");

    let out = berth()
        .args(["serve", "--print-config", "--listen", "127.0.0.1:6002", "--config"])
        .arg(&file)
        .env("BERTH_LISTEN", "127.0.0.1:6003")
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("127.0.0.1:6002"), "flags win: {text}");
}

#[test]
fn bad_configuration_fails_before_start_with_a_clear_message() {
    let (_guard, dir) = temp_dir();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:6001\"\nunknown_setting = 1\n").expect("write config");
    let out = berth().args(["serve", "--config"]).arg(&file).output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown_setting"), "{err}");
    let out = berth().args(["serve", "--print-config"]).env("BERTH_LISTEN", "not-an-address").output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BERTH_LISTEN"));
}

#[test]
fn an_error_and_its_causes_are_said_once_each() {
    let (_guard, dir) = temp_dir();
    let out = berth().args(["serve", "--config"]).arg(dir.join("missing.toml")).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[tokio::test]
async fn a_start_on_a_busy_port_creates_no_admin_user_and_a_later_one_prints_its_passwords() {
    let (_guard, dir) = temp_dir();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let data = dir.join("data");
    let out = berth()
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(&data)
        .env_remove("BERTH_ADMIN_PASSWORD")
        .env_remove("BERTH_DATABASE_URL")
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cannot listen on"), "{err}");
    assert!(!err.contains("Admin user created") && !data.join("berth.db").exists(), "nothing made: {err}");
    drop(busy);

    // The next start makes the admin user, prints its passwords and what to run next; an Owner
    // (the admin) can read them back.
    let mut cmd = berth();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("BERTH_ADMIN_PASSWORD")
        .env_remove("BERTH_DATABASE_URL");
    let server = BerthProcess::run(cmd, true);
    let log = server.log_text();
    let password = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password printed: {log}"))
        .to_owned();
    assert!(log.contains("berth login -n"), "{log}");
    let show = berth()
        .args(["credential", "show", "-n", &server.addr.to_string(), "-u", ADMIN, "-p", &password])
        .env("DOCKER_CONFIG", dir.join("docker"))
        .output()
        .expect("runs");
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).expect("JSON");
    assert_eq!(shown["passwords"][0]["value"], password.as_str(), "{shown}");
    assert!(shown["passwords"][1]["value"].as_str().is_some_and(|v| v.len() >= 32), "{shown}");
    drop(server);

    // A password set in the environment for an existing admin user is ignored, and says so.
    let mut cmd = berth();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("BERTH_ADMIN_PASSWORD", "another-password")
        .env_remove("BERTH_DATABASE_URL");
    let server = BerthProcess::run(cmd, true);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        server.log_text().contains("BERTH_ADMIN_PASSWORD (auth.admin_password) is ignored"),
        "{}",
        server.log_text()
    );
    drop(server);

    // Lost passwords are reset offline, with the server stopped.
    let out = berth()
        .args(["admin", "reset-password", "--password-name", "password", "--data-dir"])
        .arg(&data)
        .env_remove("BERTH_DATABASE_URL")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reset: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let fresh = reset["passwords"][0]["value"].as_str().expect("new password").to_owned();
    let mut cmd = berth();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("BERTH_ADMIN_PASSWORD")
        .env_remove("BERTH_DATABASE_URL");
    let server = BerthProcess::run(cmd, true);
    let get = |p: &str| reqwest::Client::new().get(server.url("/v2/")).basic_auth(ADMIN, Some(p.to_owned())).send();
    assert_eq!(get(&fresh).await.expect("GET").status(), StatusCode::OK);
    assert_eq!(get(&password).await.expect("GET").status(), StatusCode::UNAUTHORIZED, "the lost one is gone");
    // Not while a server holds the database.
    let out = berth()
        .args(["admin", "reset-password", "--data-dir"])
        .arg(&data)
        .env_remove("BERTH_DATABASE_URL")
        .output()
        .expect("runs");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn serves_with_embedded_defaults_under_the_working_directory() {
    let (_guard, dir) = temp_dir();
    // Nothing configured at all, whatever database the rest of the suite runs on.
    let embedded = || {
        let mut cmd = berth();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).current_dir(&dir);
        cmd.env_remove("BERTH_DATABASE_URL").env_remove("BERTH_ADMIN_PASSWORD");
        BerthProcess::run(cmd, true)
    };
    let server = embedded();
    let client = reqwest::Client::new();
    let res = client.get(server.url("/v2/")).send().await.expect("GET /v2/");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "auth is on by default");
    // The admin user's two generated passwords are printed once, at first start.
    let log = server.log_text();
    let password = |name: &str| {
        let prefix = format!("{name}: ");
        let line = log.lines().find_map(|l| l.trim().strip_prefix(&prefix).map(str::to_owned));
        line.unwrap_or_else(|| panic!("{name} printed at first start: {log}"))
    };
    let (first, second) = (password("password"), password("password2"));
    assert_ne!(first, second);
    for pw in [&first, &second] {
        let res = client.get(server.url("/v2/")).basic_auth("admin", Some(pw)).send().await.expect("GET /v2/");
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert!(dir.join("berth-data/berth.db").exists(), "metadata under ./berth-data");
    assert!(dir.join("berth-data/storage").is_dir(), "blobs under ./berth-data");
    drop(server);
    // Restarted, it keeps them and prints nothing.
    let server = embedded();
    let res = client.get(server.url("/v2/")).basic_auth("admin", Some(&first)).send().await.expect("GET /v2/");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!server.log_text().contains(&first), "printed only once");
}

#[test]
fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let (_guard, dir) = temp_dir();
    // SQLite's rule, whatever database the rest of the suite runs on.
    let mut first = berth();
    first.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&dir).env_remove("BERTH_DATABASE_URL");
    let _first = BerthProcess::run(first, true);
    let out = berth()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("second server runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another berth process"), "{err}");
}

#[tokio::test]
async fn keeps_serving_when_its_log_output_goes_away() {
    let (_guard, dir) = temp_dir();
    let server = BerthProcess::spawn(&dir, &[], false);
    for _ in 0..3 {
        let res = reqwest::Client::new()
            .get(server.url("/v2/"))
            .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("GET /v2/ with stderr closed");
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn logs_each_request_and_finishes_requests_in_flight_on_sigterm() {
    let (_guard, dir) = temp_dir();
    let mut server = BerthProcess::start(&dir, &[]);
    let client = reqwest::Client::new();
    let res = client
        .post(server.url("/v2/slow/blobs/uploads/"))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().expect("location").to_owned();

    // A PATCH whose body arrives slowly: SIGTERM lands while it is in flight.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let patch =
        tokio::spawn(client.patch(server.url(&location)).basic_auth(ADMIN, Some(ADMIN_PASSWORD)).body(body).send());
    tx.send(Ok(b"first half ".to_vec())).await.expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(Ok(b"second half".to_vec())).await.expect("send");
    drop(tx);
    let res = patch.await.expect("join").expect("PATCH completes");
    assert_eq!(res.status(), StatusCode::ACCEPTED, "the request in flight finished");
    assert_eq!(res.headers()["range"], "0-21");

    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().expect("wait");
        (status, server.log_text())
    })
    .await
    .expect("join");
    assert!(status.0.success(), "clean exit on SIGTERM: {:?}", status.0);
    let log = status.1;
    let line = log.lines().find(|l| l.contains("PATCH")).expect("a log line for the PATCH");
    for field in ["method=PATCH", "path=\"/v2/slow/blobs/uploads/", "status=202", "bytes_in", "ms=", "request_id="] {
        assert!(line.contains(field), "log line has {field}: {line}");
    }
}

/// A stream of the chunks sent into `rx`.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `curl -sk` (certificate not checked) with the given TLS version limits; the HTTP status.
fn curl_status(url: &str, tls_args: &[&str]) -> Option<String> {
    let auth = format!("{ADMIN}:{ADMIN_PASSWORD}");
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-u", &auth])
        .args(tls_args)
        .arg(url)
        .output()
        .expect("curl runs");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn serves_https_with_tls_1_2_minimum_and_1_3_only_by_setting() {
    if !have_tool("curl") {
        return;
    }
    let (_guard, dir) = temp_dir();
    let server = BerthProcess::start(&dir, &["--tls-self-signed"]);
    let url = format!("https://{}/v2/", server.addr);
    // The generated certificate is written out for clients to trust.
    let pem = std::fs::read(dir.join("tls/self-signed.crt")).expect("certificate written");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let res = client.get(&url).basic_auth(ADMIN, Some(ADMIN_PASSWORD)).send().await.expect("HTTPS GET");
    assert_eq!(res.status(), StatusCode::OK);
    // The challenge points clients at the HTTPS token endpoint.
    let res = client.get(&url).send().await.expect("HTTPS GET");
    let challenge = res.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert!(challenge.starts_with(&format!("Bearer realm=\"https://{}/oauth2/token\"", server.addr)), "{challenge}");
    assert_eq!(curl_status(&url, &["--tlsv1.2", "--tls-max", "1.2"]).as_deref(), Some("200"), "TLS 1.2 accepted");
    assert_eq!(curl_status(&url, &["--tlsv1.3"]).as_deref(), Some("200"), "TLS 1.3 accepted");
    assert_eq!(curl_status(&url, &["--tlsv1.1", "--tls-max", "1.1"]), None, "TLS 1.1 refused");
    // `berth login` over HTTPS trusts the certificate through REQUESTS_CA_BUNDLE, as az does.
    let login = |ca: Option<&Path>| {
        let mut cmd = berth();
        cmd.args(["login", "-n", &format!("https://{}", server.addr), "-u", ADMIN, "-p", ADMIN_PASSWORD])
            .env("DOCKER_CONFIG", dir.join("docker"))
            .env_remove("SSL_CERT_FILE");
        match ca {
            Some(ca) => cmd.env("REQUESTS_CA_BUNDLE", ca),
            None => cmd.env_remove("REQUESTS_CA_BUNDLE"),
        };
        cmd.output().expect("berth login runs")
    };
    assert!(!login(None).status.success(), "an untrusted certificate is refused");
    let out = login(Some(&dir.join("tls/self-signed.crt")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);

    let config = dir.join("tls13.toml");
    std::fs::write(&config, "[tls]\nself_signed = true\nmin_version = \"1.3\"\n").expect("write config");
    let server = BerthProcess::start(&dir, &["--config", config.to_str().expect("utf-8")]);
    let url = format!("https://{}/v2/", server.addr);
    assert_eq!(curl_status(&url, &["--tlsv1.3"]).as_deref(), Some("200"));
    assert_eq!(curl_status(&url, &["--tlsv1.2", "--tls-max", "1.2"]), None, "TLS 1.2 refused when 1.3 only");
}

#[tokio::test]
async fn the_self_signed_certificate_is_kept_across_restarts_until_its_names_change() {
    use std::os::unix::fs::PermissionsExt;
    let (_guard, dir) = temp_dir();
    let cert = dir.join("tls/self-signed.crt");
    let start = |login_server: Option<&str>| {
        let mut cmd = berth();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--tls-self-signed", "--data-dir"])
            .arg(&dir)
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("BERTH_DATABASE_URL");
        match login_server {
            Some(name) => cmd.env("BERTH_LOGIN_SERVER", name),
            None => cmd.env_remove("BERTH_LOGIN_SERVER"),
        };
        BerthProcess::run(cmd, true)
    };
    let first = start(None);
    let pem = std::fs::read(&cert).expect("certificate written");
    assert!(first.log_text().contains("made a new self-signed certificate"), "{}", first.log_text());
    drop(first);
    let key = dir.join("tls/self-signed.key");
    assert_eq!(std::fs::metadata(&key).expect("key kept").permissions().mode() & 0o777, 0o600);

    let second = start(None);
    assert_eq!(std::fs::read(&cert).expect("certificate"), pem, "the same certificate after a restart");
    // Clients that trusted it before still do.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let res = client.get(format!("https://{}/v2/", second.addr)).basic_auth(ADMIN, Some(ADMIN_PASSWORD)).send();
    assert_eq!(res.await.expect("HTTPS GET").status(), StatusCode::OK);
    drop(second);

    let third = start(Some("registry.example.test"));
    assert_ne!(std::fs::read(&cert).expect("certificate"), pem, "new names, new certificate");
    assert!(third.log_text().contains("its names changed"), "{}", third.log_text());
}

#[tokio::test]
async fn an_upload_continues_after_the_server_is_killed() {
    let (_guard, dir) = temp_dir();
    let first: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let second: Vec<u8> = (0..1_500_000u32).map(|i| (i % 241) as u8).collect();
    let client = reqwest::Client::new();
    let mut server = BerthProcess::start(&dir, &[]);
    let res = client.post(server.url("/v2/app/blobs/uploads/")).basic_auth(ADMIN, Some(ADMIN_PASSWORD)).send().await;
    let location = res.expect("start").headers()["location"].to_str().expect("location").to_owned();
    let res = client
        .patch(server.url(&location))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .header("content-range", format!("0-{}", first.len() - 1))
        .body(first.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // SIGKILL: no shutdown of any kind, then a new process on the same data directory.
    server.child.kill().expect("kill");
    server.child.wait().expect("reap");
    drop(server);
    let server = BerthProcess::start(&dir, &[]);
    let status =
        client.get(server.url(&location)).basic_auth(ADMIN, Some(ADMIN_PASSWORD)).send().await.expect("status");
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], format!("0-{}", first.len() - 1).as_str(), "the session kept its bytes");
    let end = first.len() + second.len() - 1;
    let res = client
        .patch(server.url(&location))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .header("content-range", format!("{}-{end}", first.len()))
        .body(second.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let whole = [first, second].concat();
    let digest = sha256(&whole);
    let res = client
        .put(server.url(&format!("{location}?digest={digest}")))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), StatusCode::CREATED, "the digest of both halves checks out");
    let blob =
        client.get(server.url(&format!("/v2/app/blobs/{digest}"))).basic_auth(ADMIN, Some(ADMIN_PASSWORD)).send();
    assert_eq!(sha256(&blob.await.expect("pull").bytes().await.expect("bytes")), digest);
}

#[test]
fn serve_limits_malloc_arenas_unless_told_otherwise() {
    let arenas = |server: &BerthProcess| {
        let environ = std::fs::read(format!("/proc/{}/environ", server.child.id())).expect("environ");
        environ.split(|&b| b == 0).find_map(|v| v.strip_prefix(b"MALLOC_ARENA_MAX=").map(|n| n.to_vec()))
    };
    let (_guard, dir) = temp_dir();
    let server = BerthProcess::start(&dir, &[]);
    assert_eq!(arenas(&server).as_deref(), Some(&b"2"[..]), "set for the server");
    drop(server);
    let mut cmd = berth();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&dir).env("MALLOC_ARENA_MAX", "4");
    let server = BerthProcess::run(cmd, true);
    assert_eq!(arenas(&server).as_deref(), Some(&b"4"[..]), "the operator's setting wins");
}

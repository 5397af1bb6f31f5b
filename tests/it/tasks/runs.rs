//! Quick runs through the API: a build from an uploaded context, FROM an image in Berth.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{can_build, context_archive, encoded, finished, has_file, image_files, log, push_base, queue, upload};
use crate::support::TestApp;

#[tokio::test]
async fn a_quick_build_runs_from_a_base_in_berth_and_pushes_its_image() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "base one").await;
    let dockerfile = format!(
        "FROM {registry}/base/busybox:1\nRUN echo built-by-run > /built.txt && id -u >> /built.txt\nCOPY hello.txt /hello.txt\n"
    );
    let source =
        upload(&app, context_archive(&[("Dockerfile", &dockerfile), ("hello.txt", "hello from the context")])).await;
    let run = app
        .admin(
            Method::POST,
            "/runs",
            Some(json!({"type": "DockerBuildRequest", "imageNames": ["web/app:{{.Run.ID}}", "web/app:latest"], "sourceLocation": source})),
        )
        .await;
    let id = run["runId"].as_str().expect("runId").to_owned();
    assert_eq!(run["status"], "Queued");
    assert_eq!(run["runType"], "QuickBuild");
    let run = finished(&app, &id, Duration::from_secs(120)).await;
    let text = log(&app, &id).await;
    assert_eq!(run["status"], "Succeeded", "{run}\n{text}");
    let outputs = run["outputImages"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2, "{run}");
    assert_eq!(outputs[0]["repository"], "web/app");
    assert_eq!(outputs[0]["tag"], id.as_str());
    let digest = outputs[0]["digest"].as_str().expect("digest");
    assert!(digest.starts_with("sha256:"), "{run}");
    let files = image_files(&app, "web/app", digest).await;
    assert_eq!(has_file(&files, "hello.txt").as_deref(), Some("hello from the context"));
    assert!(has_file(&files, "etc/marker").is_some_and(|m| m == "base one"));
    let built = has_file(&files, "built.txt").expect("built.txt");
    assert!(built.starts_with("built-by-run\n"), "{built}");
    assert!(text.contains("Executing step ID: acb_step_0"), "{text}");
}

/// A task file: build, test inside the built image, push only if the test passed.
fn build_test_push(repo: &str) -> String {
    format!(
        "version: v1.1.0\nsteps:\n  - id: build\n    build: -t {{{{.Run.Registry}}}}/{repo}:{{{{.Run.ID}}}} .\n  - id: test\n    cmd: {{{{.Run.Registry}}}}/{repo}:{{{{.Run.ID}}}} sh /check.sh\n  - id: push\n    push: [\"{{{{.Run.Registry}}}}/{repo}:{{{{.Run.ID}}}}\"]\n"
    )
}

#[tokio::test]
async fn a_cmd_step_tests_the_built_image_and_a_failing_test_fails_the_run_before_its_push() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "m").await;
    let check = "test -f /ok && echo test-passed";
    for (good, repo) in [(true, "app/good"), (false, "app/bad")] {
        let make = if good { "RUN echo fine > /ok\n" } else { "" };
        let dockerfile = format!("FROM {registry}/base/busybox:1\nCOPY check.sh /check.sh\n{make}");
        let source = upload(&app, context_archive(&[("Dockerfile", &dockerfile), ("check.sh", check)])).await;
        let id = queue(&app, encoded(&build_test_push(repo), Some(&source))).await;
        let run = finished(&app, &id, Duration::from_secs(120)).await;
        let text = log(&app, &id).await;
        let tagged = app.req(Method::HEAD, &format!("/v2/{repo}/manifests/{id}")).send().await.expect("head").status();
        if good {
            assert_eq!(run["status"], "Succeeded", "{run}\n{text}");
            assert!(text.contains("test-passed"), "{text}");
            assert_eq!(tagged, 200);
            assert_eq!(run["outputImages"][0]["repository"], repo);
        } else {
            assert_eq!(run["status"], "Failed", "{run}\n{text}");
            assert!(run["runErrorMessage"].as_str().is_some_and(|m| m.contains("step test")), "{run}");
            assert!(!text.contains("Executing step ID: push"), "{text}");
            assert_eq!(tagged, 404, "the failed test left nothing pushed");
        }
    }
}

#[tokio::test]
async fn a_context_reaching_outside_is_refused_and_bounds_hold() {
    let app = TestApp::spawn_with(|c| {
        c.tasks.max_context = 64 << 10;
        c.tasks.max_log = 2000;
    })
    .await;
    // `../` in an archive: the run fails naming the entry; nothing was unpacked.
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.as_old_mut().name[..9].copy_from_slice(b"../escape");
    h.set_cksum();
    tar.append(&h, &b"evil"[..]).expect("entry");
    let archive = tar.into_inner().expect("tar").finish().expect("gz");
    let source = upload(&app, archive).await;
    let id =
        queue(&app, json!({"type": "DockerBuildRequest", "imageNames": ["x/y:1"], "sourceLocation": source})).await;
    let run = finished(&app, &id, Duration::from_secs(60)).await;
    assert_eq!(run["status"], "Failed");
    assert!(
        run["runErrorMessage"].as_str().is_some_and(|m| m.contains("../escape") && m.contains("leaves the context")),
        "{run}"
    );

    // A task file pushing anywhere but this registry fails before any step, naming the form to use.
    for image in ["bare:1", "docker.io/library/x:1"] {
        let id = queue(&app, encoded(&format!("version: v1.1.0\nsteps:\n  - push: [\"{image}\"]\n"), None)).await;
        let run = finished(&app, &id, Duration::from_secs(60)).await;
        assert_eq!(run["status"], "Failed", "{run}");
        let says = |m: &str| m.contains(image) && m.contains("{{.Run.Registry}}/REPOSITORY:TAG");
        assert!(run["runErrorMessage"].as_str().is_some_and(says), "{run}");
    }

    // A context over tasks.max_context: 413 with the setting named.
    let big = vec![b'x'; 100 << 10];
    let res = app.req(Method::POST, "/berth/v1/runs/sources").body(big).send().await.expect("upload");
    assert_eq!(res.status(), 413);
    assert!(res.text().await.expect("text").contains("tasks.max_context"));

    // A git URL to the cloud metadata address is refused before any connection.
    let id = queue(&app, json!({"type": "DockerBuildRequest", "imageNames": ["x/y:1"], "sourceLocation": "http://169.254.169.254/latest/repo.git"})).await;
    let run = finished(&app, &id, Duration::from_secs(60)).await;
    assert_eq!(run["status"], "Failed");
    assert!(
        run["runErrorMessage"].as_str().is_some_and(|m| m.contains("169.254.169.254") && m.contains("not allowed")),
        "{run}"
    );

    // Bad requests: a timeout past tasks.max_timeout, a local path as a context, no context.
    for bad in [
        json!({"type": "DockerBuildRequest", "imageNames": ["x/y:1"], "sourceLocation": source, "timeout": 999_999}),
        json!({"type": "DockerBuildRequest", "imageNames": ["x/y:1"], "sourceLocation": "/etc"}),
        json!({"type": "DockerBuildRequest", "imageNames": ["x/y:1"]}),
        json!({"type": "DockerBuildRequest", "imageNames": ["docker.io/library/x:1"], "sourceLocation": source}),
        json!({"type": "Nonsense"}),
    ] {
        let res = app.req(Method::POST, "/berth/v1/runs").json(&bad).send().await.expect("run");
        assert_eq!(res.status(), 400, "{bad}");
        let body: serde_json::Value = res.json().await.expect("json");
        assert!(body["errors"][0]["code"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn logs_and_run_time_are_bounded() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn_with(|c| c.tasks.max_log = 4000).await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "m").await;
    let chatty = format!("version: v1.1.0\nsteps:\n  - cmd: {registry}/base/busybox:1 seq 1 100000\n");
    let id = queue(&app, encoded(&chatty, None)).await;
    let run = finished(&app, &id, Duration::from_secs(120)).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    let text = log(&app, &id).await;
    assert!(text.len() < 6000, "{} bytes kept", text.len());
    assert!(text.contains("the log passed tasks.max_log (4000 bytes)"), "{text}");
    assert!(text.contains("was successful"), "the run's end is logged past the bound: {text}");

    let slow = format!("version: v1.1.0\nsteps:\n  - cmd: {registry}/base/busybox:1 sleep 600\n");
    let mut request = encoded(&slow, None);
    request["timeout"] = json!(3);
    let started = std::time::Instant::now();
    let id = queue(&app, request).await;
    let run = finished(&app, &id, Duration::from_secs(60)).await;
    assert_eq!(run["status"], "Timeout", "{run}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_build_that_fills_its_memory_or_disk_fails_alone() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn_with(|c| {
        c.tasks.max_memory = 3 << 30;
        c.tasks.max_disk = 200 << 20;
    })
    .await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "m").await;
    for (what, run_line, says) in [
        ("memory", "RUN dd if=/dev/zero of=/dev/null bs=3500M count=1", "out of memory"),
        ("one big file", "RUN dd if=/dev/zero of=/big bs=1M count=400", "file size limit exceeded"),
        (
            "many files",
            "RUN for i in 1 2 3 4 5 6; do dd if=/dev/zero of=/f$i bs=1M count=150; sleep 1; done",
            "tasks.max_disk",
        ),
    ] {
        let dockerfile = format!("FROM {registry}/base/busybox:1\n{run_line}\n");
        let source = upload(&app, context_archive(&[("Dockerfile", &dockerfile)])).await;
        let id =
            queue(&app, json!({"type": "DockerBuildRequest", "imageNames": ["x/fill:1"], "sourceLocation": source}))
                .await;
        let run = finished(&app, &id, Duration::from_secs(120)).await;
        let text = log(&app, &id).await;
        assert_eq!(run["status"], "Failed", "{what}: {run}\n{text}");
        let reason = run["runErrorMessage"].as_str().unwrap_or_default();
        assert!(text.contains(says) || reason.contains(says), "{what}: {run}\n{text}");
        // The registry goes on serving.
        let res = app.req(Method::GET, "/v2/base/busybox/tags/list").send().await.expect("tags");
        assert_eq!(res.status(), 200, "{what}");
    }
}

#[tokio::test]
async fn secret_build_arguments_reach_the_build_and_are_stored_sealed() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "m").await;
    let dockerfile = format!("FROM {registry}/base/busybox:1\nARG TOKEN\nRUN echo \"$TOKEN\" > /seen\n");
    let source = upload(&app, context_archive(&[("Dockerfile", &dockerfile)])).await;
    let args = json!([{"name": "TOKEN", "value": "s3cret-value", "isSecret": true}]);
    let build =
        json!({"type": "DockerBuildRequest", "imageNames": ["sec/app:1"], "sourceLocation": source, "arguments": args});
    let id = queue(&app, build).await;
    let run = finished(&app, &id, Duration::from_secs(120)).await;
    assert_eq!(run["status"], "Succeeded", "{run}\n{}", log(&app, &id).await);
    let seen = has_file(&image_files(&app, "sec/app", "1").await, "seen");
    assert_eq!(seen.as_deref(), Some("s3cret-value\n"));
    assert!(!log(&app, &id).await.contains("s3cret-value"));
    // A task's secret arguments are shown hidden.
    let task = json!({"name": "with-secret", "contextPath": "https://example.com/x.git", "imageNames": ["sec/app:2"],
                      "arguments": [{"name": "TOKEN", "value": "s3cret-value", "isSecret": true}]});
    let shown = app.admin(Method::POST, "/tasks", Some(task)).await;
    assert_eq!(shown["step"]["arguments"][0]["value"], "*****");
    // A run's secret override (`task run --secret-arg`) reaches its build, sealed as the task's.
    let source = upload(&app, context_archive(&[("Dockerfile", &dockerfile)])).await;
    let over = json!({"overrideTaskStepProperties": {"contextPath": source,
                      "arguments": [{"name": "TOKEN", "value": "0ther-s3cret", "isSecret": true}]}});
    let run = app.admin(Method::POST, "/tasks/with-secret/run", Some(over)).await;
    let id = run["runId"].as_str().expect("runId").to_owned();
    let run = finished(&app, &id, Duration::from_secs(120)).await;
    assert_eq!(run["status"], "Succeeded", "{run}\n{}", log(&app, &id).await);
    assert_eq!(has_file(&image_files(&app, "sec/app", "2").await, "seen").as_deref(), Some("0ther-s3cret\n"));
    assert!(!log(&app, &id).await.contains("0ther-s3cret"));
    // Nothing in the database holds either value.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url()).await.expect("db");
    for table in ["runs", "tasks"] {
        let rows: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT spec FROM {table}")).fetch_all(&pool).await.expect("specs");
        let clear = |(spec,): &(String,)| !spec.contains("s3cret-value") && !spec.contains("0ther-s3cret");
        assert!(rows.iter().all(clear), "{table}: {rows:?}");
    }
    pool.close().await;
}

/// Serves `archive` at `/ctx.tar.gz` and a redirect to it at `/moved.tar.gz`, over plain HTTP on
/// 127.0.0.1; the base URL.
async fn serve_tarball(archive: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let archive = archive.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let n = tcp.read(&mut head).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&head[..n]).into_owned();
                let answer = if request.starts_with("GET /ctx.tar.gz ") {
                    let mut a =
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", archive.len())
                            .into_bytes();
                    a.extend_from_slice(&archive);
                    a
                } else {
                    b"HTTP/1.1 302 Found\r\nlocation: /ctx.tar.gz\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_vec()
                };
                let _ = tcp.write_all(&answer).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn a_tarball_url_is_downloaded_within_the_address_rules_and_a_redirect_is_not_followed() {
    if !can_build() {
        return;
    }
    let archive = context_archive(&[("Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n"), ("a.txt", "from a tarball")]);
    let base = serve_tarball(archive).await;
    let app = TestApp::spawn().await;
    let build = |url: String| json!({"type": "DockerBuildRequest", "imageNames": ["tar/app:1"], "sourceLocation": url});
    let id = queue(&app, build(format!("{base}/ctx.tar.gz"))).await;
    let run = finished(&app, &id, Duration::from_secs(120)).await;
    assert_eq!(run["status"], "Succeeded", "{run}\n{}", log(&app, &id).await);
    assert_eq!(has_file(&image_files(&app, "tar/app", "1").await, "a.txt").as_deref(), Some("from a tarball"));
    let id = queue(&app, build(format!("{base}/moved.tar.gz"))).await;
    let run = finished(&app, &id, Duration::from_secs(60)).await;
    assert_eq!(run["status"], "Failed");
    assert!(run["runErrorMessage"].as_str().is_some_and(|m| m.contains("302")), "{run}");
    // The webhook address rules: a denied range is refused, for tarballs as for git.
    let denied = TestApp::spawn_with(|c| c.webhooks.deny = vec!["127.0.0.0/8".parse().expect("net")]).await;
    let id = queue(&denied, build(format!("{base}/ctx.tar.gz"))).await;
    let run = finished(&denied, &id, Duration::from_secs(60)).await;
    assert_eq!(run["status"], "Failed");
    assert!(run["runErrorMessage"].as_str().is_some_and(|m| m.contains("not allowed")), "{run}");
}

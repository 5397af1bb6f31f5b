//! `berth build`, `berth run` and `berth task …` as a user runs them, against a server whose
//! runs buildah really builds: a local folder packed as Docker packs it, the FAQ's batch-cancel
//! recipe, and a task's create/list/show/update/delete round trip.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::{Berth, columns};
use crate::support::*;
use crate::tasks::{GitServer, can_build, finished, has_file, image_files, push_base};

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

/// The files of `image` (`repo:tag` on `app`), pulled back by skopeo into an OCI layout: every
/// layer's paths, without a leading `./` or `/`.
async fn pulled_files(app: &TestApp, image: &str) -> Vec<String> {
    let (_dir, layout) = temp_dir();
    let creds = format!("{ADMIN}:{ADMIN_PASSWORD}");
    let out = tokio::process::Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--src-tls-verify=false", "--src-creds", &creds])
        .arg(format!("docker://{}/{image}", app.host()))
        .arg(format!("oci:{}:pulled", layout.display()))
        .output()
        .await
        .expect("skopeo runs");
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        std::fs::read(layout.join("blobs/sha256").join(hex)).expect("blob in the layout")
    };
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index")).expect("json");
    let manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().expect("manifest"))).expect("json");
    let mut files = Vec::new();
    for layer in manifest["layers"].as_array().expect("layers") {
        let bytes = blob(layer["digest"].as_str().expect("layer digest"));
        let reader: Box<dyn std::io::Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(std::io::Cursor::new(bytes)))
        } else {
            Box::new(std::io::Cursor::new(bytes))
        };
        for entry in tar::Archive::new(reader).entries().expect("entries") {
            let path = entry.expect("entry").path().expect("path").to_string_lossy().into_owned();
            files.push(path.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_owned());
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_sends_a_local_folder_as_docker_would() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "base").await;
    let (_dir, context) = temp_dir();
    write(&context, ".git/HEAD", "ref: refs/heads/main\n");
    write(&context, ".git/config", "[core]\n");
    write(&context, "src/a.txt", "from the context\n");
    write(&context, "tmp/x", "ignored\n");
    write(&context, ".dockerignore", "tmp\n");
    write(&context, "Dockerfile", &format!("FROM {registry}/base/busybox:1\nCOPY . /ctx/\n"));
    let folder = context.to_str().expect("utf-8 path");

    let build = berth.run(&["build", "-r", "{R}", "-t", "web/ctx:one", folder]).await;
    assert!(build.ok, "berth build failed: {}", build.stderr);
    let run: Value = serde_json::from_str(&build.stdout).expect("the run, as JSON on stdout");
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(run["outputImages"][0]["repository"], "web/ctx", "{run}");
    assert_eq!(run["outputImages"][0]["tag"], "one", "{run}");
    let id = run["runId"].as_str().expect("runId");
    assert!(build.stderr.contains(&format!("Queued a build with ID: {id}")), "{}", build.stderr);
    assert!(build.stderr.contains("Waiting for an agent..."), "{}", build.stderr);
    assert!(build.stderr.contains("STEP 1/2: FROM"), "the streamed log: {}", build.stderr);
    let files = pulled_files(&app, "web/ctx:one").await;
    assert!(files.iter().any(|f| f == "ctx/src/a.txt"), "{files:?}");
    assert!(!files.iter().any(|f| f.starts_with("ctx/tmp")), "tmp is ignored: {files:?}");
    assert!(!files.iter().any(|f| f.starts_with("ctx/.git")), ".git is left out: {files:?}");

    // The .dockerignore brings .git back.
    write(&context, ".dockerignore", "tmp\n!.git/**\n");
    let run = berth.json(&["build", "-r", "{R}", "-t", "web/ctx:two", "--no-logs", folder]).await;
    assert_eq!(run["status"], "Succeeded", "{run}");
    let files = pulled_files(&app, "web/ctx:two").await;
    assert!(files.iter().any(|f| f == "ctx/.git/HEAD"), "{files:?}");
    assert!(!files.iter().any(|f| f.starts_with("ctx/tmp")), "{files:?}");

    // A build that fails says so and exits non-zero, after printing the run.
    write(&context, "Dockerfile", &format!("FROM {registry}/base/busybox:1\nRUN false\n"));
    let failed = berth.run(&["build", "-r", "{R}", "-t", "web/ctx:bad", folder]).await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    let run: Value = serde_json::from_str(&failed.stdout).expect("the failed run, as JSON");
    assert_eq!(run["status"], "Failed", "{run}");
    let id = run["runId"].as_str().expect("runId");
    assert!(failed.stderr.contains(&format!("Run ID: {id} failed")), "{}", failed.stderr);
    let err = berth.fails(&["build", "-r", "{R}", "-t", "web/ctx:bad", "-f", "nope/Dockerfile", folder]).await;
    assert!(err.contains("Unable to find"), "{err}");
}

/// The processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if line.contains(needle) {
                found.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

async fn status(app: &TestApp, id: &str) -> String {
    app.admin(Method::GET, &format!("/runs/{id}"), None).await["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_faq_recipe_cancels_every_running_run() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn_with(|c| c.tasks.concurrency = 3).await;
    let berth = Berth::logged_in(&app).await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "base").await;
    let cmd = format!("{registry}/base/busybox:1 sleep 600");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let queued = berth.json(&["run", "-r", "{R}", "--cmd", &cmd, "/dev/null", "--no-wait"]).await;
        assert_eq!(queued["status"], "Queued", "{queued}");
        ids.push(queued["runId"].as_str().expect("runId").to_owned());
    }
    let start = Instant::now();
    loop {
        let mut running = 0;
        for id in &ids {
            running += usize::from(status(&app, id).await == "Running");
        }
        // Running, and their commands started.
        if running == 3 && processes_with("sleep 600").len() >= 3 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the three runs did not all start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let recipe = berth
        .sh("berth task list-runs -r {R} --run-status Running --query '[].runId' -o tsv | xargs -I% berth task cancel-run -r {R} --run-id %")
        .await;
    assert!(recipe.ok, "the recipe failed: {}", recipe.stderr);
    for id in &ids {
        let run = finished(&app, id, Duration::from_secs(10)).await;
        assert_eq!(run["status"], "Canceled", "{run}");
    }
    let table = berth.ok(&["task", "list-runs", "-r", "{R}", "-o", "table"]).await;
    assert_eq!(columns(&table), ["RUN ID", "TASK", "PLATFORM", "STATUS", "TRIGGER", "STARTED", "DURATION"], "{table}");
    for id in &ids {
        let row = table.lines().find(|l| l.starts_with(id.as_str())).expect("the run is listed");
        assert!(row.contains("Canceled") && row.contains("Manual") && row.contains("linux"), "{row}");
    }
    let left = processes_with("sleep 600");
    assert!(left.is_empty(), "processes outlived their canceled runs: {left:?}");
    let none = berth.ok(&["task", "list-runs", "-r", "{R}", "--run-status", "Running", "--query", "[].runId"]).await;
    assert_eq!(none.trim(), "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_created_run_listed_changed_and_deleted() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let registry = app.host();
    push_base(&app, "base/busybox", "1", "base").await;
    let cmd = format!("{registry}/base/busybox:1 echo hello-from-the-task");
    let task = berth
        .json(&[
            "task",
            "create",
            "-n",
            "nightly",
            "-r",
            "{R}",
            "-c",
            "/dev/null",
            "--cmd",
            &cmd,
            "--schedule",
            "0 2 * * *",
            "--commit-trigger-enabled",
            "false",
        ])
        .await;
    assert_eq!(task["name"], "nightly", "{task}");
    assert_eq!(task["status"], "Enabled", "{task}");
    assert_eq!(task["step"]["type"], "EncodedTask", "{task}");
    assert_eq!(task["trigger"]["timerTriggers"][0]["schedule"], "0 2 * * *", "{task}");
    assert!(task["trigger"]["sourceTriggers"].as_array().is_none_or(Vec::is_empty), "{task}");
    assert!(task["webhookSecret"].is_null(), "no commit trigger, no secret: {task}");
    assert!(task["nextTimerTick"].is_string(), "{task}");

    let names = berth.ok(&["task", "list", "-r", "{R}", "--query", "[].name", "-o", "tsv"]).await;
    assert_eq!(names, "nightly\n");
    let table = berth.ok(&["task", "list", "-r", "{R}", "-o", "table"]).await;
    assert_eq!(columns(&table), ["NAME", "PLATFORM", "STATUS", "SOURCE REPOSITORY", "TRIGGERS"], "{table}");
    assert!(
        table.lines().nth(2).is_some_and(|l| l.starts_with("nightly") && l.ends_with("BASE_IMAGE, TIMER")),
        "{table}"
    );
    let shown = berth
        .ok(&["task", "show", "-n", "nightly", "-r", "{R}", "--query", "{s: status, os: platform.os}", "-o", "tsv"])
        .await;
    assert_eq!(shown, "Enabled\tlinux\n");

    // Run it by hand: the log streams to stderr, the run prints as JSON; `task logs` prints the
    // same log, the command's output included.
    let ran = berth.run(&["task", "run", "-n", "nightly", "-r", "{R}"]).await;
    assert!(ran.ok, "{}", ran.stderr);
    let run: Value = serde_json::from_str(&ran.stdout).expect("the run, as JSON");
    assert_eq!((run["status"].as_str(), run["task"].as_str()), (Some("Succeeded"), Some("nightly")), "{run}");
    let id = run["runId"].as_str().expect("runId");
    assert!(
        ran.stderr.starts_with(&format!("Queued a run with ID: {id}\nWaiting for an agent...\n")),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains(&format!("Run ID: {id} was started (trigger: Manual)")), "{}", ran.stderr);
    assert!(ran.stderr.contains("Executing step ID: acb_step_0"), "{}", ran.stderr);
    assert!(ran.stderr.contains("\nhello-from-the-task\n"), "{}", ran.stderr);
    let log = berth.ok(&["task", "logs", "-r", "{R}", "-n", "nightly"]).await;
    assert!(!log.is_empty() && ran.stderr.ends_with(&log), "streamed: {}\nlogs: {log}", ran.stderr);
    assert_eq!(berth.ok(&["task", "logs", "-r", "{R}", "--run-id", id]).await, log);
    let shown = berth.ok(&["task", "show-run", "-r", "{R}", "--run-id", id, "--query", "status", "-o", "tsv"]).await;
    assert_eq!(shown, "Succeeded\n");
    let listed =
        berth.ok(&["task", "list-runs", "-r", "{R}", "-n", "nightly", "--query", "[].runId", "-o", "tsv"]).await;
    assert_eq!(listed, format!("{id}\n"));

    let status = berth
        .ok(&["task", "update", "-n", "nightly", "-r", "{R}", "--status", "Disabled", "--query", "status", "-o", "tsv"])
        .await;
    assert_eq!(status, "Disabled\n");
    let task = berth.json(&["task", "show", "-n", "nightly", "-r", "{R}"]).await;
    assert_eq!(task["status"], "Disabled", "{task}");
    assert_eq!(task["trigger"]["timerTriggers"][0]["schedule"], "0 2 * * *", "the update kept the timer: {task}");

    let err = berth.fails(&["task", "delete", "-n", "nightly", "-r", "{R}"]).await;
    assert!(err.contains("--yes"), "{err}");
    berth.ok(&["task", "delete", "-n", "nightly", "-r", "{R}", "--yes"]).await;
    let err = berth.fails_with(3, &["task", "show", "-n", "nightly", "-r", "{R}"]).await;
    assert!(err.contains("not found"), "{err}");
    assert_eq!(berth.ok(&["task", "list", "-r", "{R}", "--query", "[].name", "-o", "tsv"]).await, "");

    // A run that fails exits non-zero with az's words; a cmd run needs no context.
    let failed =
        berth.run(&["run", "-r", "{R}", "--cmd", &format!("{registry}/base/busybox:1 false"), "/dev/null"]).await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(failed.stderr.contains("Queued a run with ID:") && failed.stderr.contains("failed"), "{}", failed.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_run_overrides_change_one_run_and_leave_the_task_as_it_was() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let git = GitServer::start(&[
        ("Dockerfile", "FROM scratch\nARG MSG=default\nCOPY ${MSG}.txt /msg.txt\n"),
        ("task.txt", "the task's argument"),
        ("run.txt", "the run's argument"),
    ])
    .await;
    let create = [
        "task",
        "create",
        "-n",
        "overridden",
        "-r",
        "{R}",
        "-c",
        &git.url,
        "-f",
        "Dockerfile",
        "-t",
        "ov/app:{{.Run.ID}}",
        "--arg",
        "MSG=task",
        "--commit-trigger-enabled",
        "false",
    ];
    berth.ok(&create).await;
    let message = async |run: Value| {
        assert_eq!(run["status"], "Succeeded", "{run}");
        let tag = run["runId"].as_str().expect("runId");
        has_file(&image_files(&app, "ov/app", tag).await, "msg.txt")
    };
    let run = berth.json(&["task", "run", "-n", "overridden", "-r", "{R}", "--no-logs"]).await;
    assert_eq!(message(run).await.as_deref(), Some("the task's argument"));
    // --arg replaces the task's argument of that name, for this run.
    let run = berth.json(&["task", "run", "-n", "overridden", "-r", "{R}", "--arg", "MSG=run", "--no-logs"]).await;
    assert_eq!(message(run).await.as_deref(), Some("the run's argument"));
    // A local folder is packed and uploaded as `berth build` sends it, with another Dockerfile.
    let (_dir, local) = temp_dir();
    write(&local, "Other.Dockerfile", "FROM scratch\nCOPY local.txt /msg.txt\n");
    write(&local, "local.txt", "from a local folder");
    let folder = local.to_str().expect("utf-8 path");
    let run = ["task", "run", "-n", "overridden", "-r", "{R}", "-c", folder, "-f", "Other.Dockerfile", "--no-logs"];
    assert_eq!(message(berth.json(&run).await).await.as_deref(), Some("from a local folder"));

    // Overrides that do not fit the task's step are refused, naming the flag; nothing is queued.
    let err = berth.fails_with(1, &["task", "run", "-n", "overridden", "-r", "{R}", "--set", "X=1"]).await;
    assert!(err.contains("--set") && err.contains("--arg"), "{err}");
    let err = berth.fails_with(1, &["task", "run", "-n", "overridden", "-r", "{R}", "-c", "/dev/null"]).await;
    assert!(err.contains("needs one (--context)"), "{err}");
    let runs =
        berth.ok(&["task", "list-runs", "-r", "{R}", "-n", "overridden", "--query", "length(@)", "-o", "tsv"]).await;
    assert_eq!(runs, "3\n");
    // The task is as it was created.
    let task = berth.json(&["task", "show", "-n", "overridden", "-r", "{R}"]).await;
    assert_eq!(task["step"]["arguments"], serde_json::json!([{"name": "MSG", "value": "task", "isSecret": false}]));
    assert_eq!(
        (task["step"]["dockerFilePath"].as_str(), task["step"]["contextPath"].as_str()),
        (Some("Dockerfile"), Some(&*git.url))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_files_fill_task_files_and_set_wins_over_them() {
    if !can_build() {
        return;
    }
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    push_base(&app, "base/busybox", "1", "base").await;
    let task = format!(
        "version: v1.1.0\nsteps:\n  - cmd: {}/base/busybox:1 echo greeting={{{{.Values.greeting}}}} who={{{{.Values.who}}}} tag={{{{.Values.image.tag}}}}\n",
        app.host()
    );
    // No context: both files are read here and sent whole.
    let (_dir, local) = temp_dir();
    write(&local, "acb.yaml", &task);
    write(&local, "values.yaml", "greeting: hello\nwho: the-file\nimage:\n  tag: v1\n");
    let (acb, values) = (local.join("acb.yaml"), local.join("values.yaml"));
    let (acb, values) = (acb.to_str().expect("utf-8"), values.to_str().expect("utf-8"));
    let ran =
        berth.run(&["run", "-r", "{R}", "-f", acb, "--values", values, "--set", "who=the-flag", "/dev/null"]).await;
    assert!(ran.ok, "{}", ran.stderr);
    assert!(ran.stderr.contains("\ngreeting=hello who=the-flag tag=v1\n"), "{}", ran.stderr);

    // A git context: the registry reads both in the context.
    let git =
        GitServer::start(&[("ci/acb.yaml", &task), ("ci/values.yaml", "greeting: hi\nwho: git\nimage: {tag: v2}\n")])
            .await;
    let ran = berth.run(&["run", "-r", "{R}", "-f", "ci/acb.yaml", "--values", "ci/values.yaml", &git.url]).await;
    assert!(ran.ok, "{}", ran.stderr);
    assert!(ran.stderr.contains("\ngreeting=hi who=git tag=v2\n"), "{}", ran.stderr);
    let ran = berth.run(&["run", "-r", "{R}", "-f", "ci/acb.yaml", "--values", "../values.yaml", &git.url]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("\"../values.yaml\" is outside the context"), "{}", ran.stderr);

    // A task keeps its values file; a Dockerfile task takes none.
    let create = [
        "task",
        "create",
        "-n",
        "valued",
        "-r",
        "{R}",
        "-c",
        &git.url,
        "-f",
        "ci/acb.yaml",
        "--values",
        "ci/values.yaml",
        "--commit-trigger-enabled",
        "false",
    ];
    let created = berth.json(&create).await;
    assert_eq!(created["step"]["valuesFilePath"], "ci/values.yaml", "{created}");
    let ran = berth.run(&["task", "run", "-n", "valued", "-r", "{R}"]).await;
    assert!(ran.ok && ran.stderr.contains("\ngreeting=hi who=git tag=v2\n"), "{}", ran.stderr);
    let docker = ["task", "create", "-n", "dockerfile", "-r", "{R}", "-c", &git.url, "-t", "a:b", "--values", "v.yaml"];
    let err = berth.fails_with(1, &docker).await;
    assert!(err.contains("a values file (--values) is a task file's"), "{err}");
}

#[tokio::test]
async fn an_agent_refuses_a_sqlite_registry_and_writes_nothing() {
    let (_dir, data) = temp_dir();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["agent", "--registry", "127.0.0.1:5000", "--data-dir"])
        .arg(data.join("data"))
        .env_remove("BERTH_DATABASE_URL")
        .output()
        .await
        .expect("berth agent");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("an agent shares the registry's PostgreSQL database"), "{stderr}");
    assert!(!data.join("data").exists(), "the agent made a registry of its own");
}

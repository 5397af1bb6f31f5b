//! Several `berth serve` processes over one PostgreSQL database and one S3 bucket, as behind a
//! load balancer: whatever node a request lands on, the registry is the same one.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::clients::skopeo::{assert_same_blobs, put_image, tag_layout, tagged_digest};
use crate::support::*;

/// A test server's address from the environment: under CI it must be there.
fn server(var: &str) -> Option<String> {
    let value = std::env::var(var).ok();
    if value.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{var} is required under CI");
        eprintln!("skipping: {var} is not set");
    }
    value
}

/// Three nodes sharing a new database and a new bucket; `adjust` changes their configuration.
struct Cluster {
    nodes: Vec<Option<BerthProcess>>,
    config: Config,
    /// The configuration file and master key the nodes share.
    file: std::path::PathBuf,
    key: String,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Cluster {
    async fn start(adjust: fn(&mut Config)) -> Option<Self> {
        let (pg, s3) = (server("BERTH_TEST_POSTGRES_URL")?, server("BERTH_TEST_S3_ENDPOINT")?);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        config.auth.admin_password = None; // from the environment, as BerthProcess sets it
        // The name clients know the registry by (the load balancer's): the audience of its
        // tokens, whichever node issues them.
        config.auth.login_server = Some("registry.berth.test".into());
        config.database.url = Some(create_postgres_database(&pg, &uuid::Uuid::new_v4().to_string()).await);
        use_bucket(&mut config, &s3).await;
        adjust(&mut config);
        // Secrets are never written out with a configuration: add the S3 key by hand.
        let text = toml::to_string(&config)
            .expect("toml")
            .replace("[storage.s3]", "[storage.s3]\nsecret_access_key = \"test\"");
        let file = dir.path().join("berth.toml");
        std::fs::write(&file, text).expect("write config");
        // One master key for all, as the scale-out guide says.
        let key = berth::auth::seal::MasterKeys::generate().expect("master key");
        let nodes = (1..=3).map(|n| Some(node(&file, &dir.path().join(format!("node{n}")), &key))).collect();
        Some(Self { nodes, config, file, key, _dir: dir, client: reqwest::Client::new() })
    }

    fn node(&self, n: usize) -> &BerthProcess {
        self.nodes[n - 1].as_ref().expect("node is running")
    }

    fn host(&self, n: usize) -> String {
        self.node(n).addr.to_string()
    }

    fn req(&self, n: usize, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.node(n).url(path)).basic_auth(ADMIN, Some(ADMIN_PASSWORD))
    }

    fn kill(&mut self, n: usize) {
        let mut node = self.nodes[n - 1].take().expect("node is running");
        node.child.kill().expect("SIGKILL");
        node.child.wait().expect("reaped");
    }

    /// An auth file with the admin credentials for every node.
    fn auth_file(&self) -> std::path::PathBuf {
        let auth = base64_encode(&format!("{ADMIN}:{ADMIN_PASSWORD}"));
        let auths: serde_json::Map<String, Value> =
            self.nodes.iter().flatten().map(|n| (n.addr.to_string(), json!({"auth": auth}))).collect();
        let path = self._dir.path().join("auth.json");
        std::fs::write(&path, serde_json::to_vec(&json!({"auths": auths})).expect("json")).expect("auth file");
        path
    }
}

/// One node: its own data directory, the shared configuration file and master key.
fn node(config: &Path, data_dir: &Path, key: &str) -> BerthProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(config).arg("--data-dir").arg(data_dir);
    cmd.env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD).env_remove("BERTH_DATABASE_URL").env("BERTH_SECRET_KEY", key);
    BerthProcess::run(cmd, true)
}

async fn skopeo(auth: &Path, args: &[&str]) {
    let out = tokio::process::Command::new("skopeo")
        .env("REGISTRY_AUTH_FILE", auth)
        .arg("--insecure-policy")
        .args(args)
        .output()
        .await
        .expect("skopeo runs");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts an upload on node `n`; returns its Location (a path, valid on every node).
async fn start_upload(c: &Cluster, n: usize, repo: &str) -> String {
    let res = c.req(n, Method::POST, &format!("/v2/{repo}/blobs/uploads/")).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    res.headers()["location"].to_str().expect("location").to_owned()
}

/// PATCHes `chunk` at byte `offset` of the upload at `location` through node `n`; returns the
/// next Location.
async fn patch(c: &Cluster, n: usize, location: &str, offset: usize, chunk: &[u8]) -> String {
    let res = c
        .req(n, Method::PATCH, location)
        .header("content-range", format!("{offset}-{}", offset + chunk.len() - 1))
        .header("content-type", "application/octet-stream")
        .body(chunk.to_vec())
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::ACCEPTED, "PATCH on node {n}");
    assert_eq!(res.headers()["range"].to_str().expect("range"), format!("0-{}", offset + chunk.len() - 1));
    res.headers()["location"].to_str().expect("location").to_owned()
}

async fn finish(c: &Cluster, n: usize, location: &str, digest: &str) {
    let sep = if location.contains('?') { '&' } else { '?' };
    let res = c.req(n, Method::PUT, &format!("{location}{sep}digest={digest}")).send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED, "PUT on node {n}");
}

async fn blob_from(c: &Cluster, n: usize, repo: &str, digest: &str) -> Vec<u8> {
    let res = c.req(n, Method::GET, &format!("/v2/{repo}/blobs/{digest}")).send().await.expect("GET blob");
    assert_eq!(res.status(), StatusCode::OK, "GET blob from node {n}");
    res.bytes().await.expect("body").to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_one_registry() {
    if !have_tool("skopeo") {
        return;
    }
    let Some(c) = Cluster::start(|c| c.gc.enabled = false).await else { return };

    // skopeo pushes a multi-layer image through node 1 and pulls it through node 3.
    let (_guard, tmp) = temp_dir();
    let (src, out) = (tmp.join("src"), tmp.join("out"));
    let files: [(&str, &[u8]); 3] = [("a", b"one"), ("b", b"two"), ("c", &[9u8; 300_000])];
    let image = put_image(&src, "amd64", &files);
    let digest = image["digest"].as_str().expect("digest").to_owned();
    tag_layout(&src, image, "v1");
    let auth = c.auth_file();
    let source = format!("oci:{}:v1", src.display());
    skopeo(&auth, &["copy", "--dest-tls-verify=false", &source, &format!("docker://{}/app:v1", c.host(1))]).await;
    let dest = format!("oci:{}:v1", out.display());
    skopeo(&auth, &["copy", "--src-tls-verify=false", &format!("docker://{}/app:v1", c.host(3)), &dest]).await;
    assert_eq!(tagged_digest(&out), digest);
    assert_same_blobs(&src, &out);

    // A chunked upload whose requests land on every node in turn.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut location = start_upload(&c, 1, "app").await;
    for (i, chunk) in data.chunks(1_000_000).enumerate() {
        location = patch(&c, 2 + i % 2, &location, i * 1_000_000, chunk).await;
    }
    finish(&c, 1, &location, &sha256(&data)).await;
    assert!(blob_from(&c, 2, "app", &sha256(&data)).await == data, "the blob reads back whole on node 2");

    // An access token from node 2 works on node 3: every node signs with the same key.
    let res = c.req(2, Method::GET, "/oauth2/token?scope=repository:app:pull").send().await;
    let token: Value = res.expect("token").json().await.expect("json");
    let token = token["access_token"].as_str().expect("access_token");
    let res = c.client.get(c.node(3).url("/v2/app/manifests/v1")).bearer_auth(token);
    let res = res.header("accept", OCI_MANIFEST).send().await.expect("GET with the token");
    assert_eq!(res.status(), StatusCode::OK);

    // Behind a load balancer that ends TLS, the challenge sends clients back through it.
    let res = c.client.get(c.node(2).url("/v2/")).header("host", "registry.berth.test");
    let res = res.header("x-forwarded-proto", "https").send().await.expect("GET /v2/");
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"https://registry.berth.test/oauth2/token\",service=\"registry.berth.test\""
    );

    // A repository token made on node 1 signs in on node 3 at once, and stops working there
    // within the identity poll once node 1 disables it.
    let body = json!({"name": "ci", "repositories": [{"repository": "app", "actions": ["content/read"]}]});
    let res = c.req(1, Method::POST, "/berth/v1/tokens").json(&body).send().await.expect("create token");
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.expect("json");
    let pw = created["credentials"]["passwords"][0]["value"].as_str().expect("password").to_owned();
    let as_token = |n: usize| {
        let req = c.client.get(c.node(n).url("/v2/app/tags/list")).basic_auth("ci", Some(pw.clone()));
        async move { req.send().await.expect("GET").status() }
    };
    assert_eq!(as_token(3).await, StatusCode::OK);
    let res = c.req(1, Method::PATCH, "/berth/v1/tokens/ci").json(&json!({"status": "disabled"})).send().await;
    assert!(res.expect("disable").status().is_success());
    assert_eq!(as_token(1).await, StatusCode::UNAUTHORIZED, "at once on the node that disabled it");
    let disabled = Instant::now();
    while as_token(3).await != StatusCode::UNAUTHORIZED {
        assert!(disabled.elapsed() < Duration::from_secs(5), "node 3 still accepts a disabled token");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Failed sign-ins count on every node: ten wrong passwords spread over the three nodes
    // block the client everywhere after at most one more try on each.
    let wrong = |n: usize| {
        let req = c.client.get(c.node(n).url("/v2/")).basic_auth(ADMIN, Some("wrong"));
        async move { req.send().await.expect("GET").status() }
    };
    for i in 0..10 {
        assert_eq!(wrong(1 + i % 3).await, StatusCode::UNAUTHORIZED);
    }
    for n in 1..=3 {
        let first = wrong(n).await;
        let second = wrong(n).await;
        assert!(
            first == StatusCode::TOO_MANY_REQUESTS || second == StatusCode::TOO_MANY_REQUESTS,
            "node {n} answered {first} then {second}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_die_mid_upload_and_collect_garbage_for_each_other() {
    let Some(mut c) = Cluster::start(|c| {
        c.gc.interval = berth::config::Duration(Duration::from_secs(1));
        c.gc.grace = berth::config::Duration(Duration::from_secs(3));
    })
    .await
    else {
        return;
    };
    let store = client_store(&c.config);
    let gc_passes = |c: &Cluster, n: usize| {
        c.nodes[n - 1].as_ref().map_or(0, |p| p.log_text().matches("garbage collection pass").count())
    };

    // Exactly one node holds the garbage-collection lease.
    let started = Instant::now();
    let holder = loop {
        let running: Vec<usize> = (1..=3).filter(|&n| gc_passes(&c, n) > 0).collect();
        assert!(running.len() <= 1, "nodes {running:?} all ran garbage collection");
        if let [n] = running[..] {
            break n;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no node ran garbage collection");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let others: Vec<usize> = (1..=3).filter(|&n| n != holder).collect();

    // An upload started on the lease holder, which is killed mid-way; another node resumes it.
    let data: Vec<u8> = (0..6_000_000u32).map(|i| (i % 253) as u8).collect();
    let location = start_upload(&c, holder, "app").await;
    let location = patch(&c, holder, &location, 0, &data[..3_000_000]).await;
    c.kill(holder);
    let res = c.req(others[0], Method::GET, &location).send().await.expect("GET upload status");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["range"], "0-2999999", "the session kept what the dead node stored");
    let location = patch(&c, others[0], &location, 3_000_000, &data[3_000_000..]).await;
    finish(&c, others[1], &location, &sha256(&data)).await;
    assert!(blob_from(&c, others[0], "app", &sha256(&data)).await == data, "the resumed blob reads back whole");

    // The lease passes on once the dead node's expires.
    let killed = Instant::now();
    while others.iter().all(|&n| gc_passes(&c, n) == 0) {
        assert!(killed.elapsed() < Duration::from_secs(10), "no other node took over garbage collection");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // One node collects what another deleted, while a third serves pulls of what remains.
    let (puller, collector) = (others[0], others[1]);
    let kept = blob_for(&c, puller, "kept", b"kept layer").await;
    let doomed = blob_for(&c, puller, "doomed", b"doomed layer").await;
    let res = c.req(puller, Method::DELETE, &format!("/v2/doomed/manifests/{}", doomed.1)).send().await;
    assert_eq!(res.expect("DELETE").status(), StatusCode::ACCEPTED);
    tokio::time::sleep(c.config.gc.grace.0).await;
    let pulls = async {
        let mut pulls = 0;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let res = c.req(puller, Method::GET, &format!("/v2/kept/manifests/{}", kept.1));
            assert_eq!(res.header("accept", OCI_MANIFEST).send().await.expect("GET").status(), StatusCode::OK);
            assert_eq!(blob_from(&c, puller, "kept", &kept.0).await, b"kept layer");
            pulls += 1;
        }
        pulls
    };
    let collect = async {
        let res = c.req(collector, Method::POST, "/berth/v1/gc").json(&json!({})).send().await.expect("POST gc");
        assert!(res.status().is_success(), "{}", res.status());
    };
    let (pulls, ()) = tokio::join!(pulls, collect);
    assert!(pulls > 0);
    let stored = |digest: &str| {
        let key = object_store::path::Path::from(blob_key(digest));
        let store = store.clone();
        async move { store.head(&key).await.is_ok() }
    };
    assert!(!stored(&doomed.0).await, "the deleted image's layer is gone from the bucket");
    assert!(stored(&kept.0).await, "the kept layer stays");
    assert_eq!(blob_from(&c, collector, "kept", &kept.0).await, b"kept layer");
}

/// The key of blob `digest` in the store.
fn blob_key(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("blobs/sha256/{}/{hex}", &hex[..2])
}

/// Pushes an image of one layer `layer` to `repo` through node `n`; returns (layer digest,
/// manifest digest).
async fn blob_for(c: &Cluster, n: usize, repo: &str, layer: &[u8]) -> (String, String) {
    let mut digests = Vec::new();
    for data in [layer, b"{}".as_slice()] {
        let location = start_upload(c, n, repo).await;
        let location = patch(c, n, &location, 0, data).await;
        finish(c, n, &location, &sha256(data)).await;
        digests.push(sha256(data));
    }
    let layers =
        vec![json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digests[0], "size": layer.len()})];
    let manifest = image_manifest(&digests[1], 2, layers);
    let res = c.req(n, Method::PUT, &format!("/v2/{repo}/manifests/v1")).header("content-type", OCI_MANIFEST);
    assert_eq!(res.body(manifest.clone()).send().await.expect("PUT manifest").status(), StatusCode::CREATED);
    (digests[0].clone(), sha256(&manifest))
}

/// Pushes a one-blob image tagged `tag` through node `n`.
async fn push_small(c: &Cluster, n: usize, repo: &str, tag: &str) {
    let config = format!("{{\"tag\": \"{tag}\"}}").into_bytes();
    let digest = sha256(&config);
    let res = c.req(n, Method::POST, &format!("/v2/{repo}/blobs/uploads/?digest={digest}")).body(config.clone());
    assert_eq!(res.send().await.expect("blob").status(), StatusCode::CREATED);
    let manifest = image_manifest(&digest, config.len(), vec![]);
    let res = c.req(n, Method::PUT, &format!("/v2/{repo}/manifests/{tag}")).header("content-type", OCI_MANIFEST);
    assert_eq!(res.body(manifest).send().await.expect("manifest").status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_are_delivered_in_order_by_one_node_and_the_next_takes_over() {
    let Some(mut c) = Cluster::start(|c| c.gc.enabled = false).await else { return };
    let receiver = crate::webhooks::Receiver::start().await;
    let hook = json!({"name": "clusterhook", "serviceUri": receiver.uri("/"), "actions": ["push"]});
    let res = c.req(2, Method::POST, "/berth/v1/webhooks").json(&hook).send().await.expect("create");
    assert_eq!(res.status(), StatusCode::CREATED);
    for i in 0..6 {
        push_small(&c, 1 + i % 3, "app", &format!("v{i}")).await;
    }
    receiver.events(6).await;
    // Whichever node held the delivery lease, node 1 dies; the others carry on.
    c.kill(1);
    for i in 6..12 {
        push_small(&c, 2 + i % 2, "app", &format!("v{i}")).await;
    }
    receiver.events(12).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got_now = receiver.events(12).await;
    // At least once, in commit order: a node killed between sending an event and recording it
    // leaves that one to the next lease holder, which sends it again with the same id (for the
    // receiver to drop); nothing else repeats, and no two nodes deliver side by side.
    let sent: Vec<(&str, &str)> = got_now
        .iter()
        .map(|r| (r.body["target"]["tag"].as_str().unwrap_or_default(), r.body["id"].as_str().unwrap_or_default()))
        .collect();
    let mut each = sent.clone();
    each.dedup();
    let tags: Vec<&str> = each.iter().map(|(tag, _)| *tag).collect();
    let expected: Vec<String> = (0..12).map(|i| format!("v{i}")).collect();
    assert_eq!(tags, expected, "every event, in commit order: {sent:?}");
    assert!(sent.len() - each.len() <= 1, "only the delivery in flight at the kill repeats: {sent:?}");
    let mut ids: Vec<&str> = each.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 12, "one id per event, the same when sent again");
}

/// Runs `sql` on the cluster's database.
async fn sql(c: &Cluster, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&c.config.database_url().expect("url")).await.expect("connect");
    sqlx::query(sql).execute(&pool).await.expect("statement");
    pool.close().await;
}

async fn runs(c: &Cluster, n: usize, query: &str) -> Vec<Value> {
    let res = c.req(n, Method::GET, &format!("/berth/v1/runs?{query}")).send().await.expect("runs");
    res.json::<Vec<Value>>().await.expect("json")
}

#[tokio::test]
async fn a_timer_fires_once_across_nodes_and_an_agent_runs_what_they_queue() {
    let Some(c) = Cluster::start(|c| {
        c.gc.enabled = false;
        c.tasks.enabled = false;
    })
    .await
    else {
        return;
    };
    use base64::Engine as _;
    let yaml =
        base64::engine::general_purpose::STANDARD.encode("version: v1.1.0\nsteps:\n  - cmd: nothing/here:1 true\n");
    let task = json!({"name": "every-night", "encodedTaskContent": yaml, "schedules": ["0 21 * * *"]});
    let res = c.req(1, Method::POST, "/berth/v1/tasks").json(&task).send().await.expect("create");
    assert_eq!(res.status(), StatusCode::CREATED);
    // A past tick (2026-01-01T21:00:00Z) as all three nodes look for due timers.
    sql(&c, "UPDATE tasks SET next_tick = 1767301200000 WHERE name = 'every-night'").await;
    let start = Instant::now();
    while runs(&c, 2, "task=every-night").await.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "the timer did not fire");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fired = runs(&c, 3, "task=every-night").await;
    assert_eq!(fired.len(), 1, "one run per tick across the nodes: {fired:?}");
    assert_eq!(fired[0]["status"], "Queued", "no node runs tasks: {fired:?}");

    if !crate::tasks::can_build() {
        return;
    }
    // No node runs tasks: an agent on its own does, reaching the registry through node 1.
    let archive = crate::tasks::context_archive(&[
        ("Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n"),
        ("a.txt", "from the agent"),
    ]);
    let res = c.req(2, Method::POST, "/berth/v1/runs/sources").body(archive).send().await.expect("upload");
    assert_eq!(res.status(), StatusCode::CREATED);
    let source = res.json::<Value>().await.expect("json")["sourceLocation"].clone();
    let build = json!({"type": "DockerBuildRequest", "imageNames": ["agent/built:v1"], "sourceLocation": source});
    let res = c.req(3, Method::POST, "/berth/v1/runs").json(&build).send().await.expect("run");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = res.json::<Value>().await.expect("json")["runId"].as_str().expect("id").to_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["agent", "--config"]).arg(&c.file).arg("--data-dir").arg(c._dir.path().join("agent"));
    cmd.args(["--registry", &c.host(1)]).env_remove("BERTH_DATABASE_URL").env("BERTH_SECRET_KEY", &c.key);
    let mut agent = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("agent");
    let start = Instant::now();
    let run = loop {
        let res = c.req(1, Method::GET, &format!("/berth/v1/runs/{id}")).send().await.expect("run");
        let run: Value = res.json().await.expect("json");
        if !matches!(run["status"].as_str(), Some("Queued" | "Running")) {
            break run;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the agent did not run it: {run}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(run["status"], "Succeeded", "{run}");
    assert_eq!(run["outputImages"][0]["repository"], "agent/built");
    let res = c.req(2, Method::GET, "/v2/agent/built/tags/list").send().await.expect("tags");
    assert_eq!(res.status(), StatusCode::OK);
}

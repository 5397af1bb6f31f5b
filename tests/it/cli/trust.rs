//! `berth vulndb import`, `berth scan`, `berth policy scan|trust` and `berth config quarantine`
//! as a user runs them: a database imported from files, a scan printed as JSON and as a table,
//! policies made from flags and PEM files.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Berth, columns};
use crate::support::*;
use crate::trust::scanning::{layer_of, push_layers};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_and_policies_through_the_cli() {
    let app = TestApp::spawn().await;
    let berth = Berth::logged_in(&app).await;
    let osv = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/osv");
    berth.ok(&["vulndb", "import", "-r", "{R}", osv]).await;
    let status = "Package: nginx-common\nStatus: install ok installed\nSource: nginx\nVersion: 1.2.1-2.2+wheezy2\n";
    let os = b"ID=debian\nVERSION_ID=\"7\"\n";
    push_layers(
        &app,
        "web/nginx",
        "old",
        &[layer_of(&[("etc/os-release", os), ("var/lib/dpkg/status", status.as_bytes())])],
    )
    .await;

    let scan = berth.json(&["scan", "-r", "{R}", "--image", "web/nginx:old"]).await;
    assert_eq!(scan["status"], "done", "{scan}");
    assert_eq!(scan["findings"][0]["id"], "DSA-3029-1", "{scan}");
    assert_eq!(scan["findings"][0]["fixedIn"], "1.2.1-2.2+wheezy3");
    let table = berth.ok(&["scan", "-r", "{R}", "--image", "web/nginx:old", "-o", "table"]).await;
    assert_eq!(columns(&table), ["PACKAGE", "INSTALLED", "FIXED IN", "ID", "SEVERITY"], "{table}");
    assert!(table.contains("nginx-common") && table.contains("DSA-3029-1"), "{table}");
    let err = berth.fails(&["scan", "-r", "{R}", "--image", "web/nginx:nosuch"]).await;
    assert!(err.contains("MANIFEST_UNKNOWN"), "{err}");

    berth
        .ok(&[
            "policy",
            "scan",
            "create",
            "-r",
            "{R}",
            "-n",
            "gate",
            "--repository",
            "web/*",
            "--refuse-severity",
            "Unknown",
        ])
        .await;
    let names = berth.ok(&["policy", "scan", "list", "-r", "{R}", "--query", "[].name", "-o", "tsv"]).await;
    assert_eq!(names.trim(), "gate");
    let res = app.req(Method::GET, "/v2/web/nginx/manifests/old").header("accept", OCI_MANIFEST).send().await;
    assert_eq!(res.expect("pull").status(), StatusCode::FORBIDDEN, "the CLI's policy holds");
    berth.ok(&["policy", "scan", "delete", "-r", "{R}", "-n", "gate"]).await;

    let (_dir, path) = temp_dir();
    let pem = path.join("cosign.pub");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/signatures/cosign/cosign.pub"), &pem).expect("copy");
    let pem = pem.to_str().expect("utf-8");
    let created = berth
        .json(&[
            "policy",
            "trust",
            "create",
            "-r",
            "{R}",
            "-n",
            "prod",
            "--repository",
            "web/*",
            "--mode",
            "enforce",
            "--trusted",
            pem,
        ])
        .await;
    assert_eq!((created["name"].as_str(), created["mode"].as_str()), (Some("prod"), Some("enforce")));
    let res = app.req(Method::GET, "/v2/web/nginx/manifests/old").header("accept", OCI_MANIFEST).send().await;
    assert_eq!(res.expect("pull").status(), StatusCode::FORBIDDEN, "unsigned under enforce");
    let err = berth
        .fails(&["policy", "trust", "create", "-r", "{R}", "-n", "x", "--repository", "a", "--mode", "enforce"])
        .await;
    assert!(err.contains("BAD_REQUEST"), "{err}");

    assert_eq!(berth.json(&["config", "quarantine", "show", "-r", "{R}"]).await, json!({"status": "disabled"}));
}

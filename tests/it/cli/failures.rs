//! How commands fail, as `az` fails: exit code 3 for whatever the registry does not know (its
//! 404 answers: NAME_UNKNOWN, TAG_UNKNOWN, MANIFEST_UNKNOWN, NOT_FOUND), 2 for a usage error, 1
//! for the rest; and a registry that speaks TLS where `http://` was tried named as such.

use super::Berth;
use crate::support::*;

#[tokio::test]
async fn not_found_exits_3_with_the_registrys_code() {
    let app = TestApp::spawn().await;
    app.push_image("app", "v1", &[b"layer"]).await;
    let berth = Berth::logged_in(&app).await;
    let unknown = format!("app@sha256:{}", "0".repeat(64));
    let cases: [(&[&str], &str); 8] = [
        (&["repository", "show", "-n", "{R}", "--repository", "nope"], "NAME_UNKNOWN"),
        (&["repository", "show-tags", "-n", "{R}", "--repository", "nope"], "NAME_UNKNOWN"),
        (&["repository", "untag", "-n", "{R}", "--image", "app:nope"], "TAG_UNKNOWN"),
        (&["manifest", "show-metadata", "-r", "{R}", "-n", "app:nope"], "TAG_UNKNOWN"),
        (&["manifest", "list-referrers", "-r", "{R}", "-n", "app:nope"], "TAG_UNKNOWN"),
        (&["repository", "delete", "-n", "{R}", "--image", &unknown, "--yes"], "MANIFEST_UNKNOWN"),
        (&["token", "show", "-n", "nope", "-r", "{R}"], "NOT_FOUND"),
        (&["scope-map", "delete", "-n", "nope", "-r", "{R}", "--yes"], "NOT_FOUND"),
    ];
    for (args, code) in cases {
        let err = berth.fails_with(3, args).await;
        assert!(err.contains(code), "berth {args:?}: {err}");
    }

    // Not a resource that is missing: 1, as az's other errors.
    let err = berth.fails_with(1, &["repository", "list", "-n", "{R}", "-u", ADMIN, "-p", "wrong-password"]).await;
    assert!(err.contains("UNAUTHORIZED"), "{err}");
    let err = berth.fails_with(1, &["config", "retention", "update", "-r", "{R}", "--days", "400"]).await;
    assert!(err.contains("BAD_REQUEST"), "{err}");
    berth.fails_with(1, &["repository", "list", "-n", "{R}", "--query", "[?"]).await;
    // A command line that does not parse: 2, as az's argparse.
    berth.fails_with(2, &["repository", "show", "-n", "{R}"]).await;
    berth.fails_with(2, &["manifest", "list-referrers", "-r", "{R}", "-n", "app:v1", "--no-such-flag"]).await;
}

#[tokio::test]
async fn a_tls_registry_tried_over_http_says_to_use_https() {
    let app = TestApp::spawn_tls().await;
    let berth = Berth::new(&app);
    let sign_in = ["-u", ADMIN, "-p", ADMIN_PASSWORD];

    // 127.0.0.1 without a scheme is tried over HTTP first.
    let err = berth.fails_with(1, &[&["repository", "list", "-n", "{R}"][..], &sign_in].concat()).await;
    assert!(err.contains(&format!("the registry answered in TLS: use https://{}", app.host())), "{err}");
    assert!(!err.contains("invalid HTTP version"), "{err}");
    let err = berth
        .fails_with(1, &["login", "-n", &format!("http://{}", app.host()), "-u", ADMIN, "-p", ADMIN_PASSWORD])
        .await;
    assert!(err.contains("use https://"), "{err}");

    // As told: https:// with the server's certificate trusted.
    let ca = app.data_dir().join("tls/self-signed.crt");
    let https = format!("https://{}", app.host());
    let run = berth
        .run_with(&[&["repository", "list", "-n", &https][..], &sign_in].concat(), &[("REQUESTS_CA_BUNDLE", &ca)])
        .await;
    assert!(run.ok && run.stdout == "[]\n", "{}", run.stderr);

    // Nothing listening at all: no TLS hint, just the failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let err = berth.fails_with(1, &[&["repository", "list", "-n", &closed.to_string()][..], &sign_in].concat()).await;
    assert!(err.contains("cannot reach") && !err.contains("TLS"), "{err}");
}

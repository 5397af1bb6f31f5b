//! The offline vulnerability database through `/berth/v1/vulndb`: real OSV records
//! (`tests/data/osv/`) zipped as OSV's exports are, re-imports skipped, newer records replacing
//! older ones, bad records counted without stopping the rest, and bombs and oversized uploads
//! refused in the API's error format with nothing stored.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const REAL: [&str; 5] =
    ["DSA-3029-1", "CVE-2022-27449", "GHSA-j8r2-6x86-q33q", "GHSA-m5pq-gvj9-9vr8", "GHSA-838r-hvwh-24h8"];

fn real(id: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/osv/{id}.json", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// A zip of `(name, content)` entries, deflated, as OSV's `all.zip` exports are written; the
/// last entry's declared size can be made to lie.
fn zip(entries: &[(&str, &[u8])], declared_size: Option<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (i, (name, content)) in entries.iter().enumerate() {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(content).expect("deflate");
        let data = enc.finish().expect("deflate");
        let crc = crc32fast::hash(content);
        let size = declared_size.filter(|_| i + 1 == entries.len()).unwrap_or(content.len() as u32);
        let offset = out.len() as u32;
        let header = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend(20u16.to_le_bytes());
            }
            h.extend(20u16.to_le_bytes()); // version needed
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(8u16.to_le_bytes()); // deflate
            h.extend(0u32.to_le_bytes()); // time, date
            h.extend(crc.to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend(size.to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend([0u8; 10]); // comment length, disk, attributes
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend(&data);
        central.extend(header(0x0201_4b50, true));
    }
    let (cd_offset, cd_size, n) = (out.len() as u32, central.len() as u32, entries.len() as u16);
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend(n.to_le_bytes());
    out.extend(n.to_le_bytes());
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

async fn import(app: &TestApp, body: Vec<u8>) -> reqwest::Response {
    app.req(Method::POST, "/berth/v1/vulndb").body(body).send().await.expect("import")
}

async fn imported(app: &TestApp, body: Vec<u8>) -> Value {
    let res = import(app, body).await;
    let status = res.status();
    let v: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

fn counts(v: &Value) -> (u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    (n("imported"), n("skipped"), n("invalid"))
}

#[tokio::test]
async fn real_records_import_from_a_zip_and_newer_ones_replace_older() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.admin(Method::GET, "/vulndb", None).await,
        json!({"records": 0, "ecosystems": {}, "lastImport": null})
    );

    let files: Vec<(String, Vec<u8>)> = REAL.iter().map(|id| (format!("{id}.json"), real(id))).collect();
    let mut entries: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    entries.push(("not-osv.json", br#"{"summary": "no id, no modified"}"#));
    entries.push(("README.txt", b"ignored: not a record"));
    let export = zip(&entries, None);
    let v = imported(&app, export.clone()).await;
    assert_eq!(counts(&v), (5, 0, 1), "{v}");
    assert_eq!(v["changed"], true);
    assert_eq!(v["records"], 5);
    assert_eq!(v["ecosystems"], json!({"Alpine": 1, "Debian": 1, "Maven": 1, "PyPI": 1, "crates.io": 1}));
    assert!(v["invalidReasons"][0].as_str().is_some_and(|r| r.starts_with("not-osv.json: ")), "{v}");

    // The same export again changes nothing.
    let v = imported(&app, export).await;
    assert_eq!((counts(&v), &v["changed"]), ((0, 5, 1), &json!(false)));

    // A record with a later `modified` replaces the stored one; an older one is skipped.
    let mut newer: Value = serde_json::from_slice(&real("DSA-3029-1")).expect("json");
    newer["modified"] = json!("2030-01-01T00:00:00Z");
    newer["summary"] = json!("nginx - security update (revised)");
    let mut older = newer.clone();
    older["id"] = json!("GHSA-j8r2-6x86-q33q");
    older["modified"] = json!("2001-01-01T00:00:00Z");
    let v = imported(&app, serde_json::to_vec(&json!([newer, older])).expect("json")).await;
    assert_eq!(counts(&v), (1, 1, 0), "{v}");

    // One record alone imports too.
    let v = imported(&app, real("GHSA-j8r2-6x86-q33q")).await;
    assert_eq!(counts(&v), (0, 1, 0), "{v}");

    let shown = app.admin(Method::GET, "/vulndb", None).await;
    assert_eq!(shown["records"], 5);
    assert_eq!(shown["lastImport"]["skipped"], 1);
    assert!(shown["lastImport"]["time"].as_str().is_some_and(|t| t.ends_with("+00:00")));
}

#[tokio::test]
async fn bombs_broken_zips_and_oversized_uploads_are_refused_whole() {
    let app = TestApp::spawn_with(|c| {
        c.vulndb.max_record_size = 64 << 10;
        c.vulndb.max_import_size = 1 << 20;
    })
    .await;
    let dsa = real("DSA-3029-1");
    // 10 MiB of zeros deflates to ~10 KiB: a bomb against a 64 KiB record limit, declared
    // honestly and declared as small.
    let zeros = vec![b' '; 10 << 20];
    for declared in [None, Some(1000)] {
        let bomb = zip(&[("DSA-3029-1.json", &dsa), ("bomb.json", &zeros)], declared);
        assert!(bomb.len() < 100 << 10);
        let res = import(&app, bomb).await;
        let status = res.status();
        let body: Value = res.json().await.expect("error json");
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["errors"][0]["code"], "SIZE_INVALID");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("bomb.json") && message.contains("65536"), "{message}");
    }
    // An entry inflating to other than it declares (within the limit) is a damaged zip.
    let res = import(&app, zip(&[("a.json", &dsa)], Some(10))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "BAD_REQUEST");
    // Cut short: no central directory.
    let whole = zip(&[("a.json", &dsa)], None);
    let res = import(&app, whole[..whole.len() - 30].to_vec()).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = import(&app, b"neither zip nor json".to_vec()).await;
    assert_eq!(error_code(res).await, "BAD_REQUEST");

    // Over the upload limit: refused from its Content-Length, and when streamed without one.
    let res = import(&app, vec![b' '; (1 << 20) + 1]).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = res.json().await.expect("error json");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("vulndb.max_import_size")));
    let chunks = futures_util::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 << 10])));
    let res = app
        .req(Method::POST, "/berth/v1/vulndb")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("streamed import");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing of any refused upload was stored, and no spool file is left behind.
    assert_eq!(app.admin(Method::GET, "/vulndb", None).await["records"], 0);
    let spooled = std::fs::read_dir(app.data_dir().join("tmp")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(spooled, 0);
}

//! Upload sessions: monolithic, POST+PUT, chunked PATCH with Content-Range, status, cancel,
//! cross-repository mount, digest verification, sha512, and survival across a restart.

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use sha2::Digest as _;

use crate::support::*;

async fn start(app: &TestApp, repo: &str) -> String {
    let res = app.req(Method::POST, &format!("/v2/{repo}/blobs/uploads/")).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.headers()["range"], "0-0");
    assert!(res.headers().contains_key("docker-upload-uuid"));
    let location = res.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(&format!("/v2/{repo}/blobs/uploads/")), "relative Location: {location}");
    location
}

async fn patch(app: &TestApp, location: &str, range: Option<&str>, body: &[u8]) -> reqwest::Response {
    let mut req =
        app.req(Method::PATCH, location).header("content-type", "application/octet-stream").body(body.to_vec());
    if let Some(r) = range {
        req = req.header("content-range", r);
    }
    req.send().await.expect("PATCH")
}

async fn blob_bytes(app: &TestApp, repo: &str, digest: &str) -> Vec<u8> {
    let res = app.req(Method::GET, &format!("/v2/{repo}/blobs/{digest}")).send().await.expect("GET blob");
    assert_eq!(res.status(), StatusCode::OK);
    res.bytes().await.expect("body").to_vec()
}

#[tokio::test]
async fn post_then_put_with_the_body() {
    let app = TestApp::spawn().await;
    let location = start(&app, "r").await;
    let digest = sha256(b"whole blob");
    let res =
        app.req(Method::PUT, &format!("{location}?digest={digest}")).body("whole blob").send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["location"], format!("/v2/r/blobs/{digest}").as_str());
    assert_eq!(res.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(blob_bytes(&app, "r", &digest).await, b"whole blob");
}

#[tokio::test]
async fn chunked_upload_with_status_and_out_of_order_chunk() {
    let app = TestApp::spawn().await;
    let data: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let digest = sha256(&data);
    let mut location = start(&app, "chunky").await;
    for (i, chunk) in data.chunks(10_000).enumerate() {
        let first = i * 10_000;
        let range = format!("{first}-{}", first + chunk.len() - 1);
        let res = patch(&app, &location, Some(&range), chunk).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "chunk {i}");
        assert_eq!(res.headers()["range"], format!("0-{}", first + chunk.len() - 1).as_str());
        location = res.headers()["location"].to_str().expect("location").to_owned();
        if i == 0 {
            // A chunk that does not continue the upload: 416 with where the upload stands.
            let res = patch(&app, &location, Some("20000-29999"), &data[20_000..]).await;
            assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
            assert_eq!(res.headers()["range"], "0-9999");
            let status = app.req(Method::GET, &location).send().await.expect("status");
            assert_eq!(status.status(), StatusCode::NO_CONTENT);
            assert_eq!(status.headers()["range"], "0-9999");
            assert!(status.headers().contains_key("location"));
        }
    }
    let res = app.req(Method::PUT, &format!("{location}?digest={digest}")).send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(blob_bytes(&app, "chunky", &digest).await, data);
    // The session is gone once finished.
    let res = app.req(Method::GET, &location).send().await.expect("status after finish");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn a_chunked_upload_is_one_file_on_the_filesystem_and_is_moved_not_copied() {
    use std::os::unix::fs::MetadataExt;
    let app = TestApp::spawn().await;
    let mut location = start(&app, "one").await;
    let data = b"one blob sent in three chunks";
    for (first, last) in [(0, 2), (3, 9), (10, data.len() - 1)] {
        let res = patch(&app, &location, Some(&format!("{first}-{last}")), &data[first..=last]).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        location = res.headers()["location"].to_str().expect("location").to_owned();
    }
    let parts = app.stored("uploads").await;
    let filesystem = std::env::var_os("BERTH_TEST_STORAGE").is_none();
    assert_eq!(parts.len(), if filesystem { 1 } else { 3 }, "one file, or a part per chunk in objects: {parts:?}");
    let inode = |key: &str| std::fs::metadata(app.data_dir().join("storage").join(key)).map(|m| m.ino());
    let upload = filesystem.then(|| inode(&parts[0]).expect("the upload's file"));
    let digest = sha256(data);
    let res = app.req(Method::PUT, &format!("{location}?digest={digest}")).send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(blob_bytes(&app, "one", &digest).await, data);
    if let Some(upload) = upload {
        let hex = &digest["sha256:".len()..];
        let blob = inode(&format!("blobs/sha256/{}/{hex}", &hex[..2])).expect("the blob's file");
        assert_eq!(blob, upload, "the upload's file became the blob without a copy");
    }
    assert!(app.stored("uploads").await.is_empty(), "nothing left of the session");
}

#[tokio::test]
async fn chunks_without_content_range_and_a_final_chunk_in_the_put() {
    let app = TestApp::spawn().await;
    let location = start(&app, "r").await;
    assert_eq!(patch(&app, &location, None, b"abc").await.status(), StatusCode::ACCEPTED);
    let digest = sha256(b"abcdef");
    let res = app.req(Method::PUT, &format!("{location}?digest={digest}")).body("def").send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(blob_bytes(&app, "r", &digest).await, b"abcdef");
}

#[tokio::test]
async fn content_range_must_match_the_body() {
    let app = TestApp::spawn().await;
    let location = start(&app, "r").await;
    let res = patch(&app, &location, Some("0-99"), b"only ten b").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "BLOB_UPLOAD_INVALID");
    let status = app.req(Method::GET, &location).send().await.expect("status");
    assert_eq!(status.headers()["range"], "0-0", "nothing was recorded");
}

#[tokio::test]
async fn a_chunk_that_does_not_match_its_range_leaves_the_earlier_ones() {
    let app = TestApp::spawn().await;
    let location = start(&app, "r").await;
    let res = patch(&app, &location, Some("0-4"), b"hello").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = patch(&app, &location, Some("5-99"), b" world").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = patch(&app, &location, Some("5-10"), b" world").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "the session goes on where it stood");
    let digest = sha256(b"hello world");
    let res = app.req(Method::PUT, &format!("{location}?digest={digest}")).send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(blob_bytes(&app, "r", &digest).await, b"hello world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_racing_chunks_one_is_kept_whole() {
    let app = TestApp::spawn().await;
    let location = start(&app, "race").await;
    // A first chunk, so that on the filesystem both racers want to extend the same file.
    assert_eq!(patch(&app, &location, Some("0-0"), b"x").await.status(), StatusCode::ACCEPTED);
    let (a, b) = (vec![b'a'; 3 << 20], vec![b'b'; 3 << 20]);
    // Chunk A sends its first MiB, then waits until chunk B has been answered.
    let (b_done, b_answered) = tokio::sync::oneshot::channel::<()>();
    let (head, tail) = (bytes::Bytes::from(a[..1 << 20].to_vec()), bytes::Bytes::from(a[1 << 20..].to_vec()));
    let slow = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(
        futures_util::stream::once(async move {
            let _ = b_answered.await;
            Ok(tail)
        }),
    );
    let range = format!("1-{}", a.len());
    let first = app
        .req(Method::PATCH, &location)
        .header("content-range", &range)
        .header("content-length", a.len())
        .body(reqwest::Body::wrap_stream(slow))
        .send();
    let first = tokio::spawn(first);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = patch(&app, &location, Some(&range), &b).await.status();
    let _ = b_done.send(());
    let first = first.await.expect("join").expect("PATCH A").status();

    // One wins, the other is told where the upload stands. On the filesystem A, which claimed
    // the session's file first, wins; in object stores B, which was recorded first.
    let mut statuses = [first, second];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::RANGE_NOT_SATISFIABLE], "A {first}, B {second}");
    if std::env::var_os("BERTH_TEST_STORAGE").is_none() {
        assert_eq!(first, StatusCode::ACCEPTED, "the chunk holding the file wins");
    }
    let winner = [&b"x"[..], if first == StatusCode::ACCEPTED { &a } else { &b }].concat();
    let status = app.req(Method::GET, &location).send().await.expect("status");
    assert_eq!(status.headers()["range"], format!("0-{}", a.len()).as_str());
    let digest = sha256(&winner);
    let res = app.req(Method::PUT, &format!("{location}?digest={digest}")).send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(blob_bytes(&app, "race", &digest).await == winner, "the winner's bytes, whole and alone");
}

#[tokio::test]
async fn wrong_digest_stores_nothing() {
    let app = TestApp::spawn().await;
    let claimed = sha256(b"what the client claims");
    let res = app
        .req(Method::POST, &format!("/v2/r/blobs/uploads/?digest={claimed}"))
        .body("something else")
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "DIGEST_INVALID");
    for d in [claimed, sha256(b"something else")] {
        let head = app.req(Method::HEAD, &format!("/v2/r/blobs/{d}")).send().await.expect("HEAD");
        assert_eq!(head.status(), StatusCode::NOT_FOUND, "{d} must not be visible");
    }
    // Through a session too; the session ends.
    let location = start(&app, "r").await;
    assert_eq!(patch(&app, &location, None, b"payload").await.status(), StatusCode::ACCEPTED);
    let wrong = sha256(b"not the payload");
    let res = app.req(Method::PUT, &format!("{location}?digest={wrong}")).send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "DIGEST_INVALID");
    let head = app.req(Method::HEAD, &format!("/v2/r/blobs/{}", sha256(b"payload"))).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    // No upload data is left behind in the store.
    let leftovers = app.stored("uploads").await;
    assert!(leftovers.is_empty(), "upload parts left: {leftovers:?}");
}

#[tokio::test]
async fn unknown_sessions_and_cancel() {
    let app = TestApp::spawn().await;
    let unknown = format!("/v2/r/blobs/uploads/{}", "0b9c3f1e-7c65-4bd5-9d49-5f5a2b7f9a01");
    for method in [Method::GET, Method::PATCH, Method::PUT, Method::DELETE] {
        let res = app.req(method.clone(), &format!("{unknown}?digest={}", sha256(b""))).send().await.expect("req");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method}");
        assert_eq!(error_code(res).await, "BLOB_UPLOAD_UNKNOWN", "{method}");
    }
    let location = start(&app, "r").await;
    // A session belongs to its repository.
    let elsewhere = location.replacen("/v2/r/", "/v2/other/", 1);
    let res = app.req(Method::GET, &elsewhere).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.req(Method::DELETE, &location).send().await.expect("DELETE");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.req(Method::GET, &location).send().await.expect("GET after cancel");
    assert_eq!(error_code(res).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn cross_repository_mount() {
    let app = TestApp::spawn().await;
    let digest = app.push_blob("base/image", b"shared layer").await;
    let res = app
        .req(Method::POST, &format!("/v2/derived/image/blobs/uploads/?mount={digest}&from=base/image"))
        .send()
        .await
        .expect("mount");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["location"], format!("/v2/derived/image/blobs/{digest}").as_str());
    assert_eq!(res.headers()["docker-content-digest"], digest.as_str());
    let head = app.req(Method::HEAD, &format!("/v2/derived/image/blobs/{digest}")).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    // From a repository that does not hold it: a normal session instead.
    let res = app
        .req(Method::POST, &format!("/v2/third/blobs/uploads/?mount={digest}&from=nowhere"))
        .send()
        .await
        .expect("mount miss");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.headers()["location"].to_str().expect("loc").starts_with("/v2/third/blobs/uploads/"));
}

#[tokio::test]
async fn sha512_digests_are_accepted() {
    let app = TestApp::spawn().await;
    let d512 = |data: &[u8]| format!("sha512:{}", hex::encode(sha2::Sha512::digest(data)));
    let digest = d512(b"monolithic");
    let res = app.req(Method::POST, &format!("/v2/r/blobs/uploads/?digest={digest}")).body("monolithic").send().await;
    assert_eq!(res.expect("POST").status(), StatusCode::CREATED);
    let location = start(&app, "r").await;
    assert_eq!(patch(&app, &location, Some("0-4"), b"chunk").await.status(), StatusCode::ACCEPTED);
    let digest2 = d512(b"chunked");
    let res = app.req(Method::PUT, &format!("{location}?digest={digest2}")).body("ed").send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(blob_bytes(&app, "r", &digest).await, b"monolithic");
    assert_eq!(blob_bytes(&app, "r", &digest2).await, b"chunked");
}

#[tokio::test]
async fn an_upload_session_survives_a_restart() {
    let mut app = TestApp::spawn().await;
    let location = start(&app, "durable").await;
    assert_eq!(patch(&app, &location, Some("0-5"), b"before").await.status(), StatusCode::ACCEPTED);
    app.restart().await;
    let status = app.req(Method::GET, &location).send().await.expect("status after restart");
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], "0-5");
    assert_eq!(patch(&app, &location, Some("6-15"), b" and after").await.status(), StatusCode::ACCEPTED);
    let digest = sha256(b"before and after");
    let res = app.req(Method::PUT, &format!("{location}?digest={digest}")).send().await.expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(blob_bytes(&app, "durable", &digest).await, b"before and after");
}

#[tokio::test]
async fn pushing_the_same_blob_twice_keeps_one_copy() {
    let app = TestApp::spawn().await;
    let d1 = app.push_blob("one", b"same bytes").await;
    let d2 = app.push_blob("two", b"same bytes").await;
    assert_eq!(d1, d2);
    let blobs = app.stored("blobs").await;
    assert_eq!(blobs.len(), 1, "{blobs:?}");
}

#[tokio::test]
async fn a_chunk_sent_without_credentials_gets_its_401_after_the_whole_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let location = start(&app, "app").await;
    // As ACR's SDK does: the chunk goes out once without credentials, whole, and only then is
    // the answer read. Closing early would make the write fail before the 401 is seen.
    let chunk = vec![7u8; 4 << 20];
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        app.host(),
        chunk.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("headers");
    tcp.write_all(&chunk).await.expect("the whole chunk is taken, not refused half-way");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut answer))
        .await
        .expect("an answer")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("www-authenticate: bearer"), "{answer}");
    // The connection is still good for the retry with credentials.
    let auth = base64_encode(&format!("{ADMIN}:{ADMIN_PASSWORD}"));
    let retry = format!("GET {location} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\r\n", app.host());
    tcp.write_all(retry.as_bytes()).await.expect("retry");
    let mut answer = vec![0u8; 4096];
    let n = tcp.read(&mut answer).await.expect("read");
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 204"), "the upload session answers");
}

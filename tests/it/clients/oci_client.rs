//! The `oci-client` crate (used by Wasm and Krustlet tooling): chunked push, pull, tags, mount
//! and referrers against a real server.

use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt;
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::support::*;

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

fn client() -> Client {
    Client::new(ClientConfig { protocol: ClientProtocol::Http, ..ClientConfig::default() })
}

fn admin() -> RegistryAuth {
    RegistryAuth::Basic(ADMIN.into(), ADMIN_PASSWORD.into())
}

fn reference(app: &TestApp, repo_tag: &str) -> Reference {
    format!("{}/{repo_tag}", app.host()).parse().expect("reference")
}

#[tokio::test]
async fn push_then_pull_an_image_byte_for_byte() {
    let app = TestApp::spawn().await;
    let client = client();
    let image = reference(&app, "wasm/app:v1");
    // Bigger than one network read, smaller than the client's 4 MiB chunk (see the chunked test).
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let layers = vec![
        ImageLayer::new(big.clone(), LAYER.into(), None),
        ImageLayer::new(b"small layer".to_vec(), LAYER.into(), None),
    ];
    let config = Config::new(
        br#"{"architecture":"wasm","os":"wasip1"}"#.to_vec(),
        "application/vnd.oci.image.config.v1+json".into(),
        None,
    );
    let pushed = client.push(&image, &layers, config, &admin(), None).await.expect("push");
    assert!(pushed.manifest_url.contains("/v2/wasm/app/manifests/"), "{}", pushed.manifest_url);

    let pulled = client.pull(&image, &admin(), vec![LAYER]).await.expect("pull");
    // The client fetches layers concurrently, so compare them as a set of digests.
    let mut got: Vec<String> = pulled.layers.iter().map(|l| sha256(&l.data)).collect();
    let mut want = vec![sha256(&big), sha256(b"small layer")];
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(pulled.config.data, br#"{"architecture":"wasm","os":"wasip1"}"#);
    let manifest = pulled.manifest.expect("manifest");
    assert_eq!(manifest.layers[0].digest, sha256(&big));

    let (raw, digest) = client.pull_manifest(&image, &admin()).await.expect("pull manifest");
    assert!(matches!(raw, OciManifest::Image(_)));
    assert_eq!(Some(digest.clone()), pulled.digest);
    let by_digest = reference(&app, &format!("wasm/app@{digest}"));
    client.pull_manifest(&by_digest, &admin()).await.expect("pull by digest");

    let tags = client.list_tags(&image, &admin(), None, None).await.expect("tags");
    assert_eq!(tags.tags, vec!["v1".to_owned()]);
}

#[tokio::test]
async fn mount_and_referrers() {
    let app = TestApp::spawn().await;
    let client = client();
    let base = reference(&app, "base/img:v1");
    let auth = admin();
    let layer = ImageLayer::new(b"shared".to_vec(), LAYER.into(), None);
    let config = Config::new(b"{}".to_vec(), "application/vnd.oci.image.config.v1+json".into(), None);
    client.push(&base, &[layer], config, &auth, None).await.expect("push base");

    let derived = reference(&app, "derived/img:v1");
    // The low-level calls below reuse the token this sign-in gets: pull and push on derived only.
    client.auth(&derived, &auth, RegistryOperation::Push).await.expect("sign in");
    // So the registry must not mount from base with it: it opens a plain upload session (202,
    // as the spec allows), which this client reports as an error.
    assert!(client.mount_blob(&derived, &base, &sha256(b"shared")).await.is_err(), "token cannot read base");
    // The admin's own Basic credentials may read base, so the mount succeeds.
    for blob in [b"shared".as_slice(), b"{}"] {
        let path = format!("/v2/derived/img/blobs/uploads/?mount={}&from=base/img", sha256(blob));
        let res = app.req(reqwest::Method::POST, &path).send().await.expect("mount");
        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    }
    let (base_manifest, base_digest) = client.pull_manifest(&base, &auth).await.expect("base manifest");
    let OciManifest::Image(image) = base_manifest else { panic!("image manifest expected") };
    client.push_manifest(&derived, &OciManifest::Image(image.clone())).await.expect("push to derived");

    // An artifact whose subject is the base image, found through the referrers API.
    let sig = b"signature bytes".to_vec();
    let sig_ref = reference(&app, "base/img:sig");
    let empty = b"{}".to_vec();
    let artifact = OciImageManifest {
        artifact_type: Some("application/vnd.example.signature".into()),
        config: OciDescriptor {
            media_type: "application/vnd.oci.empty.v1+json".into(),
            digest: sha256(&empty),
            size: 2,
            ..OciDescriptor::default()
        },
        layers: vec![OciDescriptor {
            media_type: "application/octet-stream".into(),
            digest: sha256(&sig),
            size: sig.len() as i64,
            ..OciDescriptor::default()
        }],
        subject: Some(OciDescriptor {
            media_type: image.media_type.clone().unwrap_or_default(),
            digest: base_digest.clone(),
            size: serde_json::to_vec(&image).expect("json").len() as i64,
            ..OciDescriptor::default()
        }),
        ..OciImageManifest::default()
    };
    client.auth(&sig_ref, &auth, RegistryOperation::Push).await.expect("sign in");
    client.push_blob(&sig_ref, &sig, &sha256(&sig)).await.expect("push signature blob");
    client.push_blob(&sig_ref, &empty, &sha256(&empty)).await.expect("push empty config");
    client.push_manifest(&sig_ref, &OciManifest::Image(artifact)).await.expect("push artifact");

    let subject = reference(&app, &format!("base/img@{base_digest}"));
    let found = client.pull_referrers(&subject, None).await.expect("referrers");
    let (_, sig_digest) = client.pull_manifest(&sig_ref, &auth).await.expect("artifact manifest");
    assert_eq!(found.manifests.len(), 1);
    assert_eq!(found.manifests[0].digest, sig_digest);
    let none = client.pull_referrers(&subject, Some("application/vnd.other")).await.expect("filtered referrers");
    assert!(none.manifests.is_empty());
}

/// A log sink for a thread-local tracing subscriber: the client's own log lines, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

/// `push_blob` sends 4 MiB PATCHes and, if the registry answers one with a success code other
/// than the spec's, silently retries as a monolithic PUT. So this test reads the client's own log
/// to prove the chunked path ran to the end; then it resumes a download with a `Range` request.
#[tokio::test]
async fn chunked_blob_push_and_ranged_pull() {
    let app = TestApp::spawn().await;
    let client = client();
    let image = reference(&app, "chunks/blob:v1");
    let data: Vec<u8> = (0..9_000_000u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 24) as u8).collect();
    let digest = sha256(&data);

    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("oci_client=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    client.auth(&image, &admin(), RegistryOperation::Push).await.expect("sign in");
    let url = {
        // The default (current-thread) runtime polls the client on this thread.
        let _guard = tracing::subscriber::set_default(subscriber);
        client.push_blob(&image, &data, &digest).await.expect("chunked push")
    };
    let log = log.text();
    assert_eq!(log.matches("Pushing chunk").count(), 3, "9 MB in 4 MiB chunks:\n{log}");
    assert!(!log.contains("monolithic"), "the client fell back to a monolithic push:\n{log}");
    assert!(url.ends_with(&format!("/v2/chunks/blob/blobs/{digest}")), "{url}");

    // `pull_blob` checks the bytes against the digest and the Docker-Content-Digest header.
    let mut pulled = Vec::new();
    client.pull_blob(&image, digest.as_str(), &mut pulled).await.expect("pull blob");
    assert!(pulled == data, "pulled blob differs");

    let (offset, len) = (5_000_000u64, 1_000_000u64);
    let res = client.pull_blob_stream_partial(&image, digest.as_str(), offset, Some(len)).await.expect("range");
    let BlobResponse::Partial(stream) = res else { panic!("a Range request must get 206") };
    assert_eq!(stream.content_length, Some(len));
    let part: Vec<u8> = stream.map_ok(|b| b.to_vec()).try_concat().await.expect("partial body");
    assert!(part == data[offset as usize..(offset + len) as usize], "partial bytes differ");
}

//! The `oci-client` crate (used by Wasm and Krustlet tooling): chunked push, pull, tags, mount
//! and referrers against a real server.

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::support::*;

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

fn client() -> Client {
    Client::new(ClientConfig { protocol: ClientProtocol::Http, ..ClientConfig::default() })
}

fn reference(app: &TestApp, repo_tag: &str) -> Reference {
    format!("{}/{repo_tag}", app.host()).parse().expect("reference")
}

#[tokio::test]
async fn push_then_pull_an_image_byte_for_byte() {
    let app = TestApp::spawn().await;
    let client = client();
    let image = reference(&app, "wasm/app:v1");
    // Big enough that the client sends several chunks per layer.
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
    let pushed = client.push(&image, &layers, config, &RegistryAuth::Anonymous, None).await.expect("push");
    assert!(pushed.manifest_url.contains("/v2/wasm/app/manifests/"), "{}", pushed.manifest_url);

    let pulled = client.pull(&image, &RegistryAuth::Anonymous, vec![LAYER]).await.expect("pull");
    // The client fetches layers concurrently, so compare them as a set of digests.
    let mut got: Vec<String> = pulled.layers.iter().map(|l| sha256(&l.data)).collect();
    let mut want = vec![sha256(&big), sha256(b"small layer")];
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(pulled.config.data, br#"{"architecture":"wasm","os":"wasip1"}"#);
    let manifest = pulled.manifest.expect("manifest");
    assert_eq!(manifest.layers[0].digest, sha256(&big));

    let (raw, digest) = client.pull_manifest(&image, &RegistryAuth::Anonymous).await.expect("pull manifest");
    assert!(matches!(raw, OciManifest::Image(_)));
    assert_eq!(Some(digest.clone()), pulled.digest);
    let by_digest = reference(&app, &format!("wasm/app@{digest}"));
    client.pull_manifest(&by_digest, &RegistryAuth::Anonymous).await.expect("pull by digest");

    let tags = client.list_tags(&image, &RegistryAuth::Anonymous, None, None).await.expect("tags");
    assert_eq!(tags.tags, vec!["v1".to_owned()]);
}

#[tokio::test]
async fn mount_and_referrers() {
    let app = TestApp::spawn().await;
    let client = client();
    let base = reference(&app, "base/img:v1");
    let auth = RegistryAuth::Anonymous;
    let layer = ImageLayer::new(b"shared".to_vec(), LAYER.into(), None);
    let config = Config::new(b"{}".to_vec(), "application/vnd.oci.image.config.v1+json".into(), None);
    client.push(&base, &[layer], config, &auth, None).await.expect("push base");

    let derived = reference(&app, "derived/img:v1");
    client.mount_blob(&derived, &base, &sha256(b"shared")).await.expect("mount");
    client.mount_blob(&derived, &base, &sha256(b"{}")).await.expect("mount config");
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

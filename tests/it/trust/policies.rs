//! Trust policies end to end: images signed here with cosign's simple-signing format (an ECDSA
//! P-256 key, the signature under cosign's `sha256-<hex>.sig` tag) and notation's JWS envelope
//! (a self-signed certificate, the signature as an OCI 1.1 referrer), verified by Berth as it
//! serves them. The verifier's interoperability with signatures the real tools made is shown
//! in `signatures.rs`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::support::{OCI_MANIFEST, TestApp, sha256};

/// A P-256 key: the pair and its public key as PEM (SubjectPublicKeyInfo).
fn p256(fixed: bool) -> (EcdsaKeyPair, Vec<u8>, String) {
    let rng = SystemRandom::new();
    let alg = if fixed { &ECDSA_P256_SHA256_FIXED_SIGNING } else { &ECDSA_P256_SHA256_ASN1_SIGNING };
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("key");
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("key");
    // The fixed DER prefix of an id-ecPublicKey / prime256v1 SubjectPublicKeyInfo.
    let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").expect("hex");
    spki.extend_from_slice(pair.public_key().as_ref());
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(&spki));
    (pair, pkcs8.as_ref().to_vec(), pem)
}

async fn put_json(app: &TestApp, repo: &str, reference: &str, manifest: &Value) -> String {
    let bytes = serde_json::to_vec(manifest).expect("json");
    let res = app.put_manifest(repo, reference, OCI_MANIFEST, &bytes).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    sha256(&bytes)
}

/// Signs `digest` of `repo` as `cosign sign --key` does: the payload as a layer, its signature
/// in an annotation, under the tag `sha256-<hex>.sig`.
async fn cosign_sign(app: &TestApp, repo: &str, digest: &str, key: &EcdsaKeyPair) {
    let payload = serde_json::to_vec(&json!({
        "critical": {
            "identity": {"docker-reference": format!("{}/{repo}", app.host())},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .expect("json");
    let signature = key.sign(&SystemRandom::new(), &payload).expect("sign");
    let layer = app.push_blob(repo, &payload).await;
    let config = app.push_blob(repo, b"{}").await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": layer,
            "size": payload.len(),
            "annotations": {"dev.cosignproject.cosign/signature": STANDARD.encode(signature.as_ref())},
        }],
    });
    put_json(app, repo, &format!("{}.sig", digest.replacen(':', "-", 1)), &manifest).await;
}

/// Signs `digest` of `repo` as `notation sign` does with a JWS envelope: an OCI 1.1 referrer.
async fn notation_sign(app: &TestApp, repo: &str, digest: &str, size: usize, key: &EcdsaKeyPair, cert_der: &[u8]) {
    let protected = json!({
        "alg": "ES256",
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "crit": ["io.cncf.notary.signingScheme"],
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": "2026-11-29T00:00:00Z",
    });
    let payload = json!({"targetArtifact": {"mediaType": OCI_MANIFEST, "digest": digest, "size": size}});
    let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&protected).expect("json"));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).expect("json"));
    let signature = key.sign(&SystemRandom::new(), format!("{protected}.{payload}").as_bytes()).expect("sign");
    let envelope = serde_json::to_vec(&json!({
        "payload": payload,
        "protected": protected,
        "header": {"x5c": [STANDARD.encode(cert_der)], "io.cncf.notary.signingAgent": "berth-test"},
        "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
    }))
    .expect("json");
    let layer = app.push_blob(repo, &envelope).await;
    let empty = app.push_blob(repo, b"{}").await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.cncf.notary.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/jose+json", "digest": layer, "size": envelope.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": size},
    });
    let bytes = serde_json::to_vec(&manifest).expect("json");
    put_json(app, repo, &sha256(&bytes), &manifest).await;
}

async fn pull(app: &TestApp, repo: &str, digest: &str) -> (StatusCode, String) {
    let res =
        app.req(Method::GET, &format!("/v2/{repo}/manifests/{digest}")).header("accept", OCI_MANIFEST).send().await;
    let res = res.expect("pull");
    (res.status(), res.text().await.unwrap_or_default())
}

async fn policy(app: &TestApp, name: &str, repository: &str, mode: &str, trusted: &str) {
    let body = json!({"repository": repository, "mode": mode, "trusted": trusted});
    let res =
        app.req(Method::PUT, &format!("/berth/v1/policies/trust/{name}")).json(&body).send().await.expect("policy");
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enforced_trust_policy_serves_only_images_signed_by_a_trusted_key() {
    let app = TestApp::spawn().await;
    let (trusted, _, trusted_pem) = p256(false);
    let (stranger, _, _) = p256(false);
    let (_, unsigned) = app.push_image("prod/app", "unsigned", &[b"one"]).await;
    let (_, signed) = app.push_image("prod/app", "signed", &[b"two"]).await;
    let (_, forged) = app.push_image("prod/app", "forged", &[b"three"]).await;
    cosign_sign(&app, "prod/app", &signed, &trusted).await;
    cosign_sign(&app, "prod/app", &forged, &stranger).await;
    let (_, elsewhere) = app.push_image("dev/app", "unsigned", &[b"four"]).await;

    policy(&app, "prod-signed", "prod/*", "enforce", &trusted_pem).await;
    let (status, body) = pull(&app, "prod/app", &unsigned).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("DENIED") && body.contains("prod-signed") && body.contains("no signature"), "{body}");
    assert_eq!(pull(&app, "prod/app", &signed).await.0, StatusCode::OK);
    assert_eq!(pull(&app, "prod/app", "signed").await.0, StatusCode::OK, "by tag too");
    let (status, body) = pull(&app, "prod/app", &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("signature") && body.contains("prod-signed"), "{body}");
    assert_eq!(pull(&app, "dev/app", &elsewhere).await.0, StatusCode::OK, "another repository's policy");
    // The signatures themselves are served (they are not images), and `signed` shows in /acr/v1.
    let tags: Value =
        app.req(Method::GET, "/acr/v1/prod/app/_tags").send().await.expect("tags").json().await.expect("json");
    let signed_of = |name: &str| {
        tags["tags"].as_array().expect("tags").iter().find(|t| t["name"] == name).map(|t| t["signed"].clone())
    };
    assert_eq!(signed_of("signed"), Some(json!(true)));
    assert_eq!(signed_of("forged"), Some(json!(true)), "signed, if not by a trusted key");
    assert_eq!(signed_of("unsigned"), Some(json!(false)));

    // A multi-platform image is signed as its index: its platforms, pulled by digest, are served.
    let (child_manifest, child) = app.push_image("prod/multi", "amd64", &[b"five"]).await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": crate::support::OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": child_manifest.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    });
    let index_bytes = serde_json::to_vec(&index).expect("json");
    let res = app.put_manifest("prod/multi", "v1", crate::support::OCI_INDEX, &index_bytes).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(pull(&app, "prod/multi", &child).await.0, StatusCode::FORBIDDEN, "before the index is signed");
    cosign_sign(&app, "prod/multi", &sha256(&index_bytes), &trusted).await;
    assert_eq!(pull(&app, "prod/multi", &child).await.0, StatusCode::OK, "signed through its index");

    // audit serves everything (and logs); skip looks at nothing.
    policy(&app, "prod-signed", "prod/*", "audit", &trusted_pem).await;
    assert_eq!(pull(&app, "prod/app", &unsigned).await.0, StatusCode::OK);
    assert_eq!(pull(&app, "prod/app", &forged).await.0, StatusCode::OK);
    policy(&app, "prod-signed", "prod/*", "skip", "").await;
    assert_eq!(pull(&app, "prod/app", &unsigned).await.0, StatusCode::OK);
    // A policy whose trusted material is no key or certificate is refused at once.
    let body = json!({"repository": "prod/*", "mode": "enforce", "trusted": "not a key"});
    let res = app.req(Method::PUT, "/berth/v1/policies/trust/broken").json(&body).send().await.expect("policy");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notation_jws_signature_by_a_trusted_certificate_is_accepted_and_another_is_not() {
    let app = TestApp::spawn().await;
    let (key, pkcs8, _) = p256(true);
    let cert_key = rcgen::KeyPair::try_from(pkcs8.as_slice()).expect("rcgen key");
    let cert = rcgen::CertificateParams::new(vec!["signer.example".into()])
        .expect("params")
        .self_signed(&cert_key)
        .expect("cert");
    let (other_key, other_pkcs8, _) = p256(true);
    let other_cert_key = rcgen::KeyPair::try_from(other_pkcs8.as_slice()).expect("rcgen key");
    let other = rcgen::CertificateParams::new(vec!["other.example".into()])
        .expect("params")
        .self_signed(&other_cert_key)
        .expect("cert");

    let (manifest, good) = app.push_image("signed/app", "good", &[b"a"]).await;
    let (manifest2, bad) = app.push_image("signed/app", "bad", &[b"b"]).await;
    notation_sign(&app, "signed/app", &good, manifest.len(), &key, cert.der()).await;
    notation_sign(&app, "signed/app", &bad, manifest2.len(), &other_key, other.der()).await;
    policy(&app, "signed", "signed/app", "enforce", &cert.pem()).await;
    assert_eq!(pull(&app, "signed/app", &good).await.0, StatusCode::OK);
    let (status, body) = pull(&app, "signed/app", &bad).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("trust policy") && body.contains("not in the trust store"), "{body}");
}

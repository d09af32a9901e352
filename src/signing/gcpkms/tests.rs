//! The gcpkms HTTP edge against replies shaped as Cloud KMS documents them
//! (REST v1: `publicKey`, `cryptoKeyVersions.list`, `asymmetricSign`), from
//! a loopback replayer in this unit test. Not a real Cloud KMS: none can be
//! run here.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey, signature::hazmat::PrehashSigner};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};

use super::*;
use crate::config::KmsAuth;
use crate::signing::replay::{Handler, Seen, replay};
use crate::signing::tokens::Fixed;

const KEY: &str = "projects/chains/locations/global/keyRings/ring/cryptoKeys/signer";

const TOKEN: Fixed = Fixed("ya29.test-token");

/// A Cloud KMS key version of EC_SIGN_P256_SHA256 backed by `sk`: its
/// `publicKey`, `asymmetricSign` and `cryptoKeyVersions` replies.
fn cloud_kms(sk: SigningKey, versions: &[u32]) -> Handler {
    let pem = sk.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let versions = versions.to_vec();
    Arc::new(move |s: &Seen| {
        if s.line.contains("/publicKey ") {
            let name =
                s.line.split_whitespace().nth(1).unwrap().trim_start_matches("/v1/").trim_end_matches("/publicKey");
            let reply = serde_json::json!({
                "pem": pem, "algorithm": "EC_SIGN_P256_SHA256",
                "pemCrc32c": crc32c::crc32c(pem.as_bytes()).to_string(),
                "name": name, "protectionLevel": "HSM",
            });
            return (200, reply.to_string());
        }
        if s.line.contains(":asymmetricSign ") {
            let digest = STANDARD.decode(s.body["digest"]["sha256"].as_str().unwrap_or_default()).unwrap_or_default();
            let crc = crc32c::crc32c(&digest).to_string();
            let ok = s.body["digestCrc32c"].as_str() == Some(crc.as_str());
            let sig: DerSignature = sk.sign_prehash(&digest).unwrap();
            let sig = sig.as_bytes().to_vec();
            let reply = serde_json::json!({
                "signature": STANDARD.encode(&sig), "signatureCrc32c": crc32c::crc32c(&sig).to_string(),
                "verifiedDigestCrc32c": ok, "name": "…", "protectionLevel": "HSM",
            });
            return (200, reply.to_string());
        }
        if s.line.contains("/cryptoKeyVersions?") {
            let list: Vec<_> = versions
                .iter()
                .map(|v| {
                    serde_json::json!({"name": format!("{KEY}/cryptoKeyVersions/{v}"), "state": "ENABLED",
                    "algorithm": "EC_SIGN_P256_SHA256"})
                })
                .collect();
            return (200, serde_json::json!({ "cryptoKeyVersions": list, "totalSize": list.len() }).to_string());
        }
        (404, r#"{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}"#.into())
    })
}

fn signer(base: &str, kmsref: &str) -> Arc<dyn Signer> {
    let f = make(&Env::default(), base, Arc::new(TOKEN)).unwrap();
    let id = SigningIdentity::Kms { kmsref: kmsref.into(), auth: KmsAuth::default() };
    let Some(Ok(s)) = f.build(&id) else { panic!("builds") };
    s
}

fn key() -> SigningKey {
    SigningKey::from_slice(&[7u8; 32]).unwrap()
}

#[tokio::test]
async fn a_named_version_signs_with_one_request_per_signature_and_verifies() {
    let (base, seen) = replay(cloud_kms(key(), &[])).await;
    let s = signer(&base, &format!("gcpkms://{KEY}/cryptoKeyVersions/2"));
    for msg in [&b"first"[..], b"second"] {
        let sig = s.sign(msg).await.unwrap();
        let vk = VerifyingKey::from_public_key_pem(&sig.verifier.public_key_pem).unwrap();
        let der = p256::ecdsa::DerSignature::try_from(sig.bytes.as_slice()).unwrap();
        vk.verify(msg, &der).expect("the signature verifies over SHA-256 of the message");
    }
    let seen = seen.lock();
    let lines: Vec<&str> = seen.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(lines.len(), 3, "one publicKey, then one asymmetricSign per signature: {lines:?}");
    assert!(lines[0].starts_with(&format!("GET /v1/{KEY}/cryptoKeyVersions/2/publicKey ")));
    assert!(lines[1].starts_with(&format!("POST /v1/{KEY}/cryptoKeyVersions/2:asymmetricSign ")));
    assert!(seen.iter().all(|s| s.head.to_ascii_lowercase().contains("authorization: bearer ya29.test-token")));
}

#[tokio::test]
async fn an_unversioned_key_signs_with_its_newest_enabled_version() {
    let (base, seen) = replay(cloud_kms(key(), &[9, 10])).await;
    let s = signer(&base, &format!("gcpkms://{KEY}"));
    s.sign(b"x").await.unwrap();
    let seen = seen.lock();
    assert!(seen[0].line.contains("filter=state%3DENABLED"), "{:?}", seen[0].line);
    assert!(seen[1].line.contains("/cryptoKeyVersions/10/publicKey"), "{:?}", seen[1].line);
    assert!(seen[2].line.contains("/cryptoKeyVersions/10:asymmetricSign"), "{:?}", seen[2].line);
}

#[tokio::test]
async fn refusals_and_corrupt_replies_fail_naming_the_kmsref_never_the_token() {
    let denied: Handler = Arc::new(|_: &Seen| {
        (403, r#"{"error":{"code":403,"message":"Permission 'cloudkms.cryptoKeyVersions.viewPublicKey' denied","status":"PERMISSION_DENIED"}}"#.into())
    });
    let (base, _) = replay(denied).await;
    let kmsref = format!("gcpkms://{KEY}/cryptoKeyVersions/1");
    let e = signer(&base, &kmsref).sign(b"x").await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains(&kmsref) && text.contains("403"), "{text}");
    assert!(!text.contains("ya29"), "the token leaked: {text}");
    assert!(!e.retryable());

    let corrupt: Handler = Arc::new(|s: &Seen| {
        let inner = cloud_kms(key(), &[]);
        let (status, reply) = inner(s);
        (status, reply.replace("\"verifiedDigestCrc32c\":true", "\"verifiedDigestCrc32c\":false"))
    });
    let (base, _) = replay(corrupt).await;
    let e = signer(&base, &kmsref).sign(b"x").await.unwrap_err();
    assert!(e.to_string().contains("corrupted in transit"), "{e}");

    let down = format!("http://127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let e = signer(&down, &kmsref).sign(b"x").await.unwrap_err();
    assert!(e.retryable() && e.unavailable(), "{e}");
}

#[test]
fn it_serves_only_gcpkms_references() {
    let f = make(&Env::default(), ENDPOINT, Arc::new(TOKEN)).unwrap();
    assert!(f.build(&SigningIdentity::Keys).is_none());
    let id = |r: &str| SigningIdentity::Kms { kmsref: r.into(), auth: KmsAuth::default() };
    assert!(f.build(&id("awskms:///alias/x")).is_none());
    let Some(Err(e)) = f.build(&id("gcpkms://projects/p")) else { panic!() };
    assert_eq!(e.key, "signers.kms.kmsref");
}

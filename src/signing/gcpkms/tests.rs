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
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::config::KmsAuth;

const KEY: &str = "projects/chains/locations/global/keyRings/ring/cryptoKeys/signer";

struct Static;

#[async_trait::async_trait]
impl Tokens for Static {
    async fn bearer(&self) -> Result<String, RemoteError> {
        Ok("ya29.test-token".into())
    }
}

/// One request as the replayer saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    head: String,
    body: serde_json::Value,
}

type Handler = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// Serves `handler`'s replies on loopback; returns the base URL and what was asked.
async fn replay(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (handler, log) = (handler.clone(), log.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let split = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..split]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                while buf.len() < split + 4 + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = serde_json::from_slice(&buf[split + 4..]).unwrap_or(serde_json::Value::Null);
                let s = Seen { line: head.lines().next().unwrap_or_default().to_string(), head, body };
                let (status, reply) = handler(&s);
                log.lock().push(s);
                let out = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = sock.write_all(out.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

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
    let f = make(&Env::default(), base, Arc::new(Static)).unwrap();
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
    let f = make(&Env::default(), ENDPOINT, Arc::new(Static)).unwrap();
    assert!(f.build(&SigningIdentity::Keys).is_none());
    let id = |r: &str| SigningIdentity::Kms { kmsref: r.into(), auth: KmsAuth::default() };
    assert!(f.build(&id("awskms:///alias/x")).is_none());
    let Some(Err(e)) = f.build(&id("gcpkms://projects/p")) else { panic!() };
    assert_eq!(e.key, "signers.kms.kmsref");
}

//! The azurekms HTTP edge against replies shaped as Key Vault (REST 7.4)
//! and Entra ID document them, from a loopback replayer in this unit test.
//! Not a real Key Vault: none can be run here.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{Signature as P256Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::pkcs8::DecodePublicKey as _;

use super::*;
use crate::signing::replay::{Handler, Seen, replay};
use crate::signing::tokens::Fixed;

const TOKEN: Fixed = Fixed("eyJ0eXAi.test-token");

fn sk() -> SigningKey {
    SigningKey::from_slice(&[3u8; 32]).unwrap()
}

/// A Key Vault holding one P-256 key `signer`, version `v1`, at `base`.
fn key_vault(base: String, kid_base: Option<String>) -> Handler {
    Arc::new(move |s: &Seen| {
        let point = sk().verifying_key().as_affine().to_sec1_point(false);
        let kid = format!("{}/keys/signer/v1", kid_base.as_deref().unwrap_or(&base));
        if s.line.starts_with("GET /keys/signer?api-version=7.4 ") {
            let jwk = serde_json::json!({"key": {"kid": kid, "kty": "EC", "crv": "P-256", "key_ops": ["sign", "verify"],
                "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())},
                "attributes": {"enabled": true}});
            return (200, jwk.to_string());
        }
        if s.line.starts_with("POST /keys/signer/v1/sign?api-version=7.4 ") && s.body["alg"] == "ES256" {
            let digest = URL_SAFE_NO_PAD.decode(s.body["value"].as_str().unwrap_or_default()).unwrap_or_default();
            let sig: P256Signature = sk().sign_prehash(&digest).unwrap();
            return (200, serde_json::json!({"kid": kid, "value": URL_SAFE_NO_PAD.encode(sig.to_bytes())}).to_string());
        }
        (403, r#"{"error":{"code":"Forbidden","message":"The user does not have keys sign permission"}}"#.into())
    })
}

fn signer_at(base: &str) -> Arc<AzureKey> {
    let f = make(&Env::default(), "http://unused").unwrap();
    let reference = Reference { vault: base.into(), key: "signer".into(), version: String::new() };
    f.signer("azurekms://chains.vault.azure.net/signer", reference, Arc::new(TOKEN))
}

/// [`key_vault`] on loopback: its URL (the kids name it, unless `kid_base`) and what it was asked.
async fn vault_replay(kid_base: Option<&str>) -> (String, Arc<parking_lot::Mutex<Vec<Seen>>>) {
    let own = Arc::new(parking_lot::Mutex::new(String::new()));
    let (at, kid_base) = (own.clone(), kid_base.map(str::to_string));
    let handler: Handler = Arc::new(move |s: &Seen| key_vault(at.lock().clone(), kid_base.clone())(s));
    let (url, seen) = replay(handler).await;
    *own.lock() = url.clone();
    (url, seen)
}

#[tokio::test]
async fn a_key_signs_with_one_request_per_signature_and_verifies() {
    let (base2, seen) = vault_replay(None).await;
    let s = signer_at(&base2);
    for msg in [&b"one"[..], b"two"] {
        let sig = s.sign(msg).await.unwrap();
        let vk = VerifyingKey::from_public_key_pem(&sig.verifier.public_key_pem).unwrap();
        let der = p256::ecdsa::DerSignature::try_from(sig.bytes.as_slice()).unwrap();
        vk.verify(msg, &der).expect("a DER signature over SHA-256 of the message");
    }
    let seen = seen.lock();
    assert_eq!(
        seen.len(),
        3,
        "one key fetch, then one sign per signature: {:?}",
        seen.iter().map(|s| &s.line).collect::<Vec<_>>()
    );
    assert!(seen.iter().all(|s| s.head.to_ascii_lowercase().contains("authorization: bearer eyj0exai.test-token")));
}

#[tokio::test]
async fn a_kid_elsewhere_or_a_refusal_fails_naming_the_kmsref_never_the_token() {
    let (url, seen) = vault_replay(Some("https://evil.example")).await;
    let e = signer_at(&url).sign(b"x").await.unwrap_err();
    assert!(e.to_string().contains("is not a version of"), "{e}");
    assert_eq!(seen.lock().len(), 1, "nothing is sent to the kid's host");

    let (url, _) =
        replay(Arc::new(|_: &Seen| (403, r#"{"error":{"code":"Forbidden","message":"denied"}}"#.into()))).await;
    let e = signer_at(&url).sign(b"x").await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("azurekms://chains.vault.azure.net/signer") && text.contains("403"), "{text}");
    assert!(!text.contains("test-token") && !e.retryable(), "{text}");
}

#[tokio::test]
async fn client_secret_tokens_are_asked_for_once_per_lifetime() {
    let handler: Handler = Arc::new(|s: &Seen| {
        assert!(s.line.starts_with("POST /tenant-1/oauth2/v2.0/token "), "{}", s.line);
        assert!(s.raw.contains("grant_type=client_credentials") && s.raw.contains("client_id=app-1"), "{}", s.raw);
        assert!(s.raw.contains("scope=https%3A%2F%2Fvault.azure.net%2F.default"), "{}", s.raw);
        (200, r#"{"token_type":"Bearer","expires_in":3599,"access_token":"entra-token"}"#.into())
    });
    let (authority, seen) = replay(handler).await;
    let t = EntraTokens {
        http: reqwest::Client::new(),
        credential: Credential::Secret { tenant: "tenant-1".into(), client: "app-1".into(), secret: "s3cret".into() },
        authority,
        scope: "https://vault.azure.net/.default".into(),
        requests: Counter::default(),
        cached: tokio::sync::Mutex::new(None),
    };
    assert_eq!(t.bearer().await.unwrap(), "entra-token");
    assert_eq!(t.bearer().await.unwrap(), "entra-token");
    assert_eq!(seen.lock().len(), 1);
    assert_eq!(parse_token(br#"{"access_token":"t","expires_in":"3599"}"#).unwrap().1, Duration::from_secs(3599));
    assert!(parse_token(b"{}").is_err());
}

#[test]
fn the_scope_is_the_vault_domain() {
    let f = make(&Env::default(), "http://unused").unwrap();
    let _ = f.tokens_for("https://chains.vault.azure.cn");
    assert!(f.tokens.lock().contains_key("https://vault.azure.cn/.default"));
    let id = |r: &str| SigningIdentity::Kms { kmsref: r.into(), auth: crate::config::KmsAuth::default() };
    assert!(f.build(&id("awskms:///alias/x")).is_none());
    let Some(Err(e)) = f.build(&id("azurekms://v")) else { panic!() };
    assert_eq!(e.key, "signers.kms.kmsref");
}

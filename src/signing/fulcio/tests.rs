//! The keyless edge against a loopback replayer answering as Fulcio's
//! `POST /api/v2/signingCert` does, with certificates built here for the
//! key it was sent: renewal when due, one request per certificate, and a
//! certificate for another key refused. (The real Fulcio is in
//! tests/keyless.rs; its certificates last 10 minutes, too long to renew in
//! a test.)

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use p256::pkcs8::DecodePublicKey as _;
use pkcs8::der::{DecodePem as _, EncodePem as _};
use x509_cert::builder::{Builder as _, CertificateBuilder, profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

use super::*;
use crate::signing::replay::{Handler, Seen, replay};

/// A PEM certificate for `public_pem`, valid for `life` from now.
fn certificate(public_pem: &str, life: Duration) -> String {
    let ca = SigningKey::from_slice(&[9u8; 32]).unwrap();
    let spki = SubjectPublicKeyInfoOwned::from_pem(public_pem.as_bytes()).unwrap();
    let subject = Name::from_str("CN=sigstore,O=sigstore.dev,C=US").unwrap();
    let profile = profile::cabf::Root::new(false, subject).unwrap();
    let b =
        CertificateBuilder::new(profile, SerialNumber::from(7u32), Validity::from_now(life).unwrap(), spki).unwrap();
    let cert = b.build::<_, DerSignature>(&ca).unwrap();
    cert.to_pem(LineEnding::LF).unwrap()
}

/// Fulcio issuing certificates of `life` for the key in each request (or,
/// with `other_key`, for another key).
fn fulcio(life: Duration, other_key: bool) -> Handler {
    Arc::new(move |s: &Seen| {
        assert!(s.line.starts_with("POST /api/v2/signingCert "), "{}", s.line);
        assert_eq!(s.body["credentials"]["oidcIdentityToken"], "e30.eyJzdWIiOiJzeXN0ZW06c2EifQ.sig");
        let mut key = s.body["publicKeyRequest"]["publicKey"]["content"].as_str().unwrap_or_default().to_string();
        if other_key {
            let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
            key = other.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        }
        let chain = [certificate(&key, life), certificate(&key, Duration::from_secs(86400))];
        (200, serde_json::json!({ "signedCertificateEmbeddedSct": { "chain": { "certificates": chain } } }).to_string())
    })
}

async fn keyless_at(handler: Handler) -> (Arc<dyn Signer>, Arc<parking_lot::Mutex<Vec<Seen>>>, Counter) {
    let (url, seen) = replay(handler).await;
    let token = tmpdir_file("e30.eyJzdWIiOiJzeXN0ZW06c2EifQ.sig");
    let env = Env::default();
    let f = factory(&env).unwrap();
    let id = SigningIdentity::Keyless {
        fulcio: url,
        issuer: String::new(),
        provider: "filesystem".into(),
        token_file: token,
        tuf_mirror: String::new(),
    };
    let Some(Ok(s)) = f.build(&id) else { panic!("builds") };
    (s, seen, env.fulcio_requests)
}

fn tmpdir_file(content: &str) -> String {
    let dir = std::env::temp_dir().join(format!("fulcio-unit-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("oidc-token");
    std::fs::write(&p, content).unwrap();
    p.to_str().unwrap().to_string()
}

#[tokio::test]
async fn one_certificate_serves_many_signatures_until_it_is_due() {
    let (s, seen, _) = keyless_at(fulcio(Duration::from_secs(3600), false)).await;
    let (a, b) = (s.sign(b"one").await.unwrap(), s.sign(b"two").await.unwrap());
    assert_eq!(seen.lock().len(), 1, "one Fulcio request for both");
    assert_eq!(a.verifier, b.verifier);
    assert!(a.verifier.cert.as_deref().is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE-----")));
    assert!(a.verifier.chain.is_some(), "the rest of the chain");
    let vk = p256::ecdsa::VerifyingKey::from_public_key_pem(&a.verifier.public_key_pem).unwrap();
    let sig = DerSignature::try_from(a.bytes.as_slice()).unwrap();
    p256::ecdsa::signature::Verifier::verify(&vk, b"one", &sig).expect("signed by the certified key");
}

#[tokio::test]
async fn a_certificate_past_its_renewal_time_is_renewed_with_a_new_key() {
    // 20 s of life: renewed 20 s before it ends, i.e. at once.
    let (s, seen, _) = keyless_at(fulcio(Duration::from_secs(20), false)).await;
    let (a, b) = (s.sign(b"one").await.unwrap(), s.sign(b"two").await.unwrap());
    assert_eq!(seen.lock().len(), 2, "renewed for the second signature");
    assert_ne!(a.verifier.public_key_pem, b.verifier.public_key_pem, "a new ephemeral key");
}

#[tokio::test]
async fn a_certificate_for_another_key_is_refused() {
    let (s, _, _) = keyless_at(fulcio(Duration::from_secs(3600), true)).await;
    let e = s.sign(b"x").await.unwrap_err();
    assert!(e.to_string().contains("not for the key we sent"), "{e}");
}

fn keyless(provider: &str, fulcio: &str) -> SigningIdentity {
    SigningIdentity::Keyless {
        fulcio: fulcio.into(),
        issuer: String::new(),
        provider: provider.into(),
        token_file: String::new(),
        tuf_mirror: String::new(),
    }
}

#[test]
fn token_providers_and_the_fulcio_address_are_checked() {
    let f = factory(&Env::default()).unwrap();
    assert!(f.build(&SigningIdentity::Keys).is_none());
    assert!(matches!(f.build(&keyless("", "https://fulcio.sigstore.dev")), Some(Ok(_))));
    assert!(matches!(f.build(&keyless("spiffe", "https://fulcio.sigstore.dev")), Some(Ok(_))));
    let Some(Err(e)) = f.build(&keyless("vault", "https://fulcio.sigstore.dev")) else { panic!() };
    assert_eq!((e.key.as_str(), e.value.as_str()), ("signers.x509.fulcio.provider", "vault"));
    let Some(Err(e)) = f.build(&keyless("", "fulcio:5555")) else { panic!() };
    assert_eq!(e.key, "signers.x509.fulcio.address");
}

#[tokio::test]
async fn no_token_is_a_retryable_failure_naming_the_file() {
    let f = factory(&Env::default()).unwrap();
    let mut id = keyless("", "http://127.0.0.1:1");
    if let SigningIdentity::Keyless { token_file, .. } = &mut id {
        *token_file = "/nonexistent/oidc-token".into();
    }
    let Some(Ok(s)) = f.build(&id) else { panic!() };
    let e = s.sign(b"x").await.unwrap_err();
    assert!(e.retryable() && e.to_string().contains("/nonexistent/oidc-token"), "{e}");
}

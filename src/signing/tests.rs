use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

use super::*;

fn pkcs8_pems() -> Vec<(&'static str, String)> {
    let p256 = p256::SecretKey::from_slice(&[7u8; 32]).unwrap().to_pkcs8_pem(LineEnding::LF).unwrap();
    let p384 = p384::SecretKey::from_slice(&[9u8; 48]).unwrap().to_pkcs8_pem(LineEnding::LF).unwrap();
    let ed = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]).to_pkcs8_pem(LineEnding::LF).unwrap();
    vec![("ecdsa-p256", p256.to_string()), ("ecdsa-p384", p384.to_string()), ("ed25519", ed.to_string())]
}

#[test]
fn x509_pem_keys_of_every_supported_type_sign_and_verify() {
    for (alg, pem) in pkcs8_pems() {
        let k = SigningKey::from_pkcs8_pem(&pem, "x509.pem").unwrap();
        assert_eq!(k.algorithm(), alg);
        let sig = k.sign(b"payload");
        assert!(k.verify(b"payload", &sig), "{alg}");
        assert!(!k.verify(b"other", &sig), "{alg}");
        assert!(k.public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
    }
}

#[test]
fn cosign_keys_with_either_label_load_with_their_password() {
    let g = generate_cosign_key_pair().unwrap();
    let sigstore_label = g.private_pem.as_bytes();
    let cosign_label = g.private_pem.replace("SIGSTORE PRIVATE KEY", "COSIGN PRIVATE KEY");
    for pem in [sigstore_label, cosign_label.as_bytes()] {
        let k = SigningKey::from_cosign_pem(pem, g.password.as_bytes(), "cosign.key", "cosign.password").unwrap();
        assert_eq!(k.public_key_pem(), g.public_pem);
    }
    let err = SigningKey::from_cosign_pem(sigstore_label, b"wrong", "cosign.key", "cosign.password").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cosign.key: cannot decrypt with the password in cosign.password (wrong password or corrupt key)"
    );
}

#[test]
fn keydir_prefers_x509_reloads_on_change_and_keeps_the_last_good_key() {
    let dir = std::env::temp_dir().join(format!("keydir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kd = KeyDir::open(&dir);
    let err = kd.current().unwrap_err().to_string();
    assert!(err.contains("looked for x509.pem, or cosign.key with cosign.password"), "{err}");

    let g = generate_cosign_key_pair().unwrap();
    std::fs::write(dir.join("cosign.key"), g.private_pem.as_bytes()).unwrap();
    std::fs::write(dir.join("cosign.password"), format!("{}\n", g.password.as_str())).unwrap();
    assert!(kd.refresh());
    assert_eq!(kd.current().unwrap().file, "cosign.key");
    assert!(!kd.refresh(), "unchanged files are not re-read");

    // A half-written x509.pem does not replace the good key.
    std::fs::write(dir.join("x509.pem"), "-----BEGIN PRIVATE KEY-----\nMIG").unwrap();
    assert!(kd.refresh());
    assert_eq!(kd.current().unwrap().file, "cosign.key");
    let (_, pem) = &pkcs8_pems()[2];
    std::fs::write(dir.join("x509.pem"), pem).unwrap();
    assert!(kd.refresh());
    let k = kd.current().unwrap();
    assert_eq!((k.file, k.key.algorithm()), ("x509.pem", "ed25519"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn key_errors_never_contain_key_material() {
    let g = generate_cosign_key_pair().unwrap();
    let err = SigningKey::from_pkcs8_pem(&g.private_pem, "x509.pem").unwrap_err().to_string();
    assert!(err.contains("x509.pem") && err.contains("ENCRYPTED SIGSTORE PRIVATE KEY"), "{err}");
    assert!(!err.contains(g.password.as_str()));
    assert!(!err.contains(&g.private_pem.lines().nth(1).unwrap()[..20]));
}

/// Keys made by the real cosign and openssl, read in place from the shared
/// reference vectors when they are beside the repo (as in CI).
#[test]
fn reference_vector_keys_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/vectors/keys");
    let Ok(cosign_key) = std::fs::read(dir.join("cosign.key")) else {
        eprintln!("reference vectors not found at {}; skipped", dir.display());
        return;
    };
    let password = std::fs::read(dir.join("cosign.password")).unwrap();
    let public = std::fs::read_to_string(dir.join("cosign.pub")).unwrap();
    let k =
        SigningKey::from_cosign_pem(&cosign_key, password.trim_ascii_end(), "cosign.key", "cosign.password").unwrap();
    assert_eq!(k.public_key_pem().trim(), public.trim());
    let x509 = std::fs::read_to_string(dir.join("x509-ecdsa-p256.pem")).unwrap();
    let k = SigningKey::from_pkcs8_pem(&x509, "x509.pem").unwrap();
    assert_eq!(k.algorithm(), "ecdsa-p256");
}

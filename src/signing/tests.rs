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
fn keydir_prefers_x509_and_signs_only_with_the_key_it_holds_now() {
    let dir = std::env::temp_dir().join(format!("keydir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kd = KeyDir::open(&dir);
    let err = kd.current().unwrap_err().to_string();
    assert!(err.contains("looked for x509.pem, or cosign.key with cosign.password"), "{err}");

    let g = generate_cosign_key_pair().unwrap();
    std::fs::write(dir.join("cosign.key"), g.private_pem.as_bytes()).unwrap();
    std::fs::write(dir.join("cosign.password"), format!("{}\n", g.password.as_str())).unwrap();
    assert_eq!(kd.current().unwrap().file, "cosign.key", "a new key is used without waiting for a refresh");
    assert!(!kd.refresh(), "unchanged files are not re-read");

    // A broken x509.pem takes precedence and is not usable: nothing signs with the cosign key.
    std::fs::write(dir.join("x509.pem"), "-----BEGIN PRIVATE KEY-----\nMIG").unwrap();
    assert!(matches!(kd.current(), Err(KeyError::Parse { .. })));
    let (_, pem) = &pkcs8_pems()[2];
    std::fs::write(dir.join("x509.pem"), pem).unwrap();
    let k = kd.current().unwrap();
    assert_eq!((k.file, k.key.algorithm()), ("x509.pem", "ed25519"));

    // Removed: the old key is never used again.
    std::fs::remove_file(dir.join("x509.pem")).unwrap();
    std::fs::remove_file(dir.join("cosign.key")).unwrap();
    assert!(matches!(kd.current(), Err(KeyError::Missing { .. })));
    // Replaced by one whose password is wrong: refused, with the file named.
    std::fs::write(dir.join("cosign.key"), g.private_pem.as_bytes()).unwrap();
    std::fs::write(dir.join("cosign.password"), "wrong").unwrap();
    let err = kd.current().unwrap_err();
    assert!(matches!(err, KeyError::Decrypt { .. }), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_key_folder_signer_reports_the_verifier_of_the_key_it_signed_with() {
    let dir = std::env::temp_dir().join(format!("keydir-signer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kd = KeyDir::open(&dir);
    assert!(kd.sign(b"x").await.is_err());
    let (_, pem) = &pkcs8_pems()[0];
    std::fs::write(dir.join("x509.pem"), pem).unwrap();
    let sig = kd.sign(b"payload").await.unwrap();
    let k = SigningKey::from_pkcs8_pem(pem, "x509.pem").unwrap();
    assert!(k.verify(b"payload", &sig.bytes));
    assert_eq!(&*sig.verifier.public_key_pem, k.public_key_pem());
    assert_eq!(sig.verifier, kd.verifier().await.unwrap());
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

/// Found by `make fuzz` (key_loaders): a password that is also a word of the
/// error (`PRIVATE KEY`) looked like a leak. The harness now compares with
/// another password; here, junk and real keys with odd passwords never echo them.
#[test]
fn cosign_key_errors_never_echo_the_password() {
    let g = generate_cosign_key_pair().unwrap();
    for password in ["PRIVATE KEY", "hunter2hunter2", "s3cr3t-passw0rd-\u{7f}"] {
        for pem in [b"-".as_slice(), b"", g.private_pem.as_bytes()] {
            let Err(e) = SigningKey::from_cosign_pem(pem, password.as_bytes(), "cosign.key", "cosign.password") else {
                panic!("{password:?} decrypted the key");
            };
            let with_it = format!("{e} {e:?}");
            let other = "#".repeat(password.len());
            let without = match SigningKey::from_cosign_pem(pem, other.as_bytes(), "cosign.key", "cosign.password") {
                Err(e) => format!("{e} {e:?}"),
                Ok(_) => String::new(),
            };
            assert!(!with_it.contains(password) || without.contains(password), "{with_it}");
        }
    }
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

#[test]
fn hostile_cosign_key_files_are_refused_without_running_a_huge_scrypt() {
    let g = generate_cosign_key_pair().unwrap();
    let (label, body) = pkcs8::der::pem::decode_vec(g.private_pem.as_bytes()).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let pem = |v: &serde_json::Value| {
        pkcs8::der::pem::encode_string(label, pkcs8::LineEnding::LF, &serde_json::to_vec(v).unwrap()).unwrap()
    };
    for (n, r, p) in [(1u64 << 30, 8, 1), (32768, 1024, 1), (32768, 8, 64), (3, 8, 1)] {
        json["kdf"]["params"] = serde_json::json!({ "N": n, "r": r, "p": p });
        let started = std::time::Instant::now();
        let err =
            SigningKey::from_cosign_pem(pem(&json).as_bytes(), g.password.as_bytes(), "cosign.key", "cosign.password")
                .unwrap_err();
        assert!(matches!(err, KeyError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("scrypt parameters"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
    for junk in [&b"not pem"[..], b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"] {
        assert!(SigningKey::from_cosign_pem(junk, b"pw", "cosign.key", "cosign.password").is_err());
    }
}

#[test]
fn stored_signatures_are_checked_against_the_key_and_the_payload() {
    use super::verify::check_stored;
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (_, pem) = pkcs8_pems().remove(0);
    let k = SigningKey::from_pkcs8_pem(&pem, "x509.pem").unwrap();
    let public = k.public_key_pem();
    let payload = b"{\"status\":{}}";
    let sig = k.sign(payload);
    assert_eq!(check_stored(&public, payload, false, Some(&b64(payload)), Some(&b64(&sig))), Ok(()));
    assert!(check_stored(&public, payload, false, None, None).is_err());
    assert!(check_stored(&public, payload, false, Some(&b64(b"other")), Some(&b64(&sig))).is_err());
    assert!(check_stored(&public, payload, false, Some(&b64(payload)), Some(&b64(b"forged"))).is_err());
    // DSSE: the envelope must wrap this payload and be signed over its PAE.
    let env = dsse::wrap(dsse::IN_TOTO_PAYLOAD_TYPE, payload, |pae| k.sign(pae));
    let env_b64 = b64(&serde_json::to_vec(&env).unwrap());
    assert_eq!(check_stored(&public, payload, true, Some(&b64(payload)), Some(&env_b64)), Ok(()));
    let other = SigningKey::from_pkcs8_pem(&pkcs8_pems().remove(1).1, "x509.pem").unwrap();
    let forged = dsse::wrap(dsse::IN_TOTO_PAYLOAD_TYPE, payload, |pae| other.sign(pae));
    let forged_b64 = b64(&serde_json::to_vec(&forged).unwrap());
    assert!(check_stored(&public, payload, true, Some(&b64(payload)), Some(&forged_b64)).is_err());
}

#[test]
fn signatures_are_deterministic_so_a_retry_logs_and_pushes_nothing_new() {
    // ECDSA (RFC 6979) and ed25519 sign the same bytes the same way: a
    // retried run's signature, Rekor entry and OCI layer are the same ones.
    for (alg, pem) in pkcs8_pems() {
        let k = SigningKey::from_pkcs8_pem(&pem, "x509.pem").unwrap();
        assert_eq!(k.sign(b"payload"), k.sign(b"payload"), "{alg}");
    }
}

//! The signing-secrets folder as a [`Signer`]: it signs only with the key the
//! folder holds now. Every use re-reads the key files (a few small reads and a
//! hash) and parses them again only when their contents changed, so a removed
//! or replaced key is never used again, and a good key costs no re-parse.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest as _, Sha256};
use tracing::{info, warn};

use super::signer::{Signature, Signer, Verifier};
use super::{KeyError, SigningKey};
use crate::config::SignerKind;
use crate::tekton::objects::{COSIGN_PASSWORD, KEY_FILES};

/// A key with the file it came from.
#[derive(Debug)]
pub struct LoadedKey {
    pub key: SigningKey,
    pub file: &'static str,
    /// PEM `PUBLIC KEY` of `key`, computed once.
    pub public_key_pem: Arc<str>,
}

impl LoadedKey {
    fn new(key: SigningKey, file: &'static str) -> Self {
        let public_key_pem = key.public_key_pem().into();
        Self { key, file, public_key_pem }
    }
}

/// The key folder (`/etc/signing-secrets`).
pub struct KeyDir {
    dir: PathBuf,
    state: RwLock<State>,
}

struct State {
    /// Hash of the files the cached result was made from.
    fingerprint: Option<[u8; 32]>,
    key: Result<Arc<LoadedKey>, KeyError>,
}

/// The contents of the key files at one moment.
struct Snapshot {
    files: Vec<(&'static str, Vec<u8>)>,
}

impl Snapshot {
    fn read(dir: &Path) -> Self {
        let names = KEY_FILES.iter().copied().chain([COSIGN_PASSWORD]);
        Self { files: names.map(|n| (n, std::fs::read(dir.join(n)).unwrap_or_default())).collect() }
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.iter().find(|(n, _)| *n == name).map(|(_, b)| b.as_slice()).filter(|b| !b.is_empty())
    }

    fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for (_, content) in &self.files {
            h.update((content.len() as u64).to_le_bytes());
            h.update(content);
        }
        h.finalize().into()
    }
}

impl KeyDir {
    /// Loads whatever the folder holds now.
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let state = State {
            fingerprint: None,
            key: Err(KeyError::Missing { dir: dir.clone(), looked_for: LOOKED_FOR.into() }),
        };
        let kd = Self { dir, state: RwLock::new(state) };
        kd.refresh();
        kd
    }

    /// The key the folder holds now, or why there is none.
    pub fn current(&self) -> Result<Arc<LoadedKey>, KeyError> {
        self.load_now().0
    }

    /// Re-reads the folder and logs a change; returns true when the files changed.
    pub fn refresh(&self) -> bool {
        self.load_now().1
    }

    /// The current key, and whether the files changed since the last look.
    fn load_now(&self) -> (Result<Arc<LoadedKey>, KeyError>, bool) {
        let snap = Snapshot::read(&self.dir);
        let fp = snap.fingerprint();
        {
            let state = self.state.read().expect("key lock");
            if state.fingerprint == Some(fp) {
                return (state.key.clone(), false);
            }
        }
        let loaded = load(&self.dir, &snap).map(Arc::new);
        // A key is never taken from files caught mid-update: read them again,
        // and use the result only if nothing changed meanwhile.
        if Snapshot::read(&self.dir).fingerprint() != fp {
            return (Err(KeyError::Changing { dir: self.dir.clone() }), true);
        }
        let mut state = self.state.write().expect("key lock");
        if state.fingerprint != Some(fp) {
            match &loaded {
                Ok(k) => info!(file = k.file, algorithm = k.key.algorithm(), "loaded signing key"),
                Err(e) => warn!(error = %e, "no usable signing key; runs fail until one is added"),
            }
            state.fingerprint = Some(fp);
            state.key = loaded.clone();
        }
        (loaded, true)
    }
}

#[async_trait::async_trait]
impl Signer for KeyDir {
    fn kind(&self) -> SignerKind {
        SignerKind::X509
    }

    async fn sign(&self, msg: &[u8]) -> Result<Signature, KeyError> {
        let k = self.current()?;
        let verifier = Verifier { public_key_pem: k.public_key_pem.clone(), cert: None, chain: None };
        Ok(Signature { bytes: k.key.sign(msg), verifier })
    }

    fn verifier(&self) -> Result<Verifier, KeyError> {
        let k = self.current()?;
        Ok(Verifier { public_key_pem: k.public_key_pem.clone(), cert: None, chain: None })
    }
}

const LOOKED_FOR: &str = "x509.pem, or cosign.key with cosign.password";

/// x509.pem first, then cosign.key + cosign.password.
fn load(dir: &Path, snap: &Snapshot) -> Result<LoadedKey, KeyError> {
    let [x509, cosign] = [KEY_FILES[0], KEY_FILES[1]];
    if let Some(pem) = snap.get(x509) {
        let text = String::from_utf8_lossy(pem);
        return SigningKey::from_pkcs8_pem(&text, x509).map(|key| LoadedKey::new(key, x509));
    }
    if let Some(pem) = snap.get(cosign) {
        let password = snap.get(COSIGN_PASSWORD).unwrap_or_default();
        let key = SigningKey::from_cosign_pem(pem, trim_newline(password), cosign, COSIGN_PASSWORD)?;
        return Ok(LoadedKey::new(key, cosign));
    }
    Err(KeyError::Missing { dir: dir.to_path_buf(), looked_for: LOOKED_FOR.into() })
}

/// `echo pw | base64` leaves a newline users did not mean as part of the password.
fn trim_newline(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\n").unwrap_or(b)
}

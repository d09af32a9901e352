//! The signing-secrets folder: loads the key once, reloads it when the
//! files change, and keeps the last good key while new files are incomplete.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest as _, Sha256};
use tracing::{info, warn};

use super::{KeyError, SigningKey};

/// Files that may hold a key, in lookup order (upstream's order).
pub const KEY_FILES: &[&str] = &["x509.pem", "cosign.key"];

/// A key with the file it came from.
#[derive(Debug)]
pub struct LoadedKey {
    pub key: SigningKey,
    pub file: &'static str,
}

/// The key folder (`/etc/signing-secrets`).
pub struct KeyDir {
    dir: PathBuf,
    state: RwLock<State>,
}

struct State {
    fingerprint: Option<[u8; 32]>,
    key: Result<Arc<LoadedKey>, KeyError>,
}

impl KeyDir {
    /// Loads whatever the folder holds now.
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let key = load(&dir).map(Arc::new);
        let state = State { fingerprint: Some(fingerprint(&dir)), key };
        Self { dir, state: RwLock::new(state) }
    }

    /// The current key, or why there is none.
    pub fn current(&self) -> Result<Arc<LoadedKey>, KeyError> {
        self.state.read().expect("key lock").key.clone()
    }

    /// Re-reads the folder if its files changed. A folder that changed but
    /// does not yield a key keeps the previous good key. Returns true on change.
    pub fn refresh(&self) -> bool {
        let fp = fingerprint(&self.dir);
        if self.state.read().expect("key lock").fingerprint == Some(fp) {
            return false;
        }
        let loaded = load(&self.dir);
        let mut state = self.state.write().expect("key lock");
        state.fingerprint = Some(fp);
        match loaded {
            Ok(k) => {
                info!(file = k.file, algorithm = k.key.algorithm(), "loaded signing key");
                state.key = Ok(Arc::new(k));
            }
            Err(e) if state.key.is_ok() => {
                warn!(error = %e, "signing-secrets changed but holds no usable key; keeping the previous key");
            }
            Err(e) => {
                warn!(error = %e, "no usable signing key");
                state.key = Err(e);
            }
        }
        true
    }
}

fn read(dir: &Path, name: &str) -> Option<Vec<u8>> {
    std::fs::read(dir.join(name)).ok().filter(|b| !b.is_empty())
}

/// Hash of the key files' contents: changes whenever the Secret does.
fn fingerprint(dir: &Path) -> [u8; 32] {
    let mut h = Sha256::new();
    for name in ["x509.pem", "cosign.key", "cosign.password"] {
        let content = read(dir, name).unwrap_or_default();
        h.update((content.len() as u64).to_le_bytes());
        h.update(&content);
    }
    h.finalize().into()
}

/// x509.pem first, then cosign.key + cosign.password.
fn load(dir: &Path) -> Result<LoadedKey, KeyError> {
    if let Some(pem) = read(dir, "x509.pem") {
        let text = String::from_utf8_lossy(&pem);
        return SigningKey::from_pkcs8_pem(&text, "x509.pem").map(|key| LoadedKey { key, file: "x509.pem" });
    }
    if let Some(pem) = read(dir, "cosign.key") {
        let password = read(dir, "cosign.password").unwrap_or_default();
        let key = SigningKey::from_cosign_pem(&pem, trim_newline(&password), "cosign.key", "cosign.password")?;
        return Ok(LoadedKey { key, file: "cosign.key" });
    }
    Err(KeyError::Missing { dir: dir.to_path_buf(), looked_for: "x509.pem, or cosign.key with cosign.password".into() })
}

/// `echo pw | base64` leaves a newline users did not mean as part of the password.
fn trim_newline(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\n").unwrap_or(b)
}

//! The signing-secrets folder as a [`Signer`]: it signs only with the key the
//! folder holds now. Every use looks at the key files' metadata (inode,
//! size, times: no read), and the files are read and parsed again only when
//! that changed, so a removed or replaced key is never used again, a good
//! key is decrypted once per change, and key bytes are read only then (and
//! zeroized after). Files changed within the last seconds are read and
//! hashed anyway, since file times are coarse.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use sha2::{Digest as _, Sha256};
use tracing::{info, warn};
use zeroize::Zeroizing;

use super::signer::{Signature, Signer, Verifier};
use super::{KeyError, SignError, SigningKey};
use crate::config::{SignerKind, SigningIdentity};
use crate::seam::{Env, Factory, Unsupported};
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
    /// One load (read, decrypt) at a time, so a change is decrypted once.
    loading: Mutex<()>,
}

struct State {
    /// Metadata of the files the cached result was made from.
    stamp: Option<Stamp>,
    /// Hash of their contents.
    fingerprint: Option<[u8; 32]>,
    key: Result<Arc<LoadedKey>, KeyError>,
}

/// Files changed this recently are read even when their metadata matches.
const RECENT: Duration = Duration::from_secs(2);

/// The key files' metadata at one moment: per file, (device, inode, size,
/// mtime, ctime) in nanoseconds, or `None` when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    files: Vec<Option<FileStamp>>,
}

/// (device, inode, size, mtime ns, ctime ns) of one file.
type FileStamp = (u64, u64, u64, i128, i128);

fn names() -> impl Iterator<Item = &'static str> {
    KEY_FILES.iter().copied().chain([COSIGN_PASSWORD])
}

impl Stamp {
    fn read(dir: &Path) -> Self {
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        let files = names()
            .map(|n| {
                std::fs::metadata(dir.join(n))
                    .ok()
                    .map(|m| (m.dev(), m.ino(), m.size(), ns(m.mtime(), m.mtime_nsec()), ns(m.ctime(), m.ctime_nsec())))
            })
            .collect();
        Self { files }
    }

    /// True when a file changed so recently that its times may not show a
    /// second change.
    fn recent(&self) -> bool {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos() as i128;
        self.files.iter().flatten().any(|f| now - f.3.max(f.4) < RECENT.as_nanos() as i128)
    }
}

/// The contents of the key files at one moment (zeroized when dropped).
struct Snapshot {
    files: Vec<(&'static str, Zeroizing<Vec<u8>>)>,
}

/// Largest key or password file read.
const MAX_FILE: u64 = 64 << 10;

impl Snapshot {
    fn read(dir: &Path) -> Self {
        let read = |n: &str| {
            let path = dir.join(n);
            let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_FILE);
            Zeroizing::new(if small { std::fs::read(path).unwrap_or_default() } else { Vec::new() })
        };
        Self { files: names().map(|n| (n, read(n))).collect() }
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.iter().find(|(n, _)| *n == name).map(|(_, b)| b.as_slice()).filter(|b| !b.is_empty())
    }

    fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for (_, content) in &self.files {
            h.update((content.len() as u64).to_le_bytes());
            h.update(content.as_slice());
        }
        h.finalize().into()
    }
}

impl KeyDir {
    /// Loads whatever the folder holds now.
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let state = State {
            stamp: None,
            fingerprint: None,
            key: Err(KeyError::Missing { dir: dir.clone(), looked_for: LOOKED_FOR.into() }),
        };
        let kd = Self { dir, state: RwLock::new(state), loading: Mutex::new(()) };
        kd.refresh();
        kd
    }

    /// The key the folder holds now, or why there is none.
    pub fn current(&self) -> Result<Arc<LoadedKey>, KeyError> {
        self.load_now().0
    }

    /// Looks at the folder and logs a change; returns true when the files changed.
    pub fn refresh(&self) -> bool {
        self.load_now().1
    }

    fn cached(&self, stamp: &Stamp) -> Option<Result<Arc<LoadedKey>, KeyError>> {
        let state = self.state.read();
        (state.stamp.as_ref() == Some(stamp) && !stamp.recent()).then(|| state.key.clone())
    }

    /// The current key, and whether the files changed since the last look.
    fn load_now(&self) -> (Result<Arc<LoadedKey>, KeyError>, bool) {
        let stamp = Stamp::read(&self.dir);
        if let Some(k) = self.cached(&stamp) {
            return (k, false);
        }
        let _one = self.loading.lock();
        if let Some(k) = self.cached(&stamp) {
            return (k, false);
        }
        let snap = Snapshot::read(&self.dir);
        let fp = snap.fingerprint();
        {
            let mut state = self.state.write();
            if state.fingerprint == Some(fp) {
                state.stamp = Some(stamp);
                return (state.key.clone(), false);
            }
        }
        let loaded = load(&self.dir, &snap).map(Arc::new);
        drop(snap);
        // A key is never taken from files caught mid-update: look again,
        // and use the result only if nothing changed meanwhile.
        if Stamp::read(&self.dir) != stamp {
            return (Err(KeyError::Changing { dir: self.dir.clone() }), true);
        }
        match &loaded {
            Ok(k) => info!(file = k.file, algorithm = k.key.algorithm(), "loaded signing key"),
            Err(e) => warn!(error = %e, "no usable signing key; runs fail until one is added"),
        }
        let mut state = self.state.write();
        state.stamp = Some(stamp);
        state.fingerprint = Some(fp);
        state.key = loaded.clone();
        (loaded, true)
    }
}

#[async_trait::async_trait]
impl Signer for KeyDir {
    async fn sign(&self, msg: &[u8]) -> Result<Signature, SignError> {
        let k = self.current()?;
        let verifier = Verifier { public_key_pem: k.public_key_pem.clone(), cert: None, chain: None };
        Ok(Signature { bytes: k.key.sign(msg), verifier })
    }

    async fn verifier(&self) -> Result<Verifier, SignError> {
        let k = self.current()?;
        Ok(Verifier { public_key_pem: k.public_key_pem.clone(), cert: None, chain: None })
    }
}

/// Makes the key folder's factory (`--signing-secrets-dir`).
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<SigningIdentity, dyn Signer>>> {
    Some(Arc::new(Arc::new(KeyDir::open(&env.signing_secrets_dir))))
}

impl Factory<SigningIdentity, dyn Signer> for Arc<KeyDir> {
    fn name(&self) -> &'static str {
        SignerKind::X509.as_str()
    }

    fn build(&self, identity: &SigningIdentity) -> Option<Result<Arc<dyn Signer>, Unsupported>> {
        matches!(identity, SigningIdentity::Keys).then(|| Ok(self.clone() as Arc<dyn Signer>))
    }

    fn refresh(&self) {
        KeyDir::refresh(self);
    }
}

const LOOKED_FOR: &str = "x509.pem, or cosign.key with cosign.password";

/// x509.pem first, then cosign.key + cosign.password.
fn load(dir: &Path, snap: &Snapshot) -> Result<LoadedKey, KeyError> {
    let [x509, cosign] = [KEY_FILES[0], KEY_FILES[1]];
    if let Some(pem) = snap.get(x509) {
        let text = Zeroizing::new(String::from_utf8_lossy(pem).into_owned());
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

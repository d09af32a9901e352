//! The test Vault (hack/vault.sh): a real Vault server in dev mode with the
//! Transit engine and one key per type.

use std::path::PathBuf;
use std::process::Command;

/// Where Vault listens, its dev root token (test-only) and its CLI.
#[derive(Debug, Clone)]
pub struct Vault {
    pub addr: String,
    pub token: String,
    pub bin: PathBuf,
}

/// The running Vault: TEST_VAULT_ENV (a file written by `hack/vault.sh up`),
/// else one started by that script under target/.
pub fn vault() -> Vault {
    let (_, v) = super::component_env("TEST_VAULT_ENV", "vault", "test-vault");
    Vault { addr: v["VAULT_ADDR"].clone(), token: v["VAULT_TOKEN"].clone(), bin: v["VAULT_BIN"].clone().into() }
}

impl Vault {
    /// `vault <args>` as root: (success, output).
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(&self.bin)
            .args(args)
            .env("VAULT_ADDR", &self.addr)
            .env("VAULT_TOKEN", &self.token)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.bin.display()));
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }

    /// The PEM public key of `key` at `version`, as `vault read` exports it.
    pub fn public_pem(&self, key: &str, version: u64) -> String {
        let (ok, out) = self.cli(&["read", "-format=json", &format!("transit/keys/{key}")]);
        assert!(ok, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["data"]["keys"][version.to_string()]["public_key"].as_str().unwrap().to_string()
    }

    /// A new Transit key of `kind` (a fresh name per test).
    pub fn new_key(&self, name: &str, kind: &str) {
        let (ok, out) = self.cli(&["write", "-f", &format!("transit/keys/{name}"), &format!("type={kind}")]);
        assert!(ok, "{out}");
    }
}

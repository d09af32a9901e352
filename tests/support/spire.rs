//! The test SPIRE (hack/spire.sh): a real server, agent and OIDC discovery
//! provider; every process of this user gets [`Spire::id`] as a JWT-SVID.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// The agent's Workload API, the JWT-SVIDs' issuer and the SPIFFE ID given.
#[derive(Debug, Clone)]
pub struct Spire {
    /// `SPIFFE_ENDPOINT_SOCKET` for a workload (a unix:// URI).
    pub socket: String,
    pub issuer: String,
    pub id: String,
}

/// The folder of the SPIRE started by the tests when TEST_SPIRE_ENV is unset.
pub fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-spire")
}

/// The running SPIRE: TEST_SPIRE_ENV (a file written by `hack/spire.sh up`),
/// else one started by that script in [`default_dir`].
pub fn spire() -> Spire {
    let path = match std::env::var("TEST_SPIRE_ENV") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hack/spire.sh");
            let status =
                Command::new("bash").arg(script).args(["up", default_dir().to_str().unwrap()]).status().unwrap();
            assert!(status.success(), "hack/spire.sh up failed");
            default_dir().join("env")
        }
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    Spire { socket: v["SPIFFE_ENDPOINT_SOCKET"].into(), issuer: v["SPIRE_ISSUER"].into(), id: v["SPIRE_ID"].into() }
}

//! The test SPIRE (hack/spire.sh): a real server, agent and OIDC discovery
//! provider; every process of this user gets [`Spire::id`] as a JWT-SVID.

use std::path::PathBuf;

/// The agent's Workload API, the JWT-SVIDs' issuer and the SPIFFE ID given.
#[derive(Debug, Clone)]
pub struct Spire {
    /// `SPIFFE_ENDPOINT_SOCKET` for a workload (a unix:// URI).
    pub socket: String,
    pub issuer: String,
    pub id: String,
    /// Its state folder (for `hack/fulcio.sh up … SPIRE_DIR`).
    pub dir: PathBuf,
}

/// The running SPIRE: TEST_SPIRE_ENV (a file written by `hack/spire.sh up`),
/// else one started by that script under target/.
pub fn spire() -> Spire {
    let (dir, v) = super::component_env("TEST_SPIRE_ENV", "spire", "test-spire");
    Spire {
        socket: v["SPIFFE_ENDPOINT_SOCKET"].clone(),
        issuer: v["SPIRE_ISSUER"].clone(),
        id: v["SPIRE_ID"].clone(),
        dir,
    }
}

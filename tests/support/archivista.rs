//! The test Archivista (hack/archivista.sh): in-toto/archivista with its
//! MySQL store on a MariaDB of its own and file blobs.

/// `ARCHIVISTA_URL` of the running server: TEST_ARCHIVISTA_ENV (a file
/// written by `hack/archivista.sh up`), else one started by that script
/// under target/.
pub fn archivista() -> String {
    let (_, v) = super::component_env("TEST_ARCHIVISTA_ENV", "archivista", "test-archivista");
    v["ARCHIVISTA_URL"].clone()
}

/// What Archivista serves for `gitoid` (`GET /download/<gitoid>`).
pub async fn download(url: &str, gitoid: &str) -> Vec<u8> {
    let res = reqwest::get(format!("{url}/download/{gitoid}")).await.expect("GET download");
    assert!(res.status().is_success(), "GET /download/{gitoid}: {}", res.status());
    res.bytes().await.unwrap().to_vec()
}

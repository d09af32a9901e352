//! The OLM bundle (bundle/, `make bundle`) passes the real
//! `operator-sdk bundle validate` with the operatorframework suite.
//! (A unit test in src/crd/bundle.rs fails when it drifts from the code.)

mod support;

use std::process::Command;

#[test]
fn operator_sdk_validates_the_bundle() {
    let out = Command::new(support::tool("operator-sdk"))
        .args(["bundle", "validate", "./bundle", "--select-optional", "suite=operatorframework"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run operator-sdk");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("All validation tests have completed successfully"), "{text}");
    assert!(!text.contains("level=error"), "{text}");
}

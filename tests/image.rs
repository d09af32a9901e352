//! The container image: built by `make image` (hack/image.sh, no docker
//! daemon), pushed to the real test registry, and its binary taken out of
//! the pushed image and run. The image holds the binary this test was built
//! with (`IMAGE_BINARY`): what is under test is the image, not a second,
//! release, compile of the same code.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::registry::registries;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `tekton-chains-operator:v<Cargo.toml version>` everywhere an image is named.
#[test]
fn the_image_name_and_tag_are_set_in_one_place() {
    let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
    let image = format!("tekton-chains-operator:{tag}");
    let chart: serde_yaml::Value = serde_yaml::from_str(&read("helm/tekton-chains-operator/Chart.yaml")).unwrap();
    assert_eq!(chart["appVersion"].as_str(), Some(tag.as_str()), "Chart.yaml appVersion");
    let values: serde_yaml::Value = serde_yaml::from_str(&read("helm/tekton-chains-operator/values.yaml")).unwrap();
    assert_eq!(values["image"]["repository"].as_str(), Some("tekton-chains-operator"), "values.yaml");
    let k: serde_yaml::Value = serde_yaml::from_str(&read("config/default/kustomization.yaml")).unwrap();
    assert_eq!(k["images"][0]["newName"].as_str(), Some("tekton-chains-operator"), "kustomization newName");
    assert_eq!(k["images"][0]["newTag"].as_str(), Some(tag.as_str()), "kustomization newTag");
    assert!(read("config/manager/deployment.yaml").contains(&format!("value: {image}")), "CHAINS_SIGNER_IMAGE");
    assert!(read("Dockerfile").contains(&image), "Dockerfile");
    // The operator's --signer-image default.
    let out = Command::new(env!("CARGO_BIN_EXE_tekton-chains-operator")).args(["operator", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("[default: {image}]")));
}

#[test]
fn the_pushed_image_runs_its_binary_as_nonroot() {
    let regs = registries();
    let out = Command::new("bash")
        .arg(repo().join("hack/image.sh"))
        .arg(&regs.open)
        .env("IMAGE_BINARY", env!("CARGO_BIN_EXE_tekton-chains-operator"))
        .output()
        .unwrap();
    assert!(out.status.success(), "hack/image.sh: {}", String::from_utf8_lossy(&out.stderr));
    let reference = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(reference.starts_with(&format!("{}/tekton-chains-operator:v", regs.open)), "{reference}");
    let crane = support::tool("crane");

    let config = Command::new(&crane).args(["config", &reference]).output().unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/tekton-chains-operator");
    assert_eq!(config["architecture"], "amd64");

    // Take the filesystem out of the pushed image and run its binary.
    let dir = support::tmpdir("image");
    let export = Command::new("bash")
        .arg("-c")
        .arg(format!("{} export {reference} - | tar -x -C {}", crane.display(), dir.display()))
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    assert!(!dir.join("bin/sh").exists() && !dir.join("usr/bin/sh").exists(), "no shell in the image");
    assert!(dir.join("etc/ssl/certs/ca-certificates.crt").exists());
    let bin = dir.join("usr/local/bin/tekton-chains-operator");
    let crd = Command::new(&bin).arg("crd").output().unwrap();
    assert!(crd.status.success());
    assert_eq!(String::from_utf8_lossy(&crd.stdout), read("crds/crds.yaml"));
    let help = Command::new(&bin).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("operator") && help.contains("signer") && help.contains("run"), "{help}");
    // With the image's own loader and libraries, not the host's.
    let own = Command::new(dir.join("lib64/ld-linux-x86-64.so.2"))
        .arg("--library-path")
        .arg(dir.join("lib/x86_64-linux-gnu"))
        .arg(&bin)
        .arg("crd")
        .output()
        .unwrap();
    assert!(own.status.success(), "{}", String::from_utf8_lossy(&own.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

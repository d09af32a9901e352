use std::collections::BTreeMap;

use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_match_the_reference() {
    let c = ChainsConfig::default();
    assert_eq!(c.taskrun.format, Format::InToto);
    assert_eq!(c.taskrun.storage, vec![StorageKind::Tekton]);
    assert_eq!(c.taskrun.signer, SignerKind::X509);
    assert_eq!(c.oci.format, ImageFormat::SimpleSigning);
    assert_eq!(c.oci.storage, vec![StorageKind::Oci]);
    assert_eq!(c.transparency, Transparency::Off);
    assert_eq!(c.transparency_url, "https://rekor.sigstore.dev");
    assert_eq!(c.builder_id, "https://tekton.dev/chains/v2");
    assert!(!c.deep_inspection);
}

#[test]
fn seed_patch_parses() {
    let c = ChainsConfig::parse(&map(&[
        ("artifacts.oci.storage", ""),
        ("artifacts.taskrun.format", "tekton"),
        ("artifacts.taskrun.storage", "tekton"),
        ("transparency.enabled", "true"),
    ]))
    .unwrap();
    assert!(c.oci.storage.is_empty());
    assert_eq!(c.taskrun.format, Format::Tekton);
    assert_eq!(c.transparency, Transparency::On);
}

#[test]
fn slsa_v1_is_in_toto_and_manual_transparency() {
    let c = ChainsConfig::parse(&map(&[
        ("artifacts.pipelinerun.format", "slsa/v1"),
        ("transparency.enabled", "manual"),
        ("artifacts.taskrun.storage", " tekton , oci ,"),
    ]))
    .unwrap();
    assert_eq!(c.pipelinerun.format, Format::InToto);
    assert_eq!(c.transparency, Transparency::Manual);
    assert_eq!(c.taskrun.storage, vec![StorageKind::Tekton, StorageKind::Oci]);
}

#[test]
fn bad_values_name_key_value_and_allowed() {
    let errs = ChainsConfig::parse(&map(&[
        ("artifacts.taskrun.format", "foo"),
        ("transparency.enabled", "maybe"),
        ("artifacts.oci.storage", "oci,s3"),
        ("transparency.url", "not a url"),
        ("signers.kms.kmsref", "vault://x"),
    ]))
    .unwrap_err();
    let text = errs.to_string();
    for needle in [
        r#"artifacts.taskrun.format: invalid value "foo"; allowed: "in-toto", "slsa/v1""#,
        r#"transparency.enabled: invalid value "maybe"; allowed: true, false, manual"#,
        r#"artifacts.oci.storage: invalid value "s3"; allowed: a comma-separated list of "tekton""#,
        r#"transparency.url: invalid value "not a url""#,
        r#"signers.kms.kmsref: invalid value "vault://x"; allowed: a reference starting with "gcpkms://""#,
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    assert_eq!(errs.0.len(), 5);
}

#[test]
fn secret_values_are_never_echoed() {
    // A token that happens to be in a checked key must not be printed.
    let e = check_value("signers.kms.auth.token", "s3cr3t");
    assert!(e.is_ok());
    let e = ConfigError { key: "signers.kms.auth.token".into(), value: None, allowed: "x".into() };
    assert!(!e.to_string().contains("s3cr3t"));
}

#[test]
fn go_style_booleans_and_unknown_keys() {
    for v in ["1", "t", "TRUE", "False", "0"] {
        assert!(check_value("artifacts.pipelinerun.enable-deep-inspection", v).is_ok(), "{v}");
    }
    assert!(check_value("artifacts.pipelinerun.enable-deep-inspection", "yes").is_err());
    assert!(check_value("some.future.key", "anything").is_ok());
}

#[test]
fn transparency_entry_kind_and_url() {
    let c = ChainsConfig::default();
    assert_eq!(c.transparency_entry_kind, LogEntryKind::InToto);
    let c = ChainsConfig::parse(&map(&[("transparency.entry-kind", "dsse")])).unwrap();
    assert_eq!(c.transparency_entry_kind, LogEntryKind::Dsse);
    let e = ChainsConfig::parse(&map(&[("transparency.entry-kind", "hashedrekord")])).unwrap_err().to_string();
    assert_eq!(e, r#"transparency.entry-kind: invalid value "hashedrekord"; allowed: "intoto", "dsse""#);
    // A log that is on needs a URL; off, an empty one is fine.
    let e = ChainsConfig::parse(&map(&[("transparency.enabled", "manual"), ("transparency.url", "")]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("transparency.url: invalid value \"\""), "{e}");
    ChainsConfig::parse(&map(&[("transparency.enabled", "false"), ("transparency.url", "")])).unwrap();
    let e = ChainsConfig::parse(&map(&[("transparency.url", "ftp://rekor")])).unwrap_err().to_string();
    assert!(e.contains("allowed: an absolute http:// or https:// URL"), "{e}");
}

#[test]
fn the_readme_lists_every_key() {
    let readme = include_str!("../../README.md");
    for k in KEYS {
        assert!(readme.contains(&format!("| `{}` |", k.key)), "README.md lacks a row for {}", k.key);
    }
}

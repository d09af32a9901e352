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
    assert_eq!(c.log.url, "https://rekor.sigstore.dev");
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
    assert_eq!(c.log.entry_kind, LogEntryKind::InToto);
    let c = ChainsConfig::parse(&map(&[("transparency.entry-kind", "dsse")])).unwrap();
    assert_eq!(c.log.entry_kind, LogEntryKind::Dsse);
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
fn the_readme_key_table_is_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (begin, end) = ("<!-- keys:begin", "<!-- keys:end -->");
    let a = readme.find(begin).expect("README has the keys:begin marker");
    let a = a + readme[a..].find('\n').unwrap() + 1;
    let b = readme.find(end).expect("README has the keys:end marker");
    let table = keys::readme_table();
    if readme[a..b] != table {
        if std::env::var_os("UPDATE_README").is_some() {
            std::fs::write(path, format!("{}{table}{}", &readme[..a], &readme[b..])).unwrap();
        } else {
            panic!("README.md's key table is out of date; run UPDATE_README=1 cargo test --lib readme:\n{table}");
        }
    }
}

#[test]
fn every_key_is_read_once_into_the_typed_config_and_defaults_parse() {
    let data = BTreeMap::new();
    let mut r = reader::Reader::new(&data);
    let _ = parsed::read_with(&mut r);
    for k in KEYS.iter().filter(|k| !matches!(k.kind, ValueKind::Alias(_))) {
        assert!(r.read.contains(&k.key), "{} is in the key table but never read", k.key);
    }
    let (errors, _) = r.finish();
    assert!(errors.is_empty(), "the defaults are valid: {errors:?}");
}

#[test]
fn every_error_comes_back_in_key_table_order() {
    let errs = ChainsConfig::parse(&map(&[
        ("transparency.enabled", "maybe"),
        ("artifacts.taskrun.format", "foo"),
        ("filter.managed-by", "a, b"),
        ("builddefinition.buildtype", "x"),
    ]))
    .unwrap_err();
    let keys: Vec<&str> = errs.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["artifacts.taskrun.format", "transparency.enabled", "builddefinition.buildtype"]);
}

#[test]
fn old_names_are_read_with_a_deprecation() {
    let c = ChainsConfig::parse(&map(&[
        ("artifacts.oci.repository", "registry.local/sigs"),
        ("artifacts.oci.signer", "cosign"),
    ]))
    .unwrap();
    assert_eq!(c.oci.signer, SignerKind::X509);
    let Some(Storage::Oci { repository, .. }) = c.backend(StorageKind::Oci) else { panic!() };
    assert_eq!(repository, "registry.local/sigs");
    let said: Vec<String> = c.deprecations.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            "artifacts.oci.repository: a deprecated name (Chains 1.10); use storage.oci.repository",
            "artifacts.oci.signer: \"cosign\" is deprecated (Chains 1.10); use \"x509\"",
        ]
    );
    // The new name wins over the old one.
    let c = ChainsConfig::parse(&map(&[("artifacts.oci.repository", "old/x"), ("storage.oci.repository", "new/y")]))
        .unwrap();
    assert!(matches!(c.backend(StorageKind::Oci), Some(Storage::Oci { repository, .. }) if repository == "new/y"));
    // A bad value under the old name is reported under it.
    let e = ChainsConfig::parse(&map(&[("artifacts.taskrun.signer", "gpg")])).unwrap_err().to_string();
    assert_eq!(e, r#"artifacts.taskrun.signer: invalid value "gpg"; allowed: "x509", "kms", "none""#);
}

#[test]
fn typed_sections_carry_their_own_settings() {
    let c = ChainsConfig::parse(&map(&[
        ("storage.oci.encoding-format", "sigstore-bundle"),
        ("storage.pubsub.provider", "kafka"),
        ("storage.pubsub.kafka.bootstrap.servers", "k1:9092, k2:9092"),
        ("signers.kms.kmsref", "hashivault://k"),
        ("signers.kms.auth.token", "s3cr3t-token"),
        ("signers.x509.fulcio.enabled", "true"),
        ("builddefinition.buildtype", "https://tekton.dev/chains/v2/slsa-tekton"),
        ("filter.managed-by", "kueue.x-k8s.io/multikueue, "),
    ]))
    .unwrap();
    assert!(matches!(c.backend(StorageKind::Oci), Some(Storage::Oci { encoding: OciEncoding::SigstoreBundle, .. })));
    let Some(Storage::Kafka { provider, bootstrap_servers, .. }) = c.backend(StorageKind::Kafka) else { panic!() };
    assert_eq!(
        (*provider, bootstrap_servers.as_slice()),
        (PubSubProvider::Kafka, &["k1:9092".to_string(), "k2:9092".into()][..])
    );
    assert!(
        matches!(c.identity(SignerKind::Kms), Some(SigningIdentity::Kms { kmsref, .. }) if kmsref == "hashivault://k")
    );
    assert!(matches!(c.identity(SignerKind::X509), Some(SigningIdentity::Keyless { .. })));
    assert_eq!(c.identity(SignerKind::None), None);
    assert_eq!(c.build_type, BuildType::SlsaTekton);
    assert!(!format!("{c:?}").contains("s3cr3t"), "Debug hides the token");
    assert!(c.takes_managed_by(None) && c.takes_managed_by(Some("tekton.dev/pipeline")));
    assert!(c.takes_managed_by(Some("kueue.x-k8s.io/multikueue")));
    assert!(!c.takes_managed_by(Some("other.example/ctl")));
}

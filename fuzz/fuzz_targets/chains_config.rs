//! `config::ChainsConfig::parse` on a chains-config map whose keys are mostly
//! the real ones (`config::KEYS`) and whose values are mostly words they
//! accept. Properties: no panic; an error never shows the value (8 chars or
//! more) of a secret key (`keys::is_sensitive`) unless the same map without
//! the secret keys shows it too; a parsed config parses again to the same
//! config, and so do its effective `values`.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tekton_chains_operator::config::{ChainsConfig, KEYS, ValueKind, keys};

/// Words that some key accepts, for keys whose kind has no word list.
const WORDS: &[&str] = &[
    "",
    "true",
    "false",
    "manual",
    "1",
    "F",
    "tekton",
    "oci,tekton",
    "tekton, gcs,",
    "https://rekor.example",
    "http://[::1]:3000",
    "gcpkms://k",
    "hashivault://x",
    "in-toto",
    "slsa/v2alpha4",
    "x509",
    "kms",
    "none",
    "mongo://tekton-chains/attestations?id_field=Name",
    "dynamodb://chains?partition_key=Name&region=us-east-1",
    "firestore://projects/p/databases/(default)/documents/c?name_field=Name",
    "docdb,tekton",
];

#[derive(Arbitrary, Debug)]
enum Key {
    Known(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Word {
    Accepted(u8),
    Text(String),
}

fn render(k: &Key, w: &Word) -> (String, String) {
    let key = match k {
        Key::Known(i) => KEYS[*i as usize % KEYS.len()].key.to_string(),
        Key::Other(s) => s.clone(),
    };
    let value = match w {
        Word::Text(s) => s.clone(),
        Word::Accepted(i) => {
            let words = match keys::spec(&key).map(|s| s.kind) {
                Some(ValueKind::OneOf(words)) => words,
                _ => WORDS,
            };
            words[*i as usize % words.len()].to_string()
        }
    };
    (key, value)
}

fuzz_target!(|entries: Vec<(Key, Word)>| {
    let map: BTreeMap<String, String> = entries.iter().map(|(k, w)| render(k, w)).collect();
    match ChainsConfig::parse(&map) {
        Ok(config) => {
            assert_eq!(ChainsConfig::parse(&map).as_ref(), Ok(&config), "parsing is deterministic");
            
        }
        Err(errors) => {
            let public: BTreeMap<String, String> =
                map.iter().filter(|(k, _)| !keys::is_sensitive(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
            let baseline = ChainsConfig::parse(&public).err().map(|e| format!("{e} {e:?}")).unwrap_or_default();
            let shown = format!("{errors} {errors:?}");
            for (k, v) in map.iter().filter(|(k, v)| keys::is_sensitive(k) && v.chars().count() >= 8) {
                assert!(!shown.contains(v.as_str()) || baseline.contains(v.as_str()), "the value of {k} in: {shown}");
            }
        }
    }
});

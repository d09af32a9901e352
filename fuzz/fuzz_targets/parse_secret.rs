//! `storage::oci::auth::parse_secret`: a Secret of any type whose docker
//! config entries carry a known password, in the `auth` (base64
//! `user:password`) or `username`/`password` form, written as JSON and
//! possibly cut short or replaced by raw bytes. Property: no panic; the
//! problems and the Debug of the credentials are the same whatever the
//! passwords are (a credential never reaches an error or Debug).
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tekton_chains_operator::storage::oci::auth::parse_secret;

/// Every password starts with this, so it can be looked for in the output.
const PASSWORD: &str = "Pw-fuzz-9c41e7";
/// The same length, for the second parse.
const OTHER: &str = "Qz-test-37b5a0";
const TYPES: &[&str] =
    &["kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg", "Opaque", "", "kubernetes.io/tls"];
const KEYS: &[&str] = &[".dockerconfigjson", ".dockercfg", "config.json"];

#[derive(Arbitrary, Debug)]
enum Form {
    /// `auth`: base64 of `user:password`, optionally with junk around it.
    Auth { user: String, junk: bool },
    /// `username` and `password` fields.
    Fields { user: String },
    /// An entry that is not an object.
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    secret: String,
    type_: u8,
    key: u8,
    /// `auths` wrapper (dockerconfigjson) or the bare map (dockercfg).
    wrapped: bool,
    entries: Vec<(String, Form, String)>,
    /// Cut the JSON after this many bytes.
    cut: Option<u16>,
    /// Raw data instead of the JSON built from `entries`.
    raw: Option<Vec<u8>>,
}

/// The Secret's data with every password made from `marker` (and the
/// entries' suffixes).
fn data(input: &Input, marker: &str) -> BTreeMap<String, Vec<u8>> {
    let mut auths = serde_json::Map::new();
    for (server, form, suffix) in &input.entries {
        let password = format!("{marker}{suffix}");
        let entry = match form {
            Form::Auth { user, junk } => {
                let auth = STANDARD.encode(format!("{user}:{password}"));
                json!({ "auth": if *junk { format!(" {auth}\n") } else { auth } })
            }
            Form::Fields { user } => json!({ "username": user, "password": password }),
            Form::Other(s) => Value::String(s.clone()),
        };
        auths.insert(server.clone(), entry);
    }
    let doc = if input.wrapped { json!({ "auths": auths }) } else { Value::Object(auths) };
    let mut bytes = input.raw.clone().unwrap_or_else(|| serde_json::to_vec(&doc).unwrap());
    if let Some(cut) = input.cut {
        bytes.truncate(cut as usize);
    }
    let key = KEYS[input.key as usize % KEYS.len()];
    BTreeMap::from([(key.to_string(), bytes)])
}

fuzz_target!(|input: Input| {
    let type_ = TYPES[input.type_ as usize % TYPES.len()];
    // The same Secret twice, only the passwords differ (same length, so every
    // cut lands at the same place). Whatever reaches a problem or the Debug
    // of the credentials from a password makes the two differ; names, however
    // they are escaped, are the same in both. (Earlier checks that looked for
    // the password text raised three false alarms on names that held it.)
    let (creds, problems) = parse_secret(&input.secret, type_, &data(&input, PASSWORD));
    let (other_creds, other_problems) = parse_secret(&input.secret, type_, &data(&input, OTHER));
    assert_eq!(problems, other_problems, "a credential reaches a problem");
    assert_eq!(format!("{creds:?}"), format!("{other_creds:?}"), "a credential reaches Debug");
});

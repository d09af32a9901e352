//! `storage::oci::auth::parse_secret`: a Secret of any type whose docker
//! config entries carry a known password, in the `auth` (base64
//! `user:password`) or `username`/`password` form, written as JSON and
//! possibly cut short or replaced by raw bytes. Property: no panic; no
//! problem string contains the password or the `auth` value (a credential
//! never reaches an error); the Debug of the credentials never shows it.
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

fuzz_target!(|input: Input| {
    let mut secrets = Vec::new();
    let mut auths = serde_json::Map::new();
    for (server, form, suffix) in &input.entries {
        let password = format!("{PASSWORD}{suffix}");
        let entry = match form {
            Form::Auth { user, junk } => {
                let auth = STANDARD.encode(format!("{user}:{password}"));
                secrets.push(auth.clone());
                json!({ "auth": if *junk { format!(" {auth}\n") } else { auth } })
            }
            Form::Fields { user } => json!({ "username": user, "password": password }),
            Form::Other(s) => Value::String(s.clone()),
        };
        secrets.push(password);
        auths.insert(server.clone(), entry);
    }
    let doc = if input.wrapped { json!({ "auths": auths }) } else { Value::Object(auths) };
    let mut bytes = input.raw.clone().unwrap_or_else(|| serde_json::to_vec(&doc).unwrap());
    if let Some(cut) = input.cut {
        bytes.truncate(cut as usize);
    }
    let key = KEYS[input.key as usize % KEYS.len()];
    let type_ = TYPES[input.type_ as usize % TYPES.len()];
    let data = BTreeMap::from([(key.to_string(), bytes)]);

    let (creds, problems) = parse_secret(&input.secret, type_, &data);

    // Only values we put in and that nothing else (secret or server name) holds.
    let names: Vec<&str> = input.entries.iter().map(|(s, _, _)| s.as_str()).chain([input.secret.as_str()]).collect();
    // Debug shows names (Secret, registry) escaped; cut those out like the raw ones.
    let shown = names.iter().fold(format!("{creds:?}"), |d, n| {
        let escaped = format!("{n:?}");
        let escaped = escaped.trim_matches('"');
        if escaped.is_empty() { d } else { d.replace(escaped, "\u{1}") }
    });
    for s in secrets.iter().filter(|s| !names.iter().any(|n| n.contains(s.as_str()))) {
        for p in &problems {
            // A name next to the fixed text can spell a credential across the
            // seam (`…9c41e7` + ` of type`: the first crash this target found,
            // a false alarm); only what is left once the names are cut out counts.
            let rest = names.iter().fold(p.clone(), |p, n| if n.is_empty() { p } else { p.replace(n, "\u{1}") });
            assert!(!rest.contains(s.as_str()), "a credential in a problem: {p}");
        }
        assert!(!shown.contains(s.as_str()), "a credential in Debug: {shown}");
    }
    assert!(!shown.contains(PASSWORD) || names.iter().any(|n| n.contains(PASSWORD)), "{shown}");
});

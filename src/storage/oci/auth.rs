//! Registry credentials from docker config Secrets (pure): parsing
//! `kubernetes.io/dockerconfigjson` and `kubernetes.io/dockercfg` data, and
//! matching a registry the way docker does. Credential helpers named in a
//! secret (`credsStore`, `credHelpers`) are never run.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use zeroize::Zeroizing;

/// Docker Hub's canonical registry name; `docker.io` and `registry-1.docker.io` are aliases.
pub const DOCKER_HUB: &str = "index.docker.io";

/// A username and password for one registry, from one Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The registry host (with port), normalised with [`registry_key`].
    pub registry: String,
    pub username: String,
    pub password: Zeroizing<String>,
    /// The Secret it came from (for logs: never the values).
    pub secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("registry", &self.registry).field("secret", &self.secret).finish()
    }
}

/// The two Secret types that hold docker credentials.
pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub const DOCKER_CFG: &str = "kubernetes.io/dockercfg";

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, Entry>,
}

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The credentials in one Secret's data, by type; unreadable entries are
/// skipped and named in the error list (never with their values). An
/// `Opaque` Secret holding a `.dockerconfigjson` key (what
/// `oc create secret generic NAME --from-file=.dockerconfigjson` makes, as
/// the OpenShift docs suggest) is read as a dockerconfigjson one.
pub fn parse_secret(
    secret: &str,
    type_: &str,
    data: &std::collections::BTreeMap<String, Vec<u8>>,
) -> (Vec<Credential>, Vec<String>) {
    let type_ = match type_ {
        "" | "Opaque" if data.contains_key(".dockerconfigjson") => DOCKER_CONFIG_JSON,
        t => t,
    };
    let entries = match type_ {
        DOCKER_CONFIG_JSON => data
            .get(".dockerconfigjson")
            .map(|b| serde_json::from_slice::<ConfigJson>(b).map(|c| c.auths).map_err(|_| ".dockerconfigjson")),
        DOCKER_CFG => data.get(".dockercfg").map(|b| serde_json::from_slice(b).map_err(|_| ".dockercfg")),
        _ => return (Vec::new(), Vec::new()),
    };
    let entries = match entries {
        None => return (Vec::new(), vec![format!("Secret {secret} of type {type_} has no data key for it")]),
        Some(Err(key)) => return (Vec::new(), vec![format!("Secret {secret}: {key} is not valid JSON")]),
        Some(Ok(e)) => e,
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (server, e) in entries {
        let (username, password) = if !e.username.is_empty() {
            (e.username, Zeroizing::new(e.password))
        } else {
            let decoded = STANDARD.decode(e.auth.trim()).ok().and_then(|b| String::from_utf8(b).ok());
            match decoded.as_deref().and_then(|s| s.split_once(':')) {
                Some((u, p)) => (u.to_string(), Zeroizing::new(p.to_string())),
                None => {
                    problems.push(format!("Secret {secret}: the entry for {server:?} has no username and password"));
                    continue;
                }
            }
        };
        out.push(Credential { registry: registry_key(&server), username, password, secret: secret.to_string() });
    }
    (out, problems)
}

/// A docker config key or image registry as docker compares them: scheme
/// and path dropped, lowercase host with port, Docker Hub aliases folded.
pub fn registry_key(server: &str) -> String {
    let s = server.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.into(),
        _ => host,
    }
}

/// The credentials for `registry`, in the order given (the run's
/// ServiceAccount `secrets` first, then its `imagePullSecrets`).
pub fn matching<'a>(creds: &'a [Credential], registry: &str) -> Vec<&'a Credential> {
    let want = registry_key(registry);
    creds.iter().filter(|c| c.registry == want).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(key: &str, v: serde_json::Value) -> std::collections::BTreeMap<String, Vec<u8>> {
        [(key.to_string(), serde_json::to_vec(&v).unwrap())].into()
    }

    #[test]
    fn dockerconfigjson_auth_and_username_forms_are_read() {
        let auth = STANDARD.encode("bob:s3cret:with:colons");
        let d = data(
            ".dockerconfigjson",
            serde_json::json!({ "auths": {
                "https://index.docker.io/v1/": { "auth": auth },
                "quay.io": { "username": "u", "password": "p" },
                "bad.example": { "auth": "!!" },
            }, "credsStore": "evil-helper", "credHelpers": { "quay.io": "evil" } }),
        );
        let (creds, problems) = parse_secret("push", DOCKER_CONFIG_JSON, &d);
        assert_eq!(creds.len(), 2);
        let hub = matching(&creds, "docker.io");
        assert_eq!(hub.len(), 1);
        assert_eq!((hub[0].username.as_str(), hub[0].password.as_str()), ("bob", "s3cret:with:colons"));
        assert_eq!(matching(&creds, "QUAY.io")[0].username, "u");
        assert_eq!(problems, vec![r#"Secret push: the entry for "bad.example" has no username and password"#]);
    }

    #[test]
    fn dockercfg_is_read_and_other_types_are_ignored() {
        let d = data(".dockercfg", serde_json::json!({ "127.0.0.1:5000": { "auth": STANDARD.encode("a:b") } }));
        let (creds, _) = parse_secret("old", DOCKER_CFG, &d);
        assert_eq!(matching(&creds, "127.0.0.1:5000").len(), 1);
        // host:port must match exactly, as in docker.
        assert!(matching(&creds, "127.0.0.1").is_empty());
        assert!(matching(&creds, "127.0.0.1:5001").is_empty());
        assert_eq!(parse_secret("tls", "kubernetes.io/tls", &d).0, vec![]);
        assert_eq!(parse_secret("opaque", "Opaque", &d).0, vec![]);
    }

    #[test]
    fn an_opaque_secret_with_a_dockerconfigjson_key_is_read() {
        let d = data(
            ".dockerconfigjson",
            serde_json::json!({ "auths": { "quay.io": { "auth": STANDARD.encode("a:b") } } }),
        );
        assert_eq!(matching(&parse_secret("generic", "Opaque", &d).0, "quay.io").len(), 1);
    }

    #[test]
    fn a_broken_secret_is_named_without_its_value() {
        let d: std::collections::BTreeMap<String, Vec<u8>> = [(".dockerconfigjson".into(), b"{nope".to_vec())].into();
        let (creds, problems) = parse_secret("s", DOCKER_CONFIG_JSON, &d);
        assert!(creds.is_empty());
        assert_eq!(problems, vec!["Secret s: .dockerconfigjson is not valid JSON"]);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credential {
            registry: "r".into(),
            username: "user".into(),
            password: Zeroizing::new("hunter2".into()),
            secret: "s".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("user"), "{shown}");
    }
}

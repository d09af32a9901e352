//! What a storage backend needs once it is selected in an
//! `artifacts.*.storage` list: checked with the rest of the config, so a
//! config that names `gcs` without a usable bucket is refused whole (and
//! the previous one stays) instead of failing every run.

use super::ConfigError;
use super::keys::name as k;
use super::sections::Storage;
use super::values::{PubSubProvider, StorageKind};

/// The errors of the backends `selected` names.
pub fn check(selected: &[&[StorageKind]], backends: &[Storage]) -> Vec<ConfigError> {
    let on = |kind: StorageKind| selected.iter().any(|s| s.contains(&kind));
    let mut errors = Vec::new();
    for b in backends {
        match b {
            Storage::Gcs { bucket } => {
                let problem = match bucket.as_str() {
                    "" if on(StorageKind::Gcs) => Some("a bucket name (gcs is in an artifacts.*.storage list)"),
                    "" => None,
                    name => gcs_bucket_problem(name),
                };
                if let Some(why) = problem {
                    errors.push(ConfigError {
                        key: k::storage_gcs_bucket.into(),
                        value: Some(bucket.clone()),
                        allowed: why.into(),
                    });
                }
            }
            Storage::DocDb { url, collection: Err(why), .. } if on(StorageKind::DocDb) || !url.trim().is_empty() => {
                let allowed = if url.trim().is_empty() {
                    format!("a collection URL (docdb is in an artifacts.*.storage list): {}", super::docdb::FORMS)
                } else {
                    why.clone()
                };
                errors.push(ConfigError { key: k::storage_docdb_url.into(), value: Some(url.clone()), allowed });
            }
            Storage::Grafeas { project_id, note_id, .. } => {
                const ID: &str = "without '/', '?', '#' or spaces";
                let bad = |s: &str| s.chars().any(|c| matches!(c, '/' | '?' | '#') || c.is_whitespace());
                if project_id.is_empty() && on(StorageKind::Grafeas) {
                    let allowed = "a project id (grafeas is in an artifacts.*.storage list)";
                    errors.push(ConfigError {
                        key: k::storage_grafeas_projectid.into(),
                        value: Some(String::new()),
                        allowed: allowed.into(),
                    });
                } else if bad(project_id) {
                    let allowed = format!("a project id {ID}");
                    errors.push(ConfigError {
                        key: k::storage_grafeas_projectid.into(),
                        value: Some(project_id.clone()),
                        allowed,
                    });
                }
                if bad(note_id) {
                    let allowed = format!("a note id {ID} (empty: tekton-<namespace>)");
                    errors.push(ConfigError {
                        key: k::storage_grafeas_noteid.into(),
                        value: Some(note_id.clone()),
                        allowed,
                    });
                }
            }
            Storage::Archivista { url } if url.trim().is_empty() && on(StorageKind::Archivista) => {
                errors.push(ConfigError {
                    key: k::storage_archivista_url.into(),
                    value: Some(url.clone()),
                    allowed: "the Archivista server's http(s) URL (archivista is in an artifacts.*.storage list)"
                        .into(),
                });
            }
            Storage::Kafka { provider, topic, bootstrap_servers } => {
                errors.extend(kafka_problems(on(StorageKind::Kafka), *provider, topic, bootstrap_servers));
            }
            _ => {}
        }
    }
    errors
}

/// What is wrong with the `storage.pubsub.*` keys; a missing value only
/// when `selected` (kafka is in a storage list).
fn kafka_problems(selected: bool, provider: PubSubProvider, topic: &str, servers: &[String]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut push = |key: &str, value: &str, allowed: String| {
        errors.push(ConfigError { key: key.into(), value: Some(value.into()), allowed })
    };
    if selected && provider == PubSubProvider::InMemory {
        let allowed = "kafka, or empty (kafka is in an artifacts.*.storage list; inmemory keeps the messages in \
                       the signer's memory, where nothing reads them)";
        push(k::storage_pubsub_provider, provider.as_str(), allowed.into());
    }
    let topic_ok = topic.len() <= 249
        && !matches!(topic, "." | "..")
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if (selected && topic.is_empty()) || !topic_ok {
        let why = if topic.is_empty() { " (kafka is in an artifacts.*.storage list)" } else { "" };
        let allowed = format!("a Kafka topic name{why}: 1-249 letters, digits, '.', '_' and '-' (not . or ..)");
        push(k::storage_pubsub_topic, topic, allowed);
    }
    let joined = servers.join(",");
    if selected && servers.is_empty() {
        let allowed = "HOST:PORT[,HOST:PORT...] (kafka is in an artifacts.*.storage list)";
        push(k::storage_pubsub_kafka_bootstrap_servers, "", allowed.into());
    } else if let Some(bad) = servers.iter().find(|s| !is_host_port(s)) {
        let allowed = format!("HOST:PORT[,HOST:PORT...]: {bad:?} is not a host and port");
        push(k::storage_pubsub_kafka_bootstrap_servers, &joined, allowed);
    }
    errors
}

/// `host:port`, the form of a Kafka bootstrap server (no scheme or path).
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else { return false };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// Backends that hold only in-toto provenance of runs.
const IN_TOTO_ONLY: &[StorageKind] = &[StorageKind::Grafeas, StorageKind::Archivista];

/// A run type whose storage list names a backend of [`IN_TOTO_ONLY`]
/// cannot use the `tekton` format (`format_key`).
pub fn in_toto_format(storage: &[StorageKind], format: super::values::Format, format_key: &str) -> Option<ConfigError> {
    let kind = IN_TOTO_ONLY.iter().find(|k| storage.contains(k))?;
    (!format.is_in_toto()).then(|| ConfigError {
        key: format_key.into(),
        value: Some(format.as_str().into()),
        allowed: format!(
            "an in-toto format (in-toto, slsa/v1, slsa/v2alpha3, slsa/v2alpha4): {kind} in its storage list \
             stores only in-toto provenance"
        ),
    })
}

/// Archivista holds in-toto attestations, not image signatures: it cannot
/// be in `artifacts.oci.storage`.
pub fn archivista_images(oci_storage: &[StorageKind]) -> Option<ConfigError> {
    oci_storage.contains(&StorageKind::Archivista).then(|| ConfigError {
        key: k::artifacts_oci_storage.into(),
        value: Some(StorageKind::Archivista.as_str().into()),
        allowed: "backends that hold image signatures (tekton, oci, gcs, docdb, grafeas): archivista holds only \
                  in-toto attestations"
            .into(),
    })
}

/// Why `name` is not a GCS bucket name, by Google's naming rules.
fn gcs_bucket_problem(name: &str) -> Option<&'static str> {
    const RULE: &str = "a bucket name: 3-63 (dotted: up to 222) lowercase letters, digits, '-', '_' and '.', \
                        starting and ending with a letter or digit, without gs:// or a path";
    let chars_ok = name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.'));
    let ends_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let max = if name.contains('.') { 222 } else { 63 };
    let parts_ok = name.split('.').all(|p| !p.is_empty() && p.len() <= 63);
    let ok = chars_ok
        && (3..=max).contains(&name.len())
        && ends_ok(name.bytes().next())
        && ends_ok(name.bytes().last())
        && parts_ok
        && !name.starts_with("goog");
    (!ok).then_some(RULE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docdb(url: &str) -> Vec<Storage> {
        let collection = crate::config::docdb::parse(url);
        vec![Storage::DocDb {
            url: url.into(),
            collection,
            mongo_server_url: Default::default(),
            mongo_server_url_dir: String::new(),
            mongo_server_url_path: String::new(),
        }]
    }

    #[test]
    fn a_selected_docdb_needs_a_collection_url_and_a_bad_one_is_refused_anyway() {
        let on: &[StorageKind] = &[StorageKind::DocDb];
        let e = check(&[on], &docdb(""));
        assert_eq!(e.len(), 1);
        assert!(e[0].to_string().starts_with("storage.docdb.url: invalid value \"\"; allowed: a collection URL"));
        assert!(e[0].allowed.contains("mongo://DATABASE/COLLECTION"), "{}", e[0]);
        let off: &[StorageKind] = &[StorageKind::Tekton];
        assert!(check(&[off], &docdb("")).is_empty());
        assert!(check(&[on], &docdb("mongo://db/coll?id_field=Name")).is_empty());
        let e = check(&[off], &docdb("dynamodb://t"));
        assert_eq!(e.len(), 1);
        assert!(e[0].to_string().contains("partition_key"), "{}", e[0]);
    }

    fn gcs(bucket: &str) -> Vec<Storage> {
        vec![Storage::Gcs { bucket: bucket.into() }]
    }

    #[test]
    fn a_selected_gcs_needs_a_valid_bucket() {
        let on: &[StorageKind] = &[StorageKind::Tekton, StorageKind::Gcs];
        let e = check(&[on], &gcs(""));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].to_string().starts_with("storage.gcs.bucket: invalid value \"\"; allowed: a bucket name"),
            "{}",
            e[0]
        );
        let off: &[StorageKind] = &[StorageKind::Tekton];
        assert!(check(&[off], &gcs("")).is_empty(), "unselected: no bucket needed");
        assert!(check(&[on], &gcs("chains-signatures")).is_empty());
        assert!(check(&[on], &gcs("my.bucket_1")).is_empty());
        for bad in ["gs://b", "Caps", "ab", "b/path", "-lead", "trail-", "googbucket", "a..b", &"x".repeat(64)] {
            let e = check(&[off], &gcs(bad));
            assert_eq!(e.len(), 1, "{bad:?} is refused even unselected");
            assert!(e[0].allowed.contains("lowercase letters"), "{}", e[0]);
        }
    }

    fn grafeas(project: &str, note: &str) -> Vec<Storage> {
        vec![Storage::Grafeas { project_id: project.into(), note_id: note.into(), note_hint: String::new() }]
    }

    #[test]
    fn a_selected_grafeas_needs_a_project_and_ids_are_path_free() {
        use crate::config::values::Format;
        let on: &[StorageKind] = &[StorageKind::Grafeas];
        let e = check(&[on], &grafeas("", ""));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].to_string().starts_with("storage.grafeas.projectid: invalid value \"\"; allowed: a project id"),
            "{}",
            e[0]
        );
        let off: &[StorageKind] = &[StorageKind::Tekton];
        assert!(check(&[off], &grafeas("", "")).is_empty());
        assert!(check(&[on], &grafeas("my-project", "team-notes")).is_empty());
        let e = check(&[off], &grafeas("projects/x", "a b"));
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["storage.grafeas.projectid", "storage.grafeas.noteid"]);
        assert!(in_toto_format(on, Format::InToto, "artifacts.taskrun.format").is_none());
        assert!(in_toto_format(off, Format::Tekton, "artifacts.taskrun.format").is_none());
        let e = in_toto_format(on, Format::Tekton, "artifacts.taskrun.format").unwrap();
        assert!(e.to_string().starts_with("artifacts.taskrun.format: invalid value \"tekton\""), "{e}");
        assert!(e.allowed.contains("grafeas in its storage list"), "{e}");
    }

    #[test]
    fn archivista_needs_a_url_and_holds_no_image_signatures() {
        let on: &[StorageKind] = &[StorageKind::Archivista];
        let none = vec![Storage::Archivista { url: String::new() }];
        let e = check(&[on], &none);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, "storage.archivista.url");
        assert!(check(&[&[StorageKind::Tekton]], &none).is_empty());
        assert!(check(&[on], &[Storage::Archivista { url: "http://a:8082".into() }]).is_empty());
        assert_eq!(archivista_images(on).unwrap().key, "artifacts.oci.storage");
        assert!(archivista_images(&[StorageKind::Oci]).is_none());
    }

    fn kafka(provider: PubSubProvider, topic: &str, servers: &[&str]) -> Vec<Storage> {
        let bootstrap_servers = servers.iter().map(|s| s.to_string()).collect();
        vec![Storage::Kafka { provider, topic: topic.into(), bootstrap_servers }]
    }

    #[test]
    fn a_selected_kafka_needs_a_topic_and_brokers_and_no_inmemory() {
        use PubSubProvider::{InMemory, Kafka, Unset};
        let on: &[StorageKind] = &[StorageKind::Kafka];
        let off: &[StorageKind] = &[StorageKind::Tekton];
        let keys = |e: Vec<ConfigError>| e.into_iter().map(|e| e.key).collect::<Vec<_>>();
        assert_eq!(
            keys(check(&[on], &kafka(Unset, "", &[]))),
            ["storage.pubsub.topic", "storage.pubsub.kafka.bootstrap.servers"]
        );
        assert!(check(&[off], &kafka(Unset, "", &[])).is_empty(), "unselected: nothing needed");
        assert!(check(&[on], &kafka(Unset, "chains", &["k1:9092", "[::1]:9093"])).is_empty());
        assert!(check(&[on], &kafka(Kafka, "chains.v1_x-y", &["kafka-0.kafka-headless.default:9092"])).is_empty());
        let e = check(&[on], &kafka(InMemory, "chains", &["k:9092"]));
        assert_eq!(e.len(), 1);
        assert!(e[0].to_string().starts_with(r#"storage.pubsub.provider: invalid value "inmemory"; allowed: kafka"#));
        assert!(check(&[off], &kafka(InMemory, "", &[])).is_empty(), "inmemory is harmless unselected");
        for bad in ["a/b", "..", "sp ace", &"t".repeat(250)] {
            assert_eq!(keys(check(&[off], &kafka(Unset, bad, &[]))), ["storage.pubsub.topic"], "{bad:?}");
        }
        for bad in ["k1", "kafka://k:9092", "k:http", "k:0", ":9092", "k:9092/x"] {
            let e = check(&[on], &kafka(Unset, "t", &["ok:1", bad]));
            assert_eq!(e.len(), 1, "{bad:?}");
            assert!(e[0].allowed.contains(&format!("{bad:?} is not a host and port")), "{}", e[0]);
        }
    }
}

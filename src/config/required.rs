//! What a storage backend needs once it is selected in an
//! `artifacts.*.storage` list: checked with the rest of the config, so a
//! config that names `gcs` without a usable bucket is refused whole (and
//! the previous one stays) instead of failing every run.

use super::ConfigError;
use super::keys::name as k;
use super::sections::Storage;
use super::values::StorageKind;

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
            _ => {}
        }
    }
    errors
}

/// `grafeas` stores only in-toto provenance of runs: a run type whose
/// storage list names it cannot use the `tekton` format (`format_key`).
pub fn grafeas_format(storage: &[StorageKind], format: super::values::Format, format_key: &str) -> Option<ConfigError> {
    (storage.contains(&StorageKind::Grafeas) && !format.is_in_toto()).then(|| ConfigError {
        key: format_key.into(),
        value: Some(format.as_str().into()),
        allowed: "an in-toto format (in-toto, slsa/v1, slsa/v2alpha3, slsa/v2alpha4): grafeas in its storage list \
                  stores only in-toto provenance"
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
        assert!(grafeas_format(on, Format::InToto, "artifacts.taskrun.format").is_none());
        assert!(grafeas_format(off, Format::Tekton, "artifacts.taskrun.format").is_none());
        let e = grafeas_format(on, Format::Tekton, "artifacts.taskrun.format").unwrap();
        assert!(e.to_string().starts_with("artifacts.taskrun.format: invalid value \"tekton\""), "{e}");
    }
}

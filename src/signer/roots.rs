//! The extra CAs trusted for registries: `--registry-ca-file` files and
//! folders (a mounted ConfigMap: every key a file), read once at start.
//! A file that holds no certificate is skipped and reported, so one bad
//! key never drops the others.

use std::path::{Path, PathBuf};

/// Largest CA file read (a cluster's trusted bundle is a few hundred KiB).
const MAX_FILE: u64 = 4 << 20;

/// What the CA files and folders held.
#[derive(Debug, Default)]
pub struct CaBundle {
    /// The certificates of every usable file, one PEM bundle.
    pub pem: Vec<u8>,
    /// The files they came from.
    pub files: Vec<PathBuf>,
    /// Files or folders skipped, and why.
    pub problems: Vec<String>,
}

/// Reads every file given, and every visible file of every folder given
/// (sorted by name; the kubelet's `..data` links are hidden).
pub fn read(paths: &[PathBuf]) -> CaBundle {
    let mut bundle = CaBundle::default();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => match folder_files(path) {
                Ok(files) => files.iter().for_each(|f| add_file(&mut bundle, f)),
                Err(e) => bundle.problems.push(format!("{}: {e}", path.display())),
            },
            Ok(_) => add_file(&mut bundle, path),
            Err(e) => bundle.problems.push(format!("{}: {e}", path.display())),
        }
    }
    bundle
}

fn folder_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn add_file(bundle: &mut CaBundle, file: &Path) {
    let bytes = match std::fs::metadata(file) {
        Ok(m) if m.len() > MAX_FILE => Err(format!("larger than {} MiB", MAX_FILE >> 20)),
        Ok(_) => std::fs::read(file).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let problem = match bytes {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => return,
        Ok(b) => match reqwest::Certificate::from_pem_bundle(&b) {
            Ok(certs) if !certs.is_empty() => {
                bundle.pem.extend_from_slice(&b);
                bundle.pem.push(b'\n');
                bundle.files.push(file.to_path_buf());
                return;
            }
            Ok(_) => "no PEM certificate in it".to_string(),
            Err(e) => format!("not a PEM certificate bundle: {e}"),
        },
        Err(e) => e,
    };
    bundle.problems.push(format!("{}: {problem}", file.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("roots-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn missing_and_empty_folders_add_nothing_and_hidden_entries_are_skipped() {
        let d = folder("empty");
        std::fs::create_dir(d.join("..data")).unwrap();
        std::fs::write(d.join("..data/ca-bundle.crt"), "junk").unwrap();
        std::fs::write(d.join("empty.crt"), "\n").unwrap();
        let b = read(std::slice::from_ref(&d));
        assert!(b.pem.is_empty() && b.files.is_empty() && b.problems.is_empty(), "{b:?}");
        let b = read(&[d.join("absent")]);
        assert_eq!(b.problems.len(), 1, "{b:?}");
    }

    #[test]
    fn a_file_without_certificates_is_reported_not_fatal() {
        let d = folder("bad");
        std::fs::write(d.join("a-junk.crt"), "not a certificate").unwrap();
        let b = read(std::slice::from_ref(&d));
        assert!(b.pem.is_empty());
        assert!(b.problems[0].contains("a-junk.crt"), "{:?}", b.problems);
    }
}

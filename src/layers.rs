//! The module graph, checked: top-level modules only import from layers
//! below them, and no sibling modules import each other in a circle. A
//! test, so a change that breaks either fails `cargo test`. Test modules
//! (`tests.rs`, inline `mod tests`) are left out: they may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules, lowest first. Each may use only the ones before it.
const LAYERS: &[&str] = &[
    "http",
    "remote",
    "aws",
    "telemetry",
    "seam",
    "tekton",
    "config",
    "crd",
    "formats",
    "signing",
    "transparency",
    "storage",
    "signer",
    "operator",
];

type ModPath = Vec<String>;

/// The module path of a source file under `src/` (`signer/mod.rs` → `signer`).
fn module_of(rel: &Path) -> ModPath {
    let mut parts: ModPath = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" {
            parts.push(stem.to_string());
        }
    }
    parts
}

fn files(dir: &Path, root: &Path, out: &mut Vec<(ModPath, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).unwrap_or(&p);
            out.push((module_of(rel), std::fs::read_to_string(&p).unwrap_or_default()));
        }
    }
}

/// The code of a file without comments, up to an inline `mod tests`.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("mod tests {") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line.split(" // ").next().unwrap_or(line));
        out.push('\n');
    }
    out
}

fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// Every module path `crate::`/`super::` paths in `code` lead to, resolved from `here`.
fn targets(here: &ModPath, code: &str) -> Vec<ModPath> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("::") {
        let before = &code[..i];
        let word_start = before.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |p| p + 1);
        let word = &before[word_start..];
        // Only the first `::` of a path starts one.
        if !(word == "crate" || word == "super") || before[..word_start].ends_with("::") {
            continue;
        }
        let mut base: ModPath =
            if word == "crate" { Vec::new() } else { here[..here.len().saturating_sub(1)].to_vec() };
        let mut rest = &code[i + 2..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let mut path = base;
        loop {
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name = ident(item.trim());
                    if !name.is_empty() && name != "self" {
                        let mut p = path.clone();
                        p.push(name.to_string());
                        out.push(p);
                    }
                }
                break;
            }
            let name = ident(rest);
            if name.is_empty() {
                break;
            }
            path.push(name.to_string());
            rest = &rest[name.len()..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        out.push(path);
    }
    out
}

/// Edges between sibling modules: parent → {(from, to)}.
type Siblings = BTreeMap<ModPath, BTreeSet<(String, String)>>;

fn graph(all: &[(ModPath, String)]) -> Siblings {
    let modules: BTreeSet<&ModPath> = all.iter().map(|(m, _)| m).collect();
    let mut edges = Siblings::new();
    for (here, text) in all {
        for t in targets(here, &code(text)) {
            let p = here.iter().zip(&t).take_while(|(a, b)| a == b).count();
            if p >= here.len() || p >= t.len() || !modules.contains(&t[..=p].to_vec()) {
                continue;
            }
            edges.entry(here[..p].to_vec()).or_default().insert((here[p].clone(), t[p].clone()));
        }
    }
    edges
}

/// A circle in `edges`, if any, as the modules along it.
fn circle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    fn visit<'a>(
        n: &'a str,
        edges: &'a BTreeSet<(String, String)>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| *s == n) {
            let mut c: Vec<String> = stack[at..].iter().map(|s| s.to_string()).collect();
            c.push(n.to_string());
            return Some(c);
        }
        if !done.insert(n) {
            return None;
        }
        stack.push(n);
        for (_, to) in edges.iter().filter(|(f, _)| f == n) {
            if let Some(c) = visit(to, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges.iter().find_map(|(from, _)| visit(from, edges, &mut Vec::new(), &mut done))
}

fn sources() -> Vec<(ModPath, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&root, &root, &mut all);
    // Test modules may use anything; the checker's own examples are not imports.
    let skip = |m: &ModPath| m.is_empty() || m == &["main"] || m == &["layers"] || m.iter().any(|p| p == "tests");
    all.retain(|(m, _)| !skip(m));
    all
}

#[test]
fn top_level_modules_only_use_layers_below_them() {
    let edges = graph(&sources());
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut up = Vec::new();
    for (from, to) in edges.get(&Vec::new()).into_iter().flatten() {
        match (rank(from), rank(to)) {
            (Some(f), Some(t)) if t < f => {}
            (Some(_), Some(_)) => up.push(format!("{from} → {to}")),
            _ => up.push(format!("{from} → {to}: add the new module to LAYERS in src/layers.rs")),
        }
    }
    assert!(up.is_empty(), "imports against the layer order {LAYERS:?}:\n{}", up.join("\n"));
}

#[test]
fn no_sibling_modules_import_each_other_in_a_circle() {
    let circles: Vec<String> = graph(&sources())
        .iter()
        .filter_map(|(parent, e)| circle(e).map(|c| format!("{}: {}", parent.join("::"), c.join(" → "))))
        .collect();
    assert!(circles.is_empty(), "sibling import circles:\n{}", circles.join("\n"));
}

#[test]
fn the_checker_sees_paths_groups_and_circles() {
    let here: ModPath = vec!["signer".into(), "worker".into()];
    let t = targets(&here, "use super::{verify::X, memory};\nuse crate::config::Y; super::super::formats::z()");
    let names: Vec<String> = t.iter().map(|p| p.join("::")).collect();
    assert!(names.contains(&"signer::verify".to_string()), "{names:?}");
    assert!(names.contains(&"signer::memory".to_string()), "{names:?}");
    assert!(names.contains(&"config::Y".to_string()), "{names:?}");
    assert!(names.contains(&"formats::z".to_string()), "{names:?}");
    let e: BTreeSet<(String, String)> =
        [("a", "b"), ("b", "c"), ("c", "a")].iter().map(|(x, y)| (x.to_string(), y.to_string())).collect();
    assert_eq!(circle(&e).map(|c| c.len()), Some(4));
    let e: BTreeSet<(String, String)> =
        [("a", "b"), ("a", "c")].iter().map(|(x, y)| (x.to_string(), y.to_string())).collect();
    assert_eq!(circle(&e), None);
}

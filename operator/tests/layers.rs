//! The shape of the code, checked: which layer may import which, no circle between files, no file too long.
//!
//! The rule (also in `lib.rs`'s doc): `api` ← `decisions` ← `kafka` ← `controllers` ← `app`, each importing only
//! layers to its left, with `registry` (the Schema Registry client) beside `kafka`: after `decisions`, before
//! `controllers`, and neither of the two importing the other; `runtime` (configuration, Events, metrics, HTTP, logs, locks) is a leaf that imports `api`
//! at most, so every layer may use it. Imports are read from the source text: `use` trees (braces expanded) and
//! paths written inline, with `crate::`, `super::` and `self::` resolved to the file they name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules each top-level module may import (itself always).
fn allowed(layer: &str) -> &'static [&'static str] {
    match layer {
        "api" => &[],
        "decisions" | "runtime" => &["api"],
        "kafka" | "registry" => &["api", "decisions", "runtime"],
        "controllers" => &["api", "decisions", "runtime", "kafka", "registry"],
        "app" => &["api", "decisions", "runtime", "kafka", "registry", "controllers"],
        // lib.rs declares the modules; main.rs is the binary and may use any of them.
        "lib" | "main" => &["api", "app", "controllers", "decisions", "kafka", "registry", "runtime"],
        other => panic!("{other}: a new top-level module needs a place in the layer rule of tests/layers.rs"),
    }
}

/// The longest a source file may grow.
const MAX_LINES: usize = 650;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `kafka/mod.rs` → ["kafka"], `kafka/wire/tls.rs` → ["kafka", "wire", "tls"].
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).expect("under src/");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    if parts.is_empty() {
        parts.push(stem.to_string());
    }
    parts
}

/// Source text without comments, string literals and `#[cfg(test)]` modules' bodies left in (tests import freely
/// within the rule too, so they are checked like the rest).
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        let word_char = prev.is_alphanumeric() || prev == '_';
        prev = c;
        match c {
            // A raw string (`r"…"`, `r#"…"#`): no escapes inside, so a `\"` in it does not end it early.
            'r' if !word_char && matches!(chars.peek(), Some('"' | '#')) => {
                let mut hashes = 0;
                while chars.peek() == Some(&'#') {
                    chars.next();
                    hashes += 1;
                }
                if chars.next_if_eq(&'"').is_none() {
                    out.push('r');
                    continue;
                }
                let closing: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                let mut body = String::new();
                for c in chars.by_ref() {
                    body.push(c);
                    if body.ends_with(&closing) {
                        break;
                    }
                }
                out.push_str("\"\"");
                prev = '"';
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.trim_end_matches("::self").to_string()];
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').expect("balanced braces")];
    let mut parts = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| match p.as_str() {
            "self" => prefix.to_string(),
            _ if prefix.is_empty() => p,
            _ => format!("{prefix}::{p}"),
        })
        .collect()
}

/// Every path the file refers to that starts with `crate`, `super` or `self`.
fn references(text: &str) -> Vec<String> {
    let text = strip(text);
    let mut paths = vec![];
    let mut rest = text.as_str();
    while let Some(at) = rest.find("use ") {
        let before_ok = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric() && rest.as_bytes()[at - 1] != b'_';
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if before_ok {
            paths.extend(expand(&after[..end]));
        }
        rest = &after[end.min(after.len())..];
    }
    let bytes = text.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let i = from + i;
            from = i + start.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':') {
                continue;
            }
            let end = text[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(text.len(), |e| i + e);
            paths.push(text[i..end].trim_end_matches(':').to_string());
        }
    }
    let mut seen = BTreeSet::new();
    paths
        .into_iter()
        .filter(|p| p.starts_with("crate") || p.starts_with("super") || p.starts_with("self"))
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// Resolves a path seen in the file of module `here` to an absolute module path (without `crate`).
/// A `foo.rs` or `foo/mod.rs` is module `foo`: there `self` is `foo` and `super` its parent.
fn absolute(path: &str, here: &[String]) -> Vec<String> {
    let mut segments = path.split("::").map(str::to_string).collect::<Vec<_>>().into_iter().peekable();
    let mut base: Vec<String> = here.to_vec();
    if here.len() == 1 && (here[0] == "lib" || here[0] == "main") {
        base.clear();
    }
    match segments.next().as_deref() {
        Some("crate") => base.clear(),
        Some("self") => {}
        Some("super") => {
            base.pop();
            while segments.peek().is_some_and(|s| s == "super") {
                segments.next();
                base.pop();
            }
        }
        _ => unreachable!("filtered above"),
    }
    base.extend(segments);
    base
}

/// The file (as a module path) that defines the longest prefix of `path`.
fn owning_file(path: &[String], files: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| files.contains(p))
}

struct Graph {
    /// file → the files it imports from, with one path that shows it.
    edges: BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>,
}

fn graph() -> Graph {
    let mut files = vec![];
    rust_files(&src(), &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let here = module_of(file);
        let text = std::fs::read_to_string(file).expect("readable source");
        // A file's inline test module sits one level down: its `super` is the file itself.
        let (body, tests) = text.split_once("\nmod tests {").unwrap_or((&text, ""));
        let mut in_tests = here.clone();
        in_tests.push("tests".into());
        let mut out: BTreeMap<Vec<String>, String> = BTreeMap::new();
        let seen = references(body).into_iter().map(|r| (absolute(&r, &here), r));
        for (abs, reference) in seen.chain(references(tests).into_iter().map(|r| (absolute(&r, &in_tests), r))) {
            if let Some(target) = owning_file(&abs, &modules)
                && target != here
            {
                out.entry(target).or_insert(reference);
            }
        }
        edges.insert(here, out);
    }
    Graph { edges }
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let graph = graph();
    let mut broken = vec![];
    for (from, targets) in &graph.edges {
        for (to, shown_by) in targets {
            let (a, b) = (from[0].as_str(), to[0].as_str());
            if a != b && !allowed(a).contains(&b) {
                broken.push(format!("{} imports {} ({shown_by})", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(broken.is_empty(), "imports against the layer rule:\n{}", broken.join("\n"));
    // The rule reads real imports: the controllers use the Kafka layer, and the Kafka layer the decisions.
    let uses = |a: &str, b: &str| graph.edges.iter().any(|(f, t)| f[0] == a && t.keys().any(|to| to[0] == b));
    assert!(uses("controllers", "kafka") && uses("kafka", "decisions") && uses("decisions", "api"));
}

#[test]
fn no_circle_between_files() {
    let graph = graph();
    // Tarjan-free: a depth-first search that reports the first back edge it meets, with the path.
    fn visit(
        node: &Vec<String>,
        graph: &Graph,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.clone());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.edges.get(node).into_iter().flat_map(|t| t.keys()) {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.edges.keys() {
        if let Some(circle) = visit(node, &graph, &mut vec![], &mut done) {
            let names: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
            panic!("a circle of imports between files: {}", names.join(" -> "));
        }
    }
}

#[test]
fn no_source_file_is_over_the_limit() {
    let mut files = vec![];
    rust_files(&src(), &mut files);
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"), &mut files);
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "target"))
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).expect("readable").lines().count();
            (n > MAX_LINES).then(|| format!("{} has {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines:\n{}", long.join("\n"));
}

#[test]
fn the_reader_sees_imports_as_written() {
    // The parts the rule relies on, on small inputs: a broken reader would let every import through.
    let paths = expand("crate::a::{b, c::{self, D}, e as f}");
    assert_eq!(paths, ["crate::a::b", "crate::a::c", "crate::a::c::D", "crate::a::e"]);
    let refs = references("use super::x::Y; // crate::not::this\nfn f() { crate::kafka::wire::call(\"crate::no\") }");
    assert_eq!(refs, ["super::x::Y", "crate::kafka::wire::call"]);
    let here = vec!["controllers".to_string(), "topic".to_string()];
    assert_eq!(absolute("super::context::Context", &here), ["controllers", "context", "Context"]);
    assert_eq!(absolute("crate::api::Topic", &here), ["api", "Topic"]);
}

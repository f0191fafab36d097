//! The rule that keeps the stages readable in order: **no import cycle between
//! top-level modules.** A top-level module is a file or folder directly under `src/`
//! (`apply`, `snapshot/`, `scrub` with `scrub/shapes.rs`, …); module `a` depends on `b`
//! when any of `a`'s files names `crate::b` (in a `use`, a path in code such as
//! `crate::b::f()`, or a path in an attribute string such as serde's `serialize_with`).
//! Comment lines do not count: a doc link may point anywhere.
//!
//! So the data flows one way (`api → bridge → snapshot → apply → run`, driven by
//! `commands`), and plumbing at the root (`scrub`, `db`, `config`, `error`) knows no
//! command. Within one top-level module, files may use each other freely.
//!
//! The test reads the source files themselves, so it needs no build of anything else;
//! it fails naming the cycle and, for each step, a file and line that makes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Where `from` names `to` first: `src/apply.rs:42`.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules `text` names after `crate::`: `crate::a::b` gives `a`,
/// `crate::{a, b::{c, d}}` gives `a` and `b`.
fn named_modules(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        // `ampsync::crate::` does not occur; a preceding identifier character would mean
        // a longer name (`my_crate::`), which is not this crate.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(is_ident) {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            let mut ident = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => item_start = true,
                    c if depth == 1 && item_start && is_ident(c) => ident.push(c),
                    _ => {}
                }
                if !ident.is_empty() && depth == 1 && item_start && !is_ident(c) {
                    names.push(std::mem::take(&mut ident));
                    item_start = false;
                }
                if depth == 0 {
                    break;
                }
            }
            if !ident.is_empty() {
                names.push(ident);
            }
        } else {
            let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !ident.is_empty() {
                names.push(ident);
            }
        }
    }
    names
}

/// For each top-level module, the others it names, with where.
fn dependencies(src: &Path) -> Edges {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut edges = Edges::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
        if ["lib", "main"].contains(&module.as_str()) {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for to in named_modules(line) {
                if to != module {
                    let at = format!("src/{}:{}", relative.display(), n + 1);
                    edges
                        .entry(module.clone())
                        .or_default()
                        .entry(to)
                        .or_insert(at);
                }
            }
        }
    }
    edges
}

/// A cycle, as the modules along it (the first repeated at the end), if there is one.
fn find_cycle(edges: &Edges) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        edges: &Edges,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for to in edges.get(module).into_iter().flat_map(|m| m.keys()) {
            if let Some(cycle) = visit(to, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        if let Some(cycle) = visit(module, edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// `apply → run → apply (src/apply.rs:40 names crate::run; …)`.
fn describe(cycle: &[String], edges: &Edges) -> String {
    let steps: Vec<String> = cycle
        .windows(2)
        .map(|w| format!("{} names crate::{}", edges[&w[0]][&w[1]], w[1]))
        .collect();
    format!("{} ({})", cycle.join(" → "), steps.join("; "))
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = dependencies(&src);
    assert!(
        edges.contains_key("apply") && edges.contains_key("commands"),
        "the check found no imports at all: {edges:?}"
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "import cycle between top-level modules of src/: {}. Imports run one way, down the flow (see src/layers.rs)",
            describe(&cycle, &edges)
        );
    }
}

#[test]
fn the_names_after_crate_are_read_from_paths_and_groups() {
    assert_eq!(
        named_modules("use crate::apply::{self, Counts};"),
        ["apply"]
    );
    assert_eq!(
        named_modules("use crate::{run::ledger, snapshot::{a, b}, db};"),
        ["run", "snapshot", "db"]
    );
    assert_eq!(named_modules("x = crate::scrub::f(my_crate::y)"), ["scrub"]);
    let edges: Edges = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(f, t)| (f.to_owned(), [(t.to_owned(), format!("{f}.rs:1"))].into()))
        .collect();
    assert_eq!(
        find_cycle(&edges).unwrap(),
        ["a", "b", "c", "a"].map(String::from)
    );
}

//! Inside each library crate of the workspace, modules import each other one way: no file reaches,
//! through `crate::` paths, a file that reaches it back. A cycle means two modules hold
//! one idea between them (or one of them holds two), which is where a newcomer gets lost.
//!
//! Read from the sources as a reviewer would: every `crate::a::b` path in code (comments,
//! doc comments and `#[cfg(test)] mod tests` blocks left out) is an edge from its file to
//! the deepest file that `a::b` names. A module reaching its own parent or child is not
//! an edge (a parent declares and re-exports its children).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module, as the path of its file below `src/` (`["harness", "registry"]`).
type Module = Vec<String>;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
}

/// Every module of the crate whose sources are in `src`, with its file; `lib.rs` left out.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).expect("the source folder is readable");
        for entry in entries {
            let path = entry.expect("a readable entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("below src");
            let mut module: Module = relative
                .with_extension("")
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|last| last == "mod") {
                module.pop();
            }
            if module != ["lib"] && module != ["main"] {
                found.insert(module, path);
            }
        }
    }
    found
}

/// The code of a file: no comment lines, and nothing from its unit tests on.
fn code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("a readable source file");
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths that `crate::` paths in `code` name, grouped imports
/// (`crate::{a, b::c}`) spread out. A path may go on into an item (`a::Item`): the
/// caller keeps its longest prefix that is a module.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (start, _) in code.match_indices("crate::") {
        let rest = &code[start + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find(';').unwrap_or(group.len())];
            paths.extend(group.split([',', '{', '}']).map(path_of));
        } else {
            paths.push(path_of(rest));
        }
    }
    paths
}

/// The `a::b::c` at the start of `text`, split at `::`.
fn path_of(text: &str) -> Vec<String> {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    text[..end]
        .split("::")
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The edges of the crate in `src`: each module and the modules it reaches.
fn imports(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules = modules(src);
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let mut reached = BTreeSet::new();
        for path in crate_paths(&code(file)) {
            let target = (1..=path.len())
                .rev()
                .map(|length| path[..length].to_vec())
                .find(|prefix| modules.contains_key(prefix));
            if let Some(target) = target {
                let related = module.starts_with(&target) || target.starts_with(module);
                if !related {
                    reached.insert(target);
                }
            }
        }
        edges.insert(module.clone(), reached);
    }
    edges
}

/// A cycle among `edges`, as the modules along it, if there is one.
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        module: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        done: &mut BTreeSet<Module>,
        path: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(at) = path.iter().position(|on_path| on_path == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.clone());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.clone());
        for next in edges.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|module| visit(module, edges, &mut done, &mut Vec::new()))
}

#[test]
fn the_modules_of_each_crate_import_each_other_one_way() {
    let crates = [
        "ownership-runtime",
        "ownership-macros",
        "sandbox-sqlx",
        "mockall-bridge",
    ];
    for name in crates {
        let src = workspace().join(name).join("src");
        let edges = imports(&src);
        assert!(edges.len() > 1, "{name}: {edges:?}");
        if let Some(cycle) = find_cycle(&edges) {
            let shown: Vec<String> = cycle.iter().map(|module| module.join("::")).collect();
            panic!(
                "{name}: modules import each other in a circle: {}. Move what both need \
                 into a module of its own below them, or the one idea they share into one \
                 of them.",
                shown.join(" -> ")
            );
        }
    }
}

#[test]
fn a_cycle_of_three_files_is_found() {
    let folder = std::env::temp_dir().join(format!("module-imports-{}", std::process::id()));
    let src = folder.join("src");
    std::fs::create_dir_all(src.join("nested")).expect("a temporary folder");
    let files = [
        ("lib.rs", "mod a; mod b; mod nested;"),
        (
            "a.rs",
            "use crate::b::Thing;\n// use crate::nested; (a comment: no edge)",
        ),
        ("b.rs", "pub(crate) fn f() { crate::nested::deep::g() }"),
        ("nested/mod.rs", "mod deep;"),
        ("nested/deep.rs", "use crate::{a::Other, nested::deep};"),
    ];
    for (file, text) in files {
        std::fs::write(src.join(file), text).expect("a written file");
    }
    let cycle = find_cycle(&imports(&src)).expect("a -> b -> nested::deep -> a");
    let shown: Vec<String> = cycle.iter().map(|module| module.join("::")).collect();
    assert_eq!(shown, ["a", "b", "nested::deep", "a"]);
    // Without the edge back to `a`, the three run one way.
    std::fs::write(src.join("nested/deep.rs"), "// crate::a, in a comment").expect("written");
    assert_eq!(find_cycle(&imports(&src)), None);
    std::fs::remove_dir_all(&folder).expect("removed");
}

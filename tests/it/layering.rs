//! The layers of ARCHITECTURE.md, held against the code: every `crate::…` path in `src/`
//! points to the file's own module or one below it, and only handler files mention `axum`.
//! Read as text (as a reviewer would), so it needs no build of its own and fails with the file
//! and the name that broke the rule.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The top-level modules from the ground up; a module may use its own floor and those below.
/// Modules on one floor may not use each other.
const FLOORS: &[&[&str]] = &[
    &["ops"],
    &["crypto"],
    &["config"],
    &["store"],
    &["events"],
    &["realm"],
    &["keyring"],
    &["web"],
    &["webauthn"],
    &["sms"],
    &["mail"],
    &["orgs", "broker"],
    &["flow"],
    &["state"],
    &["oidc"],
    &["login"],
    &["admin"],
    &["account"],
    &["app"],
    &["tooling"],
    &["cli"],
    &["lib", "main"],
];

/// Files that may speak HTTP: the router and server (`app/`), what pages need (`web/`), and
/// the handler files of each area (`routes.rs`, or a `routes/` folder when they are many).
fn may_use_axum(path: &str) -> bool {
    path.starts_with("src/app/")
        || path.starts_with("src/web/")
        || path.starts_with("src/admin/api/")
        || path.ends_with("/routes.rs")
        || path.contains("/routes/")
}

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/oidc/token.rs` → `oidc`).
fn module_of(relative: &str) -> &str {
    let first = relative
        .trim_start_matches("src/")
        .split('/')
        .next()
        .unwrap_or_default();
    first.trim_end_matches(".rs")
}

/// The modules a file names as `crate::NAME` (also inside `crate::{a::…, b}` groups).
fn crate_paths(text: &str) -> BTreeSet<String> {
    paths_after(text, "crate::")
        .into_iter()
        .filter_map(|segments| segments.into_iter().next())
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path that follows `prefix` (`crate::`, `super::`, `child::`) where it starts a path,
/// as its segments, with `{…}` groups expanded (`a::{b, c::d}` → `a::b`, `a::c::d`).
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        expand(&text[i + prefix.len()..], Vec::new(), &mut out);
    }
    out
}

/// Reads one path (`a::b`, `a::{b, c}`) at the start of `rest`, after `head`.
fn expand(rest: &str, head: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut segments = head;
    let mut rest = rest;
    loop {
        let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        if name.is_empty() {
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item_start = 0;
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            expand(group[item_start..j].trim_start(), segments.clone(), out);
                            return;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(group[item_start..j].trim_start(), segments.clone(), out);
                            item_start = j + 1;
                        }
                        _ => {}
                    }
                }
            }
            if !segments.is_empty() {
                out.push(segments);
            }
            return;
        }
        rest = &rest[name.len()..];
        segments.push(name);
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => {
                out.push(segments);
                return;
            }
        }
    }
}

/// The module path of a file: `src/flow/actions/mod.rs` → `flow::actions`.
fn module_path(relative: &str) -> Vec<String> {
    let inner = relative.trim_start_matches("src/").trim_end_matches(".rs");
    let mut segments: Vec<String> = inner.split('/').map(String::from).collect();
    if matches!(segments.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        segments.pop();
    }
    segments
}

/// The file that holds the longest prefix of `segments` (a module path) that is a file.
fn file_of(root: &Path, segments: &[String]) -> Option<String> {
    (1..=segments.len()).rev().find_map(|k| {
        let joined = segments[..k].join("/");
        [format!("src/{joined}.rs"), format!("src/{joined}/mod.rs")]
            .into_iter()
            .find(|candidate| root.join(candidate).is_file())
    })
}

/// The files of its own module that a file uses: through `crate::own::…`, `super::…`,
/// `self::…`, or (in a file that declares modules) `child::…`. Files that contain this one
/// (its parents' `mod.rs`) do not count: a module's pieces may use what it declares.
fn file_uses(root: &Path, relative: &str, text: &str) -> BTreeSet<String> {
    let own = module_path(relative);
    let mut paths: Vec<Vec<String>> = paths_after(text, "crate::");
    for segments in paths_after(text, "super::") {
        let mut base = own.clone();
        let mut rest = segments.as_slice();
        base.pop();
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        paths.push(base.into_iter().chain(rest.iter().cloned()).collect());
    }
    for segments in paths_after(text, "self::") {
        paths.push(own.iter().cloned().chain(segments).collect());
    }
    for line in text.lines() {
        let declared = line
            .trim_start()
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ");
        if let Some(child) = declared.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            for segments in paths_after(text, &format!("{child}::")) {
                let mut path = own.clone();
                path.push(child.to_string());
                paths.push(path.into_iter().chain(segments).collect());
            }
        }
    }
    let top = own.first().cloned().unwrap_or_default();
    paths
        .into_iter()
        .filter(|p| p.first() == Some(&top))
        .filter_map(|p| file_of(root, &p))
        .filter(|target| {
            let target_dir = target.trim_end_matches("mod.rs");
            target != relative && !(target.ends_with("/mod.rs") && relative.starts_with(target_dir))
        })
        .collect()
}

/// Circles among the files of one module, each as `a → b → a`.
fn file_cycles(root: &Path, files: &[(String, String)]) -> Vec<String> {
    let edges: std::collections::BTreeMap<String, BTreeSet<String>> = files
        .iter()
        .map(|(relative, text)| (relative.clone(), file_uses(root, relative, text)))
        .collect();
    let mut cycles = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first from each file, looking for a way back to it.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    let mut circle = path.clone();
                    let smallest = circle.iter().min().cloned().unwrap_or_default();
                    let pos = circle.iter().position(|f| *f == smallest).unwrap_or(0);
                    circle.rotate_left(pos);
                    circle.push(circle[0].clone());
                    cycles.insert(circle.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    cycles.into_iter().collect()
}

fn violations() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 50, "src/ was read ({} files)", files.len());
    let mut found = Vec::new();
    let mut sources = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(root)
            .expect("under the manifest directory")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&path).expect("a readable source file");
        let module = module_of(&relative);
        let Some(own) = floor_of(module) else {
            found.push(format!(
                "{relative}: module '{module}' is on no floor of ARCHITECTURE.md"
            ));
            continue;
        };
        for target in crate_paths(&text) {
            match floor_of(&target) {
                Some(floor) if target != module && floor >= own => found.push(format!(
                    "{relative}: '{module}' uses crate::{target}, which is not below it"
                )),
                _ => {}
            }
        }
        if text.contains("axum") && !may_use_axum(&relative) {
            found.push(format!("{relative}: mentions axum outside a handler file"));
        }
        sources.push((relative, text));
    }
    for circle in file_cycles(root, &sources) {
        found.push(format!("files use each other in a circle: {circle}"));
    }
    found
}

#[test]
fn modules_only_import_modules_below_them() {
    let found = violations();
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn the_scan_sees_what_it_checks() {
    let paths = crate_paths("use crate::store::Store; my_crate::no; crate::web::http::origin(a)");
    assert_eq!(paths.into_iter().collect::<Vec<_>>(), ["store", "web"]);
    let grouped = crate_paths("use crate::{flow::{a, b::c}, mail};");
    assert_eq!(grouped.into_iter().collect::<Vec<_>>(), ["flow", "mail"]);
    assert_eq!(
        paths_after("use super::{x::Y, z};", "super::"),
        [vec!["x".to_string(), "Y".to_string()], vec!["z".to_string()]]
    );
    assert_eq!(module_path("src/flow/actions/mod.rs"), ["flow", "actions"]);
    assert_eq!(module_of("src/oidc/token.rs"), "oidc");
    assert_eq!(module_of("src/state.rs"), "state");
    assert!(floor_of("store") < floor_of("oidc"));
    assert!(may_use_axum("src/oidc/routes.rs") && !may_use_axum("src/oidc/token.rs"));
}

#[test]
fn the_file_scan_finds_circles() {
    let dir = crate::support::TempDir::new();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/m/parts")).expect("dirs");
    let files = [
        ("src/m/mod.rs", "mod a;\nmod b;\nmod parts;\npub use a::A;\n"),
        ("src/m/a.rs", "use super::b::B;\npub struct A;\n"),
        ("src/m/b.rs", "use crate::m::{a::A, Shared};\npub struct B;\n"),
        ("src/m/parts/mod.rs", "mod c;\n"),
        ("src/m/parts/c.rs", "use super::super::Shared;\nuse super::super::a;\n"),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).expect("write");
    }
    let sources: Vec<(String, String)> = files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    // a and b use each other; c uses a and its parents' items (allowed); mod.rs declares all.
    assert_eq!(file_cycles(root, &sources), ["src/m/a.rs → src/m/b.rs → src/m/a.rs"]);
    let uses = file_uses(root, "src/m/parts/c.rs", files[4].1);
    assert_eq!(uses.into_iter().collect::<Vec<_>>(), ["src/m/a.rs"]);
}

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
    &["mail"],
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

/// The modules a file names as `crate::NAME`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let preceded_by_ident = text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if preceded_by_ident {
            continue;
        }
        let name: String = text[i + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        found.insert(name);
    }
    found
}

fn violations() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 50, "src/ was read ({} files)", files.len());
    let mut found = Vec::new();
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
    assert_eq!(module_of("src/oidc/token.rs"), "oidc");
    assert_eq!(module_of("src/state.rs"), "state");
    assert!(floor_of("store") < floor_of("oidc"));
    assert!(may_use_axum("src/oidc/routes.rs") && !may_use_axum("src/oidc/token.rs"));
}

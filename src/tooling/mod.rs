//! Tooling for people who write flows: `flow check` (every mistake, with `file:line:column`),
//! `flow graph` (Mermaid or DOT), `flow simulate` and `flow test` (walk a flow with the real
//! engine for a described user), and `schema flow|realm` (JSON Schemas for editors). The CLI
//! handlers only call into here.

pub mod answers;
#[cfg(test)]
mod engine_tests;
pub mod graph;
pub mod keycloak_import;
pub mod keycloak_users;
pub mod sandbox;
pub mod scenario;
pub mod schema;
pub mod simulate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use graph::{GraphFormat, graph};
pub use schema::{SchemaKind, schema};

/// What `flow check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub files: usize,
    /// `file:line:column: message`, file by file, in order.
    pub errors: Vec<String>,
}

fn yaml_files_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}

/// A YAML parser message without the position it repeats (`error: line 2 column 1: …`); the
/// position is printed once, as `file:line:column:`.
pub fn yaml_message(message: &str) -> &str {
    let first = message.lines().next().unwrap_or_default();
    let m = first.strip_prefix("error: ").unwrap_or(first);
    match m.strip_prefix("line ").and_then(|rest| rest.split_once(": ")) {
        Some((position, rest)) if position.contains("column") => rest,
        _ => m,
    }
}

fn flow_error(e: &crate::flow::FlowError) -> String {
    format!("{}:{}:{}: {}", e.path, e.line, e.column, yaml_message(&e.message))
}

/// The line of the `flow:` key, where a duplicate name is reported.
fn name_line(text: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with("flow:"))
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// Checks flow files (a directory stands for its `*.yaml` files): every error of every file,
/// and flow names defined twice.
pub fn check(paths: &[PathBuf]) -> CheckReport {
    let mut report = CheckReport::default();
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            match yaml_files_in(p) {
                Ok(mut f) => files.append(&mut f),
                Err(e) => report.errors.push(e),
            }
        } else {
            files.push(p.clone());
        }
    }
    let mut names: HashMap<String, String> = HashMap::new();
    for file in files {
        report.files += 1;
        let label = file.display().to_string();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(format!("{label}: cannot read: {e}"));
                continue;
            }
        };
        match crate::flow::model::parse(&label, &text) {
            Ok(flow) => {
                if let Some(first) = names.insert(flow.name.clone(), label.clone()) {
                    report.errors.push(format!(
                        "{label}:{}:1: flow '{}' is also defined in {first}",
                        name_line(&text),
                        flow.name
                    ));
                }
            }
            Err(errors) => report.errors.extend(errors.iter().map(flow_error)),
        }
    }
    report
}

/// `flow graph`: parses the file and draws it.
pub fn graph_file(path: &Path, format: GraphFormat) -> Result<String, String> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{label}: {e}"))?;
    let flow = crate::flow::model::parse(&label, &text)
        .map_err(|errs| errs.iter().map(flow_error).collect::<Vec<_>>().join("\n"))?;
    Ok(graph(&flow, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_messages_lose_their_repeated_position() {
        assert_eq!(
            yaml_message("error: line 2 column 1: unknown field `x`\n snippet"),
            "unknown field `x`"
        );
        assert_eq!(yaml_message("unknown authenticator 'a'"), "unknown authenticator 'a'");
        assert_eq!(yaml_message("line of sight: blocked"), "line of sight: blocked");
    }

    #[test]
    fn check_reports_all_files_and_duplicate_names() {
        let dir = std::env::temp_dir().join(format!("gatehouse-check-{}", crate::crypto::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = "flow: a\nsteps:\n  - authenticator: username-password-form\n    requirement: required\n";
        std::fs::write(dir.join("a.yaml"), ok).unwrap();
        std::fs::write(dir.join("b.yaml"), format!("# again\n{ok}")).unwrap();
        std::fs::write(
            dir.join("c.yaml"),
            "flow: c\nsteps:\n  - authenticator: nope\n    requirement: required\n",
        )
        .unwrap();
        let report = check(std::slice::from_ref(&dir));
        assert_eq!(report.files, 3);
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        assert!(
            report.errors[0].contains("b.yaml:2:1: flow 'a' is also defined in "),
            "{:?}",
            report.errors
        );
        assert!(report.errors[0].ends_with("a.yaml"), "{:?}", report.errors);
        assert!(
            report.errors[1].contains("c.yaml:3:20: unknown authenticator 'nope'"),
            "{:?}",
            report.errors
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

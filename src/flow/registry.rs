//! The flows a server knows: the built-in ones, overridden or extended by files in the
//! flows directory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::model::{self, Flow, FlowError};
use crate::realm::Realm;

const BUILT_IN: &[(&str, &str)] = &[
    ("browser.yaml", include_str!("../../flows/browser.yaml")),
    (
        "identifier-first.yaml",
        include_str!("../../flows/identifier-first.yaml"),
    ),
];

#[derive(Debug, Clone, Default)]
pub struct FlowRegistry {
    flows: HashMap<String, Arc<Flow>>,
}

impl FlowRegistry {
    /// Loads the built-in flows, then every `*.yaml` in `dir` (if it exists) on top.
    pub fn load(dir: &Path) -> Result<FlowRegistry, Vec<FlowError>> {
        let (registry, errors) = FlowRegistry::load_lenient(dir);
        if errors.is_empty() { Ok(registry) } else { Err(errors) }
    }

    /// As [`load`](Self::load), but keeps going: every flow that loads, and the problems of
    /// every file that does not (for `realm check`, which reports them with the realms').
    pub fn load_lenient(dir: &Path) -> (FlowRegistry, Vec<FlowError>) {
        let mut sources: Vec<(String, String)> = BUILT_IN
            .iter()
            .map(|(n, t)| (format!("(built-in) flows/{n}"), t.to_string()))
            .collect();
        let mut errors = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut paths: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            paths.sort();
            for p in paths {
                match std::fs::read_to_string(&p) {
                    Ok(text) => sources.push((p.display().to_string(), text)),
                    Err(e) => errors.push(FlowError {
                        path: p.display().to_string(),
                        line: 0,
                        column: 0,
                        message: e.to_string(),
                    }),
                }
            }
        }
        let mut flows = HashMap::new();
        for (path, text) in sources {
            match model::parse(&path, &text) {
                Ok(flow) => {
                    flows.insert(flow.name.clone(), Arc::new(flow));
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        (FlowRegistry { flows }, errors)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Flow>> {
        self.flows.get(name).cloned()
    }

    /// Every browser flow a realm or its clients name must exist.
    pub fn check_bindings(&self, realm: &Realm) -> Result<(), Vec<String>> {
        let mut missing = Vec::new();
        let known = || {
            let mut names: Vec<&str> = self.flows.keys().map(String::as_str).collect();
            names.sort();
            names.join(", ")
        };
        if !self.flows.contains_key(&realm.flows.browser) {
            missing.push(format!(
                "{}: flows.browser names flow '{}', which does not exist (known: {})",
                realm.source.at("flows"),
                realm.flows.browser,
                known()
            ));
        }
        for c in realm.clients.values() {
            if let Some(name) = &c.browser_flow
                && !self.flows.contains_key(name)
            {
                missing.push(format!(
                    "{}: client '{}' names browser flow '{name}', which does not exist (known: {})",
                    realm.source.at(&format!("clients.{}.browser_flow", c.client_id)),
                    c.client_id,
                    known()
                ));
            }
        }
        if missing.is_empty() { Ok(()) } else { Err(missing) }
    }
}

//! What applying realm files would change against the live configuration, as a readable diff:
//! realms created, and per realm its settings, flow bindings, required actions, roles and
//! clients added, changed or removed. Secrets never appear: a changed client secret is
//! reported as changed, nothing more.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::Realm;

/// The changes for one realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmPlan {
    pub realm: String,
    pub status: PlanStatus,
    /// One line per change (`+` added, `-` removed, `~` changed).
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStatus {
    /// Not live yet: applying creates it.
    Create,
    Change,
    Unchanged,
    /// Live, but in none of the files: applying leaves it as it is.
    NotInFiles,
}

/// The change line of a realm whose settings are the same but whose stored snapshot is in an
/// older form: applying rewrites the snapshot, and nothing served changes.
pub const REWRITE_ONLY: &str = "~ snapshot rewritten in the current form (the settings served stay the same)";

/// The plan for every realm in `files` and every live realm.
pub fn plan(live: &BTreeMap<String, Realm>, files: &[Realm]) -> Vec<RealmPlan> {
    let mut plans: Vec<RealmPlan> = files
        .iter()
        .map(|new| match live.get(&new.name) {
            None => RealmPlan {
                realm: new.name.clone(),
                status: PlanStatus::Create,
                changes: summary(new),
            },
            Some(old) => {
                let changes = diff(old, new);
                RealmPlan {
                    realm: new.name.clone(),
                    status: if changes.is_empty() {
                        PlanStatus::Unchanged
                    } else {
                        PlanStatus::Change
                    },
                    changes,
                }
            }
        })
        .collect();
    for name in live.keys() {
        if !files.iter().any(|f| &f.name == name) {
            plans.push(RealmPlan {
                realm: name.clone(),
                status: PlanStatus::NotInFiles,
                changes: vec![],
            });
        }
    }
    plans.sort_by(|a, b| a.realm.cmp(&b.realm));
    plans
}

/// Whether applying would change anything.
pub fn has_changes(plans: &[RealmPlan]) -> bool {
    plans
        .iter()
        .any(|p| matches!(p.status, PlanStatus::Create | PlanStatus::Change))
}

impl fmt::Display for RealmPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            PlanStatus::Create => writeln!(f, "realm {}: will be created", self.realm)?,
            PlanStatus::Change => writeln!(f, "realm {}: {} change(s)", self.realm, self.changes.len())?,
            PlanStatus::Unchanged => writeln!(f, "realm {}: no changes", self.realm)?,
            PlanStatus::NotInFiles => writeln!(f, "realm {}: live but in no realm file (left as it is)", self.realm)?,
        }
        for line in &self.changes {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// What a new realm brings.
fn summary(realm: &Realm) -> Vec<String> {
    let mut out: Vec<String> = realm.clients.keys().map(|c| format!("+ client '{c}'")).collect();
    out.extend(realm.roles.iter().map(|r| format!("+ role '{r}'")));
    out.extend(
        realm
            .required_actions
            .iter()
            .map(|(a, s)| format!("+ required action '{a}'{}", action_note(s.enabled, s.default))),
    );
    out
}

fn action_note(enabled: bool, default: bool) -> &'static str {
    match (enabled, default) {
        (true, true) => " (enabled, default)",
        (true, false) => " (enabled)",
        (false, _) => " (disabled)",
    }
}

/// The changes from `old` to `new`, in a stable order.
pub fn diff(old: &Realm, new: &Realm) -> Vec<String> {
    let (old_json, new_json) = (to_value(old), to_value(new));
    let mut out = Vec::new();
    let keys = old_json
        .keys()
        .chain(new_json.keys())
        .collect::<std::collections::BTreeSet<_>>();
    for key in keys {
        let (a, b) = (old_json.get(key), new_json.get(key));
        if a == b {
            continue;
        }
        match key.as_str() {
            "clients" => clients(a, b, &mut out),
            "required_actions" => keyed(a, b, "required action", &mut out),
            "roles" => roles(a, b, &mut out),
            _ => fields(key, a, b, &mut out),
        }
    }
    out
}

fn to_value(realm: &Realm) -> serde_json::Map<String, Value> {
    match serde_json::to_value(realm) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

fn show(v: Option<&Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "(none)".into())
}

/// `~ path: old → new` for each differing leaf (objects are walked, lists shown whole).
fn fields(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys = x.keys().chain(y.keys()).collect::<std::collections::BTreeSet<_>>();
            for k in keys {
                if x.get(k) != y.get(k) {
                    fields(&format!("{path}.{k}"), x.get(k), y.get(k), out);
                }
            }
        }
        _ => out.push(format!("~ {path}: {} → {}", show(a), show(b))),
    }
}

fn object(v: Option<&Value>) -> serde_json::Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    }
}

fn keyed(a: Option<&Value>, b: Option<&Value>, what: &str, out: &mut Vec<String>) {
    let (x, y) = (object(a), object(b));
    for (k, v) in &y {
        match x.get(k) {
            None => out.push(format!("+ {what} '{k}' {v}")),
            Some(old) if old != v => fields(&format!("{what} '{k}'"), Some(old), Some(v), out),
            _ => {}
        }
    }
    for k in x.keys().filter(|k| !y.contains_key(*k)) {
        out.push(format!("- {what} '{k}'"));
    }
}

fn roles(a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
    let list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
            _ => vec![],
        }
    };
    let (x, y) = (list(a), list(b));
    out.extend(y.iter().filter(|r| !x.contains(r)).map(|r| format!("+ role '{r}'")));
    out.extend(x.iter().filter(|r| !y.contains(r)).map(|r| format!("- role '{r}'")));
}

fn clients(a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
    let (x, y) = (object(a), object(b));
    for (id, new) in &y {
        match x.get(id) {
            None => out.push(format!("+ client '{id}'")),
            Some(old) if old != new => {
                let (o, n) = (object(Some(old)), object(Some(new)));
                let keys = o.keys().chain(n.keys()).collect::<std::collections::BTreeSet<_>>();
                for k in keys {
                    if o.get(k) == n.get(k) {
                        continue;
                    }
                    if k == "secret_hash" {
                        let change = match (
                            o.get(k).is_some_and(|v| !v.is_null()),
                            n.get(k).is_some_and(|v| !v.is_null()),
                        ) {
                            (false, true) => "secret added (now confidential)",
                            (true, false) => "secret removed (now public)",
                            _ => "secret changed",
                        };
                        out.push(format!("~ client '{id}': {change}"));
                    } else {
                        out.push(format!("~ client '{id}': {k}: {} → {}", show(o.get(k)), show(n.get(k))));
                    }
                }
            }
            _ => {}
        }
    }
    for id in x.keys().filter(|k| !y.contains_key(*k)) {
        out.push(format!("- client '{id}'"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realm::load_str;

    const BASE: &str = "realm: shop
password_policy: { min_length: 12 }
required_actions:
  configure-otp: { enabled: true }
roles: [admin]
clients:
  - client_id: web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [https://shop.example/cb]
  - client_id: old
    redirect_uris: [https://old.example/cb]
";

    fn realm(text: &str) -> Realm {
        load_str("shop.yaml", text, &|_| None).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn the_same_realm_has_no_changes() {
        let live = BTreeMap::from([("shop".to_string(), realm(BASE))]);
        let plans = plan(&live, &[realm(BASE)]);
        assert_eq!(plans[0].status, PlanStatus::Unchanged);
        assert!(!has_changes(&plans));
    }

    #[test]
    fn reordered_roles_are_the_same_realm_to_plan_hash_and_snapshot() {
        let a = realm(&BASE.replace("roles: [admin]", "roles: [viewer, admin, clerk]"));
        let b = realm(&BASE.replace("roles: [admin]", "roles: [admin, clerk, viewer]"));
        assert_eq!(a.roles, ["admin", "clerk", "viewer"]);
        let live = BTreeMap::from([("shop".to_string(), a.clone())]);
        assert_eq!(plan(&live, std::slice::from_ref(&b))[0].status, PlanStatus::Unchanged);
        // What apply compares: the content hash and the stored file.
        assert_eq!(a.content_hash(), b.content_hash());
        assert_eq!(
            crate::realm::export::to_realm_file(&a),
            crate::realm::export::to_realm_file(&b)
        );
    }

    #[test]
    fn every_kind_of_change_is_listed_without_secrets() {
        let new = BASE
            .replace("min_length: 12", "min_length: 14")
            .replace(
                "configure-otp: { enabled: true }",
                "configure-otp: { enabled: true, default: true }\n  terms-and-conditions: {}",
            )
            .replace("roles: [admin]", "roles: [auditor]")
            .replace(
                "3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7",
                &"ab".repeat(32),
            )
            .replace(
                "https://shop.example/cb]",
                "https://shop.example/cb, https://shop.example/cb2]\n    browser_flow: identifier-first",
            )
            .replace(
                "  - client_id: old\n    redirect_uris: [https://old.example/cb]\n",
                "  - client_id: new\n    redirect_uris: [https://new.example/cb]\n",
            );
        let live = BTreeMap::from([("shop".to_string(), realm(BASE))]);
        let plans = plan(&live, &[realm(&new)]);
        assert_eq!(plans[0].status, PlanStatus::Change);
        let text = plans[0].to_string();
        for expected in [
            "~ password_policy.min_length: 12 → 14",
            "~ required action 'configure-otp'.default: false → true",
            "+ required action 'terms-and-conditions'",
            "+ role 'auditor'",
            "- role 'admin'",
            "~ client 'web': secret changed",
            "~ client 'web': redirect_uris: [\"https://shop.example/cb\"] → [\"https://shop.example/cb\",\"https://shop.example/cb2\"]",
            "~ client 'web': browser_flow: null → \"identifier-first\"",
            "+ client 'new'",
            "- client 'old'",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(!text.contains(&"ab".repeat(32)), "a secret hash is shown:\n{text}");
        assert!(has_changes(&plans));
    }

    #[test]
    fn new_and_file_less_realms_are_reported() {
        let live = BTreeMap::from([(
            "legacy".to_string(),
            realm(&BASE.replace("realm: shop", "realm: legacy")),
        )]);
        let plans = plan(&live, &[realm(BASE)]);
        assert_eq!(plans.len(), 2);
        assert_eq!(
            (plans[0].realm.as_str(), plans[0].status),
            ("legacy", PlanStatus::NotInFiles)
        );
        assert_eq!((plans[1].realm.as_str(), plans[1].status), ("shop", PlanStatus::Create));
        assert!(
            plans[1].changes.contains(&"+ client 'web'".to_string()),
            "{:?}",
            plans[1]
        );
    }
}

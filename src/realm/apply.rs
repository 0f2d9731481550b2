//! Realm configuration as code: check files (with the flows they bind), plan against the live
//! configuration, apply atomically, and read back what is live. The live configuration is
//! the latest snapshot of each realm in the store, so every node agrees on it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Realm, export, load, plan};
use crate::store::{NewEvent, NewSnapshot, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Every problem found in the files, one per line (`file:line:column: message`).
    #[error("{} problem(s) found:\n{}", .0.len(), .0.join("\n"))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A live realm, as its snapshot holds it.
#[derive(Debug, Clone)]
pub struct LiveRealm {
    pub snapshot_id: i64,
    pub applied_at: i64,
    pub realm: Realm,
    /// The snapshot as stored: `apply` writes a new one unless these match.
    pub content_hash: String,
    pub content: String,
}

/// Checks a realm's flow bindings (the flows it names exist); the caller knows the flows.
pub type BindingsCheck<'a> = &'a dyn Fn(&Realm) -> Result<(), Vec<String>>;

/// Loads the realm files at `paths` (files or directories) and checks them together with the
/// flows they bind: every mistake at once. Two files may not define one realm.
pub fn check(paths: &[PathBuf], bindings: BindingsCheck) -> Result<Vec<Realm>, ApplyError> {
    let (realms, errors) = check_all(paths, bindings);
    if errors.is_empty() {
        Ok(realms)
    } else {
        Err(ApplyError::Invalid(errors))
    }
}

/// What [`check`] finds, without stopping at a broken file: the realms that load (their flow
/// bindings checked too), and every problem of every file (`file:line:column: message`).
pub fn check_all(paths: &[PathBuf], bindings: BindingsCheck) -> (Vec<Realm>, Vec<String>) {
    let mut realms: Vec<Realm> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for path in paths {
        let files = if path.is_dir() {
            match load::realm_files(path) {
                Ok(files) => files,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            }
        } else {
            vec![path.clone()]
        };
        for file in files {
            // A realm with problems is still checked against the flows, so that one run
            // reports every mistake of the file.
            let (realm, problems) = load::load_file_lenient(&file);
            errors.extend(problems.iter().map(|e| e.to_string()));
            if let Some(realm) = realm {
                if let Err(e) = bindings(&realm) {
                    errors.extend(e);
                }
                if problems.is_empty() {
                    realms.push(realm);
                }
            }
        }
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &realms {
        if let Some(other) = seen.insert(&r.name, &r.source.path) {
            errors.push(format!(
                "{}: realm '{}' is already defined in {other}",
                r.source.at("realm"),
                r.name
            ));
        }
    }
    (realms, errors)
}

/// What the store keeps for `realm`.
pub fn snapshot_of(realm: &Realm) -> NewSnapshot {
    NewSnapshot {
        realm: realm.name.clone(),
        content_hash: realm.content_hash(),
        content: export::to_realm_file(realm),
    }
}

/// The security event recorded for each realm an apply changed.
pub const REALM_APPLIED: &str = "realm_applied";

/// Makes `realms` live, all in one transaction; returns the realms that changed (none when
/// the same files are applied twice). Each changed realm gets a [`REALM_APPLIED`] event in
/// its own log, saying who applied it (`by`: e.g. `cli`, `serve`), the new snapshot's content
/// hash and the plan's change lines (which never hold a secret).
pub async fn apply(store: &Store, realms: &[Realm], by: &str) -> Result<Vec<String>, ApplyError> {
    // The plan is read before the transaction: with another apply in between, its lines
    // describe the change from what was live a moment earlier.
    let plans = plan(store, realms).await?;
    let snapshots: Vec<NewSnapshot> = realms.iter().map(snapshot_of).collect();
    let changed = store.apply_realm_snapshots(&snapshots).await?;
    for name in &changed {
        let (Some(snapshot), Some(p)) = (
            snapshots.iter().find(|s| &s.realm == name),
            plans.iter().find(|p| &p.realm == name),
        ) else {
            continue;
        };
        crate::events::record(
            store,
            NewEvent {
                realm: name.clone(),
                kind: REALM_APPLIED.into(),
                details: serde_json::json!({
                    "by": by,
                    "status": if p.status == plan::PlanStatus::Create { "created" } else { "changed" },
                    "snapshotHash": snapshot.content_hash,
                    "changes": p.changes,
                }),
                ..Default::default()
            },
        )
        .await;
    }
    Ok(changed)
}

/// The live realms, by name. A snapshot that no longer loads (written by a newer or older
/// Gatehouse) is reported in the second list rather than failing the others.
pub async fn live(store: &Store) -> Result<(BTreeMap<String, LiveRealm>, Vec<String>), ApplyError> {
    let (realms, problems) = parse_snapshots(store.live_realm_snapshots().await?);
    Ok((realms, problems.into_iter().map(|p| p.message).collect()))
}

/// A stored snapshot that does not load.
#[derive(Debug, Clone)]
pub struct SnapshotProblem {
    pub realm: String,
    pub snapshot_id: i64,
    pub message: String,
}

/// Loads stored snapshots into realms, by name; those that do not load are reported.
pub fn parse_snapshots(
    snapshots: Vec<crate::store::entity::realm_snapshot::Model>,
) -> (BTreeMap<String, LiveRealm>, Vec<SnapshotProblem>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for s in snapshots {
        let label = format!("snapshot {} of realm '{}'", s.id, s.realm);
        let problem = |message: String| SnapshotProblem {
            realm: s.realm.clone(),
            snapshot_id: s.id,
            message,
        };
        match load::load_str(&label, &s.content, &|_| None) {
            // A snapshot stored under one name never replaces another realm.
            Ok(realm) if realm.name != s.realm => {
                problems.push(problem(format!(
                    "{label}: holds realm '{}', not '{}'",
                    realm.name, s.realm
                )));
            }
            Ok(realm) => {
                out.insert(
                    s.realm.clone(),
                    LiveRealm {
                        snapshot_id: s.id,
                        applied_at: s.applied_at,
                        realm,
                        content_hash: s.content_hash.clone(),
                        content: s.content.clone(),
                    },
                );
            }
            Err(errs) => problems.extend(errs.iter().map(|e| problem(e.to_string()))),
        }
    }
    (out, problems)
}

/// The plan for applying `files` to what is live now. It says "no changes" exactly when
/// [`apply`] would write nothing: a realm whose stored snapshot differs only in form (e.g.
/// written by an older Gatehouse) is reported as such a change.
pub async fn plan(store: &Store, files: &[Realm]) -> Result<Vec<plan::RealmPlan>, ApplyError> {
    let (live, _) = live(store).await?;
    let realms: BTreeMap<String, Realm> = live.iter().map(|(k, v)| (k.clone(), v.realm.clone())).collect();
    let mut plans = plan::plan(&realms, files);
    for p in plans.iter_mut().filter(|p| p.status == plan::PlanStatus::Unchanged) {
        let (Some(stored), Some(file)) = (live.get(&p.realm), files.iter().find(|f| f.name == p.realm)) else {
            continue;
        };
        let next = snapshot_of(file);
        if next.content_hash != stored.content_hash || next.content != stored.content {
            p.status = plan::PlanStatus::Change;
            p.changes.push(plan::REWRITE_ONLY.into());
        }
    }
    Ok(plans)
}

//! `gatehouse realm check|plan|apply|export|import-keycloak`: realm configuration kept in git.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{GlobalArgs, settings};
use crate::config::Settings;
use crate::realm::{Realm, apply, export, plan};
use crate::store::Store;
use crate::web::templates::Templates;

#[derive(Subcommand, Debug)]
#[command(
    after_help = "The git workflow: edit realms/*.yaml → gatehouse realm check → gatehouse realm plan → \
gatehouse realm apply.\nRunning nodes pick up an applied change within a few seconds, without a restart."
)]
pub enum RealmCommand {
    /// Validate realm files and the flows and themes they name; every mistake as file:line:column
    Check {
        /// Realm files or directories of them (default: the realms directory)
        paths: Vec<PathBuf>,
    },
    /// Show what `apply` would change in the live configuration. Exit code 0: nothing would
    /// change; 2: something would; 1: the files are invalid or the database unreachable
    Plan {
        /// Realm files or directories of them (default: the realms directory)
        paths: Vec<PathBuf>,
    },
    /// Apply realm files: all realms in one transaction, or none. Applying the same files
    /// twice changes nothing. Running nodes serve the new version within seconds
    Apply {
        /// Realm files or directories of them (default: the realms directory)
        paths: Vec<PathBuf>,
    },
    /// Convert a Keycloak realm export (`kc.sh export`: one file, or a directory) into a realm
    /// file and flow files, listing what cannot be carried over; review with `realm plan`, then
    /// `realm apply`. With --users: import the export's users (profile, roles, required
    /// actions, authenticator apps, password hashes as they are) into the applied realm
    #[command(name = "import-keycloak")]
    ImportKeycloak {
        /// The export: realm-export.json, or the directory `kc.sh export --dir` wrote
        export: PathBuf,
        /// Where the realm file goes (default: the realms directory)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Import the users into the realm, which must be applied already
        #[arg(long)]
        users: bool,
        /// All in one: write the files, apply the realm, then import its users
        #[arg(long, conflicts_with = "users")]
        apply: bool,
        /// Replace realm and flow files that exist already
        #[arg(long)]
        force: bool,
    },
    /// Write a live realm as a realm file that `apply` accepts unchanged (secrets as hashes)
    Export {
        /// Realm name
        realm: String,
        /// Write to this file instead of standard output
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub async fn run(global: &GlobalArgs, cmd: RealmCommand) -> Result<ExitCode, String> {
    let settings = settings(global, None)?;
    match cmd {
        RealmCommand::Check { paths } => {
            let realms = checked(&settings, paths)?;
            println!("{} realm(s) OK", realms.len());
            Ok(ExitCode::SUCCESS)
        }
        RealmCommand::Plan { paths } => plan_changes(&settings, paths).await,
        RealmCommand::Apply { paths } => apply_changes(&settings, paths).await,
        RealmCommand::Export { realm, output } => export_realm(&settings, &realm, output).await,
        RealmCommand::ImportKeycloak {
            export,
            out,
            users,
            apply,
            force,
        } => {
            let export = crate::tooling::keycloak_import::read_export(&export)?;
            if users {
                return import_keycloak_users(settings, &export).await;
            }
            let out = out.unwrap_or_else(|| settings.realms_dir.clone());
            let realm_path = import_keycloak_realm(&settings, &export, &out, force, apply)?;
            if !apply {
                return Ok(ExitCode::SUCCESS);
            }
            apply_changes(&settings, vec![realm_path]).await?;
            import_keycloak_users(settings, &export).await
        }
    }
}

/// `realm plan`: exit code 2 when something would change.
async fn plan_changes(settings: &Settings, paths: Vec<PathBuf>) -> Result<ExitCode, String> {
    let realms = checked(settings, paths)?;
    let store = open(settings).await?;
    let plans = apply::plan(&store, &realms).await.map_err(|e| e.to_string())?;
    for p in &plans {
        print!("{p}");
    }
    if plan::has_changes(&plans) {
        println!("Apply these changes with: gatehouse realm apply");
        Ok(ExitCode::from(2))
    } else {
        println!("Nothing to apply.");
        Ok(ExitCode::SUCCESS)
    }
}

async fn apply_changes(settings: &Settings, paths: Vec<PathBuf>) -> Result<ExitCode, String> {
    let realms = checked(settings, paths)?;
    let store = open(settings).await?;
    let plans = apply::plan(&store, &realms).await.map_err(|e| e.to_string())?;
    let changed = apply::apply(&store, &realms, "cli").await.map_err(|e| e.to_string())?;
    for p in plans.iter().filter(|p| changed.contains(&p.realm)) {
        print!("{p}");
    }
    for p in plans.iter().filter(|p| !changed.contains(&p.realm)) {
        if p.status != plan::PlanStatus::NotInFiles {
            println!("realm {}: unchanged", p.realm);
        }
    }
    if changed.is_empty() {
        println!("Nothing changed.");
    } else {
        println!(
            "Applied {} realm(s); running nodes serve them within {} s.",
            changed.len(),
            settings.realm_refresh_interval_secs
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn export_realm(settings: &Settings, realm: &str, output: Option<PathBuf>) -> Result<ExitCode, String> {
    let store = open(settings).await?;
    let (live, _) = apply::live(&store).await.map_err(|e| e.to_string())?;
    let Some(found) = live.get(realm) else {
        let names: Vec<&str> = live.keys().map(String::as_str).collect();
        let live = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        };
        return Err(format!("realm '{realm}' is not live in this database (live: {live})"));
    };
    let text = export::to_realm_file(&found.realm);
    match output {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("realm {realm} written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The realm files at `paths` (default: the realms directory), checked with the flows and
/// themes this installation has; every problem at once: those of the flow files, of every
/// realm file (a broken one does not stop the others from being checked), of the flow
/// bindings and of the themes.
fn checked(settings: &Settings, paths: Vec<PathBuf>) -> Result<Vec<Realm>, String> {
    let paths = if paths.is_empty() {
        vec![settings.realms_dir.clone()]
    } else {
        paths
    };
    let (flows, flow_errors) = crate::flow::FlowRegistry::load_lenient(&settings.flows_dir);
    let mut problems: Vec<String> = flow_errors.iter().map(|e| e.to_string()).collect();
    let (realms, realm_errors) = apply::check_all(&paths, &|r| flows.check_bindings(r));
    problems.extend(realm_errors);
    let templates = Templates::load(Some(&settings.themes_dir), false);
    problems.extend(realms.iter().filter(|r| !templates.has_theme(&r.theme)).map(|r| {
        format!(
            "{}: theme '{}' is not in {}",
            r.source.at("realm"),
            r.theme,
            settings.themes_dir.display()
        )
    }));
    if !problems.is_empty() {
        return Err(format!("{} problem(s) found:\n{}", problems.len(), problems.join("\n")));
    }
    Ok(realms)
}

async fn open(settings: &Settings) -> Result<Store, String> {
    Store::open(&settings.database_url)
        .await
        .map_err(|e| format!("cannot open the database (--database-url): {e}"))
}

/// `realm import-keycloak`: writes the realm file and flow files, and says what stays behind.
fn import_keycloak_realm(
    settings: &Settings,
    export: &serde_json::Value,
    out: &std::path::Path,
    force: bool,
    applying: bool,
) -> Result<PathBuf, String> {
    let converted = crate::tooling::keycloak_import::convert(export)?;
    let realm_path = out.join(format!("{}.yaml", converted.realm));
    crate::realm::load_str(&realm_path.display().to_string(), &converted.realm_file, &|_| None).map_err(|e| {
        format!(
            "the converted realm file is not valid (please report this):\n{e:?}\n{}",
            converted.realm_file
        )
    })?;
    let mut files = vec![(realm_path, converted.realm_file.clone())];
    for (name, text) in &converted.flow_files {
        files.push((settings.flows_dir.join(name), text.clone()));
    }
    if let Some((path, _)) = files.iter().find(|(p, _)| p.exists() && !force) {
        return Err(format!(
            "{} exists already; move it away or pass --force",
            path.display()
        ));
    }
    for (path, text) in &files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if converted.not_carried.is_empty() {
        println!("Everything in the export was carried over.");
    } else {
        println!("Not carried over ({}):", converted.not_carried.len());
        for line in &converted.not_carried {
            println!("  - {line}");
        }
    }
    if !applying {
        println!(
            "Next: gatehouse realm plan; gatehouse realm apply; then gatehouse realm import-keycloak EXPORT --users"
        );
    }
    Ok(files.swap_remove(0).0)
}

/// `realm import-keycloak --users`: the export's users into the live realm.
async fn import_keycloak_users(settings: Settings, export: &serde_json::Value) -> Result<ExitCode, String> {
    let realm = export["realm"].as_str().unwrap_or_default().to_string();
    let app = crate::app::load(settings).await.map_err(|e| e.to_string())?;
    let rt = app
        .realm(&realm)
        .ok_or_else(|| format!("realm '{realm}' is not live: run gatehouse realm apply first"))?;
    let report = crate::tooling::keycloak_users::import_users(&app.store, &app.master_key, &rt.realm, export).await?;
    println!("realm {realm}: {} user(s) imported", report.created.len());
    if !report.skipped.is_empty() {
        println!("Existing users left as they are: {}", report.skipped.join(", "));
    }
    for line in &report.not_carried {
        println!("  - not carried: {line}");
    }
    Ok(ExitCode::SUCCESS)
}

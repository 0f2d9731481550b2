//! `gatehouse seed`: bulk users and sessions for benchmarks at scale.

use std::io::Write;

use clap::Args;

use super::{GlobalArgs, read_password_line, settings};

use crate::store::Seed;

#[derive(Args, Debug)]
#[command(
    after_help = "Example (a million users, half of them signed in; password from stdin):\n  \
echo 'Bench-Password-1' | gatehouse seed demo --users 1000000 --sessions 500000"
)]
pub struct SeedArgs {
    /// Realm name
    pub realm: String,
    /// How many users to add
    #[arg(long)]
    pub users: u64,
    /// How many of them get a live SSO session (default none)
    #[arg(long, default_value_t = 0)]
    pub sessions: u64,
    /// Usernames are PREFIX0000000, PREFIX0000001, …
    #[arg(long, default_value = "seed-")]
    pub prefix: String,
}

pub async fn run(global: &GlobalArgs, args: SeedArgs) -> Result<(), String> {
    let password = read_password_line()?;
    let app = crate::app::load(settings(global, None)?)
        .await
        .map_err(|e| e.to_string())?;
    let rt = app
        .realm(&args.realm)
        .ok_or_else(|| format!("realm '{}' does not exist", args.realm))?;
    if args.sessions > args.users {
        return Err("--sessions cannot exceed --users: each session belongs to a seeded user".into());
    }
    // One hash for all: seeding a million argon2 hashes would take hours, and verifying
    // costs the same whatever the hash.
    let password_hash = app.hasher.hash(&password).await.map_err(|e| e.to_string())?;
    let seed = Seed {
        realm: args.realm.clone(),
        prefix: args.prefix,
        users: args.users,
        sessions: args.sessions,
        password_hash,
        session_ttl: rt.realm.tokens.sso_max.as_secs(),
    };
    let started = std::time::Instant::now();
    let step = (args.users / 20).max(1000);
    let mut next_report = step;
    let done = app
        .store
        .seed(&seed, |done| {
            if done >= next_report || done == args.users {
                eprint!(
                    "\rseeded {done}/{} users ({:.0} s)",
                    args.users,
                    started.elapsed().as_secs_f64()
                );
                let _ = std::io::stderr().flush();
                next_report = done + step;
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    eprintln!();
    println!(
        "realm {}: {done} users and {} sessions added in {:.1} s",
        args.realm,
        args.sessions,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

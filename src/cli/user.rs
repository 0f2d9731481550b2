//! `gatehouse user …`: the same user administration as the admin REST API, through the same
//! library functions, recorded in the security log as done by `cli`.

use std::collections::BTreeMap;

use clap::Subcommand;

use super::{GlobalArgs, read_password_line, settings};
use crate::admin::api::UserRepresentation;
use crate::admin::{self, Actor, NewUserInput, UserChanges};
use crate::state::AppState;

use crate::store::UserSearch;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user (the realm's default required actions are added)
    Add(AddArgs),
    /// List a realm's users and their pending required actions, by username (one page, as
    /// the admin API's user search returns it)
    List(ListArgs),
    /// Show a user as JSON, as the admin API returns it
    Show {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Change a user's email, names or attributes (only what is given changes; an empty
    /// value clears it)
    Update(UpdateArgs),
    /// Require an action at the user's next sign-in
    Require {
        /// Realm name
        realm: String,
        /// The user's username
        username: String,
        /// configure-otp, update-password, update-profile or terms-and-conditions (enabled in the realm)
        action: String,
    },
    /// Take back a required action the user has not completed yet
    Unrequire {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// The required action, e.g. configure-otp
        action: String,
    },
    /// Set a user's password, read as one line from standard input (the same as
    /// reset-password without --temporary)
    SetPassword {
        /// Realm name
        realm: String,
        /// The user's username
        username: String,
    },
    /// Set a user's password, read as one line from standard input; the realm's password
    /// policy and history apply
    ResetPassword {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// The user must choose a new password at the next sign-in (adds update-password)
        #[arg(long)]
        temporary: bool,
    },
    /// Disable a user: they cannot sign in, their sessions end and their tokens stop working
    Disable {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Enable a disabled user
    Enable {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Delete a user with their credentials, roles, sessions and tokens (their security
    /// events stay)
    Delete {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// List a user's credentials (type, id, created, last used; never a secret)
    Credentials {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Remove one credential, e.g. a lost OTP device (removing the last one also removes the
    /// recovery codes; the id `recovery-codes` removes all recovery codes)
    DeleteCredential {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// The credential's id, as `user credentials` lists it
        #[arg(value_name = "ID", allow_hyphen_values = true)]
        credential_id: String,
    },
    /// List a user's live sessions
    Sessions {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// End one session (an id as `user sessions` lists it) and revoke its tokens
    RevokeSession {
        /// Realm name
        realm: String,
        /// The session's id
        #[arg(value_name = "SESSION_ID", allow_hyphen_values = true)]
        session_id: String,
    },
    /// End all of a user's sessions and revoke their tokens
    Logout {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Grant a realm role (one of the realm file's `roles`), or with --client one of a client's
    GrantRole {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// The role's name
        role: String,
        /// A role of this client (its `roles` in the realm file; tokens carry it in
        /// resource_access.CLIENT_ID.roles)
        #[arg(long, value_name = "CLIENT_ID")]
        client: Option<String>,
    },
    /// Take a realm role away, or with --client one of a client's
    RevokeRole {
        /// Realm name
        realm: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// The role's name
        role: String,
        /// A role of this client
        #[arg(long, value_name = "CLIENT_ID")]
        client: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// Realm name, as in the realm file's `realm:`
    pub realm: String,
    /// The new user's username
    pub username: String,
    /// The user's email address
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// Read the password as one line from standard input (never pass it as an argument)
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Realm name
    pub realm: String,
    /// A prefix of the username or email address
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// The username (a prefix, or exactly with --exact)
    #[arg(long, value_name = "U")]
    pub username: Option<String>,
    /// The email address (a prefix, or exactly with --exact)
    #[arg(long, value_name = "E")]
    pub email: Option<String>,
    /// Match --username and --email exactly
    #[arg(long)]
    pub exact: bool,
    /// How many users to skip
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub first: u64,
    /// At most how many users to list (1-1000)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PAGE,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub max: u64,
}

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// Realm name
    pub realm: String,
    /// The user's username or id
    #[arg(value_name = "USER", allow_hyphen_values = true)]
    pub user: String,
    /// The email address
    #[arg(long, value_name = "E")]
    pub email: Option<String>,
    /// The first name
    #[arg(long, value_name = "F")]
    pub first_name: Option<String>,
    /// The last name
    #[arg(long, value_name = "L")]
    pub last_name: Option<String>,
    /// Set an attribute, keeping the others (`NAME=` removes it); may be repeated
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
}

/// The page size of `user list`, the admin API's default.
const DEFAULT_PAGE: u64 = 100;

/// A Unix time for people (UTC, RFC 3339).
fn when(t: i64) -> String {
    crate::events::format_rfc3339(t)
}

pub(super) async fn run(global: &GlobalArgs, cmd: UserCommand) -> Result<(), String> {
    let app = crate::app::load(settings(global, None)?)
        .await
        .map_err(|e| e.to_string())?;
    run_with(&app, cmd).await.map_err(super::explain)
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

/// One function per subcommand; this only dispatches (sessions, credentials and roles in
/// [`run_access`]).
async fn run_with(app: &AppState, cmd: UserCommand) -> CliResult {
    let cli = Actor::cli();
    match cmd {
        UserCommand::Add(args) => add(app, &cli, args).await,
        UserCommand::List(args) => list(app, args).await,
        UserCommand::Show { realm, user } => {
            let u = admin::resolve_user(app, &realm, &user).await?;
            let shown = UserRepresentation::from(admin::get_user(app, &realm, &u.id).await?);
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(())
        }
        UserCommand::Update(args) => update(app, &cli, args).await,
        UserCommand::Require {
            realm,
            username,
            action,
        } => {
            admin::require_action(app, &realm, &username, &action).await?;
            println!("{username} must complete '{action}' at next sign-in");
            Ok(())
        }
        UserCommand::Unrequire { realm, user, action } => {
            if admin::unrequire_action(app, &realm, &user, &action).await? {
                println!("{user} no longer has to complete '{action}'");
            } else {
                println!("{user} had no pending '{action}'; nothing changed");
            }
            Ok(())
        }
        UserCommand::SetPassword { realm, username } => {
            let password = read_password_line()?;
            admin::set_password(app, &realm, &username, &password).await?;
            println!("password of {username} in realm {realm} updated");
            Ok(())
        }
        UserCommand::ResetPassword { realm, user, temporary } => {
            reset_password(app, &cli, &realm, &user, temporary).await
        }
        UserCommand::Disable { realm, user } => Ok(set_enabled(app, &cli, &realm, &user, false).await?),
        UserCommand::Enable { realm, user } => Ok(set_enabled(app, &cli, &realm, &user, true).await?),
        UserCommand::Delete { realm, user } => {
            let u = admin::resolve_user(app, &realm, &user).await?;
            admin::delete_user(app, &cli, &realm, &u.id).await?;
            println!("deleted user {} (id {}) from realm {realm}", u.username, u.id);
            Ok(())
        }
        access => run_access(app, &cli, access).await,
    }
}

/// The subcommands about a user's sessions, credentials and roles.
async fn run_access(app: &AppState, cli: &Actor, cmd: UserCommand) -> CliResult {
    match cmd {
        UserCommand::RevokeSession { realm, session_id } => {
            admin::revoke_session(app, cli, &realm, &session_id).await?;
            println!("session {session_id} ended, its tokens revoked");
            Ok(())
        }
        UserCommand::Credentials { realm, user } => credentials(app, &realm, &user).await,
        UserCommand::DeleteCredential {
            realm,
            user,
            credential_id,
        } => {
            admin::delete_credential_of(app, &realm, &user, &credential_id).await?;
            println!("credential {credential_id} of {user} removed");
            Ok(())
        }
        UserCommand::Sessions { realm, user } => sessions(app, &realm, &user).await,
        UserCommand::Logout { realm, user } => {
            let ended = admin::logout_user_named(app, &realm, &user).await?;
            println!("{user}: {ended} session(s) ended, every token revoked");
            Ok(())
        }
        UserCommand::GrantRole {
            realm,
            user,
            role,
            client,
        } => change_role(app, cli, &realm, &user, (&role, client.as_deref()), true).await,
        UserCommand::RevokeRole {
            realm,
            user,
            role,
            client,
        } => change_role(app, cli, &realm, &user, (&role, client.as_deref()), false).await,
        _ => Err("not a session, credential or role command".into()),
    }
}

async fn add(app: &AppState, cli: &Actor, args: AddArgs) -> CliResult {
    let AddArgs {
        realm,
        username,
        email,
        password_stdin,
    } = args;
    let password = if password_stdin {
        Some(read_password_line()?)
    } else {
        None
    };
    let has_password = password.is_some();
    let input = NewUserInput {
        username: username.clone(),
        email,
        enabled: true,
        password: password.map(|p| (p, false)),
        ..Default::default()
    };
    let user = admin::create_user_by(app, cli, &realm, input).await?.user;
    println!("created user {username} (id {}) in realm {realm}", user.id);
    if !has_password {
        println!("note: {username} has no password yet; set one with `gatehouse user set-password {realm} {username}`");
    }
    Ok(())
}

async fn list(app: &AppState, args: ListArgs) -> CliResult {
    let query = UserSearch {
        search: args.search,
        username: args.username,
        email: args.email,
        exact: args.exact,
        first: args.first,
        max: args.max,
    };
    let users = admin::search_users(app, &args.realm, &query).await?;
    println!("{:<24} {:<32} {:<8} REQUIRED ACTIONS", "USERNAME", "EMAIL", "ENABLED");
    let listed = users.len() as u64;
    for d in users {
        println!(
            "{:<24} {:<32} {:<8} {}",
            d.user.username,
            d.user.email.unwrap_or_default(),
            d.user.enabled,
            d.required_actions.join(",")
        );
    }
    if listed == query.max {
        eprintln!(
            "note: {listed} users listed, there may be more; see the next page with --first {}",
            query.first.saturating_add(query.max)
        );
    }
    Ok(())
}

async fn update(app: &AppState, cli: &Actor, args: UpdateArgs) -> CliResult {
    let u = admin::resolve_user(app, &args.realm, &args.user).await?;
    let changes = UserChanges {
        email: args.email,
        first_name: args.first_name,
        last_name: args.last_name,
        attributes: merged_attributes(app, &args.realm, &u.id, &args.attributes).await?,
        ..Default::default()
    };
    admin::update_user(app, cli, &args.realm, &u.id, changes).await?;
    println!("user {} updated", u.username);
    Ok(())
}

/// The user's attributes with `NAME=VALUE` pairs set (an empty value removes one); `None`
/// when none are given. The library replaces every attribute; the command line sets the ones
/// given.
async fn merged_attributes(
    app: &AppState,
    realm: &str,
    user_id: &str,
    pairs: &[String],
) -> Result<Option<BTreeMap<String, Vec<String>>>, Box<dyn std::error::Error>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in admin::get_user(app, realm, user_id).await?.attributes {
        all.insert(name, vec![value]);
    }
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--attribute {pair}: expected NAME=VALUE"))?;
        let values = if value.is_empty() {
            vec![]
        } else {
            vec![value.to_string()]
        };
        all.insert(name.to_string(), values);
    }
    Ok(Some(all))
}

async fn reset_password(app: &AppState, cli: &Actor, realm: &str, user: &str, temporary: bool) -> CliResult {
    let password = read_password_line()?;
    let u = admin::resolve_user(app, realm, user).await?;
    admin::reset_password(app, cli, realm, &u.id, &password, temporary).await?;
    if temporary {
        println!(
            "password of {} reset; they must choose a new one at next sign-in",
            u.username
        );
    } else {
        println!("password of {} reset", u.username);
    }
    Ok(())
}

async fn credentials(app: &AppState, realm: &str, user: &str) -> CliResult {
    let u = admin::resolve_user(app, realm, user).await?;
    let list = admin::list_credentials(app, realm, &u.id).await?;
    println!(
        "{:<14} {:<34} {:<21} {:<21} LABEL",
        "TYPE", "ID", "CREATED", "LAST USED"
    );
    for c in list {
        let label = match c.remaining {
            Some(n) => format!("{n} left"),
            None => c.label.unwrap_or_default(),
        };
        println!(
            "{:<14} {:<34} {:<21} {:<21} {label}",
            c.kind,
            c.id,
            when(c.created_at),
            c.last_used_at.map(when).unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}

async fn sessions(app: &AppState, realm: &str, user: &str) -> CliResult {
    let u = admin::resolve_user(app, realm, user).await?;
    let list = admin::list_sessions(app, realm, &u.id).await?;
    println!(
        "{:<34} {:<16} {:<21} {:<21} CLIENTS",
        "ID", "IP", "STARTED", "LAST ACCESS"
    );
    for s in list {
        println!(
            "{:<34} {:<16} {:<21} {:<21} {}",
            s.id,
            s.ip.unwrap_or_else(|| "-".into()),
            when(s.started_at),
            when(s.last_access_at),
            s.clients.join(",")
        );
    }
    Ok(())
}

/// Grants (`grant`) or revokes one realm role, or one role of a client.
async fn change_role(
    app: &AppState,
    cli: &Actor,
    realm: &str,
    user: &str,
    (role, client): (&str, Option<&str>),
    grant: bool,
) -> CliResult {
    let u = admin::resolve_user(app, realm, user).await?;
    let roles = [role.to_string()];
    let role = match client {
        Some(client) => format!("{client}/{role}"),
        None => role.to_string(),
    };
    if grant {
        let added = match client {
            Some(client) => admin::grant_client_roles(app, cli, realm, &u.id, client, &roles).await?,
            None => admin::grant_roles(app, cli, realm, &u.id, &roles).await?,
        };
        if added.is_empty() {
            println!("{} already has role '{role}'", u.username);
        } else {
            println!("{} now has role '{role}'", u.username);
        }
    } else {
        let removed = match client {
            Some(client) => admin::revoke_client_roles(app, cli, realm, &u.id, client, &roles).await?,
            None => admin::revoke_roles(app, cli, realm, &u.id, &roles).await?,
        };
        if removed.is_empty() {
            println!("{} did not have role '{role}'", u.username);
        } else {
            println!("{} no longer has role '{role}'", u.username);
        }
    }
    Ok(())
}

async fn set_enabled(
    app: &AppState,
    cli: &Actor,
    realm: &str,
    user: &str,
    enabled: bool,
) -> Result<(), admin::AdminError> {
    let u = admin::resolve_user(app, realm, user).await?;
    let changes = UserChanges {
        enabled: Some(enabled),
        ..Default::default()
    };
    admin::update_user(app, cli, realm, &u.id, changes).await?;
    if enabled {
        println!("{} is enabled", u.username);
    } else {
        println!(
            "{} is disabled; their sessions ended and their tokens were revoked",
            u.username
        );
    }
    Ok(())
}

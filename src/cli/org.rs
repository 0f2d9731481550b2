//! `gatehouse org …`: a realm's organizations, their members and invite links, through the
//! same functions as the admin API (changes are logged as done by `cli`). Organizations and
//! users are named by alias and username (or id).

use clap::{Args, Subcommand};

use super::GlobalArgs;
use super::settings;
use crate::admin::{self, Actor, OrgRecord};
use crate::orgs::OrgInput;
use crate::orgs::invites::InviteInput;
use crate::state::AppState;

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// List a realm's organizations: alias, name, members' count, policy
    List {
        /// Realm name
        realm: String,
    },
    /// Create an organization
    Create(CreateArgs),
    /// Delete an organization with its memberships and invite links (the users stay)
    Delete {
        /// Realm name
        realm: String,
        /// The organization's alias or id
        #[arg(allow_hyphen_values = true)]
        org: String,
    },
    /// List an organization's members and their organization roles
    Members {
        /// Realm name
        realm: String,
        /// The organization's alias or id
        #[arg(allow_hyphen_values = true)]
        org: String,
    },
    /// Make a user a member (role `member` unless --role is given)
    AddMember {
        /// Realm name
        realm: String,
        /// The organization's alias or id
        #[arg(allow_hyphen_values = true)]
        org: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// An organization role (owner, admin, member, or one of the realm's); repeat for more
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Replace a member's organization roles (the last owner keeps `owner`)
    SetRoles {
        /// Realm name
        realm: String,
        /// The organization's alias or id
        #[arg(allow_hyphen_values = true)]
        org: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// The roles, e.g. owner billing
        #[arg(required = true)]
        roles: Vec<String>,
    },
    /// End a membership (not the last owner's)
    RemoveMember {
        /// Realm name
        realm: String,
        /// The organization's alias or id
        #[arg(allow_hyphen_values = true)]
        org: String,
        /// The user's username or id
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Make an invite link and print it (its secret is shown this once)
    Invite(InviteArgs),
    /// List an organization's invite links (never their secrets)
    Invites {
        /// Realm name
        realm: String,
        /// The organization's alias or id
        #[arg(allow_hyphen_values = true)]
        org: String,
    },
    /// Revoke an invite link at once
    RevokeInvite {
        /// Realm name
        realm: String,
        /// The organization's alias or id
        #[arg(allow_hyphen_values = true)]
        org: String,
        /// The link's id, as `org invites` lists it (ids may start with '-')
        #[arg(allow_hyphen_values = true)]
        invite: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Realm name
    realm: String,
    /// The organization's name, e.g. "Acme Inc."
    name: String,
    /// Alias (a-z, 0-9, '-', '_', '.'): what realm files name it by; default: made from the name
    #[arg(long)]
    alias: Option<String>,
    /// An email domain of the organization (verified); repeat for more
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Members must sign in to its apps with a second factor
    #[arg(long)]
    require_second_factor: bool,
    /// An address range its apps may be used from (CIDR or address); repeat for more
    #[arg(long = "ip-allow", value_name = "CIDR")]
    ip_allowlist: Vec<String>,
    /// Longest session for its apps, in seconds (at most the realm's sso_max)
    #[arg(long, value_name = "SECONDS")]
    session_max: Option<i64>,
}

#[derive(Args, Debug)]
pub struct InviteArgs {
    /// Realm name
    realm: String,
    /// The organization's alias or id
    #[arg(allow_hyphen_values = true)]
    org: String,
    /// The role people joining get (default member; never owner)
    #[arg(long)]
    role: Option<String>,
    /// Days the link stays open, 1 to 365 (default 7)
    #[arg(long, value_name = "DAYS")]
    days: Option<i64>,
    /// How many people may join through it (default: any number)
    #[arg(long, value_name = "N")]
    max_uses: Option<i64>,
    /// Only people whose verified address is at this domain may join
    #[arg(long, value_name = "DOMAIN")]
    email_domain: Option<String>,
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

/// Every row (the databases take limits up to `i64::MAX`).
const ALL: u64 = i64::MAX as u64;

pub(super) async fn run(global: &GlobalArgs, cmd: OrgCommand) -> Result<(), String> {
    let app = crate::app::load(settings(global, None)?)
        .await
        .map_err(|e| e.to_string())?;
    run_with(&app, cmd).await.map_err(super::explain)
}

async fn run_with(app: &AppState, cmd: OrgCommand) -> CliResult {
    let cli = Actor::cli();
    match cmd {
        OrgCommand::List { realm } => list(app, &realm).await,
        OrgCommand::Create(args) => create(app, &cli, args).await,
        OrgCommand::Delete { realm, org } => {
            let found = resolve(app, &realm, &org).await?;
            admin::delete_org(app, &cli, &realm, &found.org.id).await?;
            println!("deleted organization {}", found.org.alias);
            Ok(())
        }
        OrgCommand::Members { realm, org } => {
            let found = resolve(app, &realm, &org).await?;
            let members = admin::org_members(app, &realm, &found.org.id, 0, ALL).await?;
            if members.is_empty() {
                println!("{} has no members", found.org.alias);
            }
            for (m, u) in members {
                println!("{}\t{}", u.username, m.role_list().join(" "));
            }
            Ok(())
        }
        OrgCommand::AddMember {
            realm,
            org,
            user,
            roles,
        } => {
            let (found, u) = resolve_both(app, &realm, &org, &user).await?;
            if admin::add_org_member(app, &cli, &realm, &found.org.id, &u.id, &roles).await? {
                println!("{} is a member of {}", u.username, found.org.alias);
            } else {
                println!(
                    "{} was a member of {} already; nothing changed",
                    u.username, found.org.alias
                );
            }
            Ok(())
        }
        OrgCommand::SetRoles {
            realm,
            org,
            user,
            roles,
        } => {
            let (found, u) = resolve_both(app, &realm, &org, &user).await?;
            admin::set_org_member_roles(app, &cli, &realm, &found.org.id, &u.id, &roles).await?;
            println!("{} holds {} in {}", u.username, roles.join(" "), found.org.alias);
            Ok(())
        }
        OrgCommand::RemoveMember { realm, org, user } => {
            let (found, u) = resolve_both(app, &realm, &org, &user).await?;
            admin::remove_org_member(app, &cli, &realm, &found.org.id, &u.id).await?;
            println!("{} is no longer a member of {}", u.username, found.org.alias);
            Ok(())
        }
        OrgCommand::Invite(args) => invite(app, &cli, args).await,
        OrgCommand::Invites { realm, org } => {
            let found = resolve(app, &realm, &org).await?;
            let now = crate::store::now();
            for r in admin::invites(app, &realm, &found.org.id).await? {
                let i = r.invite;
                let state = crate::orgs::invites::status(&i, now);
                let uses = i
                    .max_uses
                    .map_or(format!("{} uses", i.uses), |m| format!("{}/{m} uses", i.uses));
                println!(
                    "{}\t{}\t{state}\t{uses}\t{}",
                    i.id,
                    i.role,
                    i.email_domain.unwrap_or_default()
                );
            }
            Ok(())
        }
        OrgCommand::RevokeInvite { realm, org, invite } => {
            let found = resolve(app, &realm, &org).await?;
            admin::revoke_invite(app, &cli, &realm, &found.org.id, &invite).await?;
            println!("revoked invite {invite}");
            Ok(())
        }
    }
}

async fn list(app: &AppState, realm: &str) -> CliResult {
    let all = admin::orgs(app, realm, None, false, 0, u64::MAX).await?;
    if all.is_empty() {
        println!("realm {realm} has no organizations");
    }
    for r in all {
        let members = admin::org_members(app, realm, &r.org.id, 0, ALL).await?.len();
        let mut policy = Vec::new();
        if r.org.require_second_factor {
            policy.push("second factor".to_string());
        }
        if !r.org.ip_allowlist.is_empty() {
            policy.push(format!("from {}", r.org.ip_allowlist));
        }
        if let Some(max) = r.org.session_max_secs {
            policy.push(format!("sessions ≤ {max}s"));
        }
        let state = if r.org.enabled { "" } else { " (disabled)" };
        println!(
            "{}\t{}{state}\t{members} members\t{}",
            r.org.alias,
            r.org.name,
            policy.join(", ")
        );
    }
    Ok(())
}

async fn create(app: &AppState, cli: &Actor, args: CreateArgs) -> CliResult {
    let input = OrgInput {
        name: args.name,
        alias: args.alias,
        enabled: true,
        domains: args.domains.into_iter().map(|d| (d, true)).collect(),
        require_second_factor: args.require_second_factor,
        ip_allowlist: args.ip_allowlist,
        session_max_secs: args.session_max,
        ..Default::default()
    };
    let created = admin::create_org(app, cli, &args.realm, input).await?;
    println!("created organization {} ({})", created.org.alias, created.org.id);
    Ok(())
}

async fn invite(app: &AppState, cli: &Actor, args: InviteArgs) -> CliResult {
    let found = resolve(app, &args.realm, &args.org).await?;
    let input = InviteInput {
        role: args.role,
        expires_in: args.days.map(|d| d.saturating_mul(86_400)),
        max_uses: args.max_uses,
        email_domain: args.email_domain,
    };
    let created = admin::create_invite(app, cli, &args.realm, &found.org.id, input).await?;
    println!("{}", created.url);
    Ok(())
}

/// An organization of the realm by alias, or else by id.
async fn resolve(app: &AppState, realm: &str, org: &str) -> Result<OrgRecord, admin::AdminError> {
    match app.store.org_by_alias(realm, org).await? {
        Some(found) => admin::org(app, realm, &found.id).await,
        None => admin::org(app, realm, org).await,
    }
}

async fn resolve_both(
    app: &AppState,
    realm: &str,
    org: &str,
    user: &str,
) -> Result<(OrgRecord, crate::store::entity::user::Model), admin::AdminError> {
    let found = resolve(app, realm, org).await?;
    let u = admin::resolve_user(app, realm, user).await?;
    Ok((found, u))
}

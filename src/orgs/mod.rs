//! Organizations (Keycloak 26's): groups of a realm's users with roles of their own, email
//! domains and a policy. An app can belong to one (`organization:` in the realm file): then
//! only its members sign in to it, and its tokens say which organization and roles they hold.
//!
//! Organizations are runtime data, made through the admin API; this module checks what they
//! may hold and decides who is admitted. `store` keeps the rows.

pub mod invites;

use serde_json::{Value, json};

use crate::realm::{Client, Realm};
use crate::store::entity::organization;
use crate::store::{OrgFields, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("that would leave the organization without an owner; make another member an owner first")]
    LastOwner,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OrgError {
    fn from(e: StoreError) -> OrgError {
        match e {
            StoreError::Conflict(what) => OrgError::Conflict(what),
            StoreError::NotFound(what) => OrgError::NotFound(what),
            other => OrgError::Store(other),
        }
    }
}

/// An organization as a client describes it, before checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgInput {
    pub name: String,
    /// Default: made from the name.
    pub alias: Option<String>,
    pub description: Option<String>,
    pub redirect_url: Option<String>,
    pub enabled: bool,
    /// Domain names and whether each is verified.
    pub domains: Vec<(String, bool)>,
    pub require_second_factor: bool,
    pub ip_allowlist: Vec<String>,
    pub session_max_secs: Option<i64>,
}

/// The longest name and description kept.
const MAX_NAME: usize = 255;
const MAX_DESCRIPTION: usize = 4096;

/// Checks an organization against the rules and the realm: a name, an alias (given or made
/// from the name), domain names, CIDRs, a session limit shorter than the realm's.
pub fn check(realm: &Realm, input: OrgInput) -> Result<OrgFields, OrgError> {
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(OrgError::Invalid(format!(
            "an organization needs a name of 1 to {MAX_NAME} characters"
        )));
    }
    let alias = input.alias.filter(|a| !a.is_empty()).unwrap_or_else(|| alias_of(&name));
    if !crate::realm::is_alias(&alias) {
        return Err(OrgError::Invalid(format!(
            "alias '{alias}' may only use a-z, 0-9, '-', '_' and '.' (at most 64)"
        )));
    }
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(OrgError::Invalid(format!(
            "the description is longer than {MAX_DESCRIPTION} characters"
        )));
    }
    if let Some(url) = &input.redirect_url
        && !url.is_empty()
        && !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    {
        return Err(OrgError::Invalid(format!("redirectUrl '{url}' is not an http(s) URL")));
    }
    let mut domains: Vec<(String, bool)> = Vec::new();
    for (domain, verified) in input.domains {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if !is_domain(&domain) {
            return Err(OrgError::Invalid(format!(
                "'{domain}' is not a domain name (such as example.com)"
            )));
        }
        if domains.iter().any(|(d, _)| *d == domain) {
            return Err(OrgError::Invalid(format!("domain '{domain}' is listed twice")));
        }
        domains.push((domain, verified));
    }
    let mut ip_allowlist = Vec::new();
    for cidr in input.ip_allowlist {
        let net = crate::ops::ranges::parse(&cidr).ok_or_else(|| {
            OrgError::Invalid(format!(
                "'{cidr}' is not an address range; write it as 192.0.2.0/24, 2001:db8::/32 or a single address"
            ))
        })?;
        ip_allowlist.push(net.to_string());
    }
    let realm_max = realm.tokens.sso_max.as_secs();
    if let Some(max) = input.session_max_secs
        && !(60..=realm_max).contains(&max)
    {
        return Err(OrgError::Invalid(format!(
            "sessionMax must be from 60 seconds to the realm's longest session ({realm_max} seconds)"
        )));
    }
    Ok(OrgFields {
        name,
        alias,
        description: input.description.filter(|d| !d.is_empty()),
        // As parsed: the parser drops tabs and line breaks, which a `Location` cannot carry.
        redirect_url: input
            .redirect_url
            .filter(|u| !u.is_empty())
            .and_then(|u| url::Url::parse(&u).ok())
            .map(String::from),
        enabled: input.enabled,
        require_second_factor: input.require_second_factor,
        ip_allowlist,
        session_max_secs: input.session_max_secs,
        domains,
    })
}

/// An alias made from a name: lower case, runs of other characters as one `-`.
pub fn alias_of(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    trimmed.chars().take(64).collect()
}

/// A DNS name of at least two labels, each 1–63 of a-z, 0-9 and inner `-`.
pub(crate) fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Checks the roles a member is to hold: each one the realm has, at least one.
pub fn check_roles(realm: &Realm, roles: &[String]) -> Result<(), OrgError> {
    if roles.is_empty() {
        return Err(OrgError::Invalid(
            "a member holds at least one role (such as member)".into(),
        ));
    }
    for role in roles {
        if !realm.has_organization_role(role) {
            let mut known: Vec<&str> = crate::realm::ORGANIZATION_ROLES.to_vec();
            known.extend(realm.organization_roles.iter().map(String::as_str));
            return Err(OrgError::Invalid(format!(
                "'{role}' is not an organization role; the realm's: {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Whether a user may sign in to a client, as far as organizations decide.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// The client belongs to no organization.
    Open,
    /// A member of the client's organization: the `organization` claim of their tokens.
    Member(Value),
    Refused(Refusal),
}

/// Why an organization's app refused someone: a stable reason for the log, words for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The organization's alias; `None` for the realm's own address allowlist.
    pub organization: Option<String>,
    /// `not_member`, `ip_not_allowed`, `second_factor_required` or `session_too_old`.
    pub reason: &'static str,
    pub message: String,
}

/// What is known of a request to use an organization's app, and of the sign-in behind it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The address the request came from; `None` where the sign-in itself checked it (the
    /// code exchange, which comes from the app's server, not the person's network).
    pub ip: Option<&'a str>,
    /// The sign-in's methods (`amr`): `mfa` when two factors were used.
    pub amr: &'a [String],
    /// When the user last authenticated, and now (Unix seconds).
    pub auth_time: i64,
    pub now: i64,
}

/// Decides whether `user_id` may use `client` of `realm` (see [`decide`]); a refusal is
/// recorded in the security log with the address.
pub async fn admit(
    store: &Store,
    realm: &Realm,
    client: &Client,
    user_id: &str,
    attempt: &Attempt<'_>,
) -> Result<Admission, StoreError> {
    let admitted = match realm_refusal(realm, attempt.ip) {
        Some(refusal) => Admission::Refused(refusal),
        None => decide(store, &realm.name, client, user_id, attempt).await?,
    };
    if let Admission::Refused(refusal) = &admitted {
        let client_id = Some(client.client_id.as_str());
        record_refusal(store, &realm.name, client_id, Some(user_id), attempt.ip, refusal).await;
    }
    Ok(admitted)
}

/// The refusal of an address outside the realm's own allowlist (`ip_allowlist` in the realm
/// file); none where the address is not checked (`None`: the code exchange, introspection).
pub fn realm_refusal(realm: &Realm, ip: Option<&str>) -> Option<Refusal> {
    let ip = ip?;
    if crate::ops::ranges::allowed_in(realm.ip_allowlist.iter().map(String::as_str), Some(ip)) {
        return None;
    }
    Some(Refusal {
        organization: None,
        reason: "ip_not_allowed",
        message: format!(
            "{} accepts sign-ins and tokens only from its own networks; connect from one of them.",
            realm.display_name
        ),
    })
}

/// Decides whether `user_id` may use `client` of `realm`: anyone, when it belongs to no
/// organization; else members of its organization while that is enabled, within its policy:
/// from an allowed address, with two factors if it requires them, and within its longest
/// session.
async fn decide(
    store: &Store,
    realm: &str,
    client: &Client,
    user_id: &str,
    attempt: &Attempt<'_>,
) -> Result<Admission, StoreError> {
    let Some(alias) = client.organization.as_deref() else {
        return Ok(Admission::Open);
    };
    let refuse = |reason: &'static str, message: String| {
        Ok(Admission::Refused(Refusal {
            organization: Some(alias.to_string()),
            reason,
            message,
        }))
    };
    let not_member = || {
        refuse(
            "not_member",
            format!("You are not a member of the organization this app belongs to ({alias})."),
        )
    };
    let Some(org) = store.org_by_alias(realm, alias).await?.filter(|o| o.enabled) else {
        return not_member();
    };
    let Some(membership) = store.org_membership(&org.id, user_id).await? else {
        return not_member();
    };
    if let Some((reason, message)) = policy_refusal(&org, attempt) {
        return refuse(reason, message);
    }
    Ok(Admission::Member(claim(&org, &membership.role_list())))
}

/// What in an organization's policy refuses an attempt, if anything: the reason and the words.
pub fn policy_refusal(org: &organization::Model, attempt: &Attempt<'_>) -> Option<(&'static str, String)> {
    if let Some(ip) = attempt.ip
        && !crate::ops::ranges::allowed(&org.ip_allowlist, Some(ip))
    {
        let message = format!(
            "{} allows its apps only from its own networks; connect from one of them.",
            org.name
        );
        return Some(("ip_not_allowed", message));
    }
    if org.require_second_factor && !attempt.amr.iter().any(|m| m == "mfa") {
        let message = format!(
            "{} requires two-factor sign-in: set up an authenticator app in your account's security page, then sign in again.",
            org.name
        );
        return Some(("second_factor_required", message));
    }
    if let Some(max) = org.session_max_secs
        && attempt.now - attempt.auth_time > max
    {
        let message = format!(
            "{} asks you to sign in again after {} minutes.",
            org.name,
            (max + 59) / 60
        );
        return Some(("session_too_old", message));
    }
    None
}

/// The longest session (seconds) of the organization `client` belongs to, if it sets one.
pub async fn session_max(store: &Store, realm: &str, client: &Client) -> Result<Option<i64>, StoreError> {
    let Some(alias) = client.organization.as_deref() else {
        return Ok(None);
    };
    Ok(store
        .org_by_alias(realm, alias)
        .await?
        .filter(|o| o.enabled)
        .and_then(|o| o.session_max_secs))
}

/// The name of the organization `client` belongs to when it requires a second factor and
/// `user_id` is one of its members, signing in from an allowed address: such a member who has
/// no second factor yet is led to set one up rather than refused.
pub async fn requiring_second_factor(
    store: &Store,
    realm: &str,
    client: &Client,
    user_id: &str,
    ip: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let Some(alias) = client.organization.as_deref() else {
        return Ok(None);
    };
    let Some(org) = store
        .org_by_alias(realm, alias)
        .await?
        .filter(|o| o.enabled && o.require_second_factor && crate::ops::ranges::allowed(&o.ip_allowlist, ip))
    else {
        return Ok(None);
    };
    let member = store.org_membership(&org.id, user_id).await?.is_some();
    Ok(member.then_some(org.name))
}

/// Records a refusal in the security log, with the address it came from.
pub async fn record_refusal(
    store: &Store,
    realm: &str,
    client_id: Option<&str>,
    user_id: Option<&str>,
    ip: Option<&str>,
    refusal: &Refusal,
) {
    let (kind, details) = match &refusal.organization {
        Some(organization) => (
            "organization_access_denied",
            json!({ "organization": organization, "reason": refusal.reason }),
        ),
        None => ("realm_access_denied", json!({ "reason": refusal.reason })),
    };
    crate::events::record(
        store,
        crate::store::NewEvent {
            realm: realm.into(),
            kind: kind.into(),
            user_id: user_id.map(String::from),
            client_id: client_id.map(String::from),
            ip: ip.map(String::from),
            user_agent: None,
            details,
        },
    )
    .await;
}

/// The `organization` claim (Keycloak 26's map form): the alias, with the organization's id
/// and the member's roles.
pub fn claim(org: &organization::Model, roles: &[String]) -> Value {
    json!({ org.alias.clone(): { "id": org.id, "roles": roles } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_other_networks_one_factor_and_old_sign_ins() {
        let org = organization::Model {
            id: "o".into(),
            realm: "t".into(),
            name: "Acme".into(),
            alias: "acme".into(),
            description: None,
            redirect_url: None,
            enabled: true,
            require_second_factor: true,
            ip_allowlist: "10.0.0.0/8".into(),
            session_max_secs: Some(3600),
            created_at: 0,
        };
        let two = ["pwd".to_string(), "otp".into(), "mfa".into()];
        let ok = Attempt {
            ip: Some("10.1.1.1"),
            amr: &two,
            auth_time: 1000,
            now: 4600,
        };
        assert_eq!(policy_refusal(&org, &ok), None);
        let reason = |a: Attempt<'_>| policy_refusal(&org, &a).map(|(r, _)| r);
        assert_eq!(
            reason(Attempt {
                ip: Some("192.0.2.1"),
                ..ok
            }),
            Some("ip_not_allowed")
        );
        assert_eq!(reason(Attempt { amr: &two[..1], ..ok }), Some("second_factor_required"));
        assert_eq!(reason(Attempt { now: 4601, ..ok }), Some("session_too_old"));
        let open = organization::Model {
            require_second_factor: false,
            ip_allowlist: String::new(),
            session_max_secs: None,
            ..org
        };
        assert_eq!(
            policy_refusal(
                &open,
                &Attempt {
                    ip: None,
                    amr: &[],
                    auth_time: 0,
                    now: i64::MAX
                }
            ),
            None
        );
    }

    #[test]
    fn aliases_are_made_from_names() {
        assert_eq!(alias_of("Acme Corp."), "acme-corp");
        assert_eq!(alias_of("  Büro  42 "), "b-ro-42");
        assert_eq!(alias_of("---"), "");
    }

    #[test]
    fn domains_need_two_labels_of_letters_digits_and_hyphens() {
        assert!(is_domain("example.com"));
        assert!(is_domain("mail.a-b.example"));
        assert!(!is_domain("localhost"));
        assert!(!is_domain("-a.com"));
        assert!(!is_domain("a..com"));
        assert!(!is_domain("exa mple.com"));
    }

    fn realm() -> Realm {
        crate::realm::load::load_str("t.yaml", "realm: t\norganization_roles: [billing]\n", &|_| None)
            .expect("a valid realm")
    }

    #[test]
    fn an_organization_is_checked_against_the_realm() {
        let realm = realm();
        let ok = check(
            &realm,
            OrgInput {
                name: " Acme Inc ".into(),
                domains: vec![("Acme.COM.".into(), true)],
                ip_allowlist: vec!["10.1.2.3/8".into()],
                session_max_secs: Some(3600),
                enabled: true,
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!((ok.name.as_str(), ok.alias.as_str()), ("Acme Inc", "acme-inc"));
        assert_eq!(ok.domains, vec![("acme.com".to_string(), true)]);
        assert_eq!(ok.ip_allowlist, vec!["10.0.0.0/8".to_string()]);
        let bad = |input: OrgInput| check(&realm, input).is_err();
        assert!(bad(OrgInput::default()));
        assert!(bad(OrgInput {
            name: "A".into(),
            alias: Some("Upper".into()),
            ..Default::default()
        }));
        assert!(bad(OrgInput {
            name: "A".into(),
            domains: vec![("x".into(), false)],
            ..Default::default()
        }));
        assert!(bad(OrgInput {
            name: "A".into(),
            ip_allowlist: vec!["nope".into()],
            ..Default::default()
        }));
        assert!(bad(OrgInput {
            name: "A".into(),
            session_max_secs: Some(10 * 365 * 86_400),
            ..Default::default()
        }));
        assert!(check_roles(&realm, &["billing".into(), "owner".into()]).is_ok());
        assert!(check_roles(&realm, &["root".into()]).is_err());
        assert!(check_roles(&realm, &[]).is_err());
    }
}

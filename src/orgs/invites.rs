//! Invite links: what one may say (a role of the realm, an end within a year, a number of uses,
//! an email domain), the link's secret, and whether a person may join through it.

use super::OrgError;
use crate::realm::Realm;
use crate::store::entity::{organization_invite, user};

/// The longest a link may stay open.
pub const MAX_INVITE_SECS: i64 = 365 * 86_400;
/// What a link lasts when nothing is said: a week.
pub const DEFAULT_INVITE_SECS: i64 = 7 * 86_400;

/// A link's state at `now`, as admins see it: `revoked`, `expired`, `used-up` or `active`.
pub fn status(link: &organization_invite::Model, now: i64) -> &'static str {
    if link.revoked_at.is_some() {
        "revoked"
    } else if link.expires_at <= now {
        "expired"
    } else if crate::store::invite_usable(link, now) {
        "active"
    } else {
        "used-up"
    }
}

/// A link as an admin asks for it, before checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteInput {
    /// Default `member`.
    pub role: Option<String>,
    /// Seconds from now; default a week.
    pub expires_in: Option<i64>,
    /// `None`: any number until it expires.
    pub max_uses: Option<i64>,
    pub email_domain: Option<String>,
}

/// A checked link request: role, seconds it lasts, uses, domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteTerms {
    pub role: String,
    pub expires_in: i64,
    pub max_uses: Option<i64>,
    pub email_domain: Option<String>,
}

pub fn check_invite(realm: &Realm, input: InviteInput) -> Result<InviteTerms, OrgError> {
    let role = input.role.unwrap_or_else(|| "member".into());
    super::check_roles(realm, std::slice::from_ref(&role))?;
    if role == crate::store::OWNER_ROLE {
        return Err(OrgError::Invalid(
            "an invite link cannot make owners; make a member an owner once they joined".into(),
        ));
    }
    let expires_in = input.expires_in.unwrap_or(DEFAULT_INVITE_SECS);
    if !(60..=MAX_INVITE_SECS).contains(&expires_in) {
        return Err(OrgError::Invalid(format!(
            "expiresIn must be from 60 seconds to a year ({MAX_INVITE_SECS} seconds)"
        )));
    }
    if input.max_uses.is_some_and(|n| n < 1) {
        return Err(OrgError::Invalid(
            "maxUses must be 1 or more (leave it out for no limit)".into(),
        ));
    }
    let email_domain = match input.email_domain.filter(|d| !d.trim().is_empty()) {
        Some(d) => {
            let d = d
                .trim()
                .trim_start_matches('@')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if !super::is_domain(&d) {
                return Err(OrgError::Invalid(format!(
                    "'{d}' is not a domain name (such as example.com)"
                )));
            }
            Some(d)
        }
        None => None,
    };
    Ok(InviteTerms {
        role,
        expires_in,
        max_uses: input.max_uses,
        email_domain,
    })
}

/// Whether `user` may join through a link with `email_domain`: any user without one; with one,
/// only a user whose verified address is at that domain (not a subdomain).
pub fn email_suits(link: &organization_invite::Model, user: &user::Model) -> bool {
    let Some(domain) = &link.email_domain else { return true };
    user.email_verified
        && user
            .email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .is_some_and(|(_, at)| at.eq_ignore_ascii_case(domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn realm() -> Realm {
        crate::realm::load::load_str("t.yaml", "realm: t\n", &|_| None).expect("a valid realm")
    }

    #[test]
    fn links_are_checked() {
        let realm = realm();
        let terms = check_invite(&realm, InviteInput::default()).expect("defaults");
        assert_eq!(
            (terms.role.as_str(), terms.expires_in, terms.max_uses),
            ("member", DEFAULT_INVITE_SECS, None)
        );
        let domain = InviteInput {
            email_domain: Some("@Acme.COM".into()),
            ..Default::default()
        };
        assert_eq!(
            check_invite(&realm, domain).expect("valid").email_domain.as_deref(),
            Some("acme.com")
        );
        let bad = |input: InviteInput| check_invite(&realm, input).is_err();
        assert!(bad(InviteInput {
            role: Some("owner".into()),
            ..Default::default()
        }));
        assert!(bad(InviteInput {
            role: Some("wizard".into()),
            ..Default::default()
        }));
        assert!(bad(InviteInput {
            expires_in: Some(MAX_INVITE_SECS + 1),
            ..Default::default()
        }));
        assert!(bad(InviteInput {
            max_uses: Some(0),
            ..Default::default()
        }));
        assert!(bad(InviteInput {
            email_domain: Some("not a domain".into()),
            ..Default::default()
        }));
    }

    #[test]
    fn a_domain_link_takes_verified_addresses_at_that_domain_only() {
        let link = organization_invite::Model {
            id: "i".into(),
            organization_id: "o".into(),
            token_hash: "h".into(),
            role: "member".into(),
            expires_at: 0,
            max_uses: None,
            uses: 0,
            email_domain: Some("acme.com".into()),
            created_by: "cli".into(),
            created_at: 0,
            revoked_at: None,
        };
        let user = user::Model {
            id: "u".into(),
            realm: "t".into(),
            username: "a".into(),
            email: Some("a@ACME.com".into()),
            email_verified: true,
            first_name: None,
            last_name: None,
            enabled: true,
            created_at: 0,
            username_key: "a".into(),
            email_key: None,
        };
        assert!(email_suits(&link, &user));
        assert!(!email_suits(
            &link,
            &user::Model {
                email_verified: false,
                ..user.clone()
            }
        ));
        assert!(!email_suits(
            &link,
            &user::Model {
                email: Some("a@evil.acme.com".into()),
                ..user.clone()
            }
        ));
        assert!(!email_suits(
            &link,
            &user::Model {
                email: None,
                ..user.clone()
            }
        ));
        let open = organization_invite::Model {
            email_domain: None,
            ..link
        };
        assert!(email_suits(&open, &user::Model { email: None, ..user }));
    }
}

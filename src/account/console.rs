//! How the console's pages sign people in: through the realm's own authorization endpoint as
//! the built-in public client `account-console` (so the realm's browser flow, and its second
//! factor, applies), with `state` and PKCE kept in a short-lived cookie of this browser.

use crate::crypto::{constant_time_eq, random_token, sha256_b64, sha256_hex};
use crate::oidc::jwt::{SignInFacts, pkce_matches};
use crate::realm::ACCOUNT_CONSOLE;
use crate::state::{AppState, RealmRuntime};
use crate::store::{CodeExchange, StoreError};

/// The console's pages, by the path segment after `/account`.
pub const PAGES: &[&str] = &["", "security", "sessions", "log", "tokens", "organizations", "linked"];

/// A pending return to an invite link: `join:` and the link's secret (base64url).
const JOIN: &str = "join:";
/// A pending return to an organization's management page: `org:` and its id.
const ORG: &str = "org:";

/// Whether `text` is a token or id as Gatehouse makes them (base64url, at most 128 characters).
fn is_token(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether the console may return to `page`: one of [`PAGES`], an invite link, or an
/// organization's management page.
fn is_page(page: &str) -> bool {
    PAGES.contains(&page)
        || page.strip_prefix(JOIN).is_some_and(is_token)
        || page.strip_prefix(ORG).is_some_and(is_token)
}

/// The page to return to for an invite link opened before signing in.
pub fn join_page(secret: &str) -> String {
    format!("{JOIN}{secret}")
}

/// The page to return to for an organization's management page opened before signing in.
pub fn org_page(id: &str) -> String {
    format!("{ORG}{id}")
}

/// The path (under `/account/`) of a page [`Pending`] holds.
pub fn page_path(page: &str) -> String {
    if let Some(secret) = page.strip_prefix(JOIN) {
        return format!("organizations/join?invite={secret}");
    }
    match page.strip_prefix(ORG) {
        Some(id) => format!("organizations/{id}"),
        None => page.to_string(),
    }
}

/// A sign-in the console started: what the browser keeps (in a cookie) until it comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub state: String,
    pub verifier: String,
    /// The page to show afterwards (one of [`PAGES`]).
    pub page: String,
}

impl Pending {
    pub fn new(page: &str) -> Pending {
        Pending {
            state: random_token(),
            verifier: random_token(),
            page: if is_page(page) { page } else { "" }.to_string(),
        }
    }

    /// The cookie value: `state.verifier.page` (tokens are base64url, so without dots).
    pub fn to_cookie(&self) -> String {
        format!("{}.{}.{}", self.state, self.verifier, self.page)
    }

    pub fn from_cookie(value: &str) -> Option<Pending> {
        let mut parts = value.splitn(3, '.');
        let state = parts.next()?.to_string();
        let verifier = parts.next()?.to_string();
        let page = parts.next()?;
        (is_page(page) && !state.is_empty() && !verifier.is_empty()).then(|| Pending {
            state,
            verifier,
            page: page.to_string(),
        })
    }

    pub fn state_matches(&self, presented: &str) -> bool {
        constant_time_eq(self.state.as_bytes(), presented.as_bytes())
    }
}

/// Where the console's client is sent back to.
pub fn redirect_uri(rt: &RealmRuntime) -> String {
    format!("{}/account/callback", rt.issuer)
}

/// The authorization request that signs the browser in to the console; `again` asks for a
/// fresh sign-in (`prompt=login`) before a sensitive change; `action` runs an
/// application-initiated action (`kc_action`) for the signed-in user.
pub fn authorize_url(rt: &RealmRuntime, pending: &Pending, again: bool, action: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", ACCOUNT_CONSOLE)
        .append_pair("redirect_uri", &redirect_uri(rt))
        .append_pair("scope", "openid")
        .append_pair("state", &pending.state)
        .append_pair("code_challenge", &sha256_b64(pending.verifier.as_bytes()))
        .append_pair("code_challenge_method", "S256");
    if again {
        query.append_pair("prompt", "login");
    }
    if let Some(action) = action {
        query.append_pair("kc_action", action);
    }
    format!("{}/protocol/openid-connect/auth?{}", rt.issuer, query.finish())
}

/// Spends the code the browser came back with. It counts only if it was issued in this realm
/// to the console, for this redirect URI and this browser's PKCE verifier.
pub async fn redeem(app: &AppState, rt: &RealmRuntime, code: &str, pending: &Pending) -> Result<bool, StoreError> {
    let CodeExchange::Claimed(claimed) = app.store.claim_code(&sha256_hex(code.as_bytes())).await? else {
        return Ok(false);
    };
    let challenge = serde_json::from_str::<SignInFacts>(&claimed.data)
        .ok()
        .and_then(|f| f.code_challenge);
    Ok(claimed.realm == rt.realm.name
        && claimed.client_id == ACCOUNT_CONSOLE
        && claimed.redirect_uri == redirect_uri(rt)
        && challenge.is_some_and(|c| pkce_matches(&c, &pending.verifier)))
}

/// Spends a code that came back without this browser's sign-in, so that it can never be used
/// (a code issued to someone else's challenge, or a replay).
pub async fn spend(app: &AppState, code: &str) -> Result<(), StoreError> {
    app.store.claim_code(&sha256_hex(code.as_bytes())).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_sign_in_survives_its_cookie_and_nothing_else_does() {
        let p = Pending::new("sessions");
        assert_eq!(Pending::from_cookie(&p.to_cookie()), Some(p.clone()));
        assert!(p.state_matches(&p.state.clone()));
        assert!(!p.state_matches("other"));
        assert_eq!(Pending::new("../admin").page, "");
        let join = Pending::new(&join_page("abc_DEF-1"));
        assert_eq!(Pending::from_cookie(&join.to_cookie()), Some(join.clone()));
        assert_eq!(page_path(&join.page), "organizations/join?invite=abc_DEF-1");
        assert_eq!(page_path(&Pending::new(&org_page("o-1_x")).page), "organizations/o-1_x");
        assert_eq!(Pending::new("org:../x").page, "");
        assert_eq!(Pending::new("join:a/b").page, "");
        assert_eq!(Pending::new("join:").page, "");
        for bad in ["", "a.b", "a.b.elsewhere", ".b.", "a..security"] {
            assert_eq!(Pending::from_cookie(bad), None, "{bad}");
        }
    }
}

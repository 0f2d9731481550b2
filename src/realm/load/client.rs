//! A client of a realm file: its secret (hashed, or from the environment), redirect URIs,
//! grants and scopes.

use serde_saphyr::{Location, Spanned};

use super::Validator;
use crate::realm::Client;
use crate::realm::model::{ClientFile, GrantType};

impl Validator<'_> {
    /// A client's `scopes`: standard ones or the realm's, each once.
    fn client_scopes(&mut self, id: &str, listed: &[Spanned<String>], realm_scopes: &[String]) -> Vec<String> {
        let mut list = Vec::new();
        for scope in listed {
            let s = scope.value.as_str();
            if !crate::realm::STANDARD_SCOPES.contains(&s) && !realm_scopes.iter().any(|r| r == s) {
                self.error(
                    scope.referenced,
                    format!(
                        "client '{id}': scope '{s}' is neither standard ({}) nor one of the realm's scopes",
                        crate::realm::STANDARD_SCOPES.join(", ")
                    ),
                );
            } else if !list.iter().any(|x| x == s) {
                list.push(s.to_string());
            }
        }
        list
    }

    pub(super) fn client(&mut self, c: ClientFile, at: Location, realm_scopes: &[String]) -> Option<Client> {
        let id = c.client_id.value.clone();
        let errors_before = self.errors.len();
        if id.is_empty() || id.chars().any(|ch| ch.is_control() || ch.is_whitespace()) {
            self.error(c.client_id.referenced, "client_id must be non-empty, without spaces");
        }
        if id == super::super::ACCOUNT_AUDIENCE {
            self.error(
                c.client_id.referenced,
                "client_id 'account' is reserved: it is the audience of the account console's API",
            );
        }
        let secret_hash = self.secret_hash(&id, c.secret.as_ref(), c.secret_hash.as_ref(), at);
        let grant_types = self.grant_types(&id, &c, secret_hash.is_some(), at);
        for uri in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
            self.redirect_uri(uri);
        }
        for origin in &c.web_origins {
            self.web_origin(&id, origin);
        }
        if let Some(first) = c.service_account_roles.first()
            && !grant_types.contains(&GrantType::ClientCredentials)
        {
            self.error(
                first.referenced,
                format!("client '{id}' has service_account_roles but not the client_credentials grant"),
            );
        }
        let scopes = c
            .scopes
            .as_ref()
            .map(|listed| self.client_scopes(&id, listed, realm_scopes));
        let mut roles: Vec<String> = Vec::new();
        for role in &c.roles {
            let r = role.value.as_str();
            if r.is_empty() || r.chars().any(char::is_control) {
                self.error(role.referenced, format!("client '{id}': a role needs a name"));
            } else if roles.iter().any(|x| x == r) {
                self.error(role.referenced, format!("client '{id}': role '{r}' is listed twice"));
            } else {
                roles.push(r.to_string());
            }
        }
        if let Some(alias) = &c.organization
            && !crate::realm::is_alias(&alias.value)
        {
            self.error(
                alias.referenced,
                format!(
                    "client '{id}': organization '{}' is not an alias (a-z, 0-9, '-', '_' and '.', at most 64)",
                    alias.value
                ),
            );
        }
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Client {
            name: c.name.unwrap_or_else(|| id.clone()),
            client_id: id,
            secret_hash,
            redirect_uris: c.redirect_uris.into_iter().map(|s| s.value).collect(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.into_iter().map(|s| s.value).collect(),
            grant_types,
            pkce: c.pkce,
            browser_flow: c.browser_flow.map(|f| f.value),
            service_account_roles: c.service_account_roles.into_iter().map(|r| r.value).collect(),
            admin_api: c.admin_api,
            introspection: c.introspection,
            scopes,
            web_origins: c.web_origins.into_iter().map(|o| o.value).collect(),
            roles,
            organization: c.organization.map(|o| o.value),
        })
    }

    /// The client's grants (default: authorization_code and refresh_token), each one it can use.
    fn grant_types(&mut self, id: &str, c: &ClientFile, confidential: bool, at: Location) -> Vec<GrantType> {
        let grant_types: Vec<GrantType> = if c.grant_types.is_empty() {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        } else {
            c.grant_types.iter().map(|g| g.value).collect()
        };
        for g in &c.grant_types {
            if g.value == GrantType::ClientCredentials && !confidential {
                self.error(
                    g.referenced,
                    format!("client '{id}' is public (no secret) and cannot use client_credentials"),
                );
            }
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && c.redirect_uris.is_empty() {
            self.error(
                at,
                format!("client '{id}' uses authorization_code but has no redirect_uris"),
            );
        }
        grant_types
    }

    /// A web origin is `+` or exactly an origin: `http(s)://host[:port]`, nothing after it.
    /// `*` is refused: any site could then read tokens and profiles with a user's help.
    fn web_origin(&mut self, id: &str, origin: &Spanned<String>) {
        let o = origin.value.as_str();
        if o == "+" {
            return;
        }
        let parsed = url::Url::parse(o)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        let exact = parsed.as_ref().is_some_and(|u| u.origin().ascii_serialization() == o);
        // As for redirect URIs: plain http only on the loopback interface.
        if let Some(Err(why)) = parsed.as_ref().filter(|_| exact).map(redirect_scheme_allowed) {
            self.error(origin.referenced, format!("client '{id}': web origin '{o}': {why}"));
            return;
        }
        if o == "*" {
            self.error(
                origin.referenced,
                format!("client '{id}': web_origins may not be '*' (every site); list the app's origins, or '+' for those of its redirect URIs"),
            );
        } else if !exact {
            self.error(
                origin.referenced,
                format!("client '{id}': web origin '{o}' is not an origin: write scheme://host[:port] with no path or trailing slash, or '+'"),
            );
        }
    }

    fn secret_hash(
        &mut self,
        id: &str,
        secret: Option<&Spanned<String>>,
        hash: Option<&Spanned<String>>,
        at: Location,
    ) -> Option<String> {
        match (secret, hash) {
            (Some(_), Some(h)) => {
                self.error(
                    h.referenced,
                    format!("client '{id}' has both secret and secret_hash; keep one"),
                );
                None
            }
            (Some(s), None) => {
                let Some(name) = env_reference(&s.value) else {
                    self.error(
                        s.referenced,
                        "secrets are never written in realm files: use secret: ${env:NAME} or secret_hash: sha256:<hex>",
                    );
                    return None;
                };
                let Some(value) = (self.env)(name) else {
                    self.error(
                        s.referenced,
                        format!("environment variable {name} is not set (client '{id}' secret)"),
                    );
                    return None;
                };
                if value.chars().count() < 32 {
                    self.error(
                        s.referenced,
                        format!("the secret in {name} is too short: client secrets need at least 32 characters"),
                    );
                    return None;
                }
                Some(crate::crypto::sha256_hex(value.as_bytes()))
            }
            (None, Some(h)) => match h.value.strip_prefix("sha256:") {
                Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                    Some(hex.to_ascii_lowercase())
                }
                _ => {
                    self.error(h.referenced, "secret_hash must be 'sha256:' followed by 64 hex digits");
                    None
                }
            },
            (None, None) => {
                let _ = at;
                None
            }
        }
    }

    fn redirect_uri(&mut self, uri: &Spanned<String>) {
        match url::Url::parse(&uri.value) {
            Ok(u) if u.fragment().is_some() => self.error(
                uri.referenced,
                format!("redirect URI '{}' must not have a fragment", uri.value),
            ),
            Ok(_) if uri.value.contains('*') => self.error(
                uri.referenced,
                format!(
                    "redirect URI '{}': wildcards are not allowed, list each URI exactly",
                    uri.value
                ),
            ),
            Ok(u) => {
                if let Err(why) = redirect_scheme_allowed(&u) {
                    self.error(uri.referenced, format!("redirect URI '{}': {why}", uri.value));
                }
            }
            Err(e) => self.error(
                uri.referenced,
                format!("redirect URI '{}' is not an absolute URL: {e}", uri.value),
            ),
        }
    }
}

/// Where a browser may be sent with a code or after logout: `https` anywhere, plain `http` only
/// to the loopback interface (RFC 8252 §7.3: native apps on `127.0.0.1`, `[::1]`, `localhost`),
/// a private-use scheme of a native app (`com.example.app:/cb`, RFC 8252 §7.1); never a scheme
/// that runs or embeds content in the browser.
fn redirect_scheme_allowed(u: &url::Url) -> Result<(), String> {
    match u.scheme() {
        "https" => Ok(()),
        "http" => match u.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => Ok(()),
            _ => Err("plain http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https".into()),
        },
        scheme @ ("javascript" | "data" | "vbscript" | "file" | "blob" | "about" | "ws" | "wss" | "ftp") => Err(
            format!("the {scheme}: scheme is not allowed; use https (or a native app's own scheme)"),
        ),
        _ => Ok(()),
    }
}

pub(super) use crate::realm::env_reference;

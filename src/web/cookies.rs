//! The cookies Gatehouse sets: the SSO session and the sign-in in progress. Both are
//! `HttpOnly`, `SameSite=Lax`, scoped to the realm's path, and `Secure` on https.

use axum_extra::extract::cookie::{Cookie, SameSite};

pub const SSO_COOKIE: &str = "GATEHOUSE_SESSION";
pub const AUTH_COOKIE: &str = "GATEHOUSE_AUTH";
/// A trusted device ("Remember this device"): the device record's id and a secret.
pub const DEVICE_COOKIE: &str = "GATEHOUSE_DEVICE";

pub fn realm_path(realm: &str) -> String {
    format!("/realms/{realm}/")
}

pub fn build(name: &'static str, value: String, realm: &str, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .path(realm_path(realm))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

/// A cookie that deletes `name`.
pub fn removal(name: &'static str, realm: &str, secure: bool) -> Cookie<'static> {
    let mut c = build(name, String::new(), realm, secure);
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_on_https() {
        let c = build(SSO_COOKIE, "v".into(), "demo", true).to_string();
        assert!(c.contains("HttpOnly"), "{c}");
        assert!(c.contains("SameSite=Lax"), "{c}");
        assert!(c.contains("Secure"), "{c}");
        assert!(c.contains("Path=/realms/demo/"), "{c}");
        let plain = build(SSO_COOKIE, "v".into(), "demo", false).to_string();
        assert!(!plain.contains("Secure"), "{plain}");
    }
}

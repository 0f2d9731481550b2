//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::OAuthError;
use crate::crypto::verify_sha256;
use crate::realm::{Client, Realm};

/// Credentials as presented.
#[derive(Debug, Default)]
pub struct Presented {
    pub client_id: Option<String>,
    pub secret: Option<String>,
    pub basic: bool,
}

/// Reads the `Authorization: Basic` credentials (`basic`, whose parts are form-urlencoded,
/// RFC 6749 §2.3.1) or the `client_id` / `client_secret` form fields. Using both methods at
/// once is an error.
pub fn presented(
    basic: Option<&str>,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Presented, OAuthError> {
    if let Some(encoded) = basic {
        if form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        let bad = || OAuthError::invalid_client("malformed Basic credentials", true);
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = text.split_once(':').ok_or_else(bad)?;
        let id = form_decode(id).ok_or_else(bad)?;
        if form_id.is_some_and(|f| f != id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Basic credentials",
            ));
        }
        return Ok(Presented {
            client_id: Some(id),
            secret: Some(form_decode(secret).ok_or_else(bad)?),
            basic: true,
        });
    }
    Ok(Presented {
        client_id: form_id.filter(|s| !s.is_empty()).map(String::from),
        secret: form_secret.map(String::from),
        basic: false,
    })
}

fn form_decode(s: &str) -> Option<String> {
    let plus_as_space = s.replace('+', " ");
    url::form_urlencoded::parse(format!("x={plus_as_space}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .or(Some(String::new()))
}

/// Authenticates the client. Public clients identify themselves with `client_id` only;
/// confidential ones must prove their secret. Every failure is the same 401 `invalid_client`.
pub fn authenticate<'r>(realm: &'r Realm, p: &Presented) -> Result<&'r Client, OAuthError> {
    let fail = || OAuthError::invalid_client("client authentication failed", p.basic);
    let id = p.client_id.as_deref().ok_or_else(fail)?;
    let client = realm.clients.get(id).ok_or_else(fail)?;
    match (&client.secret_hash, &p.secret) {
        (Some(hash), Some(secret)) if verify_sha256(secret, hash) => Ok(client),
        (None, None) => Ok(client),
        _ => Err(fail()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let value = STANDARD.encode("my%3Aapp:p%40ss+word");
        let h = Some(value.as_str());
        let p = presented(h, None, None).unwrap();
        assert_eq!(p.client_id.as_deref(), Some("my:app"));
        assert_eq!(p.secret.as_deref(), Some("p@ss word"));
        assert!(p.basic);
        assert!(presented(h, None, Some("x")).is_err());
    }

    #[test]
    fn post_credentials() {
        let p = presented(None, Some("app"), Some("s")).unwrap();
        assert_eq!(
            (p.client_id.as_deref(), p.secret.as_deref(), p.basic),
            (Some("app"), Some("s"), false)
        );
    }
}

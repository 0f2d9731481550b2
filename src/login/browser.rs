//! What a sign-in request brings (the browser) and what the web layer must do next: the two
//! shapes every file of the sign-in shares.

use crate::flow::Page;
use crate::oidc::authorize::RedirectTarget;
use crate::oidc::error::RedirectError;

/// The browser asking (not to be confused with `realm::Client`, the app it signs in to).
#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub sso_cookie: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Its `Accept-Language`, for mail a step sends.
    pub accept_language: Option<String>,
    /// The trusted-device cookie it holds (`id.secret`), if any.
    pub device_cookie: Option<String>,
}

/// What the web layer must do next.
#[derive(Debug)]
pub enum Next {
    /// Show a page. `step` goes into the form's action URL so a stale form (back button,
    /// double submit) is recognised; `auth_cookie` is set for a new authentication session.
    Page {
        page: Page,
        csrf: String,
        step: Option<String>,
        auth_cookie: Option<String>,
        /// The client's `ui_locales`, which choose the page's language first.
        ui_locales: Option<String>,
        /// The client's redirect URI, where the page's form leads in the end (for the page's
        /// `form-action`).
        form_target: String,
    },
    /// Send the browser to an upstream sign-in provider; `auth_cookie` as for a page.
    Redirect { url: String, auth_cookie: Option<String> },
    /// Send the browser back to the client.
    Respond {
        target: RedirectTarget,
        result: Result<String, RedirectError>,
        /// A new SSO session cookie to set (`None`: keep the current one).
        sso_cookie: Option<String>,
        /// A new trusted-device cookie to set, and for how many days.
        device_cookie: Option<(String, u32)>,
    },
    /// The sign-in cannot continue; show this message.
    Error(String),
    /// Too many sign-ins from this address: show this message and ask to retry later.
    TooMany(String),
    /// The sign-in ended here without going back to the app: show this page.
    Info { heading: String, message: String },
}

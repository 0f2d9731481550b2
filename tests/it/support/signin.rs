//! Walking a flow's pages with the cookie-jar browser: which page the server showed, its
//! form, its error message; one-time codes computed from the secret the configure-OTP page
//! shows; the recovery codes page; security events read back from the database.

use serde_json::Value;
use url::Url;

use super::browser::{self, Form, Page};
use super::oauth::{self, AuthRequest, JsonResponse};
use super::{Harness, PASSWORD, USERNAME, WEB_CLIENT, WEB_REDIRECT};

/// A client that signs in through `flows/identifier-first.yaml`.
pub const IDF_CLIENT: &str = "idf";

/// A realm for flow tests: every required action enabled, a strict password policy,
/// lockout after 3 failures, the default OTP policy. Clients `web` (the realm's browser flow)
/// and `idf` (identifier-first), both with [`super::WEB_SECRET`], redirecting to
/// `redirect_uri` (and [`WEB_REDIRECT`]).
pub fn flow_realm(redirect_uri: &str) -> String {
    // The standard redirect URI is always allowed too, so that HTTP helpers such as
    // [`enrol_otp`] work in a realm made for another app.
    let redirect_uris = if redirect_uri == WEB_REDIRECT {
        WEB_REDIRECT.to_string()
    } else {
        format!("{redirect_uri}, {WEB_REDIRECT}")
    };
    format!(
        r#"realm: flows
display_name: Flow tests
password_policy: {{ min_length: 12, require: [upper, lower, digit, special], history: 2 }}
otp_policy: {{ type: totp, algorithm: SHA1, digits: 6, period: 30, look_around: 1 }}
brute_force: {{ max_failures: 3, wait_increment: 1m, max_wait: 15m }}
tokens: {{ access_ttl: 5m, refresh_ttl: 30m, code_ttl: 60s, sso_idle: 30m, sso_max: 10h, signing_alg: RS256 }}
required_actions:
  configure-otp: {{ enabled: true }}
  update-password: {{ enabled: true }}
  update-profile: {{ enabled: true }}
  terms-and-conditions: {{ enabled: true }}
clients:
  - client_id: web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [{redirect_uris}]
    grant_types: [authorization_code, refresh_token]
    pkce: required
  - client_id: idf
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [{redirect_uris}]
    grant_types: [authorization_code, refresh_token]
    pkce: required
    browser_flow: identifier-first
"#
    )
}

/// [`flow_realm`] with the standard redirect URI.
pub fn standard_flow_realm() -> String {
    flow_realm(WEB_REDIRECT)
}

/// Starts [`standard_flow_realm`] and adds [`USERNAME`] with [`PASSWORD`].
pub async fn start_flow_realm(db: super::Db) -> Harness {
    let h = Harness::start(db, &standard_flow_realm()).await;
    h.add_user(USERNAME, super::EMAIL, PASSWORD).await;
    h
}

/// Gives a user a required action, as an admin would.
pub async fn require(h: &Harness, username: &str, action: &str) {
    gatehouse::admin::require_action(&h.state, &h.realm, username, action)
        .await
        .unwrap_or_else(|e| panic!("cannot require {action} of {username}: {e}"));
}

/// The user's pending required actions, as stored.
pub async fn pending_actions(h: &Harness, username: &str) -> Vec<String> {
    let user = h
        .state
        .store
        .find_user_by_username(&h.realm, username)
        .await
        .expect("find user")
        .unwrap_or_else(|| panic!("no user {username}"));
    h.state
        .store
        .required_actions(&user.id)
        .await
        .expect("required actions")
}

// ---------------------------------------------------------------------------------------------
// Pages.

/// Which page the server showed (recognised by the contract's fields and ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Login,
    Username,
    Password,
    Otp,
    RecoveryCode,
    ConfigureOtp,
    RecoveryCodes,
    UpdatePassword,
    UpdateProfile,
    Terms,
    /// A redirect away from the server (to the client).
    Away,
    /// A page without a form (error or information).
    Message,
    Other,
}

pub fn shown(page: &Page) -> Shown {
    if page.is_redirect() {
        return Shown::Away;
    }
    let body = &page.body;
    let Some(form) = browser::parse_post_form(body, &page.url) else {
        return Shown::Message;
    };
    let has_button = |name: &str| form.buttons.iter().any(|(n, _)| n == name);
    if body.contains("id=\"otp-secret\"") {
        Shown::ConfigureOtp
    } else if body.contains("id=\"recovery-codes\"") {
        Shown::RecoveryCodes
    } else if form.has("password-new") {
        Shown::UpdatePassword
    } else if form.has("firstName") {
        Shown::UpdateProfile
    } else if has_button("accept") {
        Shown::Terms
    } else if form.has("recovery_code") {
        Shown::RecoveryCode
    } else if form.has("otp") {
        Shown::Otp
    } else if form.has("password") && body.contains("id=\"signing-in-as\"") {
        Shown::Password
    } else if form.has("username") && form.has("password") {
        Shown::Login
    } else if form.has("username") {
        Shown::Username
    } else {
        Shown::Other
    }
}

/// A description of a page for assertion messages: status, URL, error text, body start.
pub fn describe(page: &Page) -> String {
    let text = visible_text(&page.body);
    let snippet: String = text.chars().take(700).collect();
    format!(
        "{:?} page: {} {} (Location: {:?})\nerror: {:?}\ntext: {snippet}",
        shown(page),
        page.status,
        page.url,
        page.header("location"),
        error_text(page)
    )
}

/// Asserts which page is showing.
#[track_caller]
pub fn expect(page: &Page, kind: Shown) {
    assert_eq!(shown(page), kind, "expected the {kind:?} page, got {}", describe(page));
}

/// The text of the page's error messages (elements with class `error`), joined; `None` if
/// the page shows none.
pub fn error_text(page: &Page) -> Option<String> {
    let mut found = Vec::new();
    let mut rest = page.body.as_str();
    while let Some(i) = rest.find("class=\"error\"") {
        rest = &rest[i..];
        let Some(open_end) = rest.find('>') else { break };
        // A message kept `hidden` until a script shows it is not shown.
        let hidden = rest[..open_end].split_ascii_whitespace().any(|a| a == "hidden");
        let after = &rest[open_end + 1..];
        let end = after.find("</").unwrap_or(after.len());
        let text = visible_text(&after[..end]);
        if !text.is_empty() && !hidden {
            found.push(text);
        }
        rest = &after[end..];
    }
    (!found.is_empty()).then(|| found.join(" | "))
}

/// The page's text without tags, entities decoded, whitespace collapsed.
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    // Drop <style> and <svg> content first: they are not text a person reads.
    let mut cleaned = String::new();
    loop {
        let lower = rest.to_ascii_lowercase();
        let next = ["<style", "<svg", "<script"]
            .iter()
            .filter_map(|t| lower.find(t).map(|i| (i, *t)))
            .min();
        match next {
            Some((i, tag)) => {
                cleaned.push_str(&rest[..i]);
                let close = format!("</{}", &tag[1..]);
                match lower[i..].find(&close) {
                    Some(j) => {
                        let after = &rest[i + j..];
                        rest = after.find('>').map(|k| &after[k + 1..]).unwrap_or("");
                    }
                    None => rest = "",
                }
            }
            None => {
                cleaned.push_str(rest);
                break;
            }
        }
    }
    let mut in_tag = false;
    for c in cleaned.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    browser::decode_entities(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The form of a page that must have one.
#[track_caller]
pub fn form_of(page: &Page) -> Form {
    browser::parse_post_form(&page.body, &page.url)
        .unwrap_or_else(|| panic!("no <form method=post> on the page: {}", describe(page)))
}

/// One sign-in in one browser: the authorization request, its PKCE verifier, and the page
/// showing now.
pub struct SignIn {
    pub browser: reqwest::Client,
    pub request: AuthRequest,
    pub verifier: String,
    pub page: Page,
    server: Url,
}

impl SignIn {
    /// Opens the authorization request of `client_id` (redirecting to [`WEB_REDIRECT`]).
    pub async fn start(h: &Harness, browser: &reqwest::Client, client_id: &str) -> SignIn {
        let (request, verifier) = AuthRequest::new(client_id, WEB_REDIRECT);
        SignIn::start_with(h, browser, request, verifier).await
    }

    /// Opens a given authorization request.
    pub async fn start_with(h: &Harness, browser: &reqwest::Client, request: AuthRequest, verifier: String) -> SignIn {
        let url = request.url(h);
        let server = Url::parse(&h.url).expect("server URL");
        let first = browser::get(browser, &url).await;
        let page = browser::follow_on_server(browser, first, &server).await;
        SignIn {
            browser: browser.clone(),
            request,
            verifier,
            page,
            server,
        }
    }

    pub fn shown(&self) -> Shown {
        shown(&self.page)
    }

    #[track_caller]
    pub fn expect(&self, kind: Shown) -> &Self {
        expect(&self.page, kind);
        self
    }

    pub fn error(&self) -> Option<String> {
        error_text(&self.page)
    }

    /// The error message the page must show.
    #[track_caller]
    pub fn expect_error(&self, kind: Shown) -> String {
        expect(&self.page, kind);
        self.error()
            .unwrap_or_else(|| panic!("the {kind:?} page shows no error: {}", describe(&self.page)))
    }

    /// The form of the page showing now (to post it again later, like a stale tab).
    #[track_caller]
    pub fn form(&self) -> Form {
        form_of(&self.page)
    }

    /// Fills the showing page's form and submits it with its first submit button.
    pub async fn fill(&mut self, fields: &[(&str, &str)]) -> &mut Self {
        let mut form = self.form();
        for (name, value) in fields {
            form.set(name, value);
        }
        self.submit(&form).await
    }

    /// Fills the form and presses the submit button `button` = (name, value).
    pub async fn press(&mut self, fields: &[(&str, &str)], button: (&str, &str)) -> &mut Self {
        let mut form = self.form();
        for (name, value) in fields {
            form.set(name, value);
        }
        form.press(button.0, button.1);
        self.submit(&form).await
    }

    /// Submits a form (possibly an old one) and follows redirects on the server.
    pub async fn submit(&mut self, form: &Form) -> &mut Self {
        let posted = form.submit(&self.browser).await;
        self.page = browser::follow_on_server(&self.browser, posted, &self.server).await;
        self
    }

    /// Loads a URL in this browser (e.g. the back button reloading a page).
    pub async fn open(&mut self, url: &str) -> &mut Self {
        let first = browser::get(&self.browser, url).await;
        self.page = browser::follow_on_server(&self.browser, first, &self.server).await;
        self
    }

    /// Username and password on the login page.
    pub async fn log_in(&mut self, username: &str, password: &str) -> &mut Self {
        self.expect(Shown::Login);
        self.fill(&[("username", username), ("password", password)]).await
    }

    /// The code the browser was sent back to the client with (state and iss checked).
    #[track_caller]
    pub fn code(&self, h: &Harness) -> String {
        expect(&self.page, Shown::Away);
        let location = self.page.location().expect("redirect has a Location");
        oauth::code_from(h, &self.request, &location)
    }

    /// Where the browser was sent away to.
    #[track_caller]
    pub fn location(&self) -> Url {
        expect(&self.page, Shown::Away);
        self.page.location().expect("redirect has a Location")
    }

    /// Exchanges the code as the relying party (`web` or `idf`, with the web secret) and
    /// returns the token response and the decoded ID and access token payloads.
    pub async fn exchange(&self, h: &Harness) -> Tokens {
        let code = self.code(h);
        let response = oauth::exchange_code(
            h,
            oauth::ClientAuth::Basic(&self.request.client_id, super::WEB_SECRET),
            &code,
            &self.request.redirect_uri,
            Some(&self.verifier),
        )
        .await;
        response.assert_ok();
        let id_token = response
            .str("id_token")
            .unwrap_or_else(|| panic!("no ID token: {}", response.text));
        let access_token = response
            .str("access_token")
            .unwrap_or_else(|| panic!("no access token: {}", response.text));
        let (_, id) = oauth::jwt_parts(id_token);
        let (_, access) = oauth::jwt_parts(access_token);
        assert_eq!(id["nonce"].as_str(), Some(self.request.nonce.as_str()), "nonce: {id}");
        Tokens { response, id, access }
    }
}

/// What the relying party got for a code.
pub struct Tokens {
    pub response: JsonResponse,
    pub id: Value,
    pub access: Value,
}

impl Tokens {
    /// Asserts `amr` (in order) and `acr` in the ID token, and the same in the access token
    /// where it carries them (`acr` it must carry).
    #[track_caller]
    pub fn assert_factors(&self, amr: &[&str], acr: &str) {
        for (which, payload) in [("ID token", &self.id), ("access token", &self.access)] {
            if which == "ID token" || !payload["amr"].is_null() {
                let got: Vec<&str> = payload["amr"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{which} has no amr: {payload}"))
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(got, amr, "{which} amr: {payload}");
            }
            assert_eq!(payload["acr"].as_str(), Some(acr), "{which} acr: {payload}");
        }
    }

    /// Asserts that the access token carries `amr` too (resource servers decide on it).
    #[track_caller]
    pub fn assert_access_token_amr(&self, amr: &[&str]) {
        let got: Option<Vec<&str>> = self.access["amr"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        assert_eq!(got.as_deref(), Some(amr), "access token amr: {}", self.access);
    }
}

/// Signs in with username and password only (a user without a second factor or pending
/// actions) in a fresh browser and returns the finished sign-in.
pub async fn password_sign_in(h: &Harness, client_id: &str, username: &str, password: &str) -> SignIn {
    let mut s = SignIn::start(h, &h.new_browser(), client_id).await;
    s.log_in(username, password).await;
    s.expect(Shown::Away);
    s
}

// ---------------------------------------------------------------------------------------------
// One-time codes.

/// The text of the element with id `otp-secret` on the configure-OTP page.
pub fn secret_text(html: &str) -> String {
    let start = html
        .find("id=\"otp-secret\"")
        .unwrap_or_else(|| panic!("no element with id otp-secret on the page"));
    let after = &html[start..];
    let open_end = after.find('>').expect("the otp-secret tag closes");
    let text = &after[open_end + 1..];
    let end = text.find('<').unwrap_or(text.len());
    browser::decode_entities(&text[..end]).trim().to_string()
}

/// Decodes RFC 4648 base32 (case-insensitive; spaces and `=` padding ignored).
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=' && *c != '-') {
        let upper = c.to_ascii_uppercase() as u8;
        let value = ALPHABET
            .iter()
            .position(|&a| a == upper)
            .unwrap_or_else(|| panic!("{c:?} is not a base32 character in {text:?}")) as u64;
        bits = (bits << 5) | value;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out
}

/// The secret a configure-OTP page shows, checked to be base32 grouped by spaces, decoded.
#[track_caller]
pub fn secret_from_page(html: &str) -> Vec<u8> {
    let text = secret_text(html);
    assert!(
        !text.is_empty()
            && text
                .chars()
                .all(|c| c == ' ' || c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
        "the secret is not upper-case base32 grouped by spaces: {text:?}"
    );
    let secret = base32_decode(&text);
    assert!(secret.len() >= 16, "the secret is shorter than 128 bits: {text:?}");
    secret
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The realm's OTP policy.
pub fn otp_policy(h: &Harness) -> gatehouse::realm::OtpPolicy {
    h.state.realm(&h.realm).expect("realm loaded").realm.otp_policy.clone()
}

/// The code an authenticator app shows at `unix_time`.
pub fn totp_at(h: &Harness, secret: &[u8], unix_time: u64) -> String {
    gatehouse::crypto::totp::code_at(&otp_policy(h), secret, unix_time).expect("a TOTP code")
}

/// The code for now.
pub fn totp_now(h: &Harness, secret: &[u8]) -> String {
    totp_at(h, secret, unix_now())
}

/// The code for the next time step: still inside the look-around window, and newer than any
/// step accepted so far (a way to get a fresh code without waiting 30 seconds).
pub fn totp_next(h: &Harness, secret: &[u8]) -> String {
    let period = otp_policy(h).period;
    totp_at(h, secret, unix_now() + period)
}

/// A well-formed code that matches no time step near now.
pub fn wrong_totp(h: &Harness, secret: &[u8]) -> String {
    let period = otp_policy(h).period;
    let now = unix_now();
    let near: Vec<String> = (0..6)
        .map(|i| totp_at(h, secret, (now + i * period).saturating_sub(2 * period)))
        .collect();
    (123_456u32..)
        .map(|n| format!("{:06}", n % 1_000_000))
        .find(|c| !near.contains(c))
        .expect("some code is wrong")
}

/// The codes in `<li class="recovery-code">` items of the recovery codes page.
pub fn recovery_codes(html: &str) -> Vec<String> {
    let mut codes = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("class=\"recovery-code\"") {
        rest = &rest[i..];
        let Some(open_end) = rest.find('>') else { break };
        let after = &rest[open_end + 1..];
        let end = after.find('<').unwrap_or(after.len());
        codes.push(browser::decode_entities(&after[..end]).trim().to_string());
        rest = &after[end..];
    }
    codes
}

/// An OTP device and recovery codes set up by the configure-OTP action.
pub struct Enrolment {
    pub secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

/// Runs the configure-OTP required action for `username` through the pages (HTTP), to the
/// code at the client, and returns the secret and the recovery codes. The code for the
/// current time step is spent.
pub async fn enrol_otp(h: &Harness, username: &str, password: &str) -> Enrolment {
    require(h, username, "configure-otp").await;
    let mut s = SignIn::start(h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(username, password).await;
    s.expect(Shown::ConfigureOtp);
    let secret = secret_from_page(&s.page.body);
    let code = totp_now(h, &secret);
    s.fill(&[("otp", &code)]).await;
    s.expect(Shown::RecoveryCodes);
    let recovery_codes = recovery_codes(&s.page.body);
    assert_eq!(recovery_codes.len(), 10, "{}", describe(&s.page));
    s.press(&[], ("acknowledge", "yes")).await;
    s.code(h);
    Enrolment { secret, recovery_codes }
}

// ---------------------------------------------------------------------------------------------
// Events.

/// One row of the `events` table.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub kind: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub details: Value,
}

/// The realm's events of `kind` (all kinds if `None`), oldest first, read with SQL.
pub async fn events(h: &Harness, kind: Option<&str>) -> Vec<EventRow> {
    let realm = h.realm.replace('\'', "''");
    let rows = h
        .query(&format!(
            "SELECT kind, user_id, client_id, ip, user_agent, created_at, details FROM events WHERE realm = '{realm}' ORDER BY id"
        ))
        .await;
    rows.iter()
        .map(|row| {
            let details: String = row.try_get("", "details").expect("events.details");
            EventRow {
                kind: row.try_get("", "kind").expect("events.kind"),
                user_id: row.try_get("", "user_id").expect("events.user_id"),
                client_id: row.try_get("", "client_id").expect("events.client_id"),
                ip: row.try_get("", "ip").expect("events.ip"),
                user_agent: row.try_get("", "user_agent").expect("events.user_agent"),
                created_at: row.try_get("", "created_at").expect("events.created_at"),
                details: serde_json::from_str(&details).unwrap_or(Value::String(details)),
            }
        })
        .filter(|e| kind.is_none_or(|k| e.kind == k))
        .collect()
}

/// The id of a user.
pub async fn user_id(h: &Harness, username: &str) -> String {
    h.state
        .store
        .find_user_by_username(&h.realm, username)
        .await
        .expect("find user")
        .unwrap_or_else(|| panic!("no user {username}"))
        .id
}

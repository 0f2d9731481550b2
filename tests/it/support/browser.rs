//! A browser stand-in: an HTTP client with a cookie jar that does not follow redirects, a small
//! HTML form reader, and the sign-in walk (authorize → login form → redirect to the app).

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use url::Url;

/// A client with a cookie store that never follows redirects.
/// The User-Agent the test browsers send (security events record it).
pub const USER_AGENT: &str = "GatehouseTests/1.0 (a test browser; like Firefox)";

pub fn new_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build the browser client")
}

/// [`new_browser`] sending another User-Agent (another browser or device).
pub fn new_browser_as(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build the browser client")
}

/// One HTTP response, read whole.
#[derive(Debug)]
pub struct Page {
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub async fn read(url: Url, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Page {
            url,
            status,
            headers,
            body,
        }
    }

    /// The `Location` header resolved against the page's URL, if any.
    pub fn location(&self) -> Option<Url> {
        let value = self.headers.get(LOCATION)?.to_str().ok()?;
        Some(
            self.url
                .join(value)
                .unwrap_or_else(|e| panic!("bad Location {value:?}: {e}")),
        )
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_redirect(&self) -> bool {
        self.status.is_redirection()
    }

    /// A short description for assertion messages.
    pub fn describe(&self) -> String {
        let snippet: String = self.body.chars().take(600).collect();
        format!(
            "{} {} (Location: {:?})\n{snippet}",
            self.status,
            self.url,
            self.header("location")
        )
    }
}

pub async fn get(browser: &reqwest::Client, url: &str) -> Page {
    let url = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
    let response = browser
        .get(url.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    Page::read(url, response).await
}

/// A `<form>` as a browser would submit it.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: Url,
    pub method: String,
    /// What the browser sends when the first submit button is pressed (that button's own
    /// name and value included, if it has a name).
    pub fields: Vec<(String, String)>,
    /// Every named submit button of the form, as (name, value), in document order.
    pub buttons: Vec<(String, String)>,
}

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    /// Sets a field, adding it if the form does not have it.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.fields.push((name.to_string(), value.to_string())),
        }
    }

    /// Presses the submit button `name`=`value` instead of the first one: the first button's
    /// field is replaced by this one.
    pub fn press(&mut self, name: &str, value: &str) {
        assert!(
            self.buttons.iter().any(|(n, v)| n == name && v == value),
            "the form has no submit button {name}={value}: {:?}",
            self.buttons
        );
        let buttons = self.buttons.clone();
        self.fields.retain(|field| !buttons.contains(field));
        self.fields.push((name.to_string(), value.to_string()));
    }

    pub async fn submit(&self, browser: &reqwest::Client) -> Page {
        let response = if self.method.eq_ignore_ascii_case("post") {
            browser.post(self.action.clone()).form(&self.fields).send().await
        } else {
            let mut url = self.action.clone();
            url.query_pairs_mut().extend_pairs(&self.fields);
            browser.get(url).send().await
        }
        .unwrap_or_else(|e| panic!("submitting the form to {}: {e}", self.action));
        Page::read(self.action.clone(), response).await
    }
}

/// The first `<form method="post">` of a page, with every field a browser would send when the
/// first submit button is pressed. Relative actions resolve against `base`.
pub fn parse_post_form(html: &str, base: &Url) -> Option<Form> {
    let mut rest = html;
    loop {
        let (_, attrs, after) = next_tag(rest, "form")?;
        let method = attr(&attrs, "method").unwrap_or_default();
        let body_end = find_ci(after, "</form").unwrap_or(after.len());
        if !method.eq_ignore_ascii_case("post") {
            rest = &after[body_end..];
            continue;
        }
        let action = match attr(&attrs, "action") {
            Some(a) if !a.is_empty() => base.join(&a).ok()?,
            _ => base.clone(),
        };
        let (fields, buttons) = form_fields(&after[..body_end]);
        return Some(Form {
            action,
            method,
            fields,
            buttons,
        });
    }
}

/// Form fields as (name, value) pairs.
type Fields = Vec<(String, String)>;

/// The fields sent when the first submit button is pressed, and the named submit buttons.
fn form_fields(body: &str) -> (Fields, Fields) {
    let mut fields = Vec::new();
    let mut buttons = Vec::new();
    let mut submit_taken = false;
    let mut rest = body;
    while let Some((tag, attrs, after)) = next_any_tag(rest, &["input", "button", "textarea", "select"]) {
        rest = after;
        if has_attr(&attrs, "disabled") {
            continue;
        }
        let kind = attr(&attrs, "type").unwrap_or_default().to_ascii_lowercase();
        let is_submit = match tag.as_str() {
            "input" => kind == "submit",
            "button" => matches!(kind.as_str(), "" | "submit"),
            _ => false,
        };
        let name = attr(&attrs, "name").filter(|n| !n.is_empty());
        if is_submit {
            // The first submit button is the one pressed, named or not: a later named
            // button is not sent.
            let first = !submit_taken;
            submit_taken = true;
            if let Some(name) = name {
                let value = attr(&attrs, "value").unwrap_or_default();
                buttons.push((name.clone(), value.clone()));
                if first {
                    fields.push((name, value));
                }
            }
            continue;
        }
        let Some(name) = name else {
            continue;
        };
        match tag.as_str() {
            "input" => match kind.as_str() {
                "submit" | "image" | "button" | "reset" => {}
                "checkbox" | "radio" => {
                    if has_attr(&attrs, "checked") {
                        fields.push((name, attr(&attrs, "value").unwrap_or_else(|| "on".into())));
                    }
                }
                _ => fields.push((name, attr(&attrs, "value").unwrap_or_default())),
            },
            "button" => {}
            "textarea" => {
                let end = find_ci(rest, "</textarea").unwrap_or(rest.len());
                fields.push((name, decode_entities(&rest[..end])));
            }
            _ => fields.push((name, String::new())),
        }
    }
    (fields, buttons)
}

/// A tag's attributes: lower-cased names, decoded values, in document order.
type Attrs = Vec<(String, String)>;

/// Finds the next `<name ...>` tag (case-insensitive); returns its start, its attributes and
/// the text after it.
fn next_tag<'a>(html: &'a str, name: &str) -> Option<(usize, Attrs, &'a str)> {
    let mut from = 0;
    loop {
        let i = from + find_ci(&html[from..], &format!("<{name}"))?;
        let after_name = i + 1 + name.len();
        let boundary = html[after_name..].chars().next();
        if matches!(boundary, Some(c) if c.is_ascii_whitespace() || c == '>' || c == '/') {
            let (attrs, end) = parse_attributes(&html[after_name..]);
            return Some((i, attrs, &html[after_name + end..]));
        }
        from = after_name;
    }
}

fn next_any_tag<'a>(html: &'a str, names: &[&str]) -> Option<(String, Attrs, &'a str)> {
    names
        .iter()
        .filter_map(|n| next_tag(html, n).map(|(start, attrs, rest)| (start, n.to_string(), attrs, rest)))
        .min_by_key(|(start, ..)| *start)
        .map(|(_, n, attrs, rest)| (n, attrs, rest))
}

/// Parses `attr="v" attr='v' attr=v attr` up to the closing `>`; returns the attributes and
/// the byte offset just after `>`.
fn parse_attributes(s: &str) -> (Vec<(String, String)>, usize) {
    let bytes = s.as_bytes();
    let mut attrs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'>' {
            return (attrs, i + 1);
        }
        if c.is_ascii_whitespace() || c == b'/' {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let vstart = i + 1;
                let vend = s[vstart..]
                    .bytes()
                    .position(|b| b == quote)
                    .map(|p| vstart + p)
                    .unwrap_or(s.len());
                value = decode_entities(&s[vstart..vend]);
                i = (vend + 1).min(s.len());
            } else {
                let vstart = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                value = decode_entities(&s[vstart..i]);
            }
        }
        attrs.push((name, value));
    }
    (attrs, s.len())
}

fn attr(attrs: &[(String, String)], name: &str) -> Option<String> {
    attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

fn has_attr(attrs: &[(String, String)], name: &str) -> bool {
    attrs.iter().any(|(n, _)| n == name)
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Decodes the character references templates produce (`&amp;`, `&#x2f;`, `&#39;` …).
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16).ok().and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Follows redirects that stay on `server` (same scheme, host and port) and returns the first
/// response that is not such a redirect: a page of the server, or a redirect away from it.
pub async fn follow_on_server(browser: &reqwest::Client, mut page: Page, server: &Url) -> Page {
    for _ in 0..10 {
        match page.location() {
            Some(next) if page.is_redirect() && same_origin(&next, server) => {
                page = get(browser, next.as_str()).await;
            }
            _ => return page,
        }
    }
    panic!("more than 10 redirects on the server; last: {}", page.describe())
}

pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// Opens `authorize_url` and returns the login form page (after redirects on the server).
pub async fn open_login_page(browser: &reqwest::Client, authorize_url: &str) -> (Page, Form) {
    let server = Url::parse(authorize_url).expect("authorize URL");
    let first = get(browser, authorize_url).await;
    let page = follow_on_server(browser, first, &server).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "expected the login page, got {}",
        page.describe()
    );
    let form = parse_post_form(&page.body, &page.url)
        .unwrap_or_else(|| panic!("no <form method=post> on the login page: {}", page.describe()));
    for field in ["csrf", "username", "password"] {
        assert!(form.has(field), "the login form has no `{field}` field: {form:?}");
    }
    (page, form)
}

/// Signs in through the login form a browser gets at `authorize_url` and returns where the
/// server finally sends the browser away from itself (the app's redirect URI with `code`,
/// `state` and `iss`, or an error).
pub async fn sign_in(browser: &reqwest::Client, authorize_url: &str, username: &str, password: &str) -> Url {
    let server = Url::parse(authorize_url).expect("authorize URL");
    let (_, mut form) = open_login_page(browser, authorize_url).await;
    form.set("username", username);
    form.set("password", password);
    let posted = form.submit(browser).await;
    let page = follow_on_server(browser, posted, &server).await;
    assert!(
        page.is_redirect(),
        "signing in did not redirect to the app: {}",
        page.describe()
    );
    page.location().expect("redirect has a Location")
}

/// Like [`sign_in`], but a browser that already has an SSO session may be sent straight back
/// to the app without seeing the form.
pub async fn sign_in_if_asked(browser: &reqwest::Client, authorize_url: &str, username: &str, password: &str) -> Url {
    let server = Url::parse(authorize_url).expect("authorize URL");
    let first = get(browser, authorize_url).await;
    let page = follow_on_server(browser, first, &server).await;
    if page.is_redirect() {
        return page.location().expect("redirect has a Location");
    }
    sign_in(browser, authorize_url, username, password).await
}

/// Opens `url` in the browser and returns where the server sends it away from itself
/// (for requests that need no user interaction: `prompt=none`, logout, errors).
pub async fn redirect_away(browser: &reqwest::Client, url: &str) -> Url {
    let server = Url::parse(url).expect("URL");
    let first = get(browser, url).await;
    let page = follow_on_server(browser, first, &server).await;
    assert!(
        page.is_redirect(),
        "expected a redirect away from the server, got {}",
        page.describe()
    );
    page.location().expect("redirect has a Location")
}

/// The value of a query parameter.
pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// `url` without query and fragment.
pub fn base_of(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

//! The console's pages: signing in through `account-console`, and the forms.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};

use crate::account::console::{self, Pending};
use crate::account::password::{self, PasswordForm};
use crate::account::sessions::{self, SignOut};
use crate::account::{Viewer, csrf_matches, csrf_token, is_fresh};
use crate::account::{factors, log};
use crate::oidc::routes::PageRealm;
use crate::state::{AppState, RealmRuntime};
use crate::store::now;
use crate::web::cookies;
use crate::web::pages::{self, PageError};

/// The cookie that carries a console sign-in in progress (`state`, PKCE verifier, page).
pub(super) const CONSOLE_COOKIE: &str = "GATEHOUSE_ACCOUNT";

/// A console request from a signed-in browser. Without a session, the request answers with
/// the way to sign in (and back to the same page) instead.
pub(super) struct Console {
    pub(super) app: Arc<AppState>,
    pub(super) rt: Arc<RealmRuntime>,
    pub(super) viewer: Viewer,
    /// The SSO cookie, which the forms' CSRF token is bound to.
    pub(super) cookie: String,
    pub(super) lang: String,
}

impl FromRequestParts<Arc<AppState>> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Console, Response> {
        let PageRealm(rt) = PageRealm::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let jar = CookieJar::from_headers(&parts.headers);
        let cookie = jar.get(cookies::SSO_COOKIE).map(|c| c.value().to_string());
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let origin = crate::web::http::origin(&parts.headers, peer);
        let viewer = crate::account::viewer(app, &rt, cookie.as_deref(), origin)
            .await
            .map_err(|e| internal(&e))?;
        let (Some(viewer), Some(cookie)) = (viewer, cookie) else {
            let mut page = parts.uri.path().rsplit('/').next().unwrap_or_default().to_string();
            // An invite link opened before signing in: back to it afterwards.
            if parts.uri.path().ends_with("/organizations/join")
                && let Some(secret) = parts.uri.query().and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "invite")
                        .map(|(_, v)| v.into_owned())
                })
            {
                page = console::join_page(&secret);
            } else if let Some(id) = parts
                .uri
                .path()
                .split_once("/account/organizations/")
                .map(|(_, rest)| rest)
                .filter(|rest| !rest.contains('/') && *rest != "join" && *rest != "leave")
            {
                page = console::org_page(id);
            }
            return Err(start_sign_in(app, &rt, &page, false, None));
        };
        let lang = pages::lang(&app.templates, Some(&rt.realm), None, &parts.headers);
        Ok(Console {
            app: app.clone(),
            rt,
            viewer,
            cookie,
            lang,
        })
    }
}

impl Console {
    /// A page of the console, with what every console page shows.
    pub(super) fn page(&self, template: &str, mut ctx: Value) -> Response {
        if let Value::Object(obj) = &mut ctx {
            let base = format!("/realms/{}/account", self.rt.realm.name);
            obj.insert("csrf".into(), json!(csrf_token(&self.cookie)));
            obj.insert("account_url".into(), json!(base));
            obj.insert("username".into(), json!(self.viewer.user.username));
            obj.insert(
                "has_providers".into(),
                json!(!self.rt.realm.identity_providers.is_empty()),
            );
            obj.insert(
                "logout_url".into(),
                json!(format!("/realms/{}/protocol/openid-connect/logout", self.rt.realm.name)),
            );
        }
        pages::render(
            &self.app.templates,
            Some(&self.rt.realm),
            &self.lang,
            StatusCode::OK,
            template,
            ctx,
        )
    }

    pub(super) fn is_fresh(&self) -> bool {
        is_fresh(&self.rt, &self.viewer, now())
    }

    /// Whether a form carries this session's CSRF token.
    pub(super) fn csrf_ok(&self, form: &HashMap<String, String>) -> bool {
        csrf_matches(&self.cookie, form.get("csrf").map(String::as_str))
    }

    /// Back to a console page after a change (303, so a reload does not post again), with a
    /// notice the page shows.
    pub(super) fn done(&self, page: &str, notice: &str) -> Response {
        let url = format!("/realms/{}/account/{page}?notice={notice}", self.rt.realm.name);
        see_other(&url)
    }
}

pub(super) fn see_other(url: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), "account console request failed");
    PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "internalError").into_response()
}

/// Sends the browser to sign in (again, when `again`) and come back to `page`.
pub(super) fn start_sign_in(
    app: &AppState,
    rt: &RealmRuntime,
    page: &str,
    again: bool,
    action: Option<&str>,
) -> Response {
    let pending = Pending::new(page);
    let cookie = cookies::build(
        CONSOLE_COOKIE,
        pending.to_cookie(),
        &rt.realm.name,
        app.settings.is_https(),
    );
    let jar = CookieJar::new().add(cookie);
    (jar, see_other(&console::authorize_url(rt, &pending, again, action))).into_response()
}

/// The notice a page shows after a change, if the query names a known one.
pub(super) fn notice(query: &HashMap<String, String>) -> Option<&'static str> {
    match query.get("notice").map(String::as_str) {
        Some("password-changed") => Some("accountPasswordChanged"),
        Some("signed-out") => Some("accountSessionsSignedOut"),
        Some("action-done") => Some("accountActionDone"),
        Some("action-failed") => Some("accountActionFailed"),
        Some("action-cancelled") => Some("accountActionCancelled"),
        Some("authenticator-removed") => Some("accountAuthenticatorRemoved"),
        Some("token-revoked") => Some("accountTokenRevoked"),
        Some("verification-sent") => Some("accountVerificationSent"),
        Some("email-codes-on") => Some("accountEmailCodesOn"),
        Some("email-codes-off") => Some("accountEmailCodesOff"),
        Some("phone-code-sent") => Some("accountPhoneCodeSent"),
        Some("devices-revoked") => Some("accountDevicesRevoked"),
        Some("phone-verified") => Some("accountPhoneVerified"),
        Some("phone-removed") => Some("accountPhoneRemoved"),
        Some("sms-codes-on") => Some("accountSmsCodesOn"),
        Some("sms-codes-off") => Some("accountSmsCodesOff"),
        Some("key-removed") => Some("accountKeyRemoved"),
        Some("password-removed") => Some("accountPasswordRemoved"),
        Some("key-renamed") => Some("accountKeyRenamed"),
        Some("organization-left") => Some("accountOrgLeft"),
        Some("organization-joined") => Some("accountOrgJoinedNotice"),
        Some("linked") => Some("accountLinked"),
        Some("unlinked") => Some("accountUnlinked"),
        Some("link-taken") => Some("accountLinkTaken"),
        Some("link-failed") => Some("accountLinkFailed"),
        Some("organization-member-saved") => Some("accountOrgMemberSaved"),
        Some("organization-member-removed") => Some("accountOrgMemberRemoved"),
        Some("organization-link-revoked") => Some("accountOrgLinkRevoked"),
        _ => None,
    }
}

pub(super) async fn overview_page(console: Console, Query(query): Query<HashMap<String, String>>) -> Response {
    let checklist = match crate::account::checklist(&console.app, &console.rt, &console.viewer).await {
        Ok(c) => c,
        Err(e) => return internal(&e),
    };
    let user = &console.viewer.user;
    let ctx = json!({
        "page": "overview",
        "notice": notice(&query),
        "profile": {
            "username": user.username,
            "email": user.email,
            "email_verified": user.email_verified,
            "first_name": user.first_name,
            "last_name": user.last_name,
        },
        "checklist": checklist,
        "recovery_codes_low": checklist.otp_devices > 0 && checklist.recovery_codes_left <= 3,
    });
    console.page("account.html", ctx)
}

/// The browser is back from signing in to the console: the code is spent, then the page it
/// wanted is shown. A stray or replayed callback shows an error and signs nothing in.
pub(super) async fn callback(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    jar: CookieJar,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let secure = app.settings.is_https();
    let pending = jar.get(CONSOLE_COOKIE).and_then(|c| Pending::from_cookie(c.value()));
    let jar = jar.add(cookies::removal(CONSOLE_COOKIE, &rt.realm.name, secure));
    let state = query.get("state").map(String::as_str).unwrap_or_default();
    let code = query.get("code").map(String::as_str).unwrap_or_default();
    let Some(pending) = pending.filter(|p| p.state_matches(state)) else {
        if !code.is_empty()
            && let Err(e) = console::spend(&app, code).await
        {
            return internal(&e);
        }
        return (jar, PageError::new(StatusCode::BAD_REQUEST, "accountSignInExpired")).into_response();
    };
    if query.contains_key("error") {
        return (jar, PageError::new(StatusCode::FORBIDDEN, "accountSignInCancelled")).into_response();
    }
    match console::redeem(&app, &rt, code, &pending).await {
        Ok(true) => {
            let mut url = match pending.page.as_str() {
                "" => format!("/realms/{}/account", rt.realm.name),
                page => format!("/realms/{}/account/{}", rt.realm.name, console::page_path(page)),
            };
            let sep = if url.contains('?') { '&' } else { '?' };
            match query.get("kc_action_status").map(String::as_str) {
                Some("success") => url.push_str(&format!("{sep}notice=action-done")),
                Some("cancelled") => url.push_str(&format!("{sep}notice=action-cancelled")),
                Some(_) => url.push_str(&format!("{sep}notice=action-failed")),
                None => {}
            }
            (jar, see_other(&url)).into_response()
        }
        Ok(false) => (jar, PageError::new(StatusCode::BAD_REQUEST, "accountSignInExpired")).into_response(),
        Err(e) => internal(&e),
    }
}

/// "Sign in again": a fresh sign-in before a sensitive change, back to the page named.
pub(super) async fn reauthenticate(console: Console, Query(query): Query<HashMap<String, String>>) -> Response {
    let page = query.get("page").map(String::as_str).unwrap_or_default();
    start_sign_in(&console.app, &console.rt, page, true, None)
}

/// "Add an authenticator app": the `configure-otp` action, as an application-initiated action
/// of the console (a sign-in older than the realm allows is made again first).
pub(super) async fn add_authenticator(console: Console) -> Response {
    start_sign_in(&console.app, &console.rt, "security", false, Some("CONFIGURE_TOTP"))
}

pub(super) async fn remove_authenticator(console: Console, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    if !console.is_fresh() {
        return start_sign_in(&console.app, &console.rt, "security", true, None);
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let outcome = factors::remove_otp(
        &console.app,
        &console.rt,
        &console.viewer,
        field("device"),
        field("password"),
        field("otp"),
    )
    .await;
    match outcome {
        Ok(Ok(())) => console.done("security", "authenticator-removed"),
        Ok(Err(refusal)) => {
            let refused = Refused {
                form: "remove-authenticator",
                device: Some(field("device").to_string()),
                field: refusal.field,
                message: refusal.message,
            };
            security_refused(&console, &refused).await
        }
        Err(e) => internal(&e),
    }
}

pub(super) async fn security(console: Console, Query(query): Query<HashMap<String, String>>) -> Response {
    let ctx = match security_context(&console, None, &query).await {
        Ok(ctx) => ctx,
        Err(e) => return internal(&e),
    };
    console.page("account_security.html", ctx)
}

/// A refused form of the security page: which form (and device), the field, the message.
pub(super) struct Refused {
    pub(super) form: &'static str,
    pub(super) device: Option<String>,
    pub(super) field: &'static str,
    pub(super) message: Value,
}

/// The security page again, with a refused form's message next to its field (400).
pub(super) async fn security_refused(console: &Console, refused: &Refused) -> Response {
    match security_context(console, Some(refused), &HashMap::new()).await {
        Ok(ctx) => {
            let mut page = console.page("account_security.html", ctx);
            *page.status_mut() = StatusCode::BAD_REQUEST;
            page
        }
        Err(e) => internal(&e),
    }
}

pub(super) async fn security_context(
    console: &Console,
    refused: Option<&Refused>,
    query: &HashMap<String, String>,
) -> Result<Value, crate::account::AccountError> {
    let checklist = crate::account::checklist(&console.app, &console.rt, &console.viewer).await?;
    let devices = factors::otp_devices(&console.app, &console.viewer).await?;
    let keys = crate::account::keys::keys(&console.app, &console.viewer).await?;
    let email = crate::account::email::state(&console.app, &console.rt, &console.viewer).await?;
    let phone = crate::account::phone::state(&console.app, &console.rt, &console.viewer).await?;
    let policy = &console.rt.realm.password_policy;
    Ok(json!({
        "page": "security",
        "notice": notice(query),
        "fresh": console.is_fresh(),
        "checklist": checklist,
        "recovery_codes_low": checklist.otp_devices > 0 && checklist.recovery_codes_left <= 3,
        "requirements": crate::flow::actions::update_password::requirements(policy),
        "otp_devices": devices,
        "otp_enabled": console.rt.realm.is_required_action_enabled("configure-otp"),
        "has_passkey": keys.iter().any(|k| k.kind == crate::webauthn::PASSKEY),
        "keys": keys,
        "passkeys_enabled": console.rt.realm.webauthn.is_some(),
        "email": email,
        "phone": phone,
        "error": refused.map(|r| json!({ "form": r.form, "device": r.device, "field": r.field, "message": r.message })),
    }))
}

pub(super) async fn change_password(console: Console, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    if !console.is_fresh() {
        return start_sign_in(&console.app, &console.rt, "security", true, None);
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let change = PasswordForm {
        current: field("password"),
        new: field("password-new"),
        confirm: field("password-confirm"),
        sign_out_others: form.get("sign-out-others").is_some_and(|v| v == "on" || v == "yes"),
    };
    match password::change(&console.app, &console.rt, &console.viewer, &change).await {
        Ok(Ok(())) => console.done("security", "password-changed"),
        Ok(Err(refusal)) => {
            let refused = Refused {
                form: "password",
                device: None,
                field: refusal.field,
                message: refusal.message,
            };
            security_refused(&console, &refused).await
        }
        Err(e) => internal(&e),
    }
}

pub(super) async fn sessions_page(console: Console, Query(query): Query<HashMap<String, String>>) -> Response {
    let listed = match sessions::list(&console.app, &console.rt, &console.viewer, &console.lang).await {
        Ok(list) => crate::account::devices::list(&console.app, &console.viewer)
            .await
            .map(|devices| (list, devices)),
        Err(e) => Err(e),
    };
    match listed {
        Ok((list, devices)) => {
            let others = list.iter().filter(|s| !s.current).count();
            let ctx = json!({
                "page": "sessions", "notice": notice(&query), "sessions": list, "others": others,
                "devices": devices, "devices_enabled": console.rt.realm.trusted_devices.enabled,
            });
            console.page("account_sessions.html", ctx)
        }
        Err(e) => internal(&e),
    }
}

/// Revokes one trusted device (`device`) or all (`which=all`).
pub(super) async fn revoke_devices(console: Console, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    let which = match (form.get("which").map(String::as_str), form.get("device")) {
        (Some("all"), _) => None,
        (_, Some(id)) => Some(id.as_str()),
        _ => return PageError::new(StatusCode::BAD_REQUEST, "accountNothingToSignOut").into_response(),
    };
    match crate::account::devices::revoke(&console.app, &console.rt, &console.viewer, which).await {
        Ok(_) => console.done("sessions", "devices-revoked"),
        Err(e) => internal(&e),
    }
}

/// Signs out one session (`session`), every other (`which=others`) or all (`which=all`).
pub(super) async fn sign_out(console: Console, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    let which = match (form.get("which").map(String::as_str), form.get("session")) {
        (Some("others"), _) => SignOut::Others,
        (Some("all"), _) => SignOut::All,
        (_, Some(id)) => SignOut::One(id.clone()),
        _ => return PageError::new(StatusCode::BAD_REQUEST, "accountNothingToSignOut").into_response(),
    };
    // Signing out other sessions is sensitive (a thief would do it first); this one is not.
    let own = SignOut::One(console.viewer.session_id().unwrap_or_default().to_string());
    let only_this = which == own;
    if !only_this && !console.is_fresh() {
        return start_sign_in(&console.app, &console.rt, "sessions", true, None);
    }
    let ended = match sessions::sign_out(&console.app, &console.rt, &console.viewer, &which).await {
        Ok(n) => n,
        Err(e) => return internal(&e),
    };
    let ended_own = which == SignOut::All || only_this;
    if ended_own {
        let secure = console.app.settings.is_https();
        let jar = CookieJar::new().add(cookies::removal(cookies::SSO_COOKIE, &console.rt.realm.name, secure));
        // The console needs a session to show a notice: say it on a page of its own.
        let message = if which == SignOut::All {
            "accountSignedOutEverywhere"
        } else {
            "loggedOutMessage"
        };
        let ctx = json!({
            "heading": "loggedOutHeading",
            "message": message,
            "link": format!("/realms/{}/account", console.rt.realm.name),
            "link_text": "accountSignInAgain",
        });
        let page = pages::render(
            &console.app.templates,
            Some(&console.rt.realm),
            &console.lang,
            StatusCode::OK,
            "info.html",
            ctx,
        );
        return (jar, page).into_response();
    }
    if ended == 0 {
        return see_other(&format!("/realms/{}/account/sessions", console.rt.realm.name));
    }
    console.done("sessions", "signed-out")
}

/// New recovery codes, shown once (and offered as a text file); the old ones die at once.
pub(super) async fn regenerate_recovery_codes(console: Console, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    if !console.is_fresh() {
        return start_sign_in(&console.app, &console.rt, "security", true, None);
    }
    match factors::regenerate_recovery_codes(&console.app, &console.rt, &console.viewer).await {
        Ok(Some(codes)) => {
            let text = format!("{}\n", codes.join("\n"));
            let download: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
            let ctx = json!({
                "page": "security",
                "codes": codes,
                "download": format!("data:text/plain;charset=utf-8,{}", download.replace('+', "%20")),
            });
            console.page("account_recovery_codes.html", ctx)
        }
        Ok(None) => PageError::new(StatusCode::BAD_REQUEST, "accountNoAuthenticator").into_response(),
        Err(e) => internal(&e),
    }
}

/// The log's events `filter` selects as a file in the admin export's format `format`
/// (`csv` or `jsonl`; anything else is a 400).
pub(super) async fn log_download(app: &AppState, filter: crate::events::EventFilter, format: &str) -> Response {
    let (format, content_type, extension) = match format {
        "csv" => (crate::events::export::Format::Csv, "text/csv; charset=utf-8", "csv"),
        "jsonl" => (crate::events::export::Format::Jsonl, "application/jsonl", "jsonl"),
        _ => return (StatusCode::BAD_REQUEST, "format must be csv or jsonl").into_response(),
    };
    match log::download(&app.store, filter, format).await {
        Ok(bytes) => {
            let disposition = format!("attachment; filename=\"security-log.{extension}\"");
            let mut r = bytes.into_response();
            let headers = r.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => internal(&e),
    }
}

/// The security log: a page, or with `format=csv|jsonl` a download in the admin export's format.
pub(super) async fn log_page(console: Console, Query(query): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| query.get(k).map(String::as_str);
    let q = log::LogQuery::parse(get("view"), get("period"), get("before"));
    if let Some(format) = get("format") {
        let filter = q.filter(&console.rt, &console.viewer, crate::events::MAX_LIMIT);
        return log_download(&console.app, filter, format).await;
    }
    match log::page(&console.app, &console.rt, &console.viewer, &q, &console.lang).await {
        Ok((entries, next)) => {
            let ctx = json!({
                "page": "log",
                "entries": entries,
                "next": next,
                "view": q.view,
                "period": q.period,
                "views": log::VIEWS.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
                "periods": log::PERIODS,
            });
            console.page("account_log.html", ctx)
        }
        Err(e) => internal(&e),
    }
}

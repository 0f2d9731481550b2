//! Themes and templates: every page renders in every language, themes override the default.

use super::files::{DEFAULT_MESSAGES, DEFAULT_TEMPLATES, ThemeFiles};
use super::*;
use serde_json::json;

fn sample_context(template: &str) -> serde_json::Value {
    let mut ctx = json!({ "realm_name": "Demo", "action": "/realms/demo/login-actions", "csrf": "csrf-token", "aia_cancel": true });
    let extra = match template {
        "login.html" | "username.html" | "password.html" => json!({ "username": "alice", "error": null }),
        "otp.html" => json!({ "error": null, "can_use_recovery_code": true, "remember_days": 30 }),
        "recovery_code.html" => json!({ "error": "invalidRecoveryCode" }),
        "configure_otp.html" => json!({
            "qr_svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"><path d=\"M0 0h1v1H0z\"/></svg>",
            "secret_grouped": "JBSW Y3DP EHPK 3PXP",
            "issuer": "Demo", "account": "alice", "algorithm": "SHA1", "digits": 6, "period": 30, "error": null
        }),
        "recovery_codes.html" => json!({ "codes": ["aaaa-bbbb", "cccc-dddd"] }),
        "update_password.html" => {
            json!({ "error": null, "requirements": [{ "key": "passwordMinLength", "args": { "min": 12 } }, "At least one digit"] })
        }
        "update_profile.html" => {
            json!({ "email": "a@example.com", "first_name": "Alice", "last_name": "A", "errors": {} })
        }
        "terms.html" => json!({ "terms_text": "Be nice.\nReally." }),
        "delete_credential.html" => json!({ "label": "Pixel", "last": true, "can_delete": true, "error": null }),
        "error.html" => json!({ "message": "realmNotFound" }),
        "info.html" => {
            json!({ "heading": "loggedOutHeading", "message": "loggedOutMessage", "link": "/realms/demo/account", "link_text": "accountSignInAgain" })
        }
        "account_linked.html" => json!({
            "account_url": "/realms/demo/account", "username": "alice", "page": "linked", "fresh": false, "has_providers": true,
            "providers": [
                { "alias": "corp", "label": "Corp SSO", "linked": { "upstream_username": "alice", "email": "a@example.com", "since": 0 } },
                { "alias": "github", "label": "GitHub", "linked": null }
            ]
        }),
        "account_organization.html" => json!({
            "account_url": "/realms/demo/account", "username": "alice", "page": "organizations", "notice": "accountOrgMemberSaved",
            "new_link": "http://127.0.0.1/realms/demo/account/organizations/join?invite=s3cret",
            "org": {
                "id": "o1", "name": "Acme", "alias": "acme", "standing": "owner",
                "roles": ["owner", "admin", "member"], "link_roles": ["admin", "member"],
                "members": [
                    { "user_id": "u1", "username": "alice", "email": "a@example.com", "roles": ["owner"], "joined": 0, "manageable": true, "is_viewer": true },
                    { "user_id": "u2", "username": "bob", "email": null, "roles": ["member"], "joined": 0, "manageable": false, "is_viewer": false }
                ],
                "links": [{ "id": "l1", "role": "member", "expires": 0, "uses": 1, "max_uses": 5, "email_domain": "example.com", "status": "active", "joined": ["bob"] }]
            }
        }),
        "broker_ask.html" => json!({ "provider": "Corp SSO", "account": "ally" }),
        "enrolment_declined.html" => {
            json!({ "organization": "Acme", "security_url": "/realms/demo/account/security" })
        }
        "logout_confirm.html" => json!({ "carry": [["state", "xyz"], ["client_id", "app"]] }),
        "form_post.html" => json!({ "params": [["code", "abc"], ["state", "xyz"]] }),
        "link_confirm.html" => {
            json!({ "key": "k", "heading": "linkResetTitle", "message": "linkResetMessage", "button": "doContinueReset" })
        }
        "report_sign_in.html" => {
            json!({ "key": "k", "browser": "Chrome 131", "os": "Windows 10", "ip": "192.0.2.1", "location": "Berlin, Germany", "time": "2026-12-07 06:00:00 UTC" })
        }
        "reset_email_sent.html" => json!({ "minutes": 15, "delayed": true, "error": null }),
        "verify_email.html" => {
            json!({ "email": "a@example.com", "minutes": 15, "delayed": false, "notice": "linkResent", "error": null })
        }
        "reset_password.html" | "reset_choose_user.html" => {
            json!({ "error": null, "username": "alice", "requirements": ["passwordNotUsername"] })
        }
        "mail_password_reset.txt" | "mail_password_reset.html" | "mail_verify_email.txt" | "mail_verify_email.html" => {
            json!({ "link": "http://127.0.0.1/x?key=k", "username": "alice", "minutes": 15 })
        }
        "sent_code.html" => {
            json!({ "channel": "sms", "to": "+49 ••• 67", "minutes": 10, "can_resend": true, "notice": "emailCodeResent", "error": null })
        }
        "sms_code.txt" | "sms_phone_verify.txt" => json!({ "code": "012345", "username": "alice", "minutes": 10 }),
        "mail_email_code.txt" | "mail_email_code.html" => {
            json!({ "code": "012345", "username": "alice", "minutes": 10 })
        }
        "magic_link.html" => json!({ "username": "alice", "error": null }),
        "passkey.html" => json!({ "webauthn": { "options": "{}", "mode": "get" }, "error": "passkeyFailed" }),
        "security_key.html" => {
            json!({ "webauthn": { "options": "{}", "mode": "get" }, "error": "securityKeyFailed", "can_use_otp": true, "remember_days": 30 })
        }
        "webauthn_register.html" => {
            json!({ "webauthn": { "options": "{}", "mode": "create" }, "error": null, "passkey": true, "aia_cancel": true })
        }
        "magic_link_sent.html" => json!({ "minutes": 10, "delayed": true, "error": null }),
        "mail_magic_link.txt" | "mail_magic_link.html" => {
            json!({ "link": "http://127.0.0.1/x?key=k", "username": "alice", "minutes": 10 })
        }
        "mail_org_invite.txt" | "mail_org_invite.html" => {
            json!({ "link": "http://127.0.0.1/realms/demo/account/organizations/join?invite=s", "username": "alice", "organization": "Acme", "days": 7 })
        }
        "mail_password_changed.txt" | "mail_password_changed.html" => {
            json!({ "username": "alice", "time": "2026-12-07 06:00:00 UTC", "browser": "Chrome 131", "os": "Windows 10", "ip": "192.0.2.1" })
        }
        "mail_new_login.txt" | "mail_new_login.html" => {
            json!({ "link": "http://127.0.0.1/x?key=k", "username": "alice", "time": "2026-12-07 06:00:00 UTC", "browser": "Chrome 131", "os": "Windows 10", "location": null, "ip": "192.0.2.1" })
        }
        "account_organizations.html" => json!({
            "account_url": "/realms/demo/account", "username": "alice", "page": "organizations", "notice": "accountOrgLeft",
            "error": "accountOrgLastOwner",
            "organizations": [{ "id": "o1", "name": "Acme", "alias": "acme", "description": "Rockets", "roles": ["owner", "billing"],
                "joined": 1_700_000_000, "enabled": true }],
        }),
        "account_join.html" => json!({
            "account_url": "/realms/demo/account", "username": "alice", "page": "organizations", "secret": "s3cret",
            "invite": { "organization": "Acme", "role": "member", "expires": 1_800_000_000, "email_domain": null, "member": false },
        }),
        "account.html"
        | "account_security.html"
        | "account_sessions.html"
        | "account_base.html"
        | "account_log.html"
        | "account_recovery_codes.html"
        | "account_tokens.html" => json!({
            "tokens": [{ "id": "t1", "name": "CI", "scopes": ["openid"], "created": 1_700_000_000, "expires": 1_800_000_000,
                "last_used": 1_700_000_500, "last_used_ip": "127.0.0.1" }],
            "created": { "token": { "name": "CI" }, "secret": "gtp_abc" },
            "lifetimes": [7, 30], "scopes": ["openid", "profile"],
            "codes": ["aaaa-bbbb"], "download": "data:text/plain,aaaa-bbbb",
            "devices": [{ "id": "d1", "name": "Chrome 131 · Windows 10", "created": 1_700_000_000, "last_used": 1_700_000_500, "expires": 1_800_000_000 }],
            "devices_enabled": true,
            "entries": [{ "time": 1_700_000_000, "kind": "sign_in", "outcome": "success", "reason": null, "client": "web",
                "ip": "127.0.0.1", "location": "Berlin, Germany", "browser": "Chrome 131", "os": "Linux", "methods": ["password"], "second_factor": true, "unfamiliar": true }],
            "next": 41, "view": "all", "period": "30d", "views": ["all", "sign-ins", "changes"], "periods": ["24h", "7d", "30d", "all"],
            "account_url": "/realms/demo/account", "username": "alice", "notice": "accountPasswordChanged", "fresh": true,
            "profile": { "username": "alice", "email": "a@example.com", "email_verified": false, "first_name": null, "last_name": null },
            "checklist": { "password_set": true, "otp_devices": 1, "recovery_codes_left": 2, "sessions": 2 },
            "recovery_codes_low": true, "requirements": ["passwordNotUsername"],
            "error": { "field": "password-new", "message": "passwordTooLong" },
            "sessions": [{ "id": "s1", "ip": "127.0.0.1", "location": "Berlin, Germany", "browser": "Chrome 131", "os": "Linux", "device": "desktop",
                "started": 1_700_000_000, "last_access": 1_700_000_100, "expires": 1_700_001_000, "current": true, "clients": ["web"] }],
            "others": 1,
            "email": { "address": "a@example.com", "verified": false, "can_verify": true, "codes_offered": true, "codes_on": false }
        }),
        _ => json!({}),
    };
    if let (Some(obj), serde_json::Value::Object(extra)) = (ctx.as_object_mut(), extra) {
        obj.extend(extra);
    }
    ctx
}

fn assert_not_fallback(html: &str, what: &str) {
    assert!(
        !html.contains("could not be displayed"),
        "{what} did not render:\n{html}"
    );
    assert!(!html.contains("kann nicht angezeigt"), "{what} did not render:\n{html}");
}

/// A fresh, empty directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("gatehouse-themes-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_template_compiles_and_renders_in_every_language() {
    let t = Templates::new();
    let theme = t.theme(DEFAULT_THEME);
    for (name, _) in DEFAULT_TEMPLATES {
        if let Err(e) = theme.env.get_template(name) {
            panic!("{name}: {}", e.display_debug_info());
        }
        for lang in ["en", "de"] {
            let html = t.render_page(DEFAULT_THEME, name, lang, &sample_context(name));
            assert_not_fallback(&html, &format!("{name} ({lang})"));
            if *name != "base.html" {
                assert!(
                    !html.contains(">none<") && !html.contains("value=\"none\""),
                    "{name}: a null printed as none:\n{html}"
                );
            }
            if html.contains("<form") && *name != "form_post.html" {
                let posts_to = if name.starts_with("account") {
                    "account"
                } else {
                    "login-actions"
                };
                assert!(
                    html.contains(&format!(
                        "method=\"post\" action=\"&#x2f;realms&#x2f;demo&#x2f;{posts_to}"
                    )),
                    "{name}"
                );
                // A link's page posts the link's secret key back: that key is what a forged
                // request would lack, so it stands in for the CSRF token.
                let token = if matches!(*name, "link_confirm.html" | "report_sign_in.html") {
                    "<input type=\"hidden\" name=\"key\""
                } else {
                    "<input type=\"hidden\" name=\"csrf\" value=\"csrf-token\">"
                };
                assert!(html.contains(token), "{name}");
            }
        }
    }
}

#[test]
fn templates_use_only_known_messages() {
    let t = Templates::new();
    let theme = t.theme(DEFAULT_THEME);
    let en = &theme.catalogs["en"].catalog;
    for (name, _) in DEFAULT_TEMPLATES {
        let tmpl = theme.env.get_template(name).unwrap();
        for var in tmpl.undeclared_variables(true) {
            if let Some(key) = var.strip_prefix("msg.") {
                assert!(en.contains_key(key), "{name} uses unknown message {key}");
            }
        }
    }
}

#[test]
fn catalogs_have_the_same_keys() {
    let files = ThemeFiles::embedded();
    assert_eq!(
        files.messages.len(),
        DEFAULT_MESSAGES.len(),
        "a built-in catalog does not parse"
    );
    let en = &files.messages["en"];
    for (lang, text) in DEFAULT_MESSAGES {
        let catalog = i18n::parse_catalog(text).unwrap_or_else(|e| panic!("{lang}.yaml: {e}"));
        let missing: Vec<_> = en.keys().filter(|k| !catalog.contains_key(*k)).collect();
        let extra: Vec<_> = catalog.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{lang}.yaml: missing {missing:?}, extra {extra:?}"
        );
        for (key, value) in &catalog {
            assert!(!value.trim().is_empty(), "{lang}.yaml: {key} is empty");
        }
    }
}

#[test]
fn text_comes_from_the_catalog_of_the_language() {
    let t = Templates::new();
    let de = t.render_page(DEFAULT_THEME, "login.html", "de", &sample_context("login.html"));
    assert!(de.contains("<html lang=\"de\">"));
    assert!(de.contains("Bei Ihrem Konto anmelden"));
    assert!(!de.contains("Sign in to your account"));
    // a regional tag uses its language; an unknown one falls back to English
    let de_at = t.render_page(DEFAULT_THEME, "login.html", "de-AT", &sample_context("login.html"));
    assert!(de_at.contains("<html lang=\"de\">"));
    let fr = t.render_page(DEFAULT_THEME, "login.html", "fr", &sample_context("login.html"));
    assert!(fr.contains("<html lang=\"en\">") && fr.contains("Sign in to your account"));
    // the old entry point: default theme, English
    let old = t.render("login.html", &sample_context("login.html"));
    assert!(old.contains("Sign in to your account"));
    assert_eq!(t.locales(DEFAULT_THEME), ["de", "en"]);
    assert_eq!(t.negotiate(DEFAULT_THEME, None, Some("de-DE,de;q=0.9,en;q=0.8")), "de");
    assert_eq!(t.message(DEFAULT_THEME, "de", "doSignIn").as_deref(), Some("Anmelden"));
}

#[test]
fn server_texts_are_translated_when_they_are_keys() {
    let t = Templates::new();
    let mut ctx = sample_context("login.html");
    ctx["error"] = json!("invalidCredentials");
    let html = t.render_page(DEFAULT_THEME, "login.html", "de", &ctx);
    assert!(html.contains("Benutzername oder Passwort ist falsch."), "{html}");
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"login-error\""));
    assert!(html.contains("id=\"login-error\""));
    // plain text is shown as it is
    ctx["error"] = json!("Enter your username and password.");
    let html = t.render_page(DEFAULT_THEME, "login.html", "de", &ctx);
    assert!(html.contains("Enter your username and password."));
    // a key with arguments
    ctx["error"] = json!({ "key": "accountLockedFor", "args": { "minutes": 5 } });
    let html = t.render_page(DEFAULT_THEME, "login.html", "en", &ctx);
    assert!(html.contains("Try again in 5 minutes."), "{html}");
    // requirements
    let html = t.render_page(
        DEFAULT_THEME,
        "update_password.html",
        "de",
        &sample_context("update_password.html"),
    );
    assert!(html.contains("<li>Mindestens 12 Zeichen</li>"), "{html}");
    assert!(html.contains("<li>At least one digit</li>"));
    assert!(html.contains("aria-describedby=\"password-requirements\""));
    // placeholders filled from the page context, escaped
    let mut ctx = sample_context("logout_confirm.html");
    ctx["realm_name"] = json!("<b>Acme</b>");
    let html = t.render_page(DEFAULT_THEME, "logout_confirm.html", "en", &ctx);
    assert!(
        html.contains("Do you want to sign out of &lt;b&gt;Acme&lt;&#x2f;b&gt;?"),
        "{html}"
    );
}

#[test]
fn user_input_is_escaped_but_the_qr_code_is_not() {
    let t = Templates::new();
    let evil = "\"><script>alert(1)</script>";
    let mut ctx = sample_context("login.html");
    ctx["username"] = json!(evil);
    ctx["error"] = json!(evil);
    let html = t.render_page(DEFAULT_THEME, "login.html", "en", &ctx);
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
    assert!(!html.contains("\"><"), "attribute broken out of:\n{html}");

    let mut ctx = sample_context("configure_otp.html");
    ctx["account"] = json!(evil);
    ctx["issuer"] = json!(evil);
    let svg = sample_context("configure_otp.html")["qr_svg"]
        .as_str()
        .unwrap()
        .to_string();
    let html = t.render_page(DEFAULT_THEME, "configure_otp.html", "en", &ctx);
    assert!(html.contains(&svg), "the QR code must be inline SVG:\n{html}");
    assert!(!html.contains("<script>"));
    assert!(html.contains("<code id=\"otp-secret\" class=\"secret\">JBSW Y3DP EHPK 3PXP</code>"));
    assert!(html.contains("name=\"otp\""));
    assert!(html.contains("autocomplete=\"one-time-code\"") && html.contains("inputmode=\"numeric\""));

    for (name, field) in [
        ("recovery_codes.html", "codes"),
        ("terms.html", "terms_text"),
        ("error.html", "message"),
        ("info.html", "message"),
    ] {
        let mut ctx = sample_context(name);
        ctx[field] = if field == "codes" { json!([evil]) } else { json!(evil) };
        let html = t.render_page(DEFAULT_THEME, name, "en", &ctx);
        assert_not_fallback(&html, name);
        assert!(!html.contains("<script>"), "{name}: {html}");
    }
    let mut ctx = sample_context("update_profile.html");
    ctx["email"] = json!(evil);
    ctx["errors"] = json!({ "email": evil });
    let html = t.render_page(DEFAULT_THEME, "update_profile.html", "en", &ctx);
    assert!(!html.contains("<script>"));
    assert!(html.contains("aria-describedby=\"email-error\""));
}

#[test]
fn pages_carry_the_contract_fields() {
    let t = Templates::new();
    let r = |name: &str| t.render_page(DEFAULT_THEME, name, "en", &sample_context(name));

    let html = r("otp.html");
    let verify = html.find("Verify").unwrap();
    let another = html.find("name=\"try_another\" value=\"recovery-code\"").unwrap();
    assert!(
        verify < another,
        "the primary button must come first (Enter submits it)"
    );
    assert!(html.contains("formnovalidate"));
    let mut ctx = sample_context("otp.html");
    ctx["can_use_recovery_code"] = json!(false);
    assert!(
        !t.render_page(DEFAULT_THEME, "otp.html", "en", &ctx)
            .contains("try_another")
    );

    let html = r("password.html");
    assert!(html.contains("name=\"username\" value=\"alice\" autocomplete=\"username\" readonly hidden"));
    assert!(html.contains("autocomplete=\"current-password\""));

    let html = r("recovery_codes.html");
    assert!(html.contains("<ol id=\"recovery-codes\""));
    assert!(html.contains("<li class=\"recovery-code\">aaaa-bbbb</li>"));
    assert!(html.contains("name=\"acknowledge\" value=\"yes\""));

    let html = r("recovery_code.html");
    assert!(html.contains("name=\"recovery_code\"") && html.contains("autocomplete=\"off\""));
    assert!(html.contains("This recovery code is not valid"));

    let html = r("update_password.html");
    assert!(html.contains("name=\"password-new\"") && html.contains("name=\"password-confirm\""));
    assert_eq!(html.matches("autocomplete=\"new-password\"").count(), 2);

    let html = r("update_profile.html");
    for needle in [
        "autocomplete=\"email\"",
        "autocomplete=\"given-name\"",
        "autocomplete=\"family-name\"",
        "name=\"firstName\"",
        "name=\"lastName\"",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("aria-invalid"));

    let html = r("terms.html");
    assert!(html.contains("name=\"accept\" value=\"yes\"") && html.contains("name=\"accept\" value=\"no\""));

    let html = r("form_post.html");
    assert!(html.contains("<script>document.forms[0].submit()</script>"));

    // Pages load nothing from elsewhere (mail carries its link, and is not a page).
    for (name, _) in DEFAULT_TEMPLATES.iter().filter(|(n, _)| !n.starts_with("mail_")) {
        let html = r(name);
        assert!(
            !html.contains("http://") || name.contains("configure_otp"),
            "{name} loads an external asset"
        );
        assert!(!html.contains("https://"), "{name} loads an external asset");
    }
}

#[test]
fn missing_or_broken_templates_give_a_safe_page() {
    let t = Templates::new();
    let html = t.render_page(DEFAULT_THEME, "no-such.html", "de", &json!({}));
    assert!(html.contains("Diese Seite kann nicht angezeigt werden."));
    let html = t.render_page(DEFAULT_THEME, "login.html", "en", &json!(null));
    assert_not_fallback(&html, "login.html without context");
    let html = t.render_page("../../etc", "login.html", "../x", &json!([1, 2]));
    assert_not_fallback(&html, "login.html with odd arguments");
}

#[test]
fn themes_override_file_by_file_and_key_by_key() {
    let dir = TempDir::new("override");
    dir.write(
        "acme/login.html",
        "{% extends \"base.html\" %}{% block content %}<p id=\"acme\">ACME {{ msg.loginHeading }} {{ username }}</p>{% endblock %}",
    );
    dir.write(
        "acme/base.html",
        "{% extends \"default/base.html\" %}{% block title %}Acme · {{ super() }}{% endblock %}\
         {% block head %}{{ super() }}<link rel=\"stylesheet\" href=\"/resources/acme/style.css\">{% endblock %}",
    );
    dir.write("acme/broken.html", "{% if %}");
    dir.write("acme/otp.html", "{% for %}broken");
    dir.write("acme/style.css", "body { color: red }");
    dir.write(
        "acme/messages/en.yaml",
        "loginHeading: Welcome to Acme\nacmeOnly: Acme text\n",
    );
    dir.write("acme/messages/de.yaml", "doVerify: Prüfen\n");
    dir.write("acme/messages/broken.yaml", "a: [\n");
    // not read when not live: the default theme is the embedded one
    dir.write("default/login.html", "DISK DEFAULT");
    dir.write("bad name/login.html", "BAD");

    let t = Templates::load(Some(&dir.0), false);
    assert!(t.has_theme("acme") && t.has_theme("default") && !t.has_theme("bad name"));
    assert_eq!(t.theme_names(), ["acme", "default"]);

    let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
    assert!(html.contains("<p id=\"acme\">ACME Welcome to Acme alice</p>"), "{html}");
    assert!(html.contains("<title>Acme · Demo</title>"), "{html}");
    // German: the theme has no German loginHeading, so the default's German one wins
    let html = t.render_page("acme", "login.html", "de", &sample_context("login.html"));
    assert!(html.contains("ACME Bei Ihrem Konto anmelden"), "{html}");
    // a file the theme lacks comes from default, with the theme's base and messages
    let html = t.render_page(
        "acme",
        "recovery_code.html",
        "de",
        &sample_context("recovery_code.html"),
    );
    assert!(
        html.contains("Wiederherstellungscode eingeben") && html.contains(">Prüfen</button>"),
        "{html}"
    );
    assert!(
        html.contains("<link rel=\"stylesheet\" href=\"/resources/acme/style.css\">"),
        "{html}"
    );
    // a broken theme file falls back to the default's
    let html = t.render_page("acme", "otp.html", "en", &sample_context("otp.html"));
    assert!(html.contains("name=\"otp\""), "{html}");
    assert_eq!(t.message("acme", "de", "acmeOnly").as_deref(), Some("Acme text"));
    assert_eq!(t.stylesheet("acme"), "body { color: red }");
    assert_eq!(t.stylesheet("default"), DEFAULT_CSS);
    // the embedded default is untouched by the directory's default/
    let html = t.render_page(DEFAULT_THEME, "login.html", "en", &sample_context("login.html"));
    assert!(!html.contains("DISK DEFAULT") && html.contains("Sign in to your account"));
    // an unknown theme is the default
    let html = t.render_page("nope", "login.html", "en", &sample_context("login.html"));
    assert!(html.contains("Sign in to your account"));
}

#[test]
fn live_mode_reads_the_files_on_every_render() {
    let dir = TempDir::new("live");
    let t = Templates::from_dir(dir.0.clone());
    // nothing on disk yet: the embedded default
    let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
    assert!(html.contains("Sign in to your account"));
    assert!(!t.has_theme("acme"));

    dir.write(
        "acme/login.html",
        "{% extends \"base.html\" %}{% block content %}v1{% endblock %}",
    );
    dir.write(
        "default/base.html",
        "<main>{{ realm_name }} {% block content %}{% endblock %}</main>",
    );
    dir.write("default/messages/en.yaml", "doVerify: Check it\n");
    assert!(t.has_theme("acme"));
    let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
    assert_eq!(html, "<main>Demo v1</main>");

    dir.write(
        "acme/login.html",
        "{% extends \"base.html\" %}{% block content %}v2{% endblock %}",
    );
    let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
    assert_eq!(html, "<main>Demo v2</main>");
    // the default theme from disk, per file and per key over the embedded one
    let html = t.render_page(DEFAULT_THEME, "otp.html", "en", &sample_context("otp.html"));
    assert!(
        html.starts_with("<main>Demo") && html.contains(">Check it</button>"),
        "{html}"
    );
    assert!(html.contains("Enter your one-time code"));

    dir.write(
        "acme/login.html",
        "{% extends \"base.html\" %}{% block content %}{{ 1 + }}{% endblock %}",
    );
    let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
    assert!(
        html.contains("name=\"password\""),
        "a broken file falls back to the default's:\n{html}"
    );

    let t = Templates::load(Some(&dir.0), true);
    let html = t.render_page(
        "acme",
        "recovery_code.html",
        "en",
        &sample_context("recovery_code.html"),
    );
    assert!(html.starts_with("<main>Demo"), "{html}");
}

#[test]
fn every_page_of_the_default_theme_is_built_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes/default");
    for entry in std::fs::read_dir(&dir).expect("themes/default") {
        let name = entry.expect("an entry").file_name().to_string_lossy().to_string();
        if name.ends_with(".html") {
            assert!(
                DEFAULT_TEMPLATES.iter().any(|(n, _)| *n == name),
                "{name} is not in DEFAULT_TEMPLATES (web/templates/files.rs)"
            );
        }
    }
}

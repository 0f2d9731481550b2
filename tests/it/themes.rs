//! Pages speak the user's language (the client's `ui_locales`, then the browser's
//! `Accept-Language`) and a realm's theme overrides the default file by file.

use crate::support;
use crate::support::browser::Page;
use crate::support::oauth::AuthRequest;
use crate::support::*;
use reqwest::StatusCode;
use url::Url;

async fn login_page(h: &Harness, request: &AuthRequest, accept_language: Option<&str>) -> Page {
    let url = request.url(h);
    let mut call = h.new_browser().get(&url);
    if let Some(lang) = accept_language {
        call = call.header("accept-language", lang);
    }
    let page = Page::read(Url::parse(&url).unwrap(), call.send().await.unwrap()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    page
}

db_test!(async fn pages_follow_ui_locales_then_accept_language(db) {
    let h = Harness::start(db, REALM).await;
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let english = login_page(&h, &request, None).await;
    assert!(english.body.contains("Sign in"), "{}", english.body);
    assert!(english.body.contains("lang=\"en\""), "{}", english.body);

    let german = login_page(&h, &request, Some("de-DE,de;q=0.9,en;q=0.5")).await;
    assert!(german.body.contains("Anmelden"), "{}", german.body);
    assert!(german.body.contains("lang=\"de\""), "{}", german.body);

    // ui_locales wins over the browser's preference.
    let asked = request.clone().with("ui_locales", "en");
    let english_again = login_page(&h, &asked, Some("de")).await;
    assert!(!english_again.body.contains("Anmelden"), "{}", english_again.body);
    let asked_de = request.with("ui_locales", "fr de");
    let german_again = login_page(&h, &asked_de, Some("en")).await;
    assert!(german_again.body.contains("Anmelden"), "{}", german_again.body);
});

db_test!(async fn flow_messages_are_translated_too(db) {
    let h = start_with_user(db).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("accept-language", "de".parse().unwrap());
    let german_browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let url = request.url(&h);
    let page = Page::read(Url::parse(&url).unwrap(), german_browser.get(&url).send().await.unwrap()).await;
    let mut form = support::browser::parse_post_form(&page.body, &page.url).expect("the login form");
    form.set("username", USERNAME);
    form.set("password", "not-the-password");
    let refused = form.submit(&german_browser).await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.describe());
    assert!(refused.body.contains("Benutzername oder Passwort ist falsch."), "{}", refused.body);
});

db_test!(async fn required_action_pages_and_their_messages_are_translated(db) {
    let h = signin::start_flow_realm(db).await;
    for action in ["terms-and-conditions", "update-password", "update-profile"] {
        signin::require(&h, USERNAME, action).await;
    }
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("ui_locales", "de");
    let mut s = signin::SignIn::start_with(&h, &h.new_browser(), request, verifier).await;
    s.log_in(USERNAME, PASSWORD).await;

    s.expect(signin::Shown::Terms);
    let text = signin::visible_text(&s.page.body);
    assert!(
        text.contains("Mit dem Fortfahren akzeptieren Sie die Nutzungsbedingungen von"),
        "{text}"
    );
    s.press(&[], ("accept", "yes")).await;

    s.expect(signin::Shown::UpdatePassword);
    let text = signin::visible_text(&s.page.body);
    assert!(text.contains("Mindestens 12 Zeichen"), "the policy is not in German: {text}");
    s.fill(&[("password-new", "Sh0rt!"), ("password-confirm", "Sh0rt!")]).await;
    assert_eq!(
        s.expect_error(signin::Shown::UpdatePassword),
        "Das Passwort braucht mindestens 12 Zeichen."
    );
    s.fill(&[("password-new", "Kein-Großbuchstabe-1"), ("password-confirm", "kein-grossbuchstabe-1")])
        .await;
    assert_eq!(
        s.expect_error(signin::Shown::UpdatePassword),
        "Die Passwörter stimmen nicht überein."
    );
    s.fill(&[("password-new", "keine-grossbuchstaben-1"), ("password-confirm", "keine-grossbuchstaben-1")])
        .await;
    assert_eq!(
        s.expect_error(signin::Shown::UpdatePassword),
        "Das Passwort braucht einen Großbuchstaben."
    );
    let good = "Ein-Gutes-Passwort-42";
    s.fill(&[("password-new", good), ("password-confirm", good)]).await;

    s.expect(signin::Shown::UpdateProfile);
    s.fill(&[("email", "keine-adresse"), ("firstName", "Alice"), ("lastName", "Liddell")])
        .await;
    assert_eq!(
        s.expect_error(signin::Shown::UpdateProfile),
        "Geben Sie eine gültige E-Mail-Adresse ein."
    );
});

db_test!(async fn a_realms_theme_overrides_the_default_file_by_file(db) {
    let realm = REALM.replacen("\n", "\ntheme: acme\n", 1);
    let h = Harness::start_with(db, &realm, |dir, settings| {
        let acme = dir.join("themes/acme");
        std::fs::create_dir_all(acme.join("messages")).unwrap();
        std::fs::write(
            acme.join("login.html"),
            "{% extends \"default/login.html\" %}{% block title %}ACME · {{ msg.loginTitle }}{% endblock %}",
        )
        .unwrap();
        std::fs::write(acme.join("messages/en.yaml"), "loginHeading: \"Welcome to ACME\"\n").unwrap();
        std::fs::write(acme.join("style.css"), "body { color: #123456; }\n").unwrap();
        settings.themes_dir = Some(dir.join("themes"));
    })
    .await;
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let page = login_page(&h, &request, None).await;
    // The overridden template and message key…
    assert!(page.body.contains("<title>ACME · "), "{}", page.body);
    assert!(page.body.contains("Welcome to ACME"), "{}", page.body);
    // …while everything the theme lacks comes from the default: the form, other keys.
    assert!(page.body.contains("name=\"username\""), "{}", page.body);
    assert!(page.body.contains(">Password<"), "{}", page.body);
    // German has no override: the default's German catalog.
    let german = login_page(&h, &request, Some("de")).await;
    assert!(german.body.contains("Bei Ihrem Konto anmelden"), "{}", german.body);
    // The theme's stylesheet is served for its pages.
    assert!(page.body.contains("/resources/acme/style.css"), "{}", page.body);
    let css = h.browser.get(format!("{}/resources/acme/style.css", h.url)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.text().await.unwrap().contains("#123456"));
});

// A theme name in the stylesheet path is whatever the client sent: anything that is not a
// theme's name (a line break that would forge a log line, 60 KB of text, upper case, a theme
// that does not exist) is a 404, answered before it could reach a log line.
db_test!(async fn stylesheets_of_invalid_or_unknown_theme_names_are_404(db) {
    let h = Harness::start(db, REALM).await;
    let css = |name: String| {
        let url = format!("{}/resources/{name}/style.css", h.url);
        let browser = h.new_browser();
        async move {
            let response = browser.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
            (response.status(), response.text().await.unwrap_or_default())
        }
    };
    let (status, body) = css("default".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains('{'), "the default stylesheet: {body}");
    for name in [
        "x%0A2026-01-01T00:00:00Z%20INFO%20gatehouse:%20admin%20signed%20in".to_string(),
        "x%0D%0Ay".into(),
        "a".repeat(60_000),
        "a".repeat(65),
        "Default".into(),
        "acme%2E%2E".into(),
        "nope".into(),
    ] {
        let (status, body) = css(name.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}: {body}", &name[..name.len().min(80)]);
        assert!(!body.contains('{'), "a stylesheet for a bad name: {body}");
    }
});

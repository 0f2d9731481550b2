//! Pages speak the user's language (the client's `ui_locales`, then the browser's
//! `Accept-Language`) and a realm's theme overrides the default file by file.

#[macro_use]
mod support;

use reqwest::StatusCode;
use support::browser::Page;
use support::oauth::AuthRequest;
use support::*;
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

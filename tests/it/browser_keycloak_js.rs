//! Keycloak's own SPA adapter, keycloak-js (pinned; `scripts/install-test-deps.sh` fetches it
//! from the npm registry), in Chromium against Gatehouse, with its defaults: PKCE, the code in
//! the fragment, the third-party cookie check and the session iframe. `login-required` signs in
//! through the login page; the token is refreshed (the refresh token read as a JWT); the profile
//! loads from the account API across origins; `check-sso` with a silent check page finds the
//! session without a page; `logout()` returns to the registered URI exactly, and the next
//! sign-in asks for the password again; `responseMode: "query"` works too. On SQLite and
//! PostgreSQL.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::browser_e2e::{Screen, Ui, with_browser};
use crate::support::signin;
use crate::support::*;

const KEYCLOAK_JS: &str = ".test-deps/keycloak-js-26.2.4/lib/keycloak.js";
const CLIENT: &str = "spa-js";

/// keycloak-js as installed by the test-deps script; `None` (a skip) outside CI.
fn keycloak_js() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(KEYCLOAK_JS);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            let why = format!(
                "{} not readable ({e}); run scripts/install-test-deps.sh",
                path.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("the keycloak-js test needs keycloak-js and CI=true: {why}");
            }
            eprintln!("SKIPPED: keycloak-js test: {why}");
            None
        }
    }
}

/// The app's page: keycloak-js in `mode`, the response in `response_mode`, writing what it
/// learnt into the page, and `data-done` on `<body>` once it is settled.
fn app_page(server: &str, realm: &str, mode: &str, response_mode: &str) -> String {
    format!(
        r#"<!doctype html><html lang=en><head><meta charset=utf-8><title>keycloak-js app</title></head>
<body><pre id=authenticated></pre><pre id=username></pre><pre id=email></pre><pre id=account-role></pre><pre id=realm-role></pre><pre id=client-role></pre><pre id=error></pre>
<script type=module>
import Keycloak from "/keycloak.js";
const show = (id, value) => {{ document.getElementById(id).textContent = String(value); }};
const kc = new Keycloak({{ url: "{server}", realm: "{realm}", clientId: "{CLIENT}" }});
window.kc = kc;
try {{
  const authenticated = await kc.init({{ onLoad: "{mode}", responseMode: "{response_mode}", silentCheckSsoRedirectUri: location.origin + "/silent-check-sso.html" }});
  show("authenticated", authenticated);
  if (authenticated) {{
    show("username", kc.tokenParsed.preferred_username);
    show("account-role", kc.hasResourceRole("manage-account", "account"));
    show("realm-role", kc.hasRealmRole("auditor") && !kc.hasRealmRole("admin"));
    show("client-role", kc.hasResourceRole("editor") && !kc.hasResourceRole("viewer"));
    const profile = await kc.loadUserProfile();
    show("email", profile.email);
  }}
}} catch (e) {{
  show("error", (e && e.message) || e);
}}
document.body.dataset.done = "1";
</script></body></html>"#
    )
}

/// The app: its pages on loopback, another origin than Gatehouse's.
struct SpaApp {
    origin: String,
    server: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl SpaApp {
    /// The app at `http://{host}:PORT` (on loopback): `127.0.0.1` is Gatehouse's own site,
    /// `localhost` another one, whose pages' frames get no Gatehouse cookies.
    async fn start(library: String, realm: &'static str, host: &str) -> SpaApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the app");
        let origin = format!("http://{host}:{}", listener.local_addr().expect("address").port());
        let server: Arc<Mutex<String>> = Arc::default();
        let base = server.clone();
        let router = axum::Router::new()
            .route(
                "/keycloak.js",
                axum::routing::get(move || {
                    let library = library.clone();
                    async move { ([("content-type", "text/javascript")], library) }
                }),
            )
            .route(
                "/silent-check-sso.html",
                axum::routing::get(|| async {
                    axum::response::Html("<!doctype html><html><body><script>parent.postMessage(location.href, location.origin)</script></body></html>")
                }),
            )
            .fallback(move |uri: axum::http::Uri| {
                let server = base.lock().unwrap().clone();
                async move {
                    let (mode, response_mode) = match uri.path() {
                        "/required" => ("login-required", "fragment"),
                        "/query" => ("login-required", "query"),
                        _ => ("check-sso", "fragment"),
                    };
                    axum::response::Html(app_page(&server, realm, mode, response_mode))
                }
            });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        SpaApp { origin, server, task }
    }

    /// The client, as a realm file lists it.
    fn client(&self) -> String {
        let o = &self.origin;
        format!(
            "  - client_id: {CLIENT}
    redirect_uris: [{o}/, {o}/required, {o}/query, {o}/silent-check-sso.html]
    post_logout_redirect_uris: [{o}/]
    web_origins: [+]
    grant_types: [authorization_code, refresh_token]
    roles: [editor, viewer]
"
        )
    }
}

impl Drop for SpaApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn text(ui: &Ui, id: &str) -> String {
    ui.element(&format!("#{id}")).await.text().await.unwrap_or_default()
}

/// Opens `url` on the app and waits until keycloak-js has settled.
async fn open_app(ui: &Ui, url: &str, label: &str) {
    ui.d.goto(url)
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    settled(ui, label).await;
}

async fn settled(ui: &Ui, label: &str) {
    ui.element("body[data-done]").await;
    ui.snap(label).await;
    let error = text(ui, "error").await;
    assert!(error.is_empty(), "keycloak-js failed: {error}\n{}", ui.describe().await);
}

/// Runs `script` (which may return a promise) in the page and returns its value.
async fn run(ui: &Ui, script: &str) -> serde_json::Value {
    let ret =
        ui.d.execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"));
    ret.json().clone()
}

db_test!(async fn keycloak_js_signs_in_refreshes_finds_the_session_and_signs_out(db) {
    let Some(library) = keycloak_js() else { return };
    let app = SpaApp::start(library, "flows", "127.0.0.1").await;
    let realm = format!("{}{}", signin::standard_flow_realm(), app.client())
        .replace("realm: flows\n", "realm: flows\nroles: [auditor, admin]\n");
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let alice = signin::user_id(&h, USERNAME).await;
    h.state.store.grant_role(&alice, "auditor").await.expect("a realm role");
    let editor = ["editor".to_string()];
    h.state
        .store
        .grant_client_roles(&alice, CLIENT, &editor)
        .await
        .expect("a client role");
    *app.server.lock().unwrap() = h.url.clone();
    let origin = app.origin.clone();

    with_browser("keycloak_js", |ui| async move {
        // login-required: to the login page and back, with the code in the fragment.
        ui.d.goto(&format!("{origin}/required")).await.expect("open the app");
        ui.expect(Screen::Login).await;
        ui.log_in(USERNAME, PASSWORD, "login").await;
        settled(&ui, "signed-in").await;
        assert_eq!(text(&ui, "authenticated").await, "true");
        assert_eq!(text(&ui, "username").await, USERNAME);
        assert_eq!(text(&ui, "account-role").await, "true");
        assert_eq!(text(&ui, "realm-role").await, "true", "hasRealmRole");
        assert_eq!(text(&ui, "client-role").await, "true", "hasResourceRole of the app's own roles");
        assert_eq!(text(&ui, "email").await, EMAIL, "loadUserProfile across origins");
        let url = ui.url().await;
        assert_eq!(url.fragment(), None, "keycloak-js took the code out of the address: {url}");

        // A refresh: keycloak-js reads the refresh token as a JWT, and gets new tokens.
        let before = run(&ui, "return window.kc.token;").await;
        let refreshed = run(&ui, "return window.kc.updateToken(-1).then(r => String(r), e => 'failed: ' + e);").await;
        assert_eq!(refreshed, "true");
        assert_ne!(run(&ui, "return window.kc.token;").await, before);
        let expires = run(&ui, "return typeof window.kc.refreshTokenParsed.exp;").await;
        assert_eq!(expires, "number");

        // check-sso on another page: the session is found without a page, and the session
        // iframe says it is unchanged.
        open_app(&ui, &format!("{origin}/"), "check-sso").await;
        assert_eq!(text(&ui, "authenticated").await, "true");
        assert_eq!(text(&ui, "username").await, USERNAME);
        let unchanged = run(&ui, "return window.kc.updateToken(-1).then(r => String(r), e => 'failed: ' + e);").await;
        assert_eq!(unchanged, "true", "the session iframe checked the session before the refresh");

        // logout(): back to the registered URI exactly, signed out.
        let logout = format!("window.kc.logout({{ redirectUri: '{origin}/' }}); return 1;");
        run(&ui, &logout).await;
        ui.element("body[data-done]").await;
        settled(&ui, "signed-out").await;
        assert_eq!(ui.url().await.as_str(), format!("{origin}/"));
        assert_eq!(text(&ui, "authenticated").await, "false");

        // Signing in again asks for the password again.
        ui.d.goto(&format!("{origin}/required")).await.expect("open the app");
        ui.expect(Screen::Login).await;
        ui.log_in(USERNAME, PASSWORD, "login-again").await;
        settled(&ui, "signed-in-again").await;
        assert_eq!(text(&ui, "authenticated").await, "true");

        // responseMode "query": the code comes in the query, through the session.
        open_app(&ui, &format!("{origin}/query"), "query").await;
        assert_eq!(text(&ui, "authenticated").await, "true");
        assert_eq!(text(&ui, "username").await, USERNAME);
        let url = ui.url().await;
        assert!(url.query().is_none_or(|q| !q.contains("code=")), "keycloak-js took the code out: {url}");
    })
    .await;
});

db_test!(async fn keycloak_js_at_another_site_finds_the_session_without_third_party_cookies(db) {
    let Some(library) = keycloak_js() else { return };
    let app = SpaApp::start(library, "flows", "localhost").await;
    let realm = format!("{}{}", signin::standard_flow_realm(), app.client());
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    *app.server.lock().unwrap() = h.url.clone();
    let origin = app.origin.clone();

    with_browser("keycloak_js_cross_site", |ui| async move {
        ui.d.goto(&format!("{origin}/required")).await.expect("open the app");
        ui.expect(Screen::Login).await;
        ui.log_in(USERNAME, PASSWORD, "login").await;
        settled(&ui, "signed-in").await;
        assert_eq!(text(&ui, "authenticated").await, "true", "{}", text(&ui, "error").await);

        // check-sso from another site: the frames get no cookies (SameSite=Lax), so
        // keycloak-js's third-party cookie check fails and it finds the session by a redirect.
        open_app(&ui, &format!("{origin}/"), "check-sso").await;
        assert_eq!(text(&ui, "authenticated").await, "true", "{}", text(&ui, "error").await);
        assert_eq!(text(&ui, "username").await, USERNAME);
        assert_eq!(text(&ui, "email").await, EMAIL, "loadUserProfile across sites");
    })
    .await;
});

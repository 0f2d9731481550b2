//! Organizations through Keycloak 26's admin API, on both databases: created, listed, changed
//! and deleted with their domains and policy; members added with organization roles; an
//! organization's app admits its members only (browser, password grant, refresh) and tells
//! them apart in the `organization` claim; the last owner stays.

use crate::account;
use crate::admin_users::{assert_bad, call, events_of, gatehouse_cli, service_token, start};
use crate::support::signin::{self, SignIn};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) const ORGS: &str = "flows/organizations";

/// Creates an organization, returning its id.
pub(crate) async fn create(h: &Harness, token: &str, body: Value) -> String {
    let (status, created) = call(h, "POST", ORGS, Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().expect("an id").to_string()
}

db_test!(async fn organizations_are_administered_as_in_keycloak(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let body = json!({
        "name": "Acme Inc.",
        "description": "Rockets",
        "domains": [{ "name": "Acme.com", "verified": true }],
        "policy": { "requireSecondFactor": true, "ipAllowlist": ["10.1.2.3/8"], "sessionMax": 3600 },
    });
    let id = create(&h, &token, body).await;
    let (status, org) = call(&h, "GET", &format!("{ORGS}/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!(org["alias"], "acme-inc", "{org}");
    assert_eq!(org["enabled"], true, "{org}");
    assert_eq!(org["domains"], json!([{ "name": "acme.com", "verified": true }]), "{org}");
    assert_eq!(org["policy"]["ipAllowlist"], json!(["10.0.0.0/8"]), "{org}");
    assert_eq!(org["policy"]["sessionMax"], 3600, "{org}");

    // Names, aliases and domains are one organization's each in a realm.
    let (status, body) = call(&h, "POST", ORGS, Some(&token), Some(json!({ "name": "Acme Inc." }))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let taken = json!({ "name": "Other", "domains": [{ "name": "acme.com" }] });
    let (status, body) = call(&h, "POST", ORGS, Some(&token), Some(taken)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["errorMessage"].as_str().unwrap_or_default().contains("acme.com"), "{body}");
    // Bad values get a 400 that says what to write; nothing is made.
    assert_bad(call(&h, "POST", ORGS, Some(&token), Some(json!({ "name": "" }))).await, "needs a name");
    let bad_range = json!({ "name": "B", "policy": { "ipAllowlist": ["10.0.0.0/40"] } });
    assert_bad(call(&h, "POST", ORGS, Some(&token), Some(bad_range)).await, "192.0.2.0/24");
    let bad_alias = json!({ "name": "B", "alias": "Not An Alias" });
    assert_bad(call(&h, "POST", ORGS, Some(&token), Some(bad_alias)).await, "may only use");
    let attributes = json!({ "name": "B", "attributes": { "tier": ["gold"] } });
    assert_bad(call(&h, "POST", ORGS, Some(&token), Some(attributes)).await, "attributes");
    let (_, count) = call(&h, "GET", &format!("{ORGS}/count"), Some(&token), None).await;
    assert_eq!(count, 1);

    // Listed by name, searched by part of the name or alias.
    create(&h, &token, json!({ "name": "Globex", "alias": "globex" })).await;
    let (status, all) = call(&h, "GET", ORGS, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let names: Vec<&str> = all.as_array().unwrap().iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, ["Acme Inc.", "Globex"]);
    let (_, found) = call(&h, "GET", &format!("{ORGS}?search=GLOB&first=0&max=10"), Some(&token), None).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    let (_, none) = call(&h, "GET", &format!("{ORGS}?search=glob&exact=true"), Some(&token), None).await;
    assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");

    // A change replaces the fields it sends; the policy stays when left out (Keycloak's
    // clients do not know it), and the alias never changes. An unknown organization is a 404.
    let change = json!({ "name": "Acme", "enabled": false, "domains": [] });
    let (status, body) = call(&h, "PUT", &format!("{ORGS}/{id}"), Some(&token), Some(change)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, org) = call(&h, "GET", &format!("{ORGS}/{id}"), Some(&token), None).await;
    assert_eq!((org["name"].as_str(), org["enabled"].as_bool()), (Some("Acme"), Some(false)), "{org}");
    assert_eq!(org["alias"], "acme-inc", "{org}");
    assert_eq!(org["domains"], json!([]), "{org}");
    assert_eq!(org["policy"]["requireSecondFactor"], true, "{org}");
    let renamed = json!({ "name": "Acme", "alias": "acme" });
    assert_bad(call(&h, "PUT", &format!("{ORGS}/{id}"), Some(&token), Some(renamed)).await, "cannot change");
    let (status, _) = call(&h, "GET", &format!("{ORGS}/no-such-id"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Only admins of the realm reach any of it.
    let (status, _) = call(&h, "GET", ORGS, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let bystander = service_token(&h, "bystander").await;
    let (status, _) = call(&h, "GET", ORGS, Some(&bystander), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Deleted with its memberships; the users stay.
    let user_id = signin::user_id(&h, USERNAME).await;
    let (status, body) = call(&h, "POST", &format!("{ORGS}/{id}/members"), Some(&token), Some(json!(user_id))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = call(&h, "DELETE", &format!("{ORGS}/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&h, "GET", &format!("{ORGS}/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let rows = h.query("SELECT COUNT(*) AS n FROM organization_members").await;
    assert_eq!(rows[0].try_get::<i64>("", "n").expect("a count"), 0);
    let kinds: Vec<String> = signin::events(&h, None)
        .await
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("organization_"))
        .collect();
    for kind in ["organization_created", "organization_updated", "organization_member_added", "organization_deleted"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }
});

db_test!(async fn an_organizations_app_admits_its_members_only(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let user_id = signin::user_id(&h, USERNAME).await;

    // Before the organization exists, nobody signs in to its app; other apps are unaffected.
    let refused = signin::password_sign_in(&h, "acme-app", USERNAME, PASSWORD).await;
    let error = query_of(&refused.location(), "error");
    assert_eq!(error.as_deref(), Some("access_denied"));
    let description = query_of(&refused.location(), "error_description").unwrap_or_default();
    assert!(description.contains("not a member"), "{description}");
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.exchange(&h).await;

    let id = create(&h, &token, json!({ "name": "Acme", "alias": "acme" })).await;
    let refused = signin::password_sign_in(&h, "acme-app", USERNAME, PASSWORD).await;
    assert_eq!(query_of(&refused.location(), "error").as_deref(), Some("access_denied"));
    let direct = oauth::post_form(
        &format!("{}/realms/flows/protocol/openid-connect/token", h.url),
        oauth::ClientAuth::Basic("acme-app", WEB_SECRET),
        &[("grant_type", "password"), ("username", USERNAME), ("password", PASSWORD), ("scope", "openid")],
    )
    .await;
    direct.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // A member signs in; the tokens say which organization and roles.
    let members = format!("{ORGS}/{id}/members");
    let (status, body) = call(&h, "POST", &members, Some(&token), Some(json!(user_id))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = call(&h, "POST", &members, Some(&token), Some(json!(user_id))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let roles = json!(["member", "billing"]);
    let (status, body) = call(&h, "PUT", &format!("{members}/{user_id}/roles"), Some(&token), Some(roles)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mut s = SignIn::start(&h, &h.new_browser(), "acme-app").await;
    s.log_in(USERNAME, PASSWORD).await;
    let tokens = s.exchange(&h).await;
    let expected = json!({ "acme": { "id": id, "roles": ["billing", "member"] } });
    assert_eq!(tokens.access["organization"], expected, "{}", tokens.access);
    assert_eq!(tokens.id["organization"], expected, "{}", tokens.id);
    let refresh = tokens.response.str("refresh_token").expect("a refresh token").to_string();
    let acme = oauth::ClientAuth::Basic("acme-app", WEB_SECRET);
    let refreshed = oauth::refresh(&h, acme, &refresh).await;
    refreshed.assert_ok();
    let refresh = refreshed.str("refresh_token").expect("a new refresh token").to_string();
    let access = refreshed.str("access_token").expect("an access token").to_string();
    oauth::userinfo(&h, &access).await.assert_ok();
    // Other apps' tokens say nothing of it.
    let web = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.exchange(&h).await;
    assert!(web.access.get("organization").is_none(), "{}", web.access);

    // The member list shows them with their roles; the user's organizations name it.
    let (_, listed) = call(&h, "GET", &members, Some(&token), None).await;
    assert_eq!(listed[0]["username"], USERNAME, "{listed}");
    assert_eq!(listed[0]["organizationRoles"], json!(["billing", "member"]), "{listed}");
    assert_eq!(listed[0]["membershipType"], "UNMANAGED", "{listed}");
    let (_, theirs) = call(&h, "GET", &format!("{ORGS}/members/{user_id}/organizations"), Some(&token), None).await;
    assert_eq!(theirs[0]["alias"], "acme", "{theirs}");
    assert_bad(
        call(&h, "PUT", &format!("{members}/{user_id}/roles"), Some(&token), Some(json!(["root"]))).await,
        "not an organization role",
    );

    // Removed, they can no longer refresh (nor sign in); the refused refresh spends nothing.
    let (status, _) = call(&h, "DELETE", &format!("{members}/{user_id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let acme = oauth::ClientAuth::Basic("acme-app", WEB_SECRET);
    oauth::refresh(&h, acme, &refresh).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Their access token, still unexpired, stops at userinfo and introspection at once.
    oauth::assert_userinfo_rejects(&h, &access, "a removed member's token").await;
    let acme = oauth::ClientAuth::Basic("acme-app", WEB_SECRET);
    let looked = oauth::introspect(&h, acme, &access).await;
    assert_eq!(looked.body["active"], false, "{}", looked.text);
    assert_eq!(events_of(&h, "organization_member_removed", &user_id).await.len(), 1);
    let (status, _) = call(&h, "GET", &format!("{members}/{user_id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

db_test!(async fn the_last_owner_stays(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let owner = signin::user_id(&h, USERNAME).await;
    h.add_user("second", "second@example.com", PASSWORD).await;
    let second = signin::user_id(&h, "second").await;
    let id = create(&h, &token, json!({ "name": "Acme" })).await;
    let members = format!("{ORGS}/{id}/members");
    for user in [&owner, &second] {
        let (status, body) = call(&h, "POST", &members, Some(&token), Some(json!(user))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let roles = |r: &[&str]| Some(json!(r));
    let (status, _) = call(&h, "PUT", &format!("{members}/{owner}/roles"), Some(&token), roles(&["owner"])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The only owner can neither leave nor stop being one.
    let (status, body) = call(&h, "DELETE", &format!("{members}/{owner}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["errorMessage"].as_str().unwrap_or_default().contains("owner"), "{body}");
    let (status, _) = call(&h, "PUT", &format!("{members}/{owner}/roles"), Some(&token), roles(&["member"])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // With a second owner, either can go.
    let (status, _) = call(&h, "PUT", &format!("{members}/{second}/roles"), Some(&token), roles(&["owner"])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&h, "DELETE", &format!("{members}/{owner}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, left) = call(&h, "GET", &members, Some(&token), None).await;
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left[0]["organizationRoles"], json!(["owner"]), "{left}");
});

db_test!(async fn an_organizations_policy_holds_at_sign_in_and_refresh(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let user_id = signin::user_id(&h, USERNAME).await;
    let only_here = json!({ "name": "Acme", "alias": "acme", "policy": { "ipAllowlist": ["127.0.0.1"] } });
    let id = create(&h, &token, only_here).await;
    let (status, _) = call(&h, "POST", &format!("{ORGS}/{id}/members"), Some(&token), Some(json!(user_id))).await;
    assert_eq!(status, StatusCode::CREATED);
    let acme = || oauth::ClientAuth::Basic("acme-app", WEB_SECRET);

    // From 127.0.0.1, the allowed address, a member signs in and refreshes.
    let tokens = signin::password_sign_in(&h, "acme-app", USERNAME, PASSWORD).await.exchange(&h).await;
    let refresh = tokens.response.str("refresh_token").expect("a refresh token").to_string();
    let refreshed = oauth::refresh(&h, acme(), &refresh).await;
    refreshed.assert_ok();
    let refresh = refreshed.str("refresh_token").expect("a refresh token").to_string();

    // From 127.0.0.2 the refresh and a password sign-in are refused, and logged with the address.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("an HTTP client");
    let token_url = h.endpoint("token");
    let params = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let answer = oauth::post_form_with(&elsewhere, &token_url, acme(), &params).await;
    answer.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(answer.text.contains("networks"), "{}", answer.text);
    let password = [("grant_type", "password"), ("username", USERNAME), ("password", PASSWORD)];
    let answer = oauth::post_form_with(&elsewhere, &token_url, acme(), &password).await;
    answer.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let denied = events_of(&h, "organization_access_denied", &user_id).await;
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert_eq!(denied[0].ip.as_deref(), Some("127.0.0.2"));
    assert_eq!(denied[0].details["reason"], "ip_not_allowed", "{:?}", denied[0].details);
    // The refused refresh spent nothing: from inside, the token still works.
    let latest = oauth::refresh(&h, acme(), &refresh).await;
    latest.assert_ok();
    let latest = latest.str("refresh_token").expect("a refresh token").to_string();
    // Userinfo, with the app's access token or the member's personal access token, answers
    // inside only.
    let access = tokens.response.str("access_token").expect("an access token").to_string();
    let pat = personal_access_token(&h, &user_id).await;
    for bearer in [&access, &pat] {
        oauth::userinfo(&h, bearer).await.assert_ok();
        let outside = elsewhere
            .get(h.endpoint("userinfo"))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("GET userinfo");
        assert_eq!(outside.status(), StatusCode::UNAUTHORIZED);
    }

    // A replay of the spent token, even from outside, is a replay: the family is revoked, and
    // the policy does not answer for it.
    let params = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    oauth::post_form_with(&elsewhere, &token_url, acme(), &params)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let denied = events_of(&h, "organization_access_denied", &user_id).await.len();
    assert_eq!(denied, 4, "the two refusals of the address, and the two at userinfo");
    oauth::refresh(&h, acme(), &latest).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // A sign-in older than the organization's longest session is asked again (not refused):
    // the browser's session is older than an hour, the app's sign-in shows the login form.
    let short = json!({ "name": "Acme", "policy": { "sessionMax": 3600 } });
    let (status, _) = call(&h, "PUT", &format!("{ORGS}/{id}"), Some(&token), Some(short)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let browser = h.new_browser();
    let mut first = SignIn::start(&h, &browser, "acme-app").await;
    first.log_in(USERNAME, PASSWORD).await;
    first.exchange(&h).await;
    h.sql("UPDATE sso_sessions SET auth_time = auth_time - 7200").await;
    let again = SignIn::start(&h, &browser, "acme-app").await;
    again.expect(signin::Shown::Login);
    let other = SignIn::start(&h, &browser, WEB_CLIENT).await;
    other.expect(signin::Shown::Away);

    // Requiring a second factor leads a member without one to set one up. Declining ends at a
    // page saying why, then `access_denied` at the app; the account console still signs them in.
    let strict = json!({ "name": "Acme", "policy": { "requireSecondFactor": true } });
    let (status, _) = call(&h, "PUT", &format!("{ORGS}/{id}"), Some(&token), Some(strict)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut declining = SignIn::start(&h, &h.new_browser(), "acme-app").await;
    declining.log_in(USERNAME, PASSWORD).await;
    declining.expect(signin::Shown::ConfigureOtp);
    let text = signin::visible_text(&declining.page.body);
    assert!(text.contains("Acme requires a second step") && text.contains("Not now"), "{text}");
    // Required by the organization: not cancellable like an app's own request.
    assert!(!declining.page.body.contains("cancel-aia"), "{text}");
    declining.press(&[], ("decline-enrolment", "true")).await;
    let text = signin::visible_text(&declining.page.body);
    assert!(text.contains("This app needs two-step sign-in") && text.contains("security page"), "{text}");
    declining.press(&[], ("continue", "true")).await;
    let refused = declining.location();
    assert_eq!(query_of(&refused, "error").as_deref(), Some("access_denied"));
    let description = query_of(&refused, "error_description").unwrap_or_default();
    assert!(description.contains("two-factor"), "{description}");
    assert!(h.state.store.credentials(&user_id, "otp").await.expect("credentials").is_empty());
    let reasons: Vec<Value> = events_of(&h, "organization_access_denied", &user_id)
        .await
        .into_iter()
        .map(|e| e.details["reason"].clone())
        .collect();
    assert!(reasons.contains(&json!("second_factor_declined")), "{reasons:?}");
    let console = h.new_browser();
    let overview = open_signed_in(&h, &console, &format!("{}/realms/{}/account", h.url, h.realm), USERNAME).await;
    assert!(overview.body.contains("id=\"check-sessions\""), "{}", signin::describe(&overview));

    // Setting up the app instead signs the member in with two factors and the organization claim.
    let mut enrolling = SignIn::start(&h, &h.new_browser(), "acme-app").await;
    enrolling.log_in(USERNAME, PASSWORD).await;
    enrolling.expect(signin::Shown::ConfigureOtp);
    let secret = signin::secret_from_page(&enrolling.page.body);
    let code = signin::totp_now(&h, &secret);
    enrolling.fill(&[("otp", &code)]).await;
    enrolling.expect(signin::Shown::RecoveryCodes);
    enrolling.press(&[], ("acknowledge", "yes")).await;
    let tokens = enrolling.exchange(&h).await;
    tokens.assert_factors(&["pwd", "otp", "mfa"], "2");
    assert!(tokens.access["organization"]["acme"]["id"].is_string(), "{}", tokens.access);
});

/// A personal access token (scope `openid`) of the user, as the console would make it.
async fn personal_access_token(h: &Harness, user_id: &str) -> String {
    let secret = format!("{}test-{}", gatehouse::store::PAT_PREFIX, unique_name("pat"));
    let new = gatehouse::store::NewPat {
        realm: h.realm.clone(),
        user_id: user_id.into(),
        name: "test".into(),
        token_hash: gatehouse::crypto::sha256_hex(secret.as_bytes()),
        scope: "openid".into(),
        expires_at: signin::unix_now() as i64 + 3600,
    };
    h.state.store.create_pat(new).await.expect("a token");
    secret
}

fn query_of(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Opens `url` in `b` (a console page), signing in as `username` when the server asks.
pub(crate) async fn open_signed_in(h: &Harness, b: &reqwest::Client, url: &str, username: &str) -> browser::Page {
    let server = reqwest::Url::parse(&h.url).expect("server URL");
    let page = account::open(h, b, url).await;
    if !page.body.contains("name=\"username\"") {
        return page;
    }
    let mut form = signin::form_of(&page);
    form.set("username", username);
    form.set("password", PASSWORD);
    browser::follow_on_server(b, form.submit(b).await, &server).await
}

db_test!(async fn invite_links_join_people_until_used_up_revoked_or_expired(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = create(&h, &token, json!({ "name": "Acme", "alias": "acme" })).await;
    let invites = format!("{ORGS}/{id}/invites");
    let (status, link) = call(&h, "POST", &invites, Some(&token), Some(json!({ "role": "billing", "maxUses": 1 }))).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let url = link["url"].as_str().expect("the link").to_string();
    assert!(url.contains("/realms/flows/account/organizations/join?invite="), "{url}");
    assert_bad(call(&h, "POST", &invites, Some(&token), Some(json!({ "role": "owner" }))).await, "cannot make owners");
    assert_bad(call(&h, "POST", &invites, Some(&token), Some(json!({ "expiresIn": 10 }))).await, "expiresIn");

    // Opened before signing in, the link waits for the sign-in, then offers the organization.
    let alice = account::browser_as("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36");
    let offer = open_signed_in(&h, &alice, &url, USERNAME).await;
    assert_eq!(offer.status, StatusCode::OK, "{}", offer.describe());
    assert!(offer.body.contains("id=\"invite-offer\""), "{}", offer.describe());
    assert!(offer.body.contains("Acme") && offer.body.contains("billing"), "{}", offer.describe());
    let joined = account::post(&h, &alice, &offer, "/organizations/join", &[]).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.describe());
    assert!(joined.url.path().ends_with("/account/organizations"), "{}", joined.describe());
    assert!(joined.body.contains("id=\"organization-1\"") && joined.body.contains("billing"), "{}", joined.describe());
    let alice_id = signin::user_id(&h, USERNAME).await;
    assert_eq!(events_of(&h, "organization_joined", &alice_id).await.len(), 1);

    // Used up: the next person gets a clear page and joins nothing.
    h.add_user("second", "second@example.com", PASSWORD).await;
    let second = account::browser_as("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
    let gone = open_signed_in(&h, &second, &url, "second").await;
    assert_eq!(gone.status, StatusCode::GONE, "{}", gone.describe());
    assert!(gone.body.contains("id=\"invite-refused\""), "{}", gone.describe());
    let (_, listed) = call(&h, "GET", &invites, Some(&token), None).await;
    assert_eq!(listed[0]["status"], "used-up", "{listed}");
    assert_eq!(listed[0]["joined"], json!([USERNAME]), "{listed}");
    assert!(listed[0].get("url").is_none(), "{listed}");

    // Revoked and expired links are refused alike.
    let (_, revoked) = call(&h, "POST", &invites, Some(&token), Some(json!({}))).await;
    let revoked_url = revoked["url"].as_str().expect("a link").to_string();
    let revoke = format!("{invites}/{}", revoked["id"].as_str().expect("an id"));
    let (status, _) = call(&h, "DELETE", &revoke, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(open_signed_in(&h, &second, &revoked_url, "second").await.status, StatusCode::GONE);
    let (_, expired) = call(&h, "POST", &invites, Some(&token), Some(json!({ "expiresIn": 3600 }))).await;
    let expired_url = expired["url"].as_str().expect("a link").to_string();
    let expired_id = expired["id"].as_str().expect("an id");
    h.sql(&format!("UPDATE organization_invites SET expires_at = 1 WHERE id = '{expired_id}'")).await;
    assert_eq!(open_signed_in(&h, &second, &expired_url, "second").await.status, StatusCode::GONE);
    let (status, _) = call(&h, "GET", &format!("{ORGS}/{id}/members/{}", signin::user_id(&h, "second").await), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A domain link takes verified addresses at its domain only.
    let (_, domain) = call(&h, "POST", &invites, Some(&token), Some(json!({ "emailDomain": "acme.example" }))).await;
    let domain_url = domain["url"].as_str().expect("a link").to_string();
    let wrong = open_signed_in(&h, &second, &domain_url, "second").await;
    assert_eq!(wrong.status, StatusCode::GONE, "{}", wrong.describe());
    assert!(wrong.body.contains("another domain"), "{}", wrong.describe());

    // The console lists the membership; a member leaves, the last owner cannot.
    let page = open_signed_in(&h, &alice, &account::account_url(&h, "organizations"), USERNAME).await;
    let (status, _) = call(&h, "PUT", &format!("{ORGS}/{id}/members/{alice_id}/roles"), Some(&token), Some(json!(["owner"]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refused = account::post(&h, &alice, &page, "/organizations/leave", &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.describe());
    assert!(refused.body.contains("last owner"), "{}", refused.describe());
    let second_id = signin::user_id(&h, "second").await;
    let (status, _) = call(&h, "POST", &format!("{ORGS}/{id}/members"), Some(&token), Some(json!(second_id))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&h, "PUT", &format!("{ORGS}/{id}/members/{second_id}/roles"), Some(&token), Some(json!(["owner"]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let left = account::post(&h, &alice, &page, "/organizations/leave", &[]).await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.describe());
    assert!(left.body.contains("id=\"no-organizations\""), "{}", left.describe());

    // Joining an organization with its own page leads there; the page's CSP lets the form go.
    let welcome = json!({ "name": "Globex", "redirectUrl": "https://globex.example/welcome" });
    let globex = create(&h, &token, welcome).await;
    let (_, link) = call(&h, "POST", &format!("{ORGS}/{globex}/invites"), Some(&token), Some(json!({}))).await;
    let offer = open_signed_in(&h, &alice, link["url"].as_str().expect("a link"), USERNAME).await;
    let csp = offer.header("content-security-policy").unwrap_or_default().to_string();
    assert!(csp.contains("form-action 'self' https://globex.example"), "{csp}");
    let joined = account::post(&h, &alice, &offer, "/organizations/join", &[]).await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.describe());
    assert_eq!(joined.header("location"), Some("https://globex.example/welcome"));
});

db_test!(async fn the_cli_administers_organizations_through_the_same_functions(db) {
    let h = start(db).await;
    let (ok, help) = gatehouse_cli(&h, &["org", "--help"], None);
    assert!(ok, "{help}");
    for word in ["list", "create", "delete", "members", "add-member", "set-roles", "remove-member", "invite", "invites", "revoke-invite"] {
        assert!(help.contains(word), "`org --help` lacks {word}:\n{help}");
    }
    let create = ["org", "create", "flows", "Acme Inc.", "--domain", "acme.example", "--ip-allow", "127.0.0.1"];
    let (ok, out) = gatehouse_cli(&h, &create, None);
    assert!(ok && out.contains("created organization acme-inc"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["org", "create", "flows", "Bad", "--ip-allow", "nowhere"], None);
    assert!(!ok && out.contains("192.0.2.0/24"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["org", "add-member", "flows", "acme-inc", USERNAME, "--role", "billing"], None);
    assert!(ok, "{out}");
    let (ok, out) = gatehouse_cli(&h, &["org", "members", "flows", "acme-inc"], None);
    assert!(ok && out.contains(USERNAME) && out.contains("billing"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["org", "list", "flows"], None);
    assert!(ok && out.contains("acme-inc") && out.contains("1 members") && out.contains("127.0.0.1/32"), "{out}");
    let (ok, url) = gatehouse_cli(&h, &["org", "invite", "flows", "acme-inc", "--days", "2", "--max-uses", "3"], None);
    assert!(ok && url.contains("/account/organizations/join?invite="), "{url}");
    let (ok, out) = gatehouse_cli(&h, &["org", "invites", "flows", "acme-inc"], None);
    assert!(ok && out.contains("active") && out.contains("0/3 uses"), "{out}");
    let invite_id = out.split('\t').next().expect("an id").trim().to_string();
    let (ok, out) = gatehouse_cli(&h, &["org", "revoke-invite", "flows", "acme-inc", &invite_id], None);
    assert!(ok, "{out}");
    // Ids may start with '-': they are values, not options.
    let (ok, out) = gatehouse_cli(&h, &["org", "revoke-invite", "flows", "acme-inc", "-3x"], None);
    assert!(!ok && out.contains("-3x") && !out.contains("unexpected argument"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["org", "remove-member", "flows", "acme-inc", USERNAME], None);
    assert!(ok, "{out}");
    let user_id = signin::user_id(&h, USERNAME).await;
    let removed = events_of(&h, "organization_member_removed", &user_id).await;
    assert_eq!(removed[0].details["by"], "cli");
    let (ok, out) = gatehouse_cli(&h, &["org", "delete", "flows", "acme-inc"], None);
    assert!(ok, "{out}");
    let (ok, out) = gatehouse_cli(&h, &["org", "members", "flows", "acme-inc"], None);
    assert!(!ok && out.contains("does not exist"), "{out}");
});

db_test!(async fn a_realms_address_allowlist_holds_for_every_app(db) {
    let realm = signin::standard_flow_realm() + "ip_allowlist: [127.0.0.1]\n";
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let user_id = signin::user_id(&h, USERNAME).await;
    let web = || oauth::ClientAuth::Basic(WEB_CLIENT, WEB_SECRET);

    // From the allowed address: sign-in, refresh, userinfo with either kind of token.
    let mut inside = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    inside.log_in(USERNAME, PASSWORD).await;
    let tokens = inside.exchange(&h).await;
    let refresh = tokens.response.str("refresh_token").expect("a refresh token").to_string();
    let refreshed = oauth::refresh(&h, web(), &refresh).await;
    refreshed.assert_ok();
    let refresh = refreshed.str("refresh_token").expect("a refresh token").to_string();
    let access = tokens.response.str("access_token").expect("an access token").to_string();
    let pat = personal_access_token(&h, &user_id).await;
    oauth::userinfo(&h, &access).await.assert_ok();
    oauth::userinfo(&h, &pat).await.assert_ok();

    // From elsewhere: no login form (the app hears access_denied), no refresh, no userinfo.
    let outside = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let refused = SignIn::start(&h, &outside, WEB_CLIENT).await;
    assert_eq!(query_of(&refused.location(), "error").as_deref(), Some("access_denied"));
    let description = query_of(&refused.location(), "error_description").unwrap_or_default();
    assert!(description.contains("networks"), "{description}");
    let params = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    oauth::post_form_with(&outside, &h.endpoint("token"), web(), &params)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    for bearer in [&access, &pat] {
        let answer = outside
            .get(h.endpoint("userinfo"))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("GET userinfo");
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let denied = signin::events(&h, Some("realm_access_denied")).await;
    assert_eq!(denied.len(), 4, "the sign-in, the refresh and two userinfo calls: {denied:?}");
    assert!(denied.iter().all(|e| e.ip.as_deref() == Some("127.0.0.2")), "{denied:?}");
    assert_eq!(denied[0].user_id, None, "no one was named at the sign-in");
    assert_eq!(denied[1].user_id.as_deref(), Some(user_id.as_str()));
    // The refused refresh spent nothing: from inside, the token still works.
    oauth::refresh(&h, web(), &refresh).await.assert_ok();
});

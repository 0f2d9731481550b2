//! An organization managed by its own people: owners and admins in the account console
//! (members, roles, invite links), and Keycloak's invitations by mail through a real SMTP server.

use crate::account;
use crate::admin_users::{call, events_of, service_token, start};
use crate::organizations::{ORGS, create, open_signed_in};
use crate::support::signin;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

/// The member form of `user_id` on a management page, with its roles replaced by `roles`.
fn member_form(page: &browser::Page, user_id: &str, roles: &[&str]) -> browser::Form {
    let mut form = account::forms(page)
        .into_iter()
        .find(|f| f.action.path().ends_with("/members") && f.get("user") == Some(user_id))
        .unwrap_or_else(|| panic!("no form for member {user_id}: {}", page.describe()));
    form.fields.retain(|(name, _)| name != "role");
    form.fields
        .extend(roles.iter().map(|r| ("role".to_string(), r.to_string())));
    form
}

db_test!(async fn owners_and_admins_manage_their_organization_from_the_console(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = create(&h, &token, json!({ "name": "Acme", "alias": "acme" })).await;
    let owner_id = signin::user_id(&h, USERNAME).await;
    let bob_id = h.add_user("bob", "bob@example.com", PASSWORD).await;
    let carol_id = h.add_user("carol", "carol@example.com", PASSWORD).await;
    for user in [&owner_id, &bob_id, &carol_id] {
        let (status, _) = call(&h, "POST", &format!("{ORGS}/{id}/members"), Some(&token), Some(json!(user))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let roles = format!("{ORGS}/{id}/members/{owner_id}/roles");
    let (status, _) = call(&h, "PUT", &roles, Some(&token), Some(json!(["owner"]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let server = reqwest::Url::parse(&h.url).expect("server URL");
    let manage_url = format!("{}/realms/{}/account/organizations/{id}", h.url, h.realm);

    // A plain member is offered no management, and the page is not found for them.
    let carol = account::browser_as("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
    let list = open_signed_in(&h, &carol, &account::account_url(&h, "organizations"), "carol").await;
    assert!(!list.body.contains("id=\"manage-acme\""), "{}", list.describe());
    let not_found = account::open(&h, &carol, &manage_url).await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND, "{}", not_found.describe());

    // The owner finds the page from the list, and makes an invite link: shown once, not cached.
    let alice = account::browser_as("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36");
    let list = open_signed_in(&h, &alice, &account::account_url(&h, "organizations"), USERNAME).await;
    assert!(list.body.contains("id=\"manage-acme\""), "{}", list.describe());
    let page = account::open(&h, &alice, &manage_url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    assert!(page.body.contains("id=\"member-carol\""), "{}", page.describe());
    let fields = [("role", "billing"), ("days", "2"), ("max_uses", "3"), ("email_domain", "example.com")];
    let created = account::post(&h, &alice, &page, "/invites", &fields).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.describe());
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let (_, links) = call(&h, "GET", &format!("{ORGS}/{id}/invites"), Some(&token), None).await;
    assert_eq!(links[0]["role"], "billing", "{links}");
    assert_eq!(links[0]["maxUses"], 3, "{links}");
    assert!(created.body.contains("id=\"new-link\"") && created.body.contains("join?invite="), "{}", created.describe());
    let refused = account::post(&h, &alice, &page, "/invites", &[("days", "400")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.describe());

    // The owner makes bob an admin; the change is logged as theirs.
    let saved = member_form(&page, &bob_id, &["admin", "member"]).submit(&alice).await;
    let saved = browser::follow_on_server(&alice, saved, &server).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.describe());
    let (_, bob) = call(&h, "GET", &format!("{ORGS}/{id}/members/{bob_id}"), Some(&token), None).await;
    assert_eq!(bob["organizationRoles"], json!(["admin", "member"]), "{bob}");
    let changed = events_of(&h, "organization_member_roles_changed", &bob_id).await;
    assert_eq!(changed.last().expect("an event").details["by"], format!("user:{USERNAME}@flows"));

    // Bob, an admin, manages members but no owner, and makes none; he revokes the link.
    let bob = account::browser_as("Mozilla/5.0 (Macintosh) Safari/605.1.15");
    let page = open_signed_in(&h, &bob, &manage_url, "bob").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    assert!(!page.body.contains("id=\"role-carol-owner\""), "an admin is offered owner: {}", page.describe());
    let promoted = member_form(&page, &carol_id, &["owner"]).submit(&bob).await;
    assert_eq!(promoted.status, StatusCode::FORBIDDEN, "{}", promoted.describe());
    let mut remove_owner = member_form(&page, &carol_id, &[]);
    remove_owner.set("user", &owner_id);
    remove_owner.press("do", "remove");
    assert_eq!(remove_owner.submit(&bob).await.status, StatusCode::FORBIDDEN);
    let revoked = account::post(&h, &bob, &page, "/invites/revoke", &[]).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.describe());
    let (_, links) = call(&h, "GET", &format!("{ORGS}/{id}/invites"), Some(&token), None).await;
    assert_eq!(links[0]["status"], "revoked", "{links}");

    // The owner removes bob; the last owner cannot step down.
    let page = account::open(&h, &alice, &manage_url).await;
    let mut remove = member_form(&page, &bob_id, &[]);
    remove.press("do", "remove");
    let removed = browser::follow_on_server(&alice, remove.submit(&alice).await, &server).await;
    assert!(removed.body.contains("removed from the organization"), "{}", removed.describe());
    let (status, _) = call(&h, "GET", &format!("{ORGS}/{id}/members/{bob_id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let page = account::open(&h, &alice, &manage_url).await;
    let demoted = member_form(&page, &owner_id, &["member"]).submit(&alice).await;
    assert_eq!(demoted.status, StatusCode::CONFLICT, "{}", demoted.describe());
    assert!(demoted.body.contains("without an owner"), "{}", demoted.describe());
});

/// Posts a form (as Keycloak's admin client posts `invite-user`) to the admin API.
async fn post_admin_form(h: &Harness, token: &str, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/admin/realms/{path}", h.url))
        .bearer_auth(token)
        .form(fields)
        .send()
        .await
        .expect("admin request");
    let status = response.status();
    (status, response.text().await.expect("a body"))
}

db_test!(async fn invitations_by_mail_reach_new_and_existing_people(db) {
    let sink = crate::support::smtp::SmtpSink::start().await;
    let h = crate::admin_users::start_with_extra(db, &crate::mail::mail_through(sink.port)).await;
    let token = service_token(&h, "pipeline").await;
    let id = create(&h, &token, json!({ "name": "Acme", "alias": "acme" })).await;
    let invite_user = format!("{ORGS}/{id}/members/invite-user");
    let invite_existing = format!("{ORGS}/{id}/members/invite-existing-user");

    // An address: a single-use link, mailed with the organization's name.
    let fields = [("email", "New.Person@Example.com"), ("firstName", "New"), ("lastName", "Person")];
    let (status, body) = post_admin_form(&h, &token, &invite_user, &fields).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mail = sink.nth(1).await;
    assert_eq!(mail.to, ["new.person@example.com"]);
    assert!(mail.header("Subject").unwrap_or_default().contains("Acme"), "{:?}", mail.header("Subject"));
    assert!(mail.part("text/plain").contains("Hello New Person,"), "{}", mail.part("text/plain"));
    let (_, links) = call(&h, "GET", &format!("{ORGS}/{id}/invites"), Some(&token), None).await;
    assert_eq!((links[0]["maxUses"].clone(), links[0]["role"].clone()), (json!(1), json!("member")), "{links}");

    // A user of the realm: the link in their mail joins them, once.
    let dave_id = h.add_user("dave", "dave@example.com", PASSWORD).await;
    let (status, body) = post_admin_form(&h, &token, &invite_existing, &[("id", &dave_id)]).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mail = sink.nth(2).await;
    assert_eq!(mail.to, ["dave@example.com"]);
    let link = mail.link(&format!("{}/realms/flows/account/organizations/join?invite=", h.url));
    let dave = account::browser_as("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
    let offer = open_signed_in(&h, &dave, &link, "dave").await;
    let joined = account::post(&h, &dave, &offer, "/organizations/join", &[]).await;
    assert!(joined.body.contains("id=\"organization-1\""), "{}", joined.describe());
    let sent = events_of(&h, "organization_invite_sent", &dave_id).await;
    assert_eq!(sent.len(), 1, "{sent:?}");

    // A member already, a missing address, a user without one: clear refusals, nothing sent.
    let (status, body) = post_admin_form(&h, &token, &invite_existing, &[("id", &dave_id)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("member already"), "{body}");
    let (status, body) = post_admin_form(&h, &token, &invite_user, &[("firstName", "X")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = post_admin_form(&h, &token, &invite_user, &[("email", "not-an-address")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, links) = call(&h, "GET", &format!("{ORGS}/{id}/invites"), Some(&token), None).await;
    let states: Vec<&str> = links.as_array().expect("links").iter().filter_map(|l| l["status"].as_str()).collect();
    // The address that was none got a link, revoked at once when its mail could not be sent.
    assert_eq!(states.len(), 3, "{links}");
    for state in ["active", "used-up", "revoked"] {
        assert!(states.contains(&state), "no {state} link: {links}");
    }
    assert_eq!(sink.received().len(), 2);
});

db_test!(async fn the_openapi_document_describes_the_organization_endpoints(db) {
    let h = start(db).await;
    let doc: serde_json::Value = reqwest::get(format!("{}/admin/openapi.json", h.url))
        .await
        .expect("the document")
        .json()
        .await
        .expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/admin/realms/{realm}/organizations", "post"),
        ("/admin/realms/{realm}/organizations/{id}", "put"),
        ("/admin/realms/{realm}/organizations/{id}/members", "post"),
        ("/admin/realms/{realm}/organizations/{id}/members/invite-user", "post"),
        ("/admin/realms/{realm}/organizations/{id}/members/invite-existing-user", "post"),
        ("/admin/realms/{realm}/organizations/{id}/invites", "post"),
    ] {
        let operation = &paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"))[method];
        for status in ["401", "403", "404"] {
            assert!(operation["responses"][status].is_object(), "{path} {method} lacks {status}: {operation}");
        }
    }
    let invite = &paths["/admin/realms/{realm}/organizations/{id}/members/invite-user"]["post"];
    assert!(
        invite["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(),
        "{invite}"
    );
});

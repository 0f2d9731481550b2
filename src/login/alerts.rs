//! New-login alerts: after a sign-in from a browser, system or place the user has not signed in
//! from in 90 days, a mail tells them when, from what and from where, with a "this wasn't me"
//! link. The link's page ends that session (its apps' tokens too) and requires a new password at
//! the next sign-in. Realm setting `login_notifications`.

use serde_json::json;

use crate::crypto::{random_token, sha256_hex};
use crate::mail::Letter;
use crate::state::{AppState, RealmRuntime};
use crate::store::entity::event;
use crate::store::{EventQuery, NewActionToken, now};
use crate::web::agent;

use super::browser::Browser;

/// The kind of link an alert carries.
pub const REPORT_LINK: &str = "report-sign-in";

/// How long the "this wasn't me" link works: a person may read the alert days later.
const REPORT_TTL_SECS: i64 = 7 * 86_400;

/// How far back a browser, system and place count as known.
const SEEN_WINDOW_SECS: i64 = 90 * 86_400;

/// How many of the user's recent sign-ins are compared.
const SEEN_MAX: u64 = 500;

/// Where a sign-in came from, as compared: browser (without its version, which updates
/// change), system, and the city (with a GeoIP database) or else the address's network.
fn place(app: &AppState, ip: Option<&str>, user_agent: Option<&str>) -> String {
    let a = agent::describe(user_agent);
    let browser = a
        .browser
        .rsplit_once(' ')
        .filter(|(_, v)| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .map_or(a.browser.as_str(), |(name, _)| name)
        .to_string();
    let location = ip
        .and_then(|ip| app.geoip.locate(ip, "en"))
        .or_else(|| ip.map(network))
        .unwrap_or_default();
    format!("{browser}|{}|{}|{location}", a.os, a.device)
}

/// The /24 of an IPv4 address, the /48 of an IPv6 one.
fn network(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => ip.to_string(),
    }
}

/// After a successful sign-in that made session `session_id` (and before it is recorded):
/// mails the alert if the realm wants them and the place is new. The user's first sign-in
/// has nothing to compare with and sends none. Failures are logged, never the sign-in's.
pub async fn after_sign_in(app: &AppState, rt: &RealmRuntime, user_id: &str, session_id: &str, who: &Browser) {
    if !rt.realm.login_notifications {
        return;
    }
    if let Err(e) = alert_if_new(app, rt, user_id, session_id, who).await {
        tracing::warn!(user = %user_id, error = %e, "could not send a new-login alert");
    }
}

/// Whether the user signed in before (in the window), but never from here.
async fn is_new_place(app: &AppState, rt: &RealmRuntime, user_id: &str, who: &Browser) -> Result<bool, String> {
    let earlier: Vec<event::Model> = app
        .store
        .query_events(&EventQuery {
            realm: rt.realm.name.clone(),
            user_id: Some(user_id.to_string()),
            kinds: vec!["sign_in".into()],
            since: Some(now() - SEEN_WINDOW_SECS),
            until: None,
            before: None,
            limit: SEEN_MAX,
        })
        .await
        .map_err(|e| e.to_string())?;
    let here = place(app, who.ip.as_deref(), who.user_agent.as_deref());
    Ok(!earlier.is_empty()
        && !earlier
            .iter()
            .any(|e| place(app, e.ip.as_deref(), e.user_agent.as_deref()) == here))
}

async fn alert_if_new(
    app: &AppState,
    rt: &RealmRuntime,
    user_id: &str,
    session_id: &str,
    who: &Browser,
) -> Result<(), String> {
    let Some(user) = app.store.find_user(user_id).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let Some(email) = user.email.clone() else { return Ok(()) };
    if !is_new_place(app, rt, user_id, who).await? {
        return Ok(());
    }
    let lang = app
        .templates
        .negotiate(&rt.realm.theme, None, who.accept_language.as_deref());
    let a = agent::describe(who.user_agent.as_deref());
    let ip = who.ip.clone().unwrap_or_default();
    let location = app.geoip.locate(&ip, &lang);
    let key = random_token();
    let link = app.mailer.url(&format!(
        "{}?key={key}",
        crate::flow::authenticators::reset_credentials::link_path(&rt.realm.name)
    ));
    let letter = Letter {
        realm: &rt.realm,
        to: &email,
        to_name: None,
        template: "new_login",
        lang: &lang,
        context: json!({
            "username": user.username,
            "time": crate::events::time::format_rfc3339(now()).replace('T', " ").replace('Z', " UTC"),
            "browser": a.browser,
            "os": a.os,
            "location": location,
            "ip": ip,
            "link": link,
        }),
        requested_by_ip: None,
        limited: false,
        link: Some(NewActionToken {
            token_hash: sha256_hex(key.as_bytes()),
            realm: rt.realm.name.clone(),
            kind: REPORT_LINK.into(),
            user_id: user_id.to_string(),
            auth_session_id: None,
            data: Some(session_id.to_string()),
            ttl_secs: REPORT_TTL_SECS,
        }),
    };
    app.mail().send(letter).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_group_nearby_addresses() {
        assert_eq!(network("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(network("2001:db8:1:2::5"), "2001:db8:1::/48");
        assert_eq!(network("not an address"), "not an address");
    }
}

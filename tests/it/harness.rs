//! Checks of the test harness itself: the form reader and the standard realm's secrets.

use crate::support;
#[test]
fn secrets_match_their_hashes() {
    for (secret, client) in [(support::WEB_SECRET, "web"), (support::OTHER_SECRET, "other")] {
        let expected = format!("sha256:{}", gatehouse::crypto::sha256_hex(secret.as_bytes()));
        let block = support::REALM
            .split("- client_id: ")
            .find(|b| b.starts_with(client))
            .unwrap();
        assert!(
            block.contains(&expected),
            "the hash for {client} in REALM is not sha256 of its secret"
        );
        assert!(secret.len() >= 32);
    }
}

#[test]
fn form_parser_reads_hidden_fields_and_entities() {
    let html = r#"<html><form method="get" action="/x"><input name="q"></form>
        <FORM class='login' method=POST action="&#x2f;realms&#x2f;t&#x2f;login?a=1&amp;b=2">
        <input type="hidden" name="csrf" value="t&#43;k">
        <input name=username value="" autofocus>
        <input type="password" name="password">
        <input type="checkbox" name="remember">
        <input type="checkbox" name="terms" value="yes" checked>
        <button type="submit" name="login" value="1">Sign in</button>
        <button type="submit" name="cancel" value="1">Cancel</button>
        </form>"#;
    let base = url::Url::parse("http://127.0.0.1:1/realms/t/protocol/openid-connect/auth?x=1").unwrap();
    let form = support::browser::parse_post_form(html, &base).unwrap();
    assert_eq!(form.action.as_str(), "http://127.0.0.1:1/realms/t/login?a=1&b=2");
    assert_eq!(
        form.fields,
        vec![
            ("csrf".to_string(), "t+k".to_string()),
            ("username".into(), "".into()),
            ("password".into(), "".into()),
            ("terms".into(), "yes".into()),
            ("login".into(), "1".into()),
        ]
    );
}

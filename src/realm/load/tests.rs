use super::*;

fn env(name: &str) -> Option<String> {
    (name == "APP_SECRET").then(|| "s".repeat(40))
}

fn errors(text: &str) -> Vec<RealmError> {
    load_str("r.yaml", text, &env).unwrap_err()
}

#[test]
fn the_account_audience_is_no_clients_name_and_account_settings_are_bounded() {
    let found = errors("realm: r\nclients:\n  - client_id: account\n    redirect_uris: [https://a.example/cb]\n");
    assert!(
        found
            .iter()
            .any(|e| e.message.contains("'account' is reserved") && e.line == 3),
        "{found:?}"
    );
    let found = errors("realm: r\naccount: { max_auth_age: 10s }\npat: { scopes: [admin] }\n");
    assert!(found.iter().any(|e| e.message.contains("max_auth_age")), "{found:?}");
    assert!(
        found.iter().any(|e| e.message.contains("pat.scopes names 'admin'")),
        "{found:?}"
    );
}

const GOOD: &str = "realm: demo
clients:
  - client_id: app
    secret: ${env:APP_SECRET}
    redirect_uris: [http://127.0.0.1:9000/callback]
  - client_id: spa
    redirect_uris: [http://127.0.0.1:9001/cb]
";

#[test]
fn loads_a_good_realm_with_hashed_secret() {
    let realm = load_str("r.yaml", GOOD, &env).unwrap();
    let app = &realm.clients["app"];
    assert_eq!(
        app.secret_hash.as_deref(),
        Some(crate::crypto::sha256_hex("s".repeat(40).as_bytes()).as_str())
    );
    assert!(realm.clients["spa"].is_public());
    assert!(!realm.to_json().contains(&"s".repeat(40)));
    assert_eq!(realm.tokens.access_ttl.as_secs(), 300);
}

#[test]
fn unknown_key_is_reported_with_position() {
    let e = errors("realm: demo\ncolour: blue\n");
    assert_eq!((e[0].line, e[0].column), (2, 1), "{e:?}");
    assert!(e[0].message.contains("colour"), "{e:?}");
}

#[test]
fn wrong_type_is_reported_with_position() {
    let e = errors("realm: demo\ntokens:\n  access_ttl: soon\n");
    assert_eq!(e[0].line, 3, "{e:?}");
}

#[test]
fn literal_secret_missing_env_and_short_secret_are_refused() {
    let e = errors("realm: demo\nclients:\n  - client_id: a\n    secret: hunter2\n    redirect_uris: [http://x/cb]\n");
    assert_eq!((e[0].line, e[0].column), (4, 13), "{e:?}");
    assert!(e[0].message.contains("${env:NAME}"));
    let e =
        errors("realm: demo\nclients:\n  - client_id: a\n    secret: ${env:NOPE}\n    redirect_uris: [http://x/cb]\n");
    assert!(e[0].message.contains("NOPE is not set"), "{e:?}");
}

#[test]
fn bad_redirect_uris_and_all_errors_at_once() {
    let e = errors(
        "realm: demo\nclients:\n  - client_id: a\n    redirect_uris:\n      - /relative\n      - http://x/cb#frag\n      - http://x/*\n",
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), vec![5, 6, 7]);
}

#[test]
fn client_scopes_are_standard_ones_or_the_realm_s() {
    let realm = load_str(
            "r.yaml",
            "realm: demo\nscopes: [reports:read]\nclients:\n  - client_id: a\n    redirect_uris: [http://127.0.0.1/cb]\n    scopes: [openid, reports:read]\n  - client_id: b\n    redirect_uris: [http://127.0.0.1/cb]\n",
            &env,
        )
        .unwrap();
    assert!(realm.clients["a"].allows_scope("reports:read") && !realm.clients["a"].allows_scope("email"));
    assert!(realm.clients["b"].allows_scope("email") && !realm.clients["b"].allows_scope("reports:read"));
    assert_eq!(
        realm.clients["b"].disallowed_scope("openid admin:all email"),
        Some("admin:all")
    );
    assert_eq!(
        realm.scopes_supported(),
        ["openid", "profile", "email", "offline_access", "reports:read"]
    );
    let e = errors(
        "realm: demo\nclients:\n  - client_id: a\n    redirect_uris: [http://127.0.0.1/cb]\n    scopes: [openid, payments:write]\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].line, e[0].column), (5, 22), "{e:?}");
    assert!(e[0].message.contains("payments:write"), "{e:?}");
    let e = errors("realm: demo\nscopes: [openid, \"a b\"]\n");
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn redirect_uris_are_https_loopback_http_or_an_app_scheme() {
    let good = "realm: demo\nclients:\n  - client_id: a\n    redirect_uris:\n      - https://app.example/cb\n      - http://127.0.0.1:8400/cb\n      - http://[::1]/cb\n      - http://localhost:3000/cb\n      - com.example.app:/oauth2redirect\n    post_logout_redirect_uris: [https://app.example/]\n";
    assert!(
        load_str("r.yaml", good, &env).is_ok(),
        "{:?}",
        load_str("r.yaml", good, &env).err()
    );
    let e = errors(
        "realm: demo\nclients:\n  - client_id: a\n    redirect_uris:\n      - javascript:alert(1)\n      - data:text/html,hi\n      - http://app.example/cb\n      - http://127.0.0.1.evil.example/cb\n    post_logout_redirect_uris:\n      - http://app.example/\n",
    );
    let at: Vec<(u64, u64)> = e.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(at, vec![(5, 9), (6, 9), (7, 9), (8, 9), (10, 9)], "{e:?}");
    assert!(e[0].message.contains("javascript:"), "{e:?}");
    assert!(e[1].message.contains("data:"), "{e:?}");
    assert!(e[2].message.contains("loopback"), "{e:?}");
    assert_eq!(
        e[0].to_string().split(':').take(3).collect::<Vec<_>>(),
        ["r.yaml", "5", "9"]
    );
}

#[test]
fn public_client_cannot_use_client_credentials() {
    let e = errors("realm: demo\nclients:\n  - client_id: a\n    grant_types: [client_credentials]\n");
    assert_eq!(e[0].line, 4, "{e:?}");
}

#[test]
fn otp_policy_is_checked() {
    let e = errors("realm: demo\notp_policy: { digits: 7 }\n");
    assert_eq!(e[0].line, 2, "{e:?}");
    assert!(e[0].message.contains("6 or 8"), "{e:?}");
    let e = errors("realm: demo\notp_policy:\n  period: 0\n");
    assert!(e[0].message.contains("period"), "{e:?}");
}

#[test]
fn display_is_file_line_column() {
    let e = RealmError {
        path: "r.yaml".into(),
        line: 3,
        column: 5,
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "r.yaml:3:5: bad");
}

#[test]
fn webauthn_policy_is_checked_with_what_to_write() {
    let found = errors("realm: r\nwebauthn: { attestation: direct }\n");
    assert!(
        found
            .iter()
            .any(|e| e.message.contains("direct needs attestation_roots")),
        "{found:?}"
    );
    let found = errors("realm: r\nwebauthn: { attestation: direct, attestation_roots: [not a certificate] }\n");
    assert!(
        found
            .iter()
            .any(|e| e.message.contains("attestation_roots[0] is not a PEM")),
        "{found:?}"
    );
    let found = errors("realm: r\nwebauthn: { allowed_aaguids: [yubikey] }\n");
    assert!(
        found.iter().any(|e| e.message.contains("'yubikey' is not an AAGUID")),
        "{found:?}"
    );
    let found = errors("realm: r\nwebauthn: { resident_key: always }\n");
    assert!(
        found
            .iter()
            .any(|e| e.message.contains("expected one of discouraged, preferred, required")),
        "{found:?}"
    );
    let realm = load_str(
        "r.yaml",
        "realm: r\nwebauthn: { resident_key: required, allowed_aaguids: [cb69481e-8ff7-4039-93ec-0a2729a154a8] }\n",
        &env,
    )
    .unwrap();
    let webauthn = realm.webauthn.unwrap();
    assert_eq!(webauthn.resident_key, crate::realm::ResidentKey::Required);
    assert_eq!(webauthn.attestation, crate::realm::Attestation::None);
}

#[test]
fn ip_allowlist_entries_are_ranges_or_addresses_with_their_line() {
    let found = errors("realm: r\nip_allowlist:\n  - 10.0.0.0/8\n  - intranet\n");
    assert!(
        found
            .iter()
            .any(|e| e.message.contains("'intranet' is not an address range") && e.line == 4),
        "{found:?}"
    );
    let realm = load_str("r.yaml", "realm: r\nip_allowlist: [127.0.0.1, 192.0.2.9/24]\n", &env).unwrap();
    assert_eq!(realm.ip_allowlist, ["127.0.0.1/32", "192.0.2.0/24"]);
}

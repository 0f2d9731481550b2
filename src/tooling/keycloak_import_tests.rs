//! Unit tests of `keycloak_import`.

use super::*;

#[test]
fn flow_names_are_made_safe() {
    assert_eq!(flow_name("My browser (copy)"), "my-browser-copy");
    assert_eq!(flow_name("browser"), "browser");
}

#[test]
fn password_policies_map_what_they_can() {
    let mut missing = Vec::new();
    let policy = password_policy(
        &json!({ "passwordPolicy": "length(14) and upperCase(1) and digits(2) and notUsername(undefined) and passwordHistory(4)" }),
        &mut missing,
    );
    assert_eq!(
        policy,
        json!({ "min_length": 14, "require": ["upper", "digit"], "history": 4 })
    );
    assert_eq!(missing, vec!["password policy 'notUsername(undefined)'".to_string()]);
}

#[test]
fn a_custom_authenticator_and_settings_without_a_place_are_listed() {
    let export = json!({
        "realm": "r",
        "browserFlow": "sms browser",
        "authenticationFlows": [{
            "alias": "sms browser", "topLevel": true, "builtIn": false,
            "authenticationExecutions": [
                { "authenticator": "auth-username-password-form", "requirement": "REQUIRED", "priority": 10, "authenticatorFlow": false },
                { "authenticator": "acme-sms-authenticator", "requirement": "REQUIRED", "priority": 20, "authenticatorFlow": false }
            ]
        }],
        "eventsListeners": ["jboss-logging", "acme-audit"],
        "clientScopes": [{ "name": "profile" }, { "name": "department" }],
        "components": { "org.keycloak.keys.KeyProvider": [{}], "org.keycloak.userprofile.UserProfileProvider": [{}] },
        "loginTheme": "acme"
    });
    let converted = convert(&export).expect("it converts");
    let said = converted.not_carried.join("\n");
    for line in [
        "flow 'sms browser': step 'acme-sms-authenticator' has no Gatehouse counterpart; the realm keeps Gatehouse's browser flow",
        "event listeners: acme-audit",
        "client scopes and their mappers: department",
        "components: UserProfileProvider",
        "themes: acme",
    ] {
        assert!(said.contains(line), "'{line}' is not listed:\n{said}");
    }
    assert!(converted.flow_files.is_empty());
    assert!(!converted.realm_file.contains("flows:"), "{}", converted.realm_file);
}

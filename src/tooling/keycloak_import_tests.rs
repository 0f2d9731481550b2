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

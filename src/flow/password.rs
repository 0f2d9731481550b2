//! The password policy's checks, shared by every place a password is chosen (`update-password`,
//! forgot password, the account console, administrators' resets), and the bounds on what a
//! sign-in reads.

use serde_json::{Value, json};

use super::{EngineError, FlowContext};
use crate::crypto::PasswordHasher;
use crate::realm::PasswordPolicy;
use crate::realm::model::CharacterClass;
use crate::store::Store;

/// The longest password accepted, in bytes: far beyond any passphrase, and a bound on what
/// one attempt makes argon2 read.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The catalog key of the message for a username or password over its limit.
pub(crate) fn input_too_long(username: &str, password: &str) -> Option<&'static str> {
    if username.chars().count() > crate::realm::usernames::MAX_USERNAME_CHARS {
        Some("usernameTooLong")
    } else if password.len() > MAX_PASSWORD_BYTES {
        Some("passwordTooLong")
    } else {
        None
    }
}

/// A message for the page: a catalog key with its arguments (the theme shows it in the page's
/// language).
fn message(key: &str, args: Value) -> Value {
    json!({ "key": key, "args": args })
}

/// The policy as catalog messages, for the page.
pub fn requirements(policy: &PasswordPolicy) -> Vec<Value> {
    let mut out = vec![message("passwordMinLength", json!({ "min": policy.min_length }))];
    for class in &policy.require {
        out.push(Value::from(match class {
            CharacterClass::Upper => "passwordRequiresUpper",
            CharacterClass::Lower => "passwordRequiresLower",
            CharacterClass::Digit => "passwordRequiresDigit",
            CharacterClass::Special => "passwordRequiresSpecial",
        }));
    }
    out.push(Value::from("passwordNotUsername"));
    if policy.history > 0 {
        out.push(message("passwordNotRecent", json!({ "count": policy.history })));
    }
    out
}

/// Checks what can be checked without hashing; the first broken rule (a catalog message), if any.
pub fn violation(policy: &PasswordPolicy, username: &str, password: &str) -> Option<Value> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(Value::from("passwordTooLong"));
    }
    if password.chars().count() < policy.min_length {
        return Some(message("passwordTooShort", json!({ "min": policy.min_length })));
    }
    for class in &policy.require {
        let (ok, key) = match class {
            CharacterClass::Upper => (password.chars().any(char::is_uppercase), "passwordNeedsUpper"),
            CharacterClass::Lower => (password.chars().any(char::is_lowercase), "passwordNeedsLower"),
            CharacterClass::Digit => (password.chars().any(|c| c.is_ascii_digit()), "passwordNeedsDigit"),
            CharacterClass::Special => (password.chars().any(|c| !c.is_alphanumeric()), "passwordNeedsSpecial"),
        };
        if !ok {
            return Some(Value::from(key));
        }
    }
    if !username.is_empty() && password.eq_ignore_ascii_case(username) {
        return Some(Value::from("passwordIsUsername"));
    }
    None
}

/// Whether `password` is the current one or one of the `history - 1` before it.
pub async fn recently_used(
    store: &Store,
    hasher: &PasswordHasher,
    user_id: &str,
    password: &str,
    history: usize,
) -> Result<bool, EngineError> {
    if history == 0 {
        return Ok(false);
    }
    let mut previous: Vec<String> = store.password_hash(user_id).await?.into_iter().collect();
    previous.extend(
        store
            .password_history(user_id)
            .await?
            .into_iter()
            .take(history.saturating_sub(1)),
    );
    for old in previous {
        if hasher.verify(password, Some(&old)).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The password-changed notice for the flow's user (see `mail::notify_password_changed`).
pub(crate) async fn notify_changed(ctx: &FlowContext<'_>, user_id: &str) -> Result<(), EngineError> {
    if let Some(user) = ctx.services.store.find_user(user_id).await? {
        let lang = ctx.lang.clone().unwrap_or_else(|| "en".into());
        crate::mail::notify_password_changed(
            ctx.services.mail,
            ctx.realm,
            &user,
            &lang,
            ctx.ip.as_deref(),
            ctx.user_agent.as_deref(),
        )
        .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules() {
        let p = PasswordPolicy {
            min_length: 12,
            require: vec![
                CharacterClass::Upper,
                CharacterClass::Lower,
                CharacterClass::Digit,
                CharacterClass::Special,
            ],
            history: 3,
        };
        let short = violation(&p, "alice", "short").unwrap();
        assert_eq!(short["key"], "passwordTooShort");
        assert_eq!(short["args"]["min"], 12);
        assert_eq!(violation(&p, "alice", "alllowercase1!").unwrap(), "passwordNeedsUpper");
        assert_eq!(violation(&p, "alice", "ALLUPPERCASE1!").unwrap(), "passwordNeedsLower");
        assert_eq!(violation(&p, "alice", "NoDigitsHere!!").unwrap(), "passwordNeedsDigit");
        assert_eq!(violation(&p, "alice", "NoSpecial1234").unwrap(), "passwordNeedsSpecial");
        assert_eq!(
            violation(&p, "alice-long-1!", "Alice-Long-1!").unwrap(),
            "passwordIsUsername"
        );
        assert_eq!(violation(&p, "alice", "Correct-Horse-1"), None);
        assert_eq!(requirements(&p).len(), 7);
    }
}

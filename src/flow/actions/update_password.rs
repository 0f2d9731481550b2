//! `update-password`: a new password under the realm's policy (fields `password-new`,
//! `password-confirm`): length, character classes, not the username, not one of the last N.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ActionResult, RequiredAction};
use crate::crypto::PasswordHasher;
use crate::flow::{EngineError, FlowContext, Page};
use crate::realm::PasswordPolicy;
use crate::realm::model::CharacterClass;
use crate::store::Store;

pub struct UpdatePassword;

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
    if password.len() > crate::flow::authenticators::MAX_PASSWORD_BYTES {
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

fn page(policy: &PasswordPolicy, error: Option<Value>) -> Page {
    Page::new(
        "update_password.html",
        json!({ "error": error, "requirements": requirements(policy) }),
    )
}

#[async_trait::async_trait]
impl RequiredAction for UpdatePassword {
    fn name(&self) -> &'static str {
        "update-password"
    }

    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError> {
        Ok(page(&ctx.realm.password_policy, None))
    }

    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError> {
        let policy = &ctx.realm.password_policy;
        let new = form.get("password-new").map(String::as_str).unwrap_or_default();
        let confirm = form.get("password-confirm").map(String::as_str).unwrap_or_default();
        if new != confirm {
            return Ok(ActionResult::Page(page(policy, Some(Value::from("passwordMismatch")))));
        }
        let username = ctx.flow.username.clone().unwrap_or_default();
        if let Some(problem) = violation(policy, &username, new) {
            return Ok(ActionResult::Page(page(policy, Some(problem))));
        }
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let store = &ctx.services.store;
        if recently_used(store, ctx.services.hasher, &user_id, new, policy.history).await? {
            let recent = message("passwordRecentlyUsed", json!({ "count": policy.history }));
            return Ok(ActionResult::Page(page(policy, Some(recent))));
        }
        let hash = ctx.services.hasher.hash(new).await?;
        // This browser's own session (if it signed in with one) stays; every other ends.
        let keep = ctx
            .sso_session
            .as_ref()
            .filter(|s| s.user_id == user_id)
            .map(|s| s.id.clone());
        store
            .change_password(&user_id, hash, policy.history, keep.as_deref(), true)
            .await?;
        ctx.event(
            "password_changed",
            Some(&user_id),
            json!({ "by": "user", "via": "update-password" }),
        )
        .await;
        Ok(ActionResult::Done)
    }
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

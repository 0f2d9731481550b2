//! `update-password`: a new password under the realm's policy (fields `password-new`,
//! `password-confirm`): length, character classes, not the username, not one of the last N.

use std::collections::HashMap;

use serde_json::json;

use super::{ActionResult, RequiredAction};
use crate::flow::{EngineError, FlowContext, Page};
use crate::realm::PasswordPolicy;
use crate::realm::model::CharacterClass;

pub struct UpdatePassword;

/// The policy as sentences, for the page.
pub fn requirements(policy: &PasswordPolicy) -> Vec<String> {
    let mut out = vec![format!("At least {} characters", policy.min_length)];
    for class in &policy.require {
        out.push(
            match class {
                CharacterClass::Upper => "An uppercase letter",
                CharacterClass::Lower => "A lowercase letter",
                CharacterClass::Digit => "A digit",
                CharacterClass::Special => "A special character (not a letter or digit)",
            }
            .to_string(),
        );
    }
    out.push("Not your username".into());
    if policy.history > 0 {
        out.push(format!("Not one of your last {} passwords", policy.history));
    }
    out
}

/// Checks what can be checked without hashing; the first broken rule, if any.
pub fn violation(policy: &PasswordPolicy, username: &str, password: &str) -> Option<String> {
    if password.chars().count() < policy.min_length {
        return Some(format!("The password needs at least {} characters.", policy.min_length));
    }
    for class in &policy.require {
        let (ok, what) = match class {
            CharacterClass::Upper => (password.chars().any(char::is_uppercase), "an uppercase letter"),
            CharacterClass::Lower => (password.chars().any(char::is_lowercase), "a lowercase letter"),
            CharacterClass::Digit => (password.chars().any(|c| c.is_ascii_digit()), "a digit"),
            CharacterClass::Special => (password.chars().any(|c| !c.is_alphanumeric()), "a special character"),
        };
        if !ok {
            return Some(format!("The password needs {what}."));
        }
    }
    if !username.is_empty() && password.eq_ignore_ascii_case(username) {
        return Some("The password may not be your username.".into());
    }
    None
}

fn page(policy: &PasswordPolicy, error: Option<&str>) -> Page {
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
            return Ok(ActionResult::Page(page(policy, Some("The passwords do not match."))));
        }
        let username = ctx.flow.username.clone().unwrap_or_default();
        if let Some(problem) = violation(policy, &username, new) {
            return Ok(ActionResult::Page(page(policy, Some(&problem))));
        }
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let store = &ctx.app.store;
        if policy.history > 0 {
            let mut previous: Vec<String> = store.password_hash(&user_id).await?.into_iter().collect();
            previous.extend(
                store
                    .password_history(&user_id)
                    .await?
                    .into_iter()
                    .take(policy.history.saturating_sub(1)),
            );
            for old in previous {
                if ctx.app.hasher.verify(new, Some(&old)).await? {
                    let message = format!(
                        "Choose a password you have not used for your last {} passwords.",
                        policy.history
                    );
                    return Ok(ActionResult::Page(page(policy, Some(&message))));
                }
            }
        }
        let hash = ctx.app.hasher.hash(new).await?;
        store.change_password(&user_id, hash, policy.history).await?;
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
        assert!(violation(&p, "alice", "short").unwrap().contains("12"));
        assert!(violation(&p, "alice", "alllowercase1!").unwrap().contains("uppercase"));
        assert!(violation(&p, "alice", "ALLUPPERCASE1!").unwrap().contains("lowercase"));
        assert!(violation(&p, "alice", "NoDigitsHere!!").unwrap().contains("digit"));
        assert!(violation(&p, "alice", "NoSpecial1234").unwrap().contains("special"));
        assert!(
            violation(&p, "alice-long-1!", "Alice-Long-1!")
                .unwrap()
                .contains("username")
        );
        assert_eq!(violation(&p, "alice", "Correct-Horse-1"), None);
        assert_eq!(requirements(&p).len(), 7);
    }
}

//! `update-profile`: email, first and last name (fields `email`, `firstName`, `lastName`).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{ActionResult, RequiredAction};
use crate::flow::{EngineError, FlowContext, Page};
use crate::realm::usernames::has_hidden_characters;
use crate::store::ProfileUpdate;

pub struct UpdateProfile;

fn page(email: &str, first: &str, last: &str, errors: Map<String, Value>) -> Page {
    Page::new(
        "update_profile.html",
        json!({ "email": email, "first_name": first, "last_name": last, "errors": errors }),
    )
}

#[async_trait::async_trait]
impl RequiredAction for UpdateProfile {
    fn name(&self) -> &'static str {
        "update-profile"
    }

    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let user = ctx.services.store.find_user(&user_id).await?;
        let get =
            |f: fn(&crate::store::entity::user::Model) -> Option<String>| user.as_ref().and_then(f).unwrap_or_default();
        Ok(page(
            &get(|u| u.email.clone()),
            &get(|u| u.first_name.clone()),
            &get(|u| u.last_name.clone()),
            Map::new(),
        ))
    }

    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError> {
        let field = |k: &str| form.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
        let (email, first, last) = (field("email"), field("firstName"), field("lastName"));
        let mut errors = profile_errors(&email, &first, &last);
        if !errors.is_empty() {
            return Ok(ActionResult::Page(page(&email, &first, &last, errors)));
        }
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let unique_email = !ctx.realm.users.duplicate_emails;
        let outcome = ctx
            .services
            .store
            .update_profile(
                &user_id,
                Some(email.clone()),
                Some(first.clone()),
                Some(last.clone()),
                unique_email,
            )
            .await?;
        if outcome == ProfileUpdate::EmailTaken {
            errors.insert("email".into(), json!("emailTaken"));
            return Ok(ActionResult::Page(page(&email, &first, &last, errors)));
        }
        Ok(ActionResult::Done)
    }
}

/// What is wrong with a profile, by field (`email`, `firstName`, `lastName`): catalog keys.
pub fn profile_errors(email: &str, first: &str, last: &str) -> Map<String, Value> {
    let mut errors = Map::new();
    if !is_email(email) {
        errors.insert("email".into(), json!("invalidEmail"));
    }
    for (field, value, missing) in [
        ("firstName", first, "missingFirstName"),
        ("lastName", last, "missingLastName"),
    ] {
        if value.is_empty() || value.len() > 255 {
            errors.insert(field.into(), json!(missing));
        } else if has_hidden_characters(value) {
            errors.insert(field.into(), json!("nameHasHiddenCharacters"));
        }
    }
    errors
}

/// A plausible address: one `@`, something on each side, a dot in the domain, no spaces.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
        && s.len() <= 320
}

#[cfg(test)]
mod tests {
    #[test]
    fn email_shapes() {
        assert!(super::is_email("a@b.co"));
        assert!(!super::is_email("a@b"));
        assert!(!super::is_email("@b.co"));
        assert!(!super::is_email("a b@c.de"));
        assert!(!super::is_email("a@b@c.de"));
    }
}

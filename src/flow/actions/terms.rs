//! `terms-and-conditions`: accept the terms to continue (buttons `accept=yes|no`).

use std::collections::HashMap;

use serde_json::json;

use super::{ActionResult, RequiredAction};
use crate::flow::{EngineError, FlowContext, Page};

pub struct Terms;

#[async_trait::async_trait]
impl RequiredAction for Terms {
    fn name(&self) -> &'static str {
        "terms-and-conditions"
    }

    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError> {
        let text = json!({ "key": "termsText", "args": { "realm": ctx.realm.display_name } });
        Ok(Page::new("terms.html", json!({ "terms_text": text })))
    }

    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError> {
        match form.get("accept").map(String::as_str) {
            Some("yes") => {
                let user_id = ctx.flow.user_id.clone().unwrap_or_default();
                ctx.services
                    .store
                    .complete_required_action(&user_id, self.name())
                    .await?;
                Ok(ActionResult::Done)
            }
            Some("no") => Ok(ActionResult::Refused("termsDeclined".into())),
            _ => Ok(ActionResult::Page(self.page(ctx).await?)),
        }
    }
}

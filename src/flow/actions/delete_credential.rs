//! `delete-credential`: an app asks to remove one of the user's authenticator apps (Keycloak's
//! `kc_action=delete_credential:{id}`). Never assigned by admins: it runs only when an app asks,
//! after a recent sign-in, and the person confirms or cancels. The realm's rule that some users
//! keep a second factor holds here as in the account console.

use std::collections::HashMap;

use serde_json::json;

use super::{ActionResult, RequiredAction};
use crate::flow::{EngineError, FlowContext, Page};
use crate::store::{OTP, OtpRemoval};

pub struct DeleteCredential;

pub const NAME: &str = "delete-credential";

impl DeleteCredential {
    /// The confirmation page: the app's name, or why it cannot be removed.
    async fn confirm_page(&self, ctx: &mut FlowContext<'_>, error: Option<&str>) -> Result<Page, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let devices = ctx.services.store.credentials(&user_id, OTP).await?;
        let found = ctx
            .flow
            .aia_credential
            .as_deref()
            .and_then(|id| devices.iter().find(|d| d.id == id));
        let (label, error) = match found {
            Some(d) => (d.label.clone().unwrap_or_default(), error),
            None => (String::new(), Some("deleteCredentialNotFound")),
        };
        Ok(Page::new(
            "delete_credential.html",
            json!({
                "label": label,
                "last": devices.len() == 1,
                "can_delete": error.is_none(),
                "error": error,
            }),
        ))
    }

    /// The app hears `kc_action_status=error`; nothing was removed.
    fn failed(&self, ctx: &mut FlowContext<'_>) -> ActionResult {
        ctx.flow.aia_status = Some("error".into());
        ActionResult::Done
    }
}

#[async_trait::async_trait]
impl RequiredAction for DeleteCredential {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError> {
        self.confirm_page(ctx, None).await
    }

    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError> {
        if form.get("confirm").map(String::as_str) != Some("yes") {
            return Ok(self.failed(ctx));
        }
        // A session's sign-in was recent when the action began; the page may have waited
        // since. (Without one, the person signed in during this very flow.)
        let max_age = ctx.realm.account.max_auth_age.as_secs();
        if ctx.flow.auth_time.is_some_and(|t| crate::store::now() - t > max_age) {
            return Ok(ActionResult::Page(
                self.confirm_page(ctx, Some("deleteCredentialSignInAgain")).await?,
            ));
        }
        let (Some(user_id), Some(id)) = (ctx.flow.user_id.clone(), ctx.flow.aia_credential.clone()) else {
            return Ok(self.failed(ctx));
        };
        let roles = ctx.services.store.roles(&user_id).await?;
        let keep_one = ctx.realm.account.requires_second_factor(&roles);
        let others = ctx.services.flows.second_factors_besides_apps(ctx.realm);
        match ctx.services.store.remove_otp(&user_id, &id, keep_one, &others).await? {
            OtpRemoval::Removed { last } => {
                let details =
                    json!({ "type": "otp", "credential": id, "last": last, "by": "user", "via": "kc_action" });
                ctx.event("credential_removed", Some(&user_id), details).await;
                // Devices trusted to skip the app are forgotten with it.
                let forgotten = ctx.services.store.revoke_trusted_devices(&user_id).await?;
                if forgotten > 0 {
                    let details = json!({ "device": "all", "count": forgotten, "via": "kc_action" });
                    ctx.event("trusted_device_revoked", Some(&user_id), details).await;
                }
                Ok(ActionResult::Done)
            }
            OtpRemoval::LastKept => Ok(ActionResult::Page(
                self.confirm_page(ctx, Some("accountLastFactorRequired")).await?,
            )),
            OtpRemoval::NotFound => Ok(ActionResult::Page(self.confirm_page(ctx, None).await?)),
        }
    }
}

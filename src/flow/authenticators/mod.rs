//! The authenticator registry. Each authenticator is one file implementing [`Authenticator`];
//! adding one is a new file plus one line in [`ALL`].

mod cookie;
mod username_password_form;

use std::collections::HashMap;

use super::{FlowContext, StepResult};

#[async_trait::async_trait]
pub trait Authenticator: Send + Sync {
    /// The name flow files use.
    fn name(&self) -> &'static str;
    /// RFC 8176 method reference this authenticator contributes, if any.
    fn amr(&self) -> Option<&'static str>;
    /// Called when the flow reaches this step: decide at once, or show a page.
    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, super::EngineError>;
    /// Called with the form the page posted back.
    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, super::EngineError>;
}

static ALL: &[&dyn Authenticator] = &[&cookie::Cookie, &username_password_form::UsernamePasswordForm];

pub fn find(name: &str) -> Option<&'static dyn Authenticator> {
    ALL.iter().copied().find(|a| a.name() == name)
}

pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|a| a.name()).collect()
}

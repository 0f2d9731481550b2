//! `gatehouse flow simulate`: walks a flow for a described user and reports the pages and
//! decisions a real sign-in would meet. It runs the real sign-in — `login::sign_in::begin` and
//! `resume`, hence the real engine, authenticators, conditions, brute-force counting and
//! required actions — against a scratch server state (see [`super::sandbox`]); nothing here
//! re-implements a step.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::answers::{self, Answer};
use super::sandbox::{REALM, REDIRECT_URI, Sandbox, UserSpec};
use crate::crypto::sha256_hex;
use crate::flow::{FlowState, Page};
use crate::login::sign_in::{self, Browser, Next};
use crate::oidc::authorize::{AuthorizeRequest, ResponseMode};
use crate::oidc::jwt::SignInFacts;
use crate::store::CodeExchange;

/// A simulation stops after this many pages (a flow that loops).
const MAX_PAGES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Prompt {
    /// `prompt=login`: sign in again even with a session
    Login,
    /// `prompt=none`: no page may be shown
    None,
}

/// Who signs in, from where, and what they answer.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub user: UserSpec,
    pub client: String,
    pub ip: Option<String>,
    /// The user already has an SSO session (from an earlier sign-in through the same flow).
    pub signed_in: bool,
    /// The browser is a device the user trusted ("Remember this device").
    pub trusted_device: bool,
    pub prompt: Option<Prompt>,
    /// `None`: answer every page as a cooperative user would.
    pub answers: Option<Vec<Answer>>,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            user: UserSpec::default(),
            client: "app".into(),
            ip: Some("127.0.0.1".into()),
            signed_in: false,
            trusted_device: false,
            prompt: None,
            answers: None,
        }
    }
}

/// One page the user saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub template: String,
    /// The error the page shows, if any.
    pub error: Option<String>,
    /// Trace entries decided since the previous page.
    pub decided: Vec<String>,
    pub answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Success,
    /// The sign-in ended with this message (or OAuth error, for `prompt=none`).
    Failure(String),
    /// The answers ran out on this page.
    Page(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub flow: String,
    pub visits: Vec<Visit>,
    pub ending: Ending,
    pub trace: Vec<String>,
    /// Trace entries decided after the last page.
    pub last_decided: Vec<String>,
    /// `false` when the sign-in failed and the engine's record did not include its final steps.
    pub trace_complete: bool,
    pub amr: Vec<String>,
    pub acr: Option<String>,
}

fn request(client: &str, prompt: Option<Prompt>) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: client.to_string(),
        redirect_uri: REDIRECT_URI.into(),
        response_mode: ResponseMode::Query,
        scope: "openid".into(),
        state: None,
        nonce: None,
        code_challenge: Some(sha256_hex(b"simulation")),
        prompt_none: prompt == Some(Prompt::None),
        prompt_login: prompt == Some(Prompt::Login),
        max_age: None,
        login_hint: None,
        ui_locales: None,
        id_token_hint: None,
        claims: None,
        kc_action: None,
        acr: None,
    }
}

/// Parses `file` (refusing a broken flow with its errors) and runs the simulation. The scratch
/// server's start-up (migrations, keys) logs only warnings and errors.
pub async fn simulate(file: &Path, sim: &Simulation) -> Result<Report, String> {
    use tracing::instrument::WithSubscriber;
    let quiet = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .finish();
    run(file, sim).with_subscriber(quiet).await
}

async fn run(file: &Path, sim: &Simulation) -> Result<Report, String> {
    let label = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{label}: {e}"))?;
    let flow = crate::flow::model::parse(&label, &text)
        .map_err(|errs| errs.iter().map(super::flow_error).collect::<Vec<_>>().join("\n"))?;
    let mut sandbox = Sandbox::new(file, &flow.name, &sim.client, &sim.user.roles).await?;
    sandbox.add_user(&sim.user).await?;
    let mut who = Browser {
        sso_cookie: None,
        ip: sim.ip.clone(),
        user_agent: Some("gatehouse flow simulate".into()),
        accept_language: None,
        device_cookie: None,
    };
    if sim.trusted_device {
        who.device_cookie = Some(sandbox.trust_this_device().await?);
    }
    if sim.signed_in {
        let mut first = Driver::new(&mut sandbox, &who, flow.name.clone(), None);
        let cookie = first.run(&request(&sim.client, None)).await?;
        if first.report.ending != Ending::Success {
            return Err(format!(
                "could not sign the user in beforehand (signed_in: true): {:?}",
                first.report.ending
            ));
        }
        who.sso_cookie = cookie;
    }
    let mut driver = Driver::new(&mut sandbox, &who, flow.name.clone(), sim.answers.clone());
    driver.run(&request(&sim.client, sim.prompt)).await?;
    Ok(driver.report)
}

struct Driver<'a> {
    sandbox: &'a mut Sandbox,
    who: &'a Browser,
    answers: Option<std::collections::VecDeque<Answer>>,
    report: Report,
    /// Events recorded before this sign-in are not its own.
    first_event: i64,
}

impl<'a> Driver<'a> {
    fn new(sandbox: &'a mut Sandbox, who: &'a Browser, flow: String, answers: Option<Vec<Answer>>) -> Driver<'a> {
        Driver {
            sandbox,
            who,
            answers: answers.map(Into::into),
            report: Report {
                flow,
                visits: vec![],
                ending: Ending::Page(String::new()),
                trace: vec![],
                last_decided: vec![],
                trace_complete: true,
                amr: vec![],
                acr: None,
            },
            first_event: 0,
        }
    }

    /// Runs one sign-in to its end; returns the new SSO cookie on success.
    async fn run(&mut self, request: &AuthorizeRequest) -> Result<Option<String>, String> {
        let err = |e: crate::flow::EngineError| e.to_string();
        self.first_event = self.latest_event_id().await?;
        let (app, rt) = (self.sandbox.app.clone(), self.sandbox.realm.clone());
        let mut next = sign_in::begin(&app, &rt, request.clone(), self.who)
            .await
            .map_err(err)?;
        let mut cookie: Option<String> = None;
        loop {
            match next {
                Next::Page {
                    page,
                    csrf,
                    step,
                    auth_cookie,
                    ..
                } => {
                    cookie = auth_cookie.or(cookie);
                    self.visit(&page, cookie.as_deref()).await?;
                    let Some(answer) = self.next_answer(&page) else {
                        self.report.ending = Ending::Page(page.template.to_string());
                        return Ok(None);
                    };
                    let form = answers::form(&answer, &page, self.sandbox).await?;
                    if let Some(v) = self.report.visits.last_mut() {
                        v.answer = Some(answer.to_string());
                    }
                    let (form, step) = match form {
                        Some(mut f) => {
                            f.insert("csrf".into(), csrf);
                            (f, step)
                        }
                        None => (HashMap::new(), None),
                    };
                    next = sign_in::resume(&app, &rt, cookie.as_deref(), &form, step.as_deref(), self.who)
                        .await
                        .map_err(err)?;
                }
                Next::Respond {
                    result: Ok(code),
                    sso_cookie,
                    ..
                } => {
                    self.succeeded(&code).await?;
                    return Ok(sso_cookie.or_else(|| self.who.sso_cookie.clone()));
                }
                Next::Respond { result: Err(e), .. } => {
                    self.failed(format!("{}: {}", e.code, e.description)).await?;
                    return Ok(None);
                }
                Next::Info { .. } => {
                    self.report.ending = Ending::Page("info.html".into());
                    return Ok(None);
                }
                // A simulation has no upstream provider to go to: it ends where it would leave.
                Next::Redirect { url, .. } => {
                    self.report.ending = Ending::Page(format!("upstream sign-in at {url}"));
                    return Ok(None);
                }
                Next::Error(message) | Next::TooMany(message) => {
                    let text = self
                        .english(&serde_json::Value::String(message.clone()))
                        .unwrap_or(message);
                    self.failed(text).await?;
                    return Ok(None);
                }
            }
        }
    }

    fn next_answer(&mut self, page: &Page) -> Option<Answer> {
        if self.report.visits.len() >= MAX_PAGES {
            return None;
        }
        match &mut self.answers {
            Some(list) => list.pop_front(),
            None => Answer::automatic(page.template),
        }
    }

    /// Records a page and the decisions taken since the last one (from the flow state the
    /// engine saved in the authentication session).
    async fn visit(&mut self, page: &Page, cookie: Option<&str>) -> Result<(), String> {
        let trace = match cookie {
            Some(c) => self.saved_state(c).await?.map(|s| s.trace).unwrap_or_default(),
            None => vec![],
        };
        let decided = trace.get(self.report.trace.len()..).unwrap_or_default().to_vec();
        self.report.trace = trace;
        let error = page.context.get("error").and_then(|e| self.english(e));
        self.report.visits.push(Visit {
            template: page.template.to_string(),
            error,
            decided,
            answer: None,
        });
        Ok(())
    }

    /// A page message as the English page shows it: catalog keys (with their arguments)
    /// become their text; anything else is shown as it is.
    fn english(&self, message: &serde_json::Value) -> Option<String> {
        match message {
            serde_json::Value::Null => None,
            serde_json::Value::Object(m) if m.is_empty() => None,
            other => Some(self.sandbox.app.templates.message_text("default", "en", other)),
        }
    }

    async fn saved_state(&self, cookie: &str) -> Result<Option<FlowState>, String> {
        let session = self
            .sandbox
            .app
            .store
            .auth_session(&sha256_hex(cookie.as_bytes()))
            .await
            .map_err(|e| e.to_string())?;
        Ok(session.and_then(|s| serde_json::from_str(&s.state).ok()))
    }

    async fn succeeded(&mut self, code: &str) -> Result<(), String> {
        let store = &self.sandbox.app.store;
        if let CodeExchange::Claimed(c) = store
            .claim_code(&sha256_hex(code.as_bytes()))
            .await
            .map_err(|e| e.to_string())?
        {
            let facts: SignInFacts = serde_json::from_str(&c.data).unwrap_or_default();
            self.report.amr = facts.amr;
            self.report.acr = facts.acr;
        }
        let steps = self.event_steps("sign_in").await?;
        self.finish_trace(steps);
        self.report.ending = Ending::Success;
        Ok(())
    }

    async fn failed(&mut self, message: String) -> Result<(), String> {
        let steps = self.event_steps("login_error").await?;
        self.report.trace_complete = steps.is_some();
        self.finish_trace(steps);
        self.report.ending = Ending::Failure(message);
        Ok(())
    }

    fn finish_trace(&mut self, steps: Option<Vec<String>>) {
        if let Some(steps) = steps {
            self.report.last_decided = steps.get(self.report.trace.len()..).unwrap_or_default().to_vec();
            self.report.trace = steps;
        }
    }

    async fn latest_event_id(&self) -> Result<i64, String> {
        let events = self
            .sandbox
            .app
            .store
            .events(REALM, None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(events.first().map(|e| e.id).unwrap_or(0))
    }

    /// The steps the engine recorded with this sign-in's last event of `kind`, if it did.
    async fn event_steps(&self, kind: &str) -> Result<Option<Vec<String>>, String> {
        let events = self
            .sandbox
            .app
            .store
            .events(REALM, None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(events
            .iter()
            .filter(|e| e.id > self.first_event && e.kind == kind)
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.details).ok())
            .find_map(|d| serde_json::from_value::<Vec<String>>(d.get("steps")?.clone()).ok()))
    }
}

/// The report as `flow simulate` prints it.
pub fn render(report: &Report) -> String {
    let mut out = format!("flow {}\n", report.flow);
    let decided = |out: &mut String, entries: &[String]| {
        for e in entries {
            out.push_str(&format!("  · {e}\n"));
        }
    };
    for v in &report.visits {
        decided(&mut out, &v.decided);
        out.push_str(&format!("page {}", v.template));
        if let Some(e) = &v.error {
            out.push_str(&format!("  (error: {e})"));
        }
        out.push('\n');
        if let Some(a) = &v.answer {
            out.push_str(&format!("  answer: {a}\n"));
        }
    }
    decided(&mut out, &report.last_decided);
    out.push_str(&match &report.ending {
        Ending::Success => "outcome: success\n".to_string(),
        Ending::Failure(m) => format!("outcome: failure: {m}\n"),
        Ending::Page(t) => format!("outcome: stopped at page {t} (no answer left)\n"),
    });
    let incomplete = if report.trace_complete {
        ""
    } else {
        " (up to the last page)"
    };
    out.push_str(&format!("trace{incomplete}: {}\n", report.trace.join(", ")));
    if report.ending == Ending::Success {
        out.push_str(&format!("amr: {}\n", report.amr.join(" ")));
        out.push_str(&format!("acr: {}\n", report.acr.as_deref().unwrap_or("-")));
    }
    out
}

//! The engine's semantics on many flow shapes, Keycloak's examples among them. Flows are built
//! directly (so shapes `flow check` refuses can be run too) and executed by the real engine
//! against a scratch store with a real user.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::sandbox::{PASSWORD, Sandbox, UserSpec};
use crate::flow::model::{Flow, Requirement, Step, StepKind};
use crate::flow::{FlowContext, FlowState, Outcome, SignInRequest, run};

use Requirement::{Alternative, Conditional, Disabled, Required};

fn auth(name: &str, r: Requirement) -> Step {
    Step {
        kind: StepKind::Authenticator(name.into()),
        requirement: r,
        config: Value::Null,
        line: 0,
    }
}

fn deny(r: Requirement, message: &str) -> Step {
    Step {
        config: json!({ "message": message }),
        ..auth("deny-access", r)
    }
}

fn cond(name: &str, config: Value) -> Step {
    Step {
        kind: StepKind::Condition(name.into()),
        requirement: Required,
        config,
        line: 0,
    }
}

fn sub(r: Requirement, steps: Vec<Step>) -> Step {
    Step {
        kind: StepKind::Subflow {
            name: "sub".into(),
            steps,
        },
        requirement: r,
        config: Value::Null,
        line: 0,
    }
}

fn flow(steps: Vec<Step>) -> Flow {
    Flow {
        name: "t".into(),
        description: String::new(),
        content_hash: String::new(),
        steps,
    }
}

fn request(client: &str) -> SignInRequest {
    SignInRequest {
        client_id: client.into(),
        ..SignInRequest::default()
    }
}

struct Run {
    sandbox: Sandbox,
    flow_state: FlowState,
    client: String,
    ip: String,
}

impl Run {
    async fn new(roles: &[&str]) -> Run {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/browser.yaml");
        let mut sandbox = Sandbox::new(&file, "browser", "app", &[]).await.expect("sandbox");
        let spec = UserSpec {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        };
        sandbox.add_user(&spec).await.expect("user");
        Run {
            sandbox,
            flow_state: FlowState::default(),
            client: "app".into(),
            ip: "192.168.1.10".into(),
        }
    }

    /// Runs `f` once; `password` posts the sign-in form to the step showing it (showing the
    /// form first, as a browser would, if no page is showing yet).
    async fn step(&mut self, f: &Flow, password: bool) -> Outcome {
        if password && self.flow_state.challenge.is_none() {
            let shown = Box::pin(self.step(f, false)).await;
            if !matches!(shown, Outcome::Challenge(_)) {
                return shown;
            }
        }
        let request = request(&self.client);
        let form: HashMap<String, String> = [("username", "alice"), ("password", PASSWORD)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut ctx = FlowContext {
            services: self.sandbox.app.flow_services(),
            realm: &self.sandbox.realm.realm,
            request: &request,
            flow: &mut self.flow_state,
            sso_session: None,
            ip: Some(self.ip.clone()),
            user_agent: None,
            step_config: Value::Null,
            siblings: Vec::new(),
            credentials: None,
            auth_session_id: None,
            lang: None,
            device_cookie: None,
        };
        run(f, &mut ctx, password.then_some(&form))
            .await
            .expect("the engine runs")
    }
}

fn page(o: &Outcome) -> &str {
    match o {
        Outcome::Challenge(p) => p.template,
        other => panic!("expected a page, got {other:?}"),
    }
}

#[tokio::test]
async fn alternatives_beside_a_required_step_are_ignored() {
    // Keycloak: with a required step at a level, its alternatives do not run.
    let f = flow(vec![
        deny(Alternative, "never"),
        auth("username-password-form", Required),
    ]);
    let mut r = Run::new(&[]).await;
    assert_eq!(page(&r.step(&f, false).await), "login.html");
    assert_eq!(r.step(&f, true).await, Outcome::Success);
}

#[tokio::test]
async fn disabled_steps_are_skipped() {
    let f = flow(vec![
        deny(Disabled, "off"),
        auth("username-password-form", Required),
        deny(Disabled, "off"),
    ]);
    let mut r = Run::new(&[]).await;
    assert_eq!(page(&r.step(&f, false).await), "login.html");
    assert_eq!(r.step(&f, true).await, Outcome::Success);
}

#[tokio::test]
async fn the_first_alternative_that_applies_decides() {
    // No session: the cookie is "attempted" and the next alternative runs.
    let f = flow(vec![auth("cookie", Alternative), deny(Alternative, "denied")]);
    let mut r = Run::new(&[]).await;
    assert_eq!(r.step(&f, false).await, Outcome::Failure("denied".into()));
    // Nothing applies at all: the flow fails.
    let f = flow(vec![auth("cookie", Alternative)]);
    assert!(matches!(Run::new(&[]).await.step(&f, false).await, Outcome::Failure(_)));
}

#[tokio::test]
async fn a_conditional_subflow_runs_only_when_its_conditions_hold() {
    let f = flow(vec![
        auth("username-password-form", Required),
        sub(
            Conditional,
            vec![
                cond("user-role", json!({ "roles": ["admin"] })),
                deny(Required, "no admins"),
            ],
        ),
    ]);
    let mut plain = Run::new(&[]).await;
    assert_eq!(plain.step(&f, true).await, Outcome::Success);
    let mut admin = Run::new(&["admin"]).await;
    assert_eq!(admin.step(&f, true).await, Outcome::Failure("no admins".into()));
    // A disabled condition does not count; the enabled one still decides.
    let f = flow(vec![
        auth("username-password-form", Required),
        sub(
            Conditional,
            vec![
                Step {
                    requirement: Disabled,
                    ..cond("user-role", json!({ "roles": ["nobody"] }))
                },
                cond("user-role", json!({ "roles": ["admin"] })),
                deny(Required, "no admins"),
            ],
        ),
    ]);
    assert_eq!(
        Run::new(&["admin"]).await.step(&f, true).await,
        Outcome::Failure("no admins".into())
    );
}

#[tokio::test]
async fn nested_conditional_subflows() {
    // For the client `app`, from inside 10.0.0.0/8, deny; anything else passes.
    let inner = sub(
        Conditional,
        vec![
            cond("ip-range", json!({ "cidrs": ["10.0.0.0/8"] })),
            deny(Required, "inside"),
        ],
    );
    let f = flow(vec![
        auth("username-password-form", Required),
        sub(Conditional, vec![cond("client", json!({ "clients": ["app"] })), inner]),
    ]);
    let mut outside = Run::new(&[]).await;
    assert_eq!(outside.step(&f, true).await, Outcome::Success);
    let mut inside = Run::new(&[]).await;
    inside.ip = "10.1.2.3".into();
    assert_eq!(inside.step(&f, true).await, Outcome::Failure("inside".into()));
    let mut other_client = Run::new(&[]).await;
    other_client.ip = "10.1.2.3".into();
    other_client.client = "other".into();
    assert_eq!(other_client.step(&f, true).await, Outcome::Success);
    // Negated: deny everyone *outside* the network.
    let negated = flow(vec![
        auth("username-password-form", Required),
        sub(
            Conditional,
            vec![
                cond("ip-range", json!({ "cidrs": ["10.0.0.0/8"], "negate": true })),
                deny(Required, "outside"),
            ],
        ),
    ]);
    assert_eq!(
        Run::new(&[]).await.step(&negated, true).await,
        Outcome::Failure("outside".into())
    );
}

#[tokio::test]
async fn a_required_subflow_of_alternatives_and_completed_steps_are_not_repeated() {
    let f = flow(vec![sub(
        Required,
        vec![auth("cookie", Alternative), auth("username-password-form", Alternative)],
    )]);
    let mut r = Run::new(&[]).await;
    assert_eq!(page(&r.step(&f, false).await), "login.html");
    assert_eq!(r.step(&f, true).await, Outcome::Success);
    // The password step is remembered as done: running again does not ask again.
    assert_eq!(r.step(&f, false).await, Outcome::Success);
    assert_eq!(r.flow_state.amr, vec!["pwd".to_string()]);
    assert!(
        r.flow_state.trace.iter().any(|t| t == "username-password-form:success"),
        "{:?}",
        r.flow_state.trace
    );
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_an_error() {
    let f = flow(vec![auth("username-password-form", Required)]);
    let mut r = Run::new(&[]).await;
    r.step(&f, false).await;
    let request = request("app");
    let form: HashMap<String, String> = [
        ("username".to_string(), "alice".to_string()),
        ("password".to_string(), "wrong".to_string()),
    ]
    .into();
    let mut ctx = FlowContext {
        services: r.sandbox.app.flow_services(),
        realm: &r.sandbox.realm.realm,
        request: &request,
        flow: &mut r.flow_state,
        sso_session: None,
        ip: None,
        user_agent: None,
        step_config: Value::Null,
        siblings: Vec::new(),
        credentials: None,
        auth_session_id: None,
        lang: None,
        device_cookie: None,
    };
    let out = run(&f, &mut ctx, Some(&form)).await.unwrap();
    match out {
        Outcome::Challenge(p) => {
            assert_eq!(p.template, "login.html");
            assert!(
                p.context["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{:?}",
                p.context
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(r.flow_state.user_id.is_none());
}

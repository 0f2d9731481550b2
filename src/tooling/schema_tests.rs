//! The shipped files validate against the schemas, and the schemas refuse what the loaders
//! refuse. A small validator for the keywords these schemas use stands in for a full JSON
//! Schema implementation.

use std::path::Path;

use serde_json::{Value, json};

use super::*;

struct Check<'a> {
    root: &'a Value,
    errors: Vec<String>,
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => false,
    }
}

fn resolve<'s>(root: &'s Value, schema: &'s Value) -> &'s Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("only local references");
            root.pointer(pointer).expect("reference resolves")
        }
        None => schema,
    }
}

impl Check<'_> {
    fn errors_of(&self, schema: &Value, v: &Value, at: &str) -> Vec<String> {
        let mut inner = Check {
            root: self.root,
            errors: Vec::new(),
        };
        inner.check(schema, v, at);
        inner.errors
    }

    fn check(&mut self, schema: &Value, v: &Value, at: &str) {
        let schema = resolve(self.root, schema);
        if let Some(t) = schema.get("type") {
            let names: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !names.iter().any(|n| type_matches(n, v)) {
                self.errors.push(format!("{at}: {v} is not of type {t}"));
                return;
            }
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            self.errors
                .push(format!("{at}: {v} is not one of {}", Value::Array(e.clone())));
        }
        if let Some(c) = schema.get("const")
            && c != v
        {
            self.errors.push(format!("{at}: {v} is not {c}"));
        }
        self.combinators(schema, v, at);
        match v {
            Value::Object(map) => self.object(schema, map, at),
            Value::Array(items) => self.array(schema, items, at),
            Value::Number(n) => {
                if let (Some(min), Some(x)) = (schema.get("minimum").and_then(Value::as_f64), n.as_f64())
                    && x < min
                {
                    self.errors.push(format!("{at}: {x} is below {min}"));
                }
            }
            Value::String(s) => {
                if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                    && (s.chars().count() as u64) < min
                {
                    self.errors.push(format!("{at}: too short"));
                }
            }
            _ => {}
        }
    }

    fn combinators(&mut self, schema: &Value, v: &Value, at: &str) {
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.check(s, v, at);
            }
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            let results: Vec<Vec<String>> = one.iter().map(|s| self.errors_of(s, v, at)).collect();
            let passing = results.iter().filter(|e| e.is_empty()).count();
            if passing != 1 {
                let why: Vec<String> = results.into_iter().flatten().collect();
                self.errors
                    .push(format!("{at}: matches {passing} of oneOf (want 1): {}", why.join("; ")));
            }
        }
        if let Some(cond) = schema.get("if")
            && self.errors_of(cond, v, at).is_empty()
            && let Some(then) = schema.get("then")
        {
            self.check(then, v, at);
        }
    }

    fn object(&mut self, schema: &Value, map: &serde_json::Map<String, Value>, at: &str) {
        let props = schema.get("properties").and_then(Value::as_object);
        for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(k) = key.as_str()
                && !map.contains_key(k)
            {
                self.errors.push(format!("{at}: missing '{k}'"));
            }
        }
        for (k, value) in map {
            let here = format!("{at}/{k}");
            if let Some(names) = schema.get("propertyNames") {
                self.check(names, &json!(k), &here);
            }
            match (props.and_then(|p| p.get(k)), schema.get("additionalProperties")) {
                (Some(s), _) => self.check(s, value, &here),
                (None, Some(Value::Bool(false))) => self.errors.push(format!("{at}: unknown key '{k}'")),
                (None, Some(s)) if s.is_object() => self.check(s, value, &here),
                _ => {}
            }
        }
    }

    fn array(&mut self, schema: &Value, items: &[Value], at: &str) {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            self.errors.push(format!("{at}: fewer than {min} items"));
        }
        if schema.get("uniqueItems") == Some(&json!(true)) {
            for (i, x) in items.iter().enumerate() {
                if items[..i].contains(x) {
                    self.errors.push(format!("{at}: {x} is listed twice"));
                }
            }
        }
        if let Some(s) = schema.get("items") {
            for (i, x) in items.iter().enumerate() {
                self.check(s, x, &format!("{at}/{i}"));
            }
        }
    }
}

fn validate(schema: &Value, doc: &Value) -> Vec<String> {
    let mut c = Check {
        root: schema,
        errors: Vec::new(),
    };
    c.check(schema, doc, "");
    c.errors
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    files
}

#[test]
fn shipped_flows_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = flow_schema();
    let mut files = yaml_files(&root.join("flows"));
    files.extend(yaml_files(&root.join("flows/tests/flows")));
    assert!(files.len() >= 2, "{files:?}");
    for f in files {
        let doc = yaml(&std::fs::read_to_string(&f).unwrap());
        let errors = validate(&schema, &doc);
        assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
    }
}

#[test]
fn demo_realm_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("realms/demo.yaml");
    let doc = yaml(&std::fs::read_to_string(path).unwrap());
    let errors = validate(&realm_schema(), &doc);
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn flow_schema_refuses_what_flow_check_refuses() {
    let schema = flow_schema();
    let bad = [
        (
            "unknown key",
            "flow: x\nsteps:\n  - authenticator: cookie\n    requirement: required\n    color: red\n",
        ),
        (
            "unknown authenticator",
            "flow: x\nsteps:\n  - authenticator: magic\n    requirement: required\n",
        ),
        (
            "bad requirement",
            "flow: x\nsteps:\n  - authenticator: cookie\n    requirement: maybe\n",
        ),
        (
            "two kinds",
            "flow: x\nsteps:\n  - authenticator: cookie\n    condition: client\n    requirement: required\n",
        ),
        (
            "condition config",
            "flow: x\nsteps:\n  - subflow: s\n    requirement: conditional\n    steps:\n      - condition: user-role\n        requirement: required\n        config: { role: admin }\n",
        ),
        (
            "authenticator config",
            "flow: x\nsteps:\n  - authenticator: otp-form\n    requirement: required\n    config: { digits: 6 }\n",
        ),
        (
            "top-level key",
            "flow: x\nversion: 2\nsteps:\n  - authenticator: cookie\n    requirement: required\n",
        ),
    ];
    for (what, text) in bad {
        assert!(!validate(&schema, &yaml(text)).is_empty(), "{what} was accepted");
    }
    let good = "flow: x\nsteps:\n  - authenticator: deny-access\n    requirement: required\n    config: { message: Go away }\n";
    assert_eq!(validate(&schema, &yaml(good)), Vec::<String>::new());
}

#[test]
fn realm_schema_refuses_unknown_keys_and_values() {
    let schema = realm_schema();
    let bad = [
        "realm: x\ncolour: blue\n",
        "realm: x\nclients:\n  - client_id: a\n    redirect_url: [http://x/]\n",
        "realm: x\nrequired_actions:\n  fly: { enabled: true }\n",
        "realm: x\ntokens: { signing_alg: HS256 }\n",
        "realm: x\nbrute_force: { max_wait: true }\n",
        "display_name: no realm name\n",
    ];
    for text in bad {
        assert!(!validate(&schema, &yaml(text)).is_empty(), "accepted: {text}");
    }
}

#[test]
fn every_registered_piece_has_a_config_schema() {
    for n in crate::flow::authenticators::names() {
        assert!(
            authenticator_config(n).is_some(),
            "authenticator {n} has no config schema"
        );
    }
    for n in crate::flow::conditions::names() {
        assert!(condition_config(n).is_some(), "condition {n} has no config schema");
    }
    assert_eq!(flow_schema()["$schema"], DRAFT);
}

/// Every key the schemas describe is one the loaders accept: a realm and a flow using them all
/// pass both.
#[test]
fn schemas_and_loaders_agree_on_every_key() {
    let realm = r#"
realm: full
display_name: Full
theme: default
flows: { browser: browser, direct_grant: direct-grant, reset_credentials: reset-credentials }
password_policy: { min_length: 12, require: [upper, lower, digit, special], history: 5 }
otp_policy: { type: totp, algorithm: SHA256, digits: 8, period: 30, look_around: 1 }
brute_force: { max_failures: 5, wait_increment: 60, max_wait: 15m }
tokens: { access_ttl: 5m, refresh_ttl: 30m, code_ttl: 60s, sso_idle: 30m, sso_max: 10h, signing_alg: ES256 }
required_actions:
  configure-otp: { enabled: true, default: true }
  terms-and-conditions: { enabled: false }
roles: [admin, viewer]
clients:
  - client_id: web
    name: Web
    secret_hash: sha256:9cdb5b22633839a64359aacd29473371f2ca3528a190a73d5e199fda30bdde40
    redirect_uris: [http://127.0.0.1:9000/callback]
    post_logout_redirect_uris: [http://127.0.0.1:9000/]
    grant_types: [authorization_code, refresh_token, client_credentials]
    pkce: optional
    browser_flow: identifier-first
"#;
    crate::realm::load_str("full.yaml", realm, &|_| None).expect("the loader accepts it");
    assert_eq!(validate(&realm_schema(), &yaml(realm)), Vec::<String>::new());

    let flow = r#"
flow: full
description: every condition and config
steps:
  - subflow: gate
    requirement: conditional
    steps:
      - condition: client
        requirement: required
        config: { clients: [old-app], negate: false }
      - condition: ip-range
        requirement: disabled
        config: { cidrs: 10.0.0.0/8 }
      - authenticator: deny-access
        requirement: required
        config: { message: Go away }
  - authenticator: username-password-form
    requirement: required
  - subflow: second-factor
    requirement: conditional
    steps:
      - condition: user-role
        requirement: required
        config: { roles: admin }
      - condition: user-attribute
        requirement: required
        config: { name: level, value: high, negate: false }
      - condition: user-configured
        requirement: required
        config: { negate: false }
      - authenticator: otp-form
        requirement: alternative
      - authenticator: recovery-code-form
        requirement: alternative
        config: {}
"#;
    crate::flow::model::parse("full.yaml", flow).expect("flow check accepts it");
    assert_eq!(validate(&flow_schema(), &yaml(flow)), Vec::<String>::new());
}

//! JSON Schemas (draft 2020-12) of the two kinds of files admins write: flow files and realm
//! files. Editors use them to validate and complete; `gatehouse schema flow|realm` prints them.
//!
//! They are written by hand after `flow::model` and `realm::model`. Authenticator and condition
//! names come from the registries, so a new authenticator appears in the schema by itself; its
//! `config` shape is listed here (a unit test fails when one is missing).

use serde_json::{Value, json};

use crate::flow::{authenticators, conditions};

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The file kinds a schema exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// Flow files (flows/*.yaml)
    Flow,
    /// Realm files (realms/*.yaml)
    Realm,
}

pub fn schema(kind: SchemaKind) -> Value {
    match kind {
        SchemaKind::Flow => flow_schema(),
        SchemaKind::Realm => realm_schema(),
    }
}

/// An object schema that refuses unknown keys.
fn object(properties: Value, required: &[&str]) -> Value {
    let mut o = json!({ "type": "object", "additionalProperties": false, "properties": properties });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

fn described(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

fn string_or_list(description: &str) -> Value {
    json!({
        "description": description,
        "oneOf": [
            { "type": "string" },
            { "type": "array", "items": { "type": "string" }, "minItems": 1 }
        ]
    })
}

fn negate() -> Value {
    json!({ "type": "boolean", "description": "Inverts the condition" })
}

/// No settings: the key may be left out, empty or `{}`.
fn no_config() -> Value {
    json!({ "type": ["object", "null"], "additionalProperties": false, "properties": {} })
}

/// The `config` of an authenticator, or `None` when this table does not know it.
pub fn authenticator_config(name: &str) -> Option<Value> {
    Some(match name {
        "cookie"
        | "username-password-form"
        | "username-form"
        | "password-form"
        | "otp-form"
        | "recovery-code-form"
        | "direct-grant-validate-username"
        | "direct-grant-validate-password"
        | "direct-grant-validate-otp"
        | "reset-credentials-choose-user"
        | "reset-credential-email"
        | "reset-password"
        | "email-otp-form"
        | "sms-otp-form"
        | "passkey"
        | "webauthn-form"
        | "identity-provider"
        | "email-link" => no_config(),
        "identity-provider-redirector" => object(
            json!({ "default_provider": { "type": "string", "description": "The alias of the realm's identity provider to go to" } }),
            &["default_provider"],
        ),
        "deny-access" => object(
            json!({ "message": { "type": "string", "description": "The message the user sees" } }),
            &[],
        ),
        _ => return None,
    })
}

/// The `config` of a condition, or `None` when this table does not know it.
pub fn condition_config(name: &str) -> Option<Value> {
    Some(match name {
        "user-configured" | "trusted-device" => object(json!({ "negate": negate() }), &[]),
        "user-role" => object(
            json!({ "roles": string_or_list("The user holds one of these roles"), "negate": negate() }),
            &["roles"],
        ),
        "user-attribute" => object(
            json!({
                "name": { "type": "string", "description": "The attribute's name" },
                "value": { "type": "string", "description": "The value it must have (any, if left out)" },
                "negate": negate()
            }),
            &["name"],
        ),
        "client" => object(
            json!({ "clients": string_or_list("The sign-in is for one of these client ids"), "negate": negate() }),
            &["clients"],
        ),
        "ip-range" => object(
            json!({
                "cidrs": string_or_list("The client's address is in one of these CIDRs, e.g. 10.0.0.0/8"),
                "negate": negate()
            }),
            &["cidrs"],
        ),
        _ => return None,
    })
}

/// A config this table does not describe (a test keeps the table complete).
fn any_config() -> Value {
    json!({ "type": ["object", "null"] })
}

/// `if name == N then config: schema(N)` for every name of a registry.
fn config_by_name(key: &str, names: &[&str], config: fn(&str) -> Option<Value>) -> Value {
    let rules: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({
                "if": { "properties": { key: { "const": n } }, "required": [key] },
                "then": { "properties": { "config": config(n).unwrap_or_else(any_config) } }
            })
        })
        .collect();
    json!(rules)
}

fn requirement(allowed: &[&str], description: &str) -> Value {
    json!({ "enum": allowed, "description": description })
}

pub fn flow_schema() -> Value {
    let auth_names = authenticators::names();
    let cond_names = conditions::names();
    let mut authenticator = object(
        json!({
            "authenticator": { "enum": auth_names, "description": "What this step asks or checks" },
            "requirement": requirement(
                &["required", "alternative", "disabled"],
                "required: must succeed; alternative: one success among a level's alternatives is enough; \
                 disabled: skipped"
            ),
            "config": { "description": "Settings of the authenticator" }
        }),
        &["authenticator", "requirement"],
    );
    authenticator["allOf"] = config_by_name("authenticator", &auth_names, authenticator_config);
    let mut condition = object(
        json!({
            "condition": { "enum": cond_names, "description": "Decides whether its conditional subflow runs" },
            "requirement": requirement(&["required", "disabled"], "Conditions are required or disabled"),
            "config": { "description": "Settings of the condition" }
        }),
        &["condition", "requirement"],
    );
    condition["allOf"] = config_by_name("condition", &cond_names, condition_config);
    let subflow = object(
        json!({
            "subflow": { "type": "string", "description": "A name for the subflow (shown in graphs and traces)" },
            "requirement": requirement(&["required", "alternative", "conditional", "disabled"],
                "conditional: runs only when all its conditions hold"),
            "steps": { "type": "array", "items": { "$ref": "#/$defs/step" }, "minItems": 1 }
        }),
        &["subflow", "requirement", "steps"],
    );
    let mut root = object(
        json!({
            "flow": { "type": "string", "description": "The flow's name, as realms bind it (flows.browser: NAME)" },
            "description": { "type": "string" },
            "steps": { "type": "array", "items": { "$ref": "#/$defs/step" }, "minItems": 1 }
        }),
        &["flow", "steps"],
    );
    root["$schema"] = json!(DRAFT);
    root["$id"] = json!("urn:gatehouse:schema:flow");
    root["title"] = json!("Gatehouse flow file");
    root["$defs"] = json!({
        "step": {
            "description": "Exactly one of: authenticator, condition, subflow",
            "oneOf": [
                described(authenticator, "An authenticator step"),
                described(condition, "A condition (only inside a conditional subflow)"),
                described(subflow, "A subflow of steps")
            ]
        }
    });
    root
}

fn duration() -> Value {
    json!({
        "description": "A duration such as 90s, 5m, 10h or 7d (or a number of seconds)",
        "oneOf": [
            { "type": "string", "pattern": "^\\s*[0-9]+[smhd]?\\s*$" },
            { "type": "integer", "minimum": 1 }
        ]
    })
}

fn count() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

fn uri_list(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "description": description })
}

fn client_schema() -> Value {
    object(
        json!({
            "client_id": { "type": "string", "minLength": 1 },
            "name": { "type": "string" },
            "secret": { "type": "string", "pattern": "^\\$\\{env:[^}]+\\}$",
                "description": "Only as ${env:NAME}: secrets are never written in realm files" },
            "secret_hash": { "type": "string", "pattern": "^sha256:[0-9a-fA-F]{64}$" },
            "redirect_uris": uri_list("Exact-match redirect URIs"),
            "post_logout_redirect_uris": uri_list("Where RP-initiated logout may return"),
            "grant_types": { "type": "array",
                "items": { "enum": ["authorization_code", "refresh_token", "client_credentials", "password"] } },
            "pkce": { "enum": ["required", "optional"] },
            "browser_flow": { "type": "string", "description": "Overrides the realm's browser flow for this client" },
            "service_account_roles": { "type": "array", "items": { "type": "string" },
                "description": "Realm roles of the client's own client_credentials tokens" },
            "admin_api": { "type": "boolean",
                "description": "Master realm: the admin API accepts tokens this client got for users" },
            "introspection": { "type": "boolean",
                "description": "A resource server: may introspect access tokens issued to other clients" },
            "scopes": { "type": "array", "items": { "type": "string" },
                "description": "The scopes it may ask for (default: openid, profile, email, offline_access); each standard or one of the realm's scopes" },
            "web_origins": { "type": "array", "items": { "type": "string" },
                "description": "Origins (scheme://host[:port]) whose scripts may call the token, userinfo, logout and account APIs for it (CORS); '+' for those of its redirect URIs" },
            "roles": { "type": "array", "items": { "type": "string" }, "uniqueItems": true,
                "description": "The client's own roles (Keycloak's client roles), granted to users; tokens carry them in resource_access.{client_id}.roles" }
        }),
        &["client_id"],
    )
}

fn policies() -> Value {
    json!({
        "flows": object(json!({
            "browser": { "type": "string" },
            "direct_grant": { "type": "string" },
            "reset_credentials": { "type": "string" }
        }), &[]),
        "password_policy": object(json!({
            "min_length": count(),
            "require": { "type": "array", "items": { "enum": ["upper", "lower", "digit", "special"] } },
            "history": count()
        }), &[]),
        "otp_policy": object(json!({
            "type": { "enum": ["totp"] },
            "algorithm": { "enum": ["SHA1", "SHA256", "SHA512"] },
            "digits": { "enum": [6, 8] },
            "period": { "type": "integer", "minimum": 1 },
            "look_around": count()
        }), &[]),
        "brute_force": object(json!({
            "max_failures": count(),
            "wait_increment": duration(),
            "max_wait": duration()
        }), &[]),
        "account": object(json!({
            "max_auth_age": duration(),
            "required_second_factor": { "type": "boolean", "description": "Every user keeps a second factor: the last one cannot be removed" },
            "second_factor_roles": { "type": "array", "items": { "type": "string" }, "uniqueItems": true,
                "description": "Realm roles whose holders keep a second factor" }
        }), &[]),
        "pat": object(json!({
            "max_ttl": duration(),
            "scopes": { "type": "array", "items": { "type": "string" }, "uniqueItems": true,
                "description": "Scopes users may give their personal access tokens (default: openid, profile, email)" }
        }), &[]),
        "trusted_devices": object(json!({
            "enabled": { "type": "boolean", "description": "Offer 'Remember this device' on second-factor pages" },
            "days": { "type": "integer", "minimum": 1, "maximum": 365, "description": "How long a remembered device skips the second factor" }
        }), &[]),
        "webauthn": object(json!({
            "rp_name": { "type": "string", "description": "The name authenticators show (default: the realm's display name)" },
            "user_verification": { "enum": ["required", "discouraged"],
                "description": "Whether a security key must verify its user (PIN or biometric) or a touch is enough; passkeys always verify" },
            "allowed_aaguids": { "type": "array", "items": { "type": "string" }, "uniqueItems": true,
                "description": "Authenticator models (AAGUIDs) allowed to register; empty: any" },
            "attestation": { "enum": ["none", "direct"],
                "description": "direct: an authenticator must prove its model with an attestation chaining to attestation_roots" },
            "attestation_roots": { "type": "array", "items": { "type": "string" },
                "description": "PEM root certificates of the authenticator makers trusted under attestation: direct" },
            "resident_key": { "enum": ["discouraged", "preferred", "required"],
                "description": "Whether a security key must keep a discoverable credential; passkeys always do" }
        }), &[]),
        "acr": object(json!({
            "loa_map": { "type": "object", "additionalProperties": { "type": "integer", "minimum": 1, "maximum": 2 },
                "description": "Levels apps may ask for with acr_values, each 1 (one factor) or 2 (two factors), e.g. { silver: 1, gold: 2 }" }
        }), &[]),
        "login_notifications": { "type": "boolean",
            "description": "Mail users when they sign in from a browser, device or place not seen in 90 days, with a 'this wasn't me' link" },
        "mail": object(json!({
            "from": { "type": "string", "description": "The sender, e.g. 'Demo <no-reply@example.com>'" },
            "outbox": { "type": "string", "description": "Write each message as an .eml file in this directory instead of sending it" },
            "smtp": object(json!({
                "host": { "type": "string" },
                "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
                "tls": { "enum": ["starttls", "tls", "none"] },
                "user": { "type": "string" },
                "password": { "type": "string", "pattern": "^\\$\\{env:[A-Za-z0-9_]+\\}$", "description": "Only as ${env:NAME}" }
            }), &["host"]),
            "link_ttl": duration(),
            "per_address_per_hour": { "type": "integer", "minimum": 1 },
            "per_ip_per_hour": { "type": "integer", "minimum": 1 },
            "retry_after": duration()
        }), &["from"]),
        "sms": object(json!({
            "webhook": { "type": "string", "description": "Post each text here as signed JSON {to, body, realm} (https; http only to localhost)" },
            "secret": { "type": "string", "pattern": "^\\$\\{env:[A-Za-z0-9_]+\\}$", "description": "The webhook's signing key, only as ${env:NAME}" },
            "outbox": { "type": "string", "description": "Write each text as a .json file in this directory instead of posting it" },
            "allowed_prefixes": { "type": "array", "items": { "type": "string", "pattern": "^\\+[0-9]{1,15}$" },
                "description": "Only numbers starting with one of these are texted (e.g. +49); empty: any" },
            "per_number_per_hour": { "type": "integer", "minimum": 1 },
            "per_user_per_hour": { "type": "integer", "minimum": 1 },
            "per_ip_per_hour": { "type": "integer", "minimum": 1 },
            "retry_after": duration()
        }), &[]),
        "tokens": object(json!({
            "access_ttl": duration(),
            "refresh_ttl": duration(),
            "code_ttl": duration(),
            "sso_idle": duration(),
            "sso_max": duration(),
            "signing_alg": { "enum": ["RS256", "ES256", "EdDSA"] },
            "roles_claim": { "type": "string", "description": "Claim carrying the user's realm roles; empty for none" },
            "default_scopes": { "type": "array", "uniqueItems": true,
                "items": { "enum": ["profile", "email", "roles", "web-origins"] },
                "description": "Scopes in force for every token, as Keycloak's default client scopes (default: all four)" }
        }), &[])
    })
}

pub fn realm_schema() -> Value {
    let mut properties = json!({
        "realm": { "type": "string", "pattern": "^[a-z0-9_-]+$", "description": "The realm's name, in its URLs" },
        "display_name": { "type": "string" },
        "theme": { "type": "string" },
        "required_actions": {
            "type": "object",
            "propertyNames": { "enum": crate::flow::actions::names() },
            "additionalProperties": object(json!({
                "enabled": { "type": "boolean" },
                "default": { "type": "boolean", "description": "Every new user gets this action" }
            }), &[])
        },
        "roles": { "type": "array", "items": { "type": "string" }, "uniqueItems": true },
        "scopes": { "type": "array", "items": { "type": "string" }, "uniqueItems": true,
            "description": "Scopes beyond openid, profile, email and offline_access that clients may list" },
        "clients": { "type": "array", "items": client_schema() }
    });
    if let (Some(target), Some(extra)) = (properties.as_object_mut(), policies().as_object().cloned()) {
        target.extend(extra);
    }
    let mut root = object(properties, &["realm"]);
    root["$schema"] = json!(DRAFT);
    root["$id"] = json!("urn:gatehouse:schema:realm");
    root["title"] = json!("Gatehouse realm file");
    root
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;

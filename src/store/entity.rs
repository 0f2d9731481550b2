//! sea-orm entities, one module per table (see `migrations/` for the schema).
//! Times are Unix seconds.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod user {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub realm: String,
        pub username: String,
        pub email: Option<String>,
        pub email_verified: bool,
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        pub enabled: bool,
        pub created_at: i64,
        /// The username's NFKC, case-folded form: what it is unique and looked up by.
        pub username_key: String,
        /// The lower-cased email address where the realm wants addresses unique, else `None`.
        pub email_key: Option<String>,
    }
    no_relations!();
}

pub mod required_action {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_required_actions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub action: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod credential {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        /// `password`, `otp`, `recovery-code`, …
        pub kind: String,
        /// A hash (passwords, recovery codes) or ciphertext (OTP secrets); never plain text.
        pub secret: String,
        pub label: Option<String>,
        /// For OTP: the last accepted time step, so a code cannot be used twice.
        pub last_step: Option<i64>,
        pub created_at: i64,
        pub last_used_at: Option<i64>,
    }
    no_relations!();
}

pub mod sso_session {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sso_sessions")]
    pub struct Model {
        /// The public session id (`sid` in tokens).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// SHA-256 of the cookie value; the cookie itself is never stored.
        pub token_hash: String,
        pub realm: String,
        pub user_id: String,
        pub auth_time: i64,
        /// JSON array of RFC 8176 method references.
        pub amr: String,
        pub acr: Option<String>,
        pub created_at: i64,
        pub last_seen_at: i64,
        /// The hard (maximum-lifetime) end of the session.
        pub expires_at: i64,
        pub ended_at: Option<i64>,
        pub ip: Option<String>,
        pub user_agent: Option<String>,
    }
    no_relations!();
}

pub mod auth_session {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_sessions")]
    pub struct Model {
        /// SHA-256 of the cookie value.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub realm: String,
        pub client_id: String,
        /// The validated authorization request (JSON).
        pub request: String,
        /// The flow execution state (JSON).
        pub state: String,
        pub created_at: i64,
        pub updated_at: i64,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod grant {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub realm: String,
        pub client_id: String,
        pub user_id: Option<String>,
        pub session_id: Option<String>,
        pub scope: String,
        /// Sign-in facts carried into refreshed tokens (JSON: auth_time, nonce, amr, acr, claims).
        pub data: String,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod auth_code {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code_hash: String,
        pub realm: String,
        pub client_id: String,
        pub user_id: String,
        pub session_id: String,
        pub redirect_uri: String,
        /// Scope, nonce, PKCE challenge and sign-in facts (JSON).
        pub data: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
        /// The grant the first exchange created; revoked if the code is presented again.
        pub grant_id: Option<String>,
    }
    no_relations!();
}

pub mod refresh_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub grant_id: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
    }
    no_relations!();
}

pub mod revoked_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revoked_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod signing_key {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub realm: String,
        pub alg: String,
        /// PKCS#8 DER sealed with the master key (base64).
        pub private_key: String,
        pub public_jwk: String,
        pub created_at: i64,
        pub retired_at: Option<i64>,
    }
    no_relations!();
}

pub mod realm_snapshot {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "realm_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub realm: String,
        pub content_hash: String,
        pub content: String,
        pub applied_at: i64,
    }
    no_relations!();
}

pub mod event {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub realm: String,
        pub kind: String,
        pub user_id: Option<String>,
        pub client_id: Option<String>,
        pub ip: Option<String>,
        pub user_agent: Option<String>,
        pub details: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod user_role {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub role: String,
    }
    no_relations!();
}

pub mod user_client_role {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_client_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub role: String,
    }
    no_relations!();
}

pub mod user_attribute {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_attributes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: String,
    }
    no_relations!();
}

pub mod login_failure {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_failures")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub realm: String,
        /// `user:<id>` or `ip:<address>`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject: String,
        pub failures: i32,
        pub last_failure_at: i64,
        pub locked_until: i64,
        /// Attempts reserved and not yet judged (see `Store::reserve_attempt`).
        pub in_flight: i32,
        /// When the last of them was reserved: reservations older than a request can live
        /// were lost with their request and no longer count.
        pub in_flight_since: i64,
        /// The `locked_until` whose refusals have been logged (once per lockout window).
        pub refusal_logged_until: i64,
    }
    no_relations!();
}

pub mod personal_access_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "personal_access_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub realm: String,
        pub user_id: String,
        pub name: String,
        /// SHA-256 (hex) of the token; the token itself is shown once and never stored.
        pub token_hash: String,
        /// Space-separated scopes.
        pub scope: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub last_used_at: Option<i64>,
        pub last_used_ip: Option<String>,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod outbox {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub realm: String,
        /// `mail` or `sms`.
        pub channel: String,
        /// The address or number it goes to (lower-cased), for the per-recipient limits.
        pub recipient: String,
        pub requested_by_ip: Option<String>,
        /// Which message it is (`password-reset`, …), for `gatehouse mail status`.
        pub template: String,
        /// The rendered message and how to deliver it, sealed with the master key (it may carry
        /// a single-use link); emptied once sent.
        pub payload: String,
        /// `pending`, `sent` or `failed` (given up).
        pub state: String,
        pub attempts: i32,
        pub next_attempt_at: i64,
        /// A node is sending it until then; another may take it over afterwards.
        pub claimed_until: Option<i64>,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub sent_at: Option<i64>,
        /// Whom it is for, where the limits count per user (texts).
        pub user_id: Option<String>,
    }
    no_relations!();
}

pub mod trusted_device {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trusted_devices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub realm: String,
        pub user_id: String,
        /// SHA-256 of the secret in the browser's cookie.
        pub secret_hash: String,
        /// The browser and system, from the User-Agent.
        pub name: String,
        pub created_at: i64,
        pub last_used_at: i64,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod phone_number {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "phone_numbers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub realm: String,
        /// The verified number (E.164), which SMS codes go to.
        pub number: Option<String>,
        pub verified_at: Option<i64>,
        /// A number being verified; it replaces `number` once its code is entered.
        pub pending_number: Option<String>,
        /// HMAC of the code sent to `pending_number` under the master key.
        pub code_mac: Option<String>,
        pub code_expires_at: Option<i64>,
        pub code_attempts: i32,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod action_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "action_tokens")]
    pub struct Model {
        /// SHA-256 (hex) of the link's key; the key itself is only in the message.
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub realm: String,
        /// `reset-credentials`, `verify-email`.
        pub kind: String,
        pub user_id: String,
        /// The sign-in (authentication session id) that asked for it, if any.
        pub auth_session_id: Option<String>,
        /// What the link confirms (the email address it was sent to).
        pub data: Option<String>,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
    }
    no_relations!();
}

pub mod organization {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organizations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub realm: String,
        pub name: String,
        /// Unique in the realm; what realm files and tokens name it by.
        pub alias: String,
        pub description: Option<String>,
        pub redirect_url: Option<String>,
        pub enabled: bool,
        pub require_second_factor: bool,
        /// CIDRs separated by spaces; empty: any address.
        pub ip_allowlist: String,
        pub session_max_secs: Option<i64>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod organization_domain {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organization_domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub realm: String,
        /// Lower case.
        #[sea_orm(primary_key, auto_increment = false)]
        pub domain: String,
        pub organization_id: String,
        pub verified: bool,
    }
    no_relations!();
}

pub mod organization_member {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organization_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub organization_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// Organization roles separated by spaces.
        pub roles: String,
        pub joined_at: i64,
        /// The invite link they joined through, if any.
        pub invite_id: Option<String>,
    }
    no_relations!();

    impl Model {
        pub fn role_list(&self) -> Vec<String> {
            self.roles.split_ascii_whitespace().map(String::from).collect()
        }
    }
}

pub mod organization_invite {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organization_invites")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub organization_id: String,
        /// SHA-256 (hex) of the link's secret; the secret itself is only in the link.
        pub token_hash: String,
        /// The organization role a person joining through it gets.
        pub role: String,
        pub expires_at: i64,
        /// `None`: any number of uses until it expires.
        pub max_uses: Option<i64>,
        pub uses: i64,
        /// Only addresses at this domain may join through it.
        pub email_domain: Option<String>,
        pub created_by: String,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod federated_identity {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "federated_identities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub realm: String,
        /// The realm's alias of the upstream provider.
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider: String,
        /// The account's stable id at the provider (`sub`, GitHub's numeric id).
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject: String,
        pub user_id: String,
        pub upstream_username: Option<String>,
        pub email: Option<String>,
        pub created_at: i64,
    }
    no_relations!();
}

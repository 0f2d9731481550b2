//! A scratch Gatehouse for `flow simulate` and `flow test`: a temporary directory with a
//! generated realm (one client, the flow under test bound as its browser flow), a fresh SQLite
//! database, a random master key and cheap password hashing — and in it, the described user
//! with their credentials, roles and attributes, created through the same functions the CLI
//! and the engine use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::config::{Overrides, Settings};
use crate::crypto::{self, PasswordParams, totp};
use crate::flow::authenticators::{normalize_recovery_code, otp_context};
use crate::state::{AppState, RealmRuntime};

pub const REALM: &str = "simulation";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
/// The password every simulated user has.
pub const PASSWORD: &str = "Simulated-Passw0rd!";

/// A credential a simulated user can have besides the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Credential {
    /// An authenticator app (TOTP device)
    Otp,
    /// Recovery codes (they come with an OTP device)
    RecoveryCode,
    /// A passkey: the passkey page shows (a simulation has no authenticator to answer it)
    Passkey,
    /// A security key as second factor: its page shows (answer `use-otp` to go on with a code)
    SecurityKey,
}

/// The user a simulation signs in as.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserSpec {
    pub username: String,
    /// `false`: nobody has this username (the answers still use it).
    pub exists: bool,
    pub has: Vec<Credential>,
    pub roles: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    /// Required actions pending for the user (e.g. configure-otp).
    pub required_actions: Vec<String>,
}

impl Default for UserSpec {
    fn default() -> Self {
        UserSpec {
            username: "alice".into(),
            exists: true,
            has: vec![],
            roles: vec![],
            attributes: BTreeMap::new(),
            required_actions: vec![],
        }
    }
}

/// The simulated user as created: what the answers need to know.
#[derive(Debug, Clone, Default)]
pub struct SimUser {
    pub id: Option<String>,
    pub username: String,
    pub otp_secret: Option<Vec<u8>>,
    pub otp_credential: Option<String>,
    pub recovery_codes: Vec<String>,
    pub next_recovery_code: usize,
}

pub struct Sandbox {
    pub app: Arc<AppState>,
    pub realm: Arc<RealmRuntime>,
    pub user: SimUser,
    /// Last, so the database closes before its directory goes.
    _dir: TempDir,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn realm_file(flow: &str, client: &str, roles: &[String]) -> String {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    // Every required action the engine knows is enabled, so a simulation can ask for any.
    let actions: serde_json::Map<String, serde_json::Value> = crate::flow::actions::names()
        .into_iter()
        .map(|name| (name.to_string(), json!({ "enabled": true })))
        .collect();
    let realm = json!({
        "realm": REALM,
        "display_name": "Simulation",
        "flows": { "browser": flow },
        "tokens": { "signing_alg": "EdDSA" },
        "required_actions": actions,
        "roles": roles,
        "trusted_devices": { "enabled": true, "days": 30 },
        "webauthn": {},
        "clients": [{ "client_id": client, "redirect_uris": [REDIRECT_URI] }]
    });
    // JSON is YAML.
    serde_json::to_string_pretty(&realm).unwrap_or_default()
}

impl Sandbox {
    /// Starts a scratch server state whose browser flow is the flow in `flow_file`.
    pub async fn new(flow_file: &Path, flow: &str, client: &str, roles: &[String]) -> Result<Sandbox, String> {
        let guard = TempDir(std::env::temp_dir().join(format!("gatehouse-simulate-{}", crypto::new_id())));
        let dir = guard.0.clone();
        let (realms, flows) = (dir.join("realms"), dir.join("flows"));
        let mk = |p: &Path| std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()));
        mk(&realms)?;
        mk(&flows)?;
        let text = std::fs::read_to_string(flow_file).map_err(|e| format!("{}: {e}", flow_file.display()))?;
        let write =
            |p: PathBuf, t: &str| std::fs::write(&p, t).map_err(|e| format!("cannot write {}: {e}", p.display()));
        write(flows.join("flow-under-test.yaml"), &text)?;
        write(realms.join("simulation.yaml"), &realm_file(flow, client, roles))?;
        let mut settings = Settings::resolve(Overrides {
            database_url: Some(format!("sqlite://{}", dir.join("simulation.db").display())),
            realms_dir: Some(realms),
            flows_dir: Some(flows),
            master_key: Some(base64::engine::general_purpose::STANDARD.encode(crypto::random_bytes(32))),
            master_key_file: Some(dir.join("master.key")),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        settings.password_hashing = PasswordParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        settings.max_concurrent_hashes = 1;
        // The sandbox's own realm file is what it simulates: apply it.
        settings.apply_realms_on_start = true;
        let app = crate::app::load_for_serving(settings)
            .await
            .map_err(|e| e.to_string())?;
        let realm = app.realm(REALM).ok_or("the simulation realm did not load")?;
        Ok(Sandbox {
            app,
            realm,
            user: SimUser::default(),
            _dir: guard,
        })
    }

    /// Makes the simulated browser a device the user trusted; returns its cookie's value.
    pub async fn trust_this_device(&self) -> Result<String, String> {
        let user_id = self.user.id.clone().ok_or("--trusted-device needs a user who exists")?;
        let secret = crypto::random_token();
        let id = self
            .app
            .store
            .add_trusted_device(
                REALM,
                &user_id,
                "simulated browser",
                crypto::sha256_hex(secret.as_bytes()),
                30,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("{id}.{secret}"))
    }

    /// Creates the described user (unless it must not exist) with its credentials.
    pub async fn add_user(&mut self, spec: &UserSpec) -> Result<(), String> {
        self.user = SimUser {
            username: spec.username.clone(),
            ..Default::default()
        };
        if !spec.exists {
            return Ok(());
        }
        let app = self.app.clone();
        let user = crate::admin::create_user(&app, REALM, &spec.username, None, Some(PASSWORD))
            .await
            .map_err(|e| e.to_string())?;
        let store = &app.store;
        let err = |e: crate::store::StoreError| e.to_string();
        if spec.has.contains(&Credential::Otp) {
            self.add_otp(&user.id, spec.has.contains(&Credential::RecoveryCode))
                .await?;
        } else if spec.has.contains(&Credential::RecoveryCode) {
            return Err("recovery codes come with an authenticator app: give the user otp too".into());
        }
        for (has, kind) in [
            (Credential::Passkey, crate::webauthn::PASSKEY),
            (Credential::SecurityKey, crate::webauthn::SECURITY_KEY),
        ] {
            if spec.has.contains(&has) {
                // A stand-in for a registered key: flows see it; no authenticator holds it.
                let data = json!({ "key": {}, "aaguid": "00000000-0000-0000-0000-000000000000" }).to_string();
                store
                    .add_webauthn_key(&user.id, kind, Some("simulated".into()), data, "-")
                    .await
                    .map_err(err)?;
            }
        }
        for role in &spec.roles {
            store.grant_role(&user.id, role).await.map_err(err)?;
        }
        for (name, value) in &spec.attributes {
            store.set_attribute(&user.id, name, value).await.map_err(err)?;
        }
        for action in &spec.required_actions {
            crate::admin::require_action(&app, REALM, &spec.username, action)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.user.id = Some(user.id);
        Ok(())
    }

    /// An OTP device (as `configure-otp` stores one: sealed secret, spent first step) and,
    /// if asked, ten recovery codes.
    async fn add_otp(&mut self, user_id: &str, with_codes: bool) -> Result<(), String> {
        let secret = totp::new_secret(&self.realm.realm.otp_policy);
        let credential_id = crypto::new_id();
        let sealed = self.app.master_key.seal(&otp_context(&credential_id), &secret);
        let codes: Vec<String> = if with_codes {
            (1..=10)
                .map(|i| format!("sim{i:02}-{}", &crypto::sha256_hex(crypto::new_id().as_bytes())[..8]))
                .collect()
        } else {
            vec![]
        };
        let hashes = codes
            .iter()
            .map(|c| crypto::sha256_hex(normalize_recovery_code(c).as_bytes()))
            .collect();
        self.app
            .store
            .configure_otp(
                user_id,
                &credential_id,
                sealed,
                Some("simulated device".into()),
                0,
                hashes,
            )
            .await
            .map_err(|e| e.to_string())?;
        self.user.otp_secret = Some(secret);
        self.user.otp_credential = Some(credential_id);
        self.user.recovery_codes = codes;
        Ok(())
    }
}

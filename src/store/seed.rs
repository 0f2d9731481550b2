//! Bulk data for benchmarks: many users (sharing one password hash) and live SSO sessions,
//! inserted in large multi-row statements so that a million of each takes minutes.

use sea_orm::{EntityTrait, TransactionTrait};

use super::entity::{credential, sso_session, user};
use super::{Result, Store, now};
use crate::crypto;

/// Rows per INSERT statement (SQLite allows 32,766 parameters; users have 9 columns).
const BATCH: u64 = 1000;

/// What to insert.
#[derive(Debug, Clone)]
pub struct Seed {
    pub realm: String,
    /// Usernames are `{prefix}{n}` (n zero-padded to 7 digits), emails `{prefix}{n}@example.test`.
    pub prefix: String,
    pub users: u64,
    /// Live SSO sessions, one for each of the first `sessions` users.
    pub sessions: u64,
    /// The argon2id PHC string every seeded user's password gets.
    pub password_hash: String,
    /// How long the sessions live, in seconds.
    pub session_ttl: i64,
}

impl Store {
    /// Inserts `seed`'s users and sessions; `progress` is called with the users done so far
    /// after each batch. Returns the number of users inserted.
    pub async fn seed(&self, seed: &Seed, mut progress: impl FnMut(u64)) -> Result<u64> {
        let t = now();
        let mut done = 0;
        while done < seed.users {
            let n = BATCH.min(seed.users - done);
            let mut users = Vec::with_capacity(n as usize);
            let mut passwords = Vec::with_capacity(n as usize);
            let mut sessions = Vec::new();
            for i in done..done + n {
                let id = crypto::new_id();
                let name = format!("{}{i:07}", seed.prefix);
                users.push(user::ActiveModel {
                    id: sea_orm::Set(id.clone()),
                    realm: sea_orm::Set(seed.realm.clone()),
                    username: sea_orm::Set(name.clone()),
                    email: sea_orm::Set(Some(format!("{name}@example.test"))),
                    email_verified: sea_orm::Set(false),
                    first_name: sea_orm::Set(None),
                    last_name: sea_orm::Set(None),
                    enabled: sea_orm::Set(true),
                    created_at: sea_orm::Set(t),
                    username_key: sea_orm::Set(super::username_key(&name)),
                    email_key: sea_orm::Set(None),
                });
                passwords.push(credential::ActiveModel {
                    id: sea_orm::Set(crypto::new_id()),
                    user_id: sea_orm::Set(id.clone()),
                    kind: sea_orm::Set(super::PASSWORD.into()),
                    secret: sea_orm::Set(seed.password_hash.clone()),
                    label: sea_orm::Set(None),
                    last_step: sea_orm::Set(None),
                    created_at: sea_orm::Set(t),
                    last_used_at: sea_orm::Set(None),
                });
                if i < seed.sessions {
                    sessions.push(sso_session::ActiveModel {
                        id: sea_orm::Set(crypto::new_id()),
                        token_hash: sea_orm::Set(crypto::sha256_hex(crypto::random_token().as_bytes())),
                        realm: sea_orm::Set(seed.realm.clone()),
                        user_id: sea_orm::Set(id),
                        auth_time: sea_orm::Set(t),
                        amr: sea_orm::Set("[\"pwd\"]".into()),
                        acr: sea_orm::Set(Some("1".into())),
                        created_at: sea_orm::Set(t),
                        last_seen_at: sea_orm::Set(t),
                        expires_at: sea_orm::Set(t + seed.session_ttl),
                        ended_at: sea_orm::Set(None),
                        ip: sea_orm::Set(None),
                        user_agent: sea_orm::Set(None),
                    });
                }
            }
            let txn = self.db.begin().await?;
            user::Entity::insert_many(users).exec(&txn).await?;
            credential::Entity::insert_many(passwords).exec(&txn).await?;
            if !sessions.is_empty() {
                sso_session::Entity::insert_many(sessions).exec(&txn).await?;
            }
            txn.commit().await?;
            done += n;
            progress(done);
        }
        Ok(done)
    }
}

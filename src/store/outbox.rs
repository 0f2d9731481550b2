//! The outbox: outgoing messages as a durable queue. A request only inserts; every node's
//! worker claims due messages one at a time (a conditional update, so two nodes never hold the
//! same one), sends, and marks them sent — or schedules a retry.

use sea_orm::Condition;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entity::{action_token, outbox};
use super::{Result, Store, now};

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub realm: String,
    pub channel: String,
    pub recipient: String,
    pub requested_by_ip: Option<String>,
    pub template: String,
    /// Sealed (see [`outbox::Model::payload`]).
    pub payload: String,
    /// Whom it is for, where limits count per user.
    pub user_id: Option<String>,
}

/// A single-use link to record (only its hash).
#[derive(Debug, Clone)]
pub struct NewActionToken {
    pub token_hash: String,
    pub realm: String,
    pub kind: String,
    pub user_id: String,
    pub auth_session_id: Option<String>,
    pub data: Option<String>,
    pub ttl_secs: i64,
}

/// How the outbox of a realm (or all realms) stands.
#[derive(Debug, Clone, Default)]
pub struct OutboxStatus {
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
    /// The latest messages that failed at least once, newest first.
    pub problems: Vec<outbox::Model>,
}

/// Not held by any node (never claimed, or its lease ended).
fn unclaimed(t: i64) -> Condition {
    Condition::any()
        .add(outbox::Column::ClaimedUntil.is_null())
        .add(outbox::Column::ClaimedUntil.lt(t))
}

impl Store {
    /// Queues a message, and with it (in the same transaction) the link it carries, if any.
    pub async fn enqueue_message(&self, message: NewMessage, token: Option<NewActionToken>) -> Result<String> {
        let t = now();
        let id = crate::crypto::new_id();
        let txn = self.write_txn().await?;
        if let Some(token) = token {
            action_token::ActiveModel {
                token_hash: Set(token.token_hash),
                realm: Set(token.realm),
                kind: Set(token.kind),
                user_id: Set(token.user_id),
                auth_session_id: Set(token.auth_session_id),
                data: Set(token.data),
                created_at: Set(t),
                expires_at: Set(t + token.ttl_secs),
                used_at: Set(None),
            }
            .insert(&txn)
            .await?;
        }
        outbox::ActiveModel {
            id: Set(id.clone()),
            realm: Set(message.realm),
            channel: Set(message.channel),
            recipient: Set(message.recipient),
            requested_by_ip: Set(message.requested_by_ip),
            template: Set(message.template),
            payload: Set(message.payload),
            state: Set(PENDING.into()),
            attempts: Set(0),
            next_attempt_at: Set(t),
            claimed_until: Set(None),
            last_error: Set(None),
            created_at: Set(t),
            sent_at: Set(None),
            user_id: Set(message.user_id),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(id)
    }

    /// Messages of `template` queued since `since` for `recipient`, and messages of any kind
    /// for the client address `ip`.
    pub async fn recent_messages(
        &self,
        recipient: &str,
        template: &str,
        ip: Option<&str>,
        since: i64,
    ) -> Result<(u64, u64)> {
        let to_recipient = outbox::Entity::find()
            .filter(outbox::Column::Recipient.eq(recipient))
            .filter(outbox::Column::Template.eq(template))
            .filter(outbox::Column::CreatedAt.gte(since))
            .count(&self.db)
            .await?;
        let from_ip = match ip {
            Some(ip) => {
                outbox::Entity::find()
                    .filter(outbox::Column::RequestedByIp.eq(ip))
                    .filter(outbox::Column::CreatedAt.gte(since))
                    .count(&self.db)
                    .await?
            }
            None => 0,
        };
        Ok((to_recipient, from_ip))
    }

    /// Messages on `channel` queued since `since` for `user_id`, whatever their recipient.
    pub async fn recent_messages_for_user(&self, user_id: &str, channel: &str, since: i64) -> Result<u64> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::UserId.eq(user_id))
            .filter(outbox::Column::Channel.eq(channel))
            .filter(outbox::Column::CreatedAt.gte(since))
            .count(&self.db)
            .await?)
    }

    /// Claims the next due message for `lease_secs`: this node sends it, no other may until the
    /// lease ends (a node that dies mid-send leaves it to the next). Counts the attempt.
    pub async fn claim_due_message(&self, lease_secs: i64) -> Result<Option<outbox::Model>> {
        // A few rounds: another node may take the candidate between the read and the update.
        for _ in 0..4 {
            let t = now();
            let Some(candidate) = outbox::Entity::find()
                .filter(outbox::Column::State.eq(PENDING))
                .filter(outbox::Column::NextAttemptAt.lte(t))
                .filter(unclaimed(t))
                .order_by_asc(outbox::Column::NextAttemptAt)
                .limit(1)
                .one(&self.db)
                .await?
            else {
                return Ok(None);
            };
            let claimed = outbox::Entity::update_many()
                .col_expr(outbox::Column::ClaimedUntil, Expr::value(t + lease_secs))
                .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(1))
                .filter(outbox::Column::Id.eq(&candidate.id))
                .filter(outbox::Column::State.eq(PENDING))
                .filter(unclaimed(t))
                .exec(&self.db)
                .await?;
            if claimed.rows_affected == 1 {
                return Ok(Some(outbox::Model {
                    attempts: candidate.attempts + 1,
                    claimed_until: Some(t + lease_secs),
                    ..candidate
                }));
            }
        }
        Ok(None)
    }

    /// The message went out: its content (and link) is dropped, the row stays for the status.
    pub async fn mark_message_sent(&self, id: &str) -> Result<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::State, Expr::value(SENT))
            .col_expr(outbox::Column::Payload, Expr::value(""))
            .col_expr(outbox::Column::SentAt, Expr::value(now()))
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<i64>::None))
            .col_expr(outbox::Column::LastError, Expr::value(Option::<String>::None))
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A send failed: try again at `retry_at`, or give up (`None`; the content is dropped).
    pub async fn mark_message_failed(&self, id: &str, error: &str, retry_at: Option<i64>) -> Result<()> {
        let mut update = outbox::Entity::update_many()
            .col_expr(outbox::Column::LastError, Expr::value(error))
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<i64>::None));
        update = match retry_at {
            Some(at) => update.col_expr(outbox::Column::NextAttemptAt, Expr::value(at)),
            None => update
                .col_expr(outbox::Column::State, Expr::value(FAILED))
                .col_expr(outbox::Column::Payload, Expr::value("")),
        };
        update.filter(outbox::Column::Id.eq(id)).exec(&self.db).await?;
        Ok(())
    }

    /// Counts by state and the latest problems, for one realm or all.
    pub async fn outbox_status(&self, realm: Option<&str>, problems: u64) -> Result<OutboxStatus> {
        let mut status = OutboxStatus::default();
        for state in [PENDING, SENT, FAILED] {
            let mut q = outbox::Entity::find().filter(outbox::Column::State.eq(state));
            if let Some(r) = realm {
                q = q.filter(outbox::Column::Realm.eq(r));
            }
            let n = q.count(&self.db).await?;
            match state {
                PENDING => status.pending = n,
                SENT => status.sent = n,
                _ => status.failed = n,
            }
        }
        let mut q = outbox::Entity::find().filter(outbox::Column::LastError.is_not_null());
        if let Some(r) = realm {
            q = q.filter(outbox::Column::Realm.eq(r));
        }
        status.problems = q
            .order_by_desc(outbox::Column::CreatedAt)
            .limit(super::sql_count(problems))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| outbox::Model {
                payload: String::new(),
                ..m
            })
            .collect();
        Ok(status)
    }

    /// Whether the realm's latest delivery attempt on `channel` (`mail`, `sms`) failed:
    /// messages are delayed right now.
    pub async fn delivery_failing(&self, realm: &str, channel: &str) -> Result<bool> {
        let latest = outbox::Entity::find()
            .filter(outbox::Column::Realm.eq(realm))
            .filter(outbox::Column::Channel.eq(channel))
            .filter(outbox::Column::Attempts.gt(0))
            .order_by_desc(outbox::Column::CreatedAt)
            .one(&self.db)
            .await?;
        Ok(latest.is_some_and(|m| m.state == PENDING && m.last_error.is_some()))
    }

    /// Uses a link: the unexpired, unused token of `kind` with this hash, marked used by this
    /// call (of two concurrent uses, one wins).
    pub async fn use_action_token(&self, token_hash: &str, kind: &str) -> Result<Option<action_token::Model>> {
        let t = now();
        let used = action_token::Entity::update_many()
            .col_expr(action_token::Column::UsedAt, Expr::value(t))
            .filter(action_token::Column::TokenHash.eq(token_hash))
            .filter(action_token::Column::Kind.eq(kind))
            .filter(action_token::Column::UsedAt.is_null())
            .filter(action_token::Column::ExpiresAt.gt(t))
            .exec(&self.db)
            .await?;
        if used.rows_affected != 1 {
            return Ok(None);
        }
        Ok(action_token::Entity::find_by_id(token_hash).one(&self.db).await?)
    }

    /// The unexpired, unused token of `kind` with this hash, left unused.
    pub async fn peek_action_token(&self, token_hash: &str, kind: &str) -> Result<Option<action_token::Model>> {
        Ok(action_token::Entity::find_by_id(token_hash)
            .filter(action_token::Column::Kind.eq(kind))
            .filter(action_token::Column::UsedAt.is_null())
            .filter(action_token::Column::ExpiresAt.gt(now()))
            .one(&self.db)
            .await?)
    }

    /// The unexpired, unused token with this hash, whatever its kind, left unused.
    pub async fn peek_any_action_token(&self, token_hash: &str) -> Result<Option<action_token::Model>> {
        Ok(action_token::Entity::find_by_id(token_hash)
            .filter(action_token::Column::UsedAt.is_null())
            .filter(action_token::Column::ExpiresAt.gt(now()))
            .one(&self.db)
            .await?)
    }

    /// The kind of link `token_hash` is, used or not (to tell "expired" from "unknown").
    pub async fn action_token_kind(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(action_token::Entity::find_by_id(token_hash)
            .one(&self.db)
            .await?
            .map(|t| t.kind))
    }

    /// Drops sent and failed messages and used or expired links older than `before`.
    pub async fn purge_outbox(&self, before: i64) -> Result<u64> {
        let messages = outbox::Entity::delete_many()
            .filter(outbox::Column::State.ne(PENDING))
            .filter(outbox::Column::CreatedAt.lt(before))
            .exec(&self.db)
            .await?
            .rows_affected;
        let links = action_token::Entity::delete_many()
            .filter(action_token::Column::ExpiresAt.lt(before))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(messages + links)
    }
}

//! Sending one queued message: by SMTP (lettre, rustls) or into a file outbox.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Payload;
use crate::realm::{SmtpSettings, SmtpTls};

/// How long one SMTP conversation may take before the attempt counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Builds the MIME message (text and HTML alternatives).
pub(crate) fn message(payload: &Payload) -> Result<Message, String> {
    let from: Mailbox = payload.from.parse().map_err(|e| format!("sender address: {e}"))?;
    let address: lettre::Address = payload.to.parse().map_err(|e| format!("recipient address: {e}"))?;
    let to = Mailbox::new(payload.to_name.clone(), address);
    Message::builder()
        .from(from)
        .to(to)
        .subject(payload.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            payload.text.clone(),
            payload.html.clone(),
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// Sends `message` the way `payload.settings` says; `id` names its file in a file outbox.
pub(crate) async fn deliver(payload: &Payload, message: Message, id: &str) -> Result<(), String> {
    let settings = &payload.settings;
    if let Some(dir) = &settings.outbox {
        return crate::ops::files::write_whole(std::path::Path::new(dir), &format!("{id}.eml"), &message.formatted())
            .await;
    }
    let Some(smtp) = &settings.smtp else {
        return Err("the realm's mail settings name neither an outbox nor an SMTP server".into());
    };
    let transport = transport(smtp)?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {e}", smtp.host, smtp.port))
}

fn transport(smtp: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| format!("SMTP {}: {e}", smtp.host))?,
        SmtpTls::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| format!("SMTP {}: {e}", smtp.host))?
        }
    };
    let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(reference)) = (&smtp.user, &smtp.password) {
        let name = crate::realm::env_reference(reference).unwrap_or_default();
        let password = std::env::var(name)
            .map_err(|_| format!("the SMTP password's environment variable {name} is not set on this node"))?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

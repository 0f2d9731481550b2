//! What a simulated user answers on each page, turned into the form a browser would post.
//! Answers name an intent (`password`, `wrong-otp`, `use-recovery-code` …); the form fields are
//! the ones the theme's pages post (DESIGN.md: `username`, `password`, `otp` …).

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

use super::sandbox::{PASSWORD, Sandbox};
use crate::crypto::totp;
use crate::flow::Page;

pub const ANSWERS_HELP: &str = "password, wrong-password, username, otp, wrong-otp, use-recovery-code, \
recovery-code, wrong-recovery-code, use-password (on a passkey page), use-otp (on a security-key page), use-security-key (back from the code page), acknowledge, accept, decline, new-password:VALUE, profile, reload, \
form:FIELD=VALUE&FIELD=VALUE";

/// A new password that meets the default policy (for automatic answers).
const NEW_PASSWORD: &str = "Fresh-Passw0rd-2026!";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Answer {
    Password,
    WrongPassword,
    Username,
    Otp,
    WrongOtp,
    UseRecoveryCode,
    /// "Use a password instead" on a passkey page.
    UsePassword,
    /// "Use your authenticator app instead" on a security-key page.
    UseOtp,
    /// "Use your security key instead" on the app's code page (after `use-otp`).
    UseSecurityKey,
    RecoveryCode,
    WrongRecoveryCode,
    Acknowledge,
    Accept,
    Decline,
    NewPassword(String),
    Profile,
    /// Load the page again without posting (reload, back button).
    Reload,
    /// Post these fields as they are.
    Form(Vec<(String, String)>),
}

impl TryFrom<String> for Answer {
    type Error = String;
    fn try_from(text: String) -> Result<Answer, String> {
        Answer::parse(&text)
    }
}

impl std::str::FromStr for Answer {
    type Err = String;
    fn from_str(text: &str) -> Result<Answer, String> {
        Answer::parse(text)
    }
}

impl Answer {
    pub fn parse(text: &str) -> Result<Answer, String> {
        let text = text.trim();
        if let Some(p) = text.strip_prefix("new-password:") {
            return Ok(Answer::NewPassword(p.to_string()));
        }
        if let Some(fields) = text.strip_prefix("form:") {
            let pairs = fields
                .split('&')
                .filter(|f| !f.is_empty())
                .map(|f| {
                    let (k, v) = f.split_once('=').unwrap_or((f, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            return Ok(Answer::Form(pairs));
        }
        Ok(match text {
            "password" => Answer::Password,
            "wrong-password" => Answer::WrongPassword,
            "username" => Answer::Username,
            "otp" => Answer::Otp,
            "wrong-otp" => Answer::WrongOtp,
            "use-recovery-code" => Answer::UseRecoveryCode,
            "use-password" => Answer::UsePassword,
            "use-otp" => Answer::UseOtp,
            "use-security-key" => Answer::UseSecurityKey,
            "recovery-code" => Answer::RecoveryCode,
            "wrong-recovery-code" => Answer::WrongRecoveryCode,
            "acknowledge" => Answer::Acknowledge,
            "accept" => Answer::Accept,
            "decline" => Answer::Decline,
            "profile" => Answer::Profile,
            "reload" => Answer::Reload,
            other => return Err(format!("unknown answer '{other}'; known: {ANSWERS_HELP}")),
        })
    }

    /// What a cooperative user answers on a page (used when no answers are given).
    pub fn automatic(template: &str) -> Option<Answer> {
        Some(match template {
            "login.html" | "password.html" => Answer::Password,
            "username.html" => Answer::Username,
            "otp.html" | "configure_otp.html" => Answer::Otp,
            "recovery_code.html" => Answer::RecoveryCode,
            "recovery_codes.html" => Answer::Acknowledge,
            "terms.html" => Answer::Accept,
            "update_password.html" => Answer::NewPassword(NEW_PASSWORD.into()),
            "update_profile.html" => Answer::Profile,
            _ => return None,
        })
    }

    /// The pages this answer can be given on (`None`: any page).
    fn fits(&self) -> Option<&'static [&'static str]> {
        Some(match self {
            Answer::Password | Answer::WrongPassword => &["login.html", "password.html"],
            Answer::Username => &["username.html"],
            Answer::Otp | Answer::WrongOtp => &["otp.html", "configure_otp.html"],
            Answer::UseRecoveryCode => &["otp.html"],
            Answer::UsePassword => &["passkey.html"],
            Answer::UseOtp => &["security_key.html"],
            Answer::UseSecurityKey => &["otp.html"],
            Answer::RecoveryCode | Answer::WrongRecoveryCode => &["recovery_code.html"],
            Answer::Acknowledge => &["recovery_codes.html"],
            Answer::Accept | Answer::Decline => &["terms.html"],
            Answer::NewPassword(_) => &["update_password.html"],
            Answer::Profile => &["update_profile.html"],
            Answer::Reload | Answer::Form(_) => return None,
        })
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Answer::Password => "password",
            Answer::WrongPassword => "wrong-password",
            Answer::Username => "username",
            Answer::Otp => "otp",
            Answer::WrongOtp => "wrong-otp",
            Answer::UseRecoveryCode => "use-recovery-code",
            Answer::UsePassword => "use-password",
            Answer::UseOtp => "use-otp",
            Answer::UseSecurityKey => "use-security-key",
            Answer::RecoveryCode => "recovery-code",
            Answer::WrongRecoveryCode => "wrong-recovery-code",
            Answer::Acknowledge => "acknowledge",
            Answer::Accept => "accept",
            Answer::Decline => "decline",
            Answer::NewPassword(p) => return write!(f, "new-password:{p}"),
            Answer::Profile => "profile",
            Answer::Reload => "reload",
            Answer::Form(fields) => {
                let pairs: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                return write!(f, "form:{}", pairs.join("&"));
            }
        };
        f.write_str(name)
    }
}

fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The form to post for `answer` on `page`; `None` means load the page without posting.
pub async fn form(
    answer: &Answer,
    page: &Page,
    sandbox: &mut Sandbox,
) -> Result<Option<HashMap<String, String>>, String> {
    if let Some(fits) = answer.fits()
        && !fits.contains(&page.template)
    {
        return Err(format!(
            "answer '{answer}' does not fit page {} (it is for {})",
            page.template,
            fits.join(", ")
        ));
    }
    let username = sandbox.user.username.clone();
    let login = page.template == "login.html";
    Ok(Some(match answer {
        Answer::Reload => return Ok(None),
        Answer::Form(pairs) => pairs.iter().cloned().collect(),
        Answer::Password | Answer::WrongPassword => {
            let password = if *answer == Answer::Password {
                PASSWORD
            } else {
                "not-the-password"
            };
            let mut f = fields(&[("password", password)]);
            if login {
                f.insert("username".into(), username);
            }
            f
        }
        Answer::Username => fields(&[("username", &username)]),
        Answer::Otp | Answer::WrongOtp => fields(&[("otp", &otp_code(answer, page, sandbox).await?)]),
        Answer::UseRecoveryCode => fields(&[("try_another", "recovery-code")]),
        Answer::UsePassword => fields(&[("try_another", "password")]),
        Answer::UseOtp => fields(&[("try_another", "otp")]),
        Answer::UseSecurityKey => fields(&[("try_another", "security-key")]),
        Answer::RecoveryCode => {
            let user = &mut sandbox.user;
            let code = user
                .recovery_codes
                .get(user.next_recovery_code)
                .cloned()
                .ok_or("the user has no (unused) recovery code: give the user `has: [otp, recovery-code]`")?;
            user.next_recovery_code += 1;
            fields(&[("recovery_code", &code)])
        }
        Answer::WrongRecoveryCode => fields(&[("recovery_code", "zzzz-zzzz-zzzz")]),
        Answer::Acknowledge => fields(&[("acknowledge", "yes")]),
        Answer::Accept => fields(&[("accept", "yes")]),
        Answer::Decline => fields(&[("accept", "no")]),
        Answer::NewPassword(p) => fields(&[("password-new", p), ("password-confirm", p)]),
        Answer::Profile => fields(&[
            ("email", &format!("{username}@example.com")),
            ("firstName", "Simulated"),
            ("lastName", "User"),
        ]),
    }))
}

/// A code for the page: from the user's device on `otp.html`, from the secret the page shows
/// on `configure_otp.html` (as a person would type it into their app). A right code is one
/// not used before; a wrong one matches no step in the window.
async fn otp_code(answer: &Answer, page: &Page, sandbox: &Sandbox) -> Result<String, String> {
    let policy = sandbox.realm.realm.otp_policy.clone();
    let (secret, last_step) = if page.template == "configure_otp.html" {
        let text: String = page
            .context
            .get("secret_grouped")
            .and_then(|s| s.as_str())
            .ok_or("the configure-OTP page shows no secret")?
            .split_whitespace()
            .collect();
        let secret = totp_rs::Secret::try_from_base32(&text).map_err(|e| format!("the page's secret: {e}"))?;
        (secret.as_ref().to_vec(), None)
    } else {
        let secret = sandbox.user.otp_secret.clone().ok_or("the user has no OTP device")?;
        (secret, last_step(sandbox).await?)
    };
    let period = policy.period.max(1);
    let now_step = crate::store::now().max(0) as u64 / period;
    let window = policy.look_around;
    if *answer == Answer::WrongOtp {
        let valid: Vec<String> = (now_step.saturating_sub(window)..=now_step + window)
            .filter_map(|s| totp::code_at(&policy, &secret, s * period))
            .collect();
        let wrong = (0u64..)
            .map(|n| format!("{n:0width$}", width = policy.digits as usize))
            .find(|c| !valid.contains(c))
            .unwrap_or_default();
        return Ok(wrong);
    }
    let step = match last_step {
        Some(last) if last >= 0 && last as u64 >= now_step => last as u64 + 1,
        _ => now_step,
    };
    if step > now_step + window {
        return Err("no unused code is valid right now (every code in the window was used)".into());
    }
    totp::code_at(&policy, &secret, step * period).ok_or_else(|| "cannot compute a code".into())
}

async fn last_step(sandbox: &Sandbox) -> Result<Option<i64>, String> {
    let (Some(user_id), Some(credential)) = (&sandbox.user.id, &sandbox.user.otp_credential) else {
        return Ok(None);
    };
    let devices = sandbox
        .app
        .store
        .credentials(user_id, crate::store::OTP)
        .await
        .map_err(|e| e.to_string())?;
    Ok(devices
        .into_iter()
        .find(|d| &d.id == credential)
        .and_then(|d| d.last_step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_print_back() {
        for text in [
            "password",
            "wrong-otp",
            "use-recovery-code",
            "new-password:Abc-12345678",
            "form:a=1&b=2",
            "reload",
        ] {
            assert_eq!(Answer::parse(text).unwrap().to_string(), text);
        }
        assert!(Answer::parse("dance").unwrap_err().contains("known: password"));
        assert_eq!(Answer::automatic("otp.html"), Some(Answer::Otp));
        assert_eq!(Answer::automatic("error.html"), None);
    }
}

//! A theme's files: the embedded `default` theme, and themes read from a directory (small
//! files only, names checked).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::DEFAULT_CSS;
use crate::web::i18n::{self, Catalog};

/// The built-in theme's templates.
pub(super) const DEFAULT_TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../themes/default/base.html")),
    ("login.html", include_str!("../../../themes/default/login.html")),
    ("username.html", include_str!("../../../themes/default/username.html")),
    ("password.html", include_str!("../../../themes/default/password.html")),
    ("otp.html", include_str!("../../../themes/default/otp.html")),
    (
        "recovery_code.html",
        include_str!("../../../themes/default/recovery_code.html"),
    ),
    (
        "configure_otp.html",
        include_str!("../../../themes/default/configure_otp.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../../../themes/default/recovery_codes.html"),
    ),
    (
        "update_password.html",
        include_str!("../../../themes/default/update_password.html"),
    ),
    (
        "update_profile.html",
        include_str!("../../../themes/default/update_profile.html"),
    ),
    ("terms.html", include_str!("../../../themes/default/terms.html")),
    (
        "delete_credential.html",
        include_str!("../../../themes/default/delete_credential.html"),
    ),
    ("error.html", include_str!("../../../themes/default/error.html")),
    ("info.html", include_str!("../../../themes/default/info.html")),
    (
        "account_linked.html",
        include_str!("../../../themes/default/account_linked.html"),
    ),
    (
        "account_organization.html",
        include_str!("../../../themes/default/account_organization.html"),
    ),
    (
        "broker_ask.html",
        include_str!("../../../themes/default/broker_ask.html"),
    ),
    (
        "enrolment_declined.html",
        include_str!("../../../themes/default/enrolment_declined.html"),
    ),
    (
        "logout_confirm.html",
        include_str!("../../../themes/default/logout_confirm.html"),
    ),
    ("form_post.html", include_str!("../../../themes/default/form_post.html")),
    (
        "account_base.html",
        include_str!("../../../themes/default/account_base.html"),
    ),
    ("account.html", include_str!("../../../themes/default/account.html")),
    (
        "account_security.html",
        include_str!("../../../themes/default/account_security.html"),
    ),
    (
        "account_sessions.html",
        include_str!("../../../themes/default/account_sessions.html"),
    ),
    (
        "account_log.html",
        include_str!("../../../themes/default/account_log.html"),
    ),
    (
        "account_recovery_codes.html",
        include_str!("../../../themes/default/account_recovery_codes.html"),
    ),
    (
        "account_tokens.html",
        include_str!("../../../themes/default/account_tokens.html"),
    ),
    (
        "account_organizations.html",
        include_str!("../../../themes/default/account_organizations.html"),
    ),
    (
        "account_join.html",
        include_str!("../../../themes/default/account_join.html"),
    ),
    (
        "reset_choose_user.html",
        include_str!("../../../themes/default/reset_choose_user.html"),
    ),
    (
        "reset_email_sent.html",
        include_str!("../../../themes/default/reset_email_sent.html"),
    ),
    (
        "reset_password.html",
        include_str!("../../../themes/default/reset_password.html"),
    ),
    (
        "verify_email.html",
        include_str!("../../../themes/default/verify_email.html"),
    ),
    (
        "mail_password_reset.txt",
        include_str!("../../../themes/default/mail_password_reset.txt"),
    ),
    (
        "mail_password_reset.html",
        include_str!("../../../themes/default/mail_password_reset.html"),
    ),
    (
        "mail_verify_email.txt",
        include_str!("../../../themes/default/mail_verify_email.txt"),
    ),
    (
        "mail_verify_email.html",
        include_str!("../../../themes/default/mail_verify_email.html"),
    ),
    (
        "mail_new_login.txt",
        include_str!("../../../themes/default/mail_new_login.txt"),
    ),
    (
        "mail_new_login.html",
        include_str!("../../../themes/default/mail_new_login.html"),
    ),
    (
        "report_sign_in.html",
        include_str!("../../../themes/default/report_sign_in.html"),
    ),
    (
        "link_confirm.html",
        include_str!("../../../themes/default/link_confirm.html"),
    ),
    ("sent_code.html", include_str!("../../../themes/default/sent_code.html")),
    ("passkey.html", include_str!("../../../themes/default/passkey.html")),
    (
        "security_key.html",
        include_str!("../../../themes/default/security_key.html"),
    ),
    (
        "webauthn_register.html",
        include_str!("../../../themes/default/webauthn_register.html"),
    ),
    ("sms_code.txt", include_str!("../../../themes/default/sms_code.txt")),
    (
        "sms_phone_verify.txt",
        include_str!("../../../themes/default/sms_phone_verify.txt"),
    ),
    (
        "mail_email_code.txt",
        include_str!("../../../themes/default/mail_email_code.txt"),
    ),
    (
        "mail_email_code.html",
        include_str!("../../../themes/default/mail_email_code.html"),
    ),
    (
        "magic_link.html",
        include_str!("../../../themes/default/magic_link.html"),
    ),
    (
        "magic_link_sent.html",
        include_str!("../../../themes/default/magic_link_sent.html"),
    ),
    (
        "mail_magic_link.txt",
        include_str!("../../../themes/default/mail_magic_link.txt"),
    ),
    (
        "mail_magic_link.html",
        include_str!("../../../themes/default/mail_magic_link.html"),
    ),
    (
        "mail_org_invite.txt",
        include_str!("../../../themes/default/mail_org_invite.txt"),
    ),
    (
        "mail_org_invite.html",
        include_str!("../../../themes/default/mail_org_invite.html"),
    ),
    (
        "mail_password_changed.txt",
        include_str!("../../../themes/default/mail_password_changed.txt"),
    ),
    (
        "mail_password_changed.html",
        include_str!("../../../themes/default/mail_password_changed.html"),
    ),
];

/// The built-in theme's message catalogs, by language.
pub(super) const DEFAULT_MESSAGES: &[(&str, &str)] = &[
    ("en", include_str!("../../../themes/default/messages/en.yaml")),
    ("de", include_str!("../../../themes/default/messages/de.yaml")),
];

/// Theme files larger than this are refused (a theme file is a small template or catalog).
pub(super) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A theme's files, as read (not yet compiled).
#[derive(Default)]
pub(super) struct ThemeFiles {
    pub(super) templates: BTreeMap<String, Cow<'static, str>>,
    /// language → catalog
    pub(super) messages: BTreeMap<String, Catalog>,
    pub(super) css: Option<Cow<'static, str>>,
}

impl ThemeFiles {
    /// The theme built into the binary.
    pub(super) fn embedded() -> ThemeFiles {
        let mut files = ThemeFiles {
            css: Some(Cow::Borrowed(DEFAULT_CSS)),
            ..ThemeFiles::default()
        };
        for (name, source) in DEFAULT_TEMPLATES {
            files.templates.insert(name.to_string(), Cow::Borrowed(source));
        }
        for (lang, text) in DEFAULT_MESSAGES {
            match i18n::parse_catalog(text) {
                Ok(catalog) => {
                    files.messages.insert(lang.to_string(), catalog);
                }
                // Caught by the unit tests, never at run time.
                Err(e) => tracing::error!(lang, error = %e, "built-in message catalog does not parse"),
            }
        }
        files
    }

    /// Reads `<dir>/*.html`, `<dir>/style.css` and `<dir>/messages/<lang>.yaml|yml`. Unreadable or
    /// malformed files are logged and skipped.
    pub(super) fn read_dir(dir: &Path) -> ThemeFiles {
        let mut files = ThemeFiles::default();
        for (name, path) in list_files(dir) {
            if name == "style.css" {
                files.css = read_small(&path).map(Cow::Owned);
            } else if (name.ends_with(".html") || name.ends_with(".txt"))
                && let Some(text) = read_small(&path)
            {
                files.templates.insert(name, Cow::Owned(text));
            }
        }
        for (name, path) in list_files(&dir.join("messages")) {
            let Some(lang) = name.strip_suffix(".yaml").or_else(|| name.strip_suffix(".yml")) else {
                continue;
            };
            if !valid_name(lang) {
                tracing::warn!(file = %path.display(), "ignoring message catalog: not named <language>.yaml");
                continue;
            }
            let Some(text) = read_small(&path) else { continue };
            match i18n::parse_catalog(&text) {
                Ok(catalog) => {
                    files.messages.entry(lang.to_string()).or_default().extend(catalog);
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "ignoring message catalog that does not parse")
                }
            }
        }
        files
    }

    /// Lays `other` over `self`: its templates and stylesheet replace, its messages override
    /// key by key.
    pub(super) fn overlay(&mut self, other: ThemeFiles) {
        self.templates.extend(other.templates);
        for (lang, catalog) in other.messages {
            self.messages.entry(lang).or_default().extend(catalog);
        }
        if other.css.is_some() {
            self.css = other.css;
        }
    }
}

/// The regular files directly in `dir` whose names are plain (no hidden files), sorted.
pub(super) fn list_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_file() || t.is_symlink()).unwrap_or(false))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            (!name.starts_with('.')).then(|| (name, e.path()))
        })
        .collect();
    files.sort();
    files
}

pub(super) fn read_small(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            tracing::error!(file = %path.display(), "ignoring theme file larger than 1 MiB");
            return None;
        }
        Ok(meta) if !meta.is_file() => return None,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "cannot read theme file");
            return None;
        }
        Ok(_) => {}
    }
    std::fs::read_to_string(path)
        .map_err(|e| tracing::error!(file = %path.display(), error = %e, "cannot read theme file"))
        .ok()
}

/// Theme names and languages: letters, digits, `-` and `_` (so they are safe as path parts).
/// A theme's name: 1 to 64 of `a-z 0-9 - _` (a directory name, and a path segment of
/// `/resources/{theme}/style.css`; anything else there is a 404 before it is logged).
pub fn is_theme_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

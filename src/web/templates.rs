//! Page templates (minijinja) and themes.
//!
//! The `default` theme (`themes/default/`: templates, `style.css`, `messages/<lang>.yaml`) is
//! embedded in the binary. Other themes live in a themes directory (`<dir>/<name>/…`) and
//! override the default **file by file** (a template or `style.css` they lack comes from
//! `default`) and **key by key** (a message they lack comes from `default`'s catalog of the
//! same language, then from English). In a theme, `{% extends "base.html" %}` means the
//! theme's own `base.html` if it has one, and `"default/<file>"` always names the default's.
//!
//! Two modes: [`Templates::load`] with `live: false` reads custom themes once at start-up (the
//! default always comes from the binary); [`Templates::from_dir`] (live editing) reads the
//! theme's files, and `default`'s from the same directory, on every render, falling back to the
//! embedded copy for any file that is missing.
//!
//! Every page gets `lang` and `msg` (the catalog of `lang`) besides what the caller passes, and
//! a filter `t`: `{{ error | t }}` shows a value the server passed — a message key, a map
//! `{"key": …, "args": {…}}`, or plain text — in the page's language, and `{{ msg.x | t(n=3) }}`
//! fills `{n}` placeholders. Nothing here panics: a broken theme file is logged and the default
//! one used; a page that cannot be rendered becomes a plain, safe error page.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Kwargs, Serde, Value, merge_maps};
use minijinja::{Environment, Error, State, UndefinedBehavior};

use super::i18n::{self, Catalog, FALLBACK_LOCALE};

/// The name of the built-in theme.
pub const DEFAULT_THEME: &str = "default";

/// The built-in theme's templates.
const DEFAULT_TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../themes/default/base.html")),
    ("login.html", include_str!("../../themes/default/login.html")),
    ("username.html", include_str!("../../themes/default/username.html")),
    ("password.html", include_str!("../../themes/default/password.html")),
    ("otp.html", include_str!("../../themes/default/otp.html")),
    (
        "recovery_code.html",
        include_str!("../../themes/default/recovery_code.html"),
    ),
    (
        "configure_otp.html",
        include_str!("../../themes/default/configure_otp.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../../themes/default/recovery_codes.html"),
    ),
    (
        "update_password.html",
        include_str!("../../themes/default/update_password.html"),
    ),
    (
        "update_profile.html",
        include_str!("../../themes/default/update_profile.html"),
    ),
    ("terms.html", include_str!("../../themes/default/terms.html")),
    ("error.html", include_str!("../../themes/default/error.html")),
    ("info.html", include_str!("../../themes/default/info.html")),
    (
        "logout_confirm.html",
        include_str!("../../themes/default/logout_confirm.html"),
    ),
    ("form_post.html", include_str!("../../themes/default/form_post.html")),
];

/// The built-in theme's message catalogs, by language.
const DEFAULT_MESSAGES: &[(&str, &str)] = &[
    ("en", include_str!("../../themes/default/messages/en.yaml")),
    ("de", include_str!("../../themes/default/messages/de.yaml")),
];

/// The built-in theme's stylesheet (served at `/resources/default/style.css`).
pub const DEFAULT_CSS: &str = include_str!("../../themes/default/style.css");

/// Theme files larger than this are refused (a theme file is a small template or catalog).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The page's templates, message catalogs and styles, per theme.
pub struct Templates {
    mode: Mode,
}

enum Mode {
    /// Everything compiled once: the embedded default plus the custom themes found at start-up.
    Loaded { themes: HashMap<String, Arc<Theme>> },
    /// Read from this themes directory on every render (live editing).
    Live { dir: PathBuf, embedded: Arc<Theme> },
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    /// The embedded default theme only.
    pub fn new() -> Templates {
        let mut themes = HashMap::new();
        themes.insert(
            DEFAULT_THEME.to_string(),
            Arc::new(Theme::build(DEFAULT_THEME, &ThemeFiles::embedded(), None)),
        );
        Templates {
            mode: Mode::Loaded { themes },
        }
    }

    /// Live editing: every render reads `themes_dir/<theme>/` and `themes_dir/default/`,
    /// falling back to the embedded default for any file that is missing there.
    pub fn from_dir(themes_dir: PathBuf) -> Templates {
        if !themes_dir.is_dir() {
            tracing::warn!(dir = %themes_dir.display(), "themes directory not found; using the built-in theme until it exists");
        }
        Templates {
            mode: Mode::Live {
                dir: themes_dir,
                embedded: Arc::new(Theme::build(DEFAULT_THEME, &ThemeFiles::embedded(), None)),
            },
        }
    }

    /// The embedded default theme plus every theme directory under `themes_dir` (each
    /// `<themes_dir>/<name>/` with a valid name), read once now; with `live`, see
    /// [`from_dir`](Self::from_dir) instead. In this mode `<themes_dir>/default/` is not read:
    /// the default theme is the one built into the binary. Problems are logged, never fatal.
    pub fn load(themes_dir: Option<&Path>, live: bool) -> Templates {
        let Some(dir) = themes_dir else {
            if live {
                tracing::warn!("live theme editing needs a themes directory; using the built-in theme");
            }
            return Templates::new();
        };
        if live {
            return Templates::from_dir(dir.to_path_buf());
        }
        let mut templates = Templates::new();
        let Mode::Loaded { themes } = &mut templates.mode else {
            return templates;
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                if dir.exists() {
                    tracing::error!(dir = %dir.display(), error = %e, "cannot read the themes directory");
                }
                return templates;
            }
        };
        let embedded = ThemeFiles::embedded();
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            if name == DEFAULT_THEME || name.starts_with('.') {
                continue;
            }
            if !is_theme_name(&name) {
                tracing::warn!(dir = %path.display(), "ignoring theme: names are lowercase letters, digits, '-' and '_' (at most 64)");
                continue;
            }
            let files = ThemeFiles::read_dir(&path);
            tracing::info!(theme = %name, "theme loaded");
            themes.insert(name.clone(), Arc::new(Theme::build(&name, &embedded, Some(&files))));
        }
        templates
    }

    /// Whether `theme` exists (the default always does). Realm validation can use this.
    pub fn has_theme(&self, theme: &str) -> bool {
        if theme == DEFAULT_THEME {
            return true;
        }
        match &self.mode {
            Mode::Loaded { themes } => themes.contains_key(theme),
            Mode::Live { dir, .. } => is_theme_name(theme) && dir.join(theme).is_dir(),
        }
    }

    /// The names of the themes known now, sorted, `default` among them.
    pub fn theme_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.mode {
            Mode::Loaded { themes } => themes.keys().cloned().collect(),
            Mode::Live { dir, .. } => std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| e.path().is_dir())
                        .filter_map(|e| e.file_name().to_str().map(str::to_string))
                        .filter(|n| is_theme_name(n))
                        .collect()
                })
                .unwrap_or_default(),
        };
        if !names.iter().any(|n| n == DEFAULT_THEME) {
            names.push(DEFAULT_THEME.to_string());
        }
        names.sort();
        names
    }

    /// The languages `theme` has messages for (`en` and `de` at least), sorted.
    pub fn locales(&self, theme: &str) -> Vec<String> {
        self.theme(theme).catalogs.keys().cloned().collect()
    }

    /// The page language for a request: [`i18n::negotiate`] over `theme`'s languages.
    pub fn negotiate(&self, theme: &str, ui_locales: Option<&str>, accept_language: Option<&str>) -> String {
        let theme = self.theme(theme);
        let available: Vec<&str> = theme.catalogs.keys().map(String::as_str).collect();
        i18n::negotiate(ui_locales, accept_language, &available)
    }

    /// One message of `theme` in `lang` (with the same fallbacks as pages), for text outside
    /// templates.
    pub fn message(&self, theme: &str, lang: &str, key: &str) -> Option<String> {
        let theme = self.theme(theme);
        let (_, locale) = theme.catalog(lang);
        locale.catalog.get(key).cloned()
    }

    /// A message the server passes to pages — a catalog key, `{"key": …, "args": {…}}`, or
    /// plain text — as text in `lang`, for places without a page (the admin API, the CLI).
    pub fn message_text(&self, theme: &str, lang: &str, message: &serde_json::Value) -> String {
        use serde_json::Value as Json;
        let (key, args) = match message {
            Json::String(s) => (s.as_str(), Json::Null),
            Json::Object(m) => (
                m.get("key").and_then(Json::as_str).unwrap_or_default(),
                m.get("args").cloned().unwrap_or_default(),
            ),
            other => return other.to_string(),
        };
        match self.message(theme, lang, key) {
            Some(text) => i18n::interpolate(&text, |name| {
                args.get(name)
                    .map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))
            }),
            None => key.to_string(),
        }
    }

    /// The stylesheet of `theme` (the default's when the theme has none).
    pub fn stylesheet(&self, theme: &str) -> String {
        self.theme(theme).css.to_string()
    }

    /// Renders `template` of `theme` in language `lang` (a locale from [`negotiate`]; an
    /// unknown one falls back to its base language, then English). Adds `msg` and `lang` to
    /// `context`. Never fails: problems are logged and a plain, safe error page is returned.
    ///
    /// [`negotiate`]: Self::negotiate
    pub fn render_page(&self, theme: &str, template: &str, lang: &str, context: &serde_json::Value) -> String {
        self.theme(theme).render(template, lang, context)
    }

    /// The former entry point: `template` of the default theme, in English.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> String {
        self.render_page(DEFAULT_THEME, name, FALLBACK_LOCALE, context)
    }

    /// The compiled theme to use for `name`; the default one (with a warning) when unknown.
    fn theme(&self, name: &str) -> Arc<Theme> {
        match &self.mode {
            Mode::Loaded { themes } => match themes.get(name) {
                Some(theme) => theme.clone(),
                None => {
                    tracing::warn!(theme = %crate::ops::logging::untrusted(name), "unknown theme; using the default theme");
                    themes
                        .get(DEFAULT_THEME)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(Theme::build(DEFAULT_THEME, &ThemeFiles::embedded(), None)))
                }
            },
            Mode::Live { dir, embedded } => {
                let mut base = ThemeFiles::embedded();
                let default_dir = dir.join(DEFAULT_THEME);
                if default_dir.is_dir() {
                    base.overlay(ThemeFiles::read_dir(&default_dir));
                }
                if name == DEFAULT_THEME {
                    return Arc::new(Theme::build(DEFAULT_THEME, &base, None));
                }
                let theme_dir = dir.join(name);
                if !is_theme_name(name) || !theme_dir.is_dir() {
                    tracing::warn!(theme = %crate::ops::logging::untrusted(name), dir = %dir.display(), "unknown theme; using the default theme");
                    if !default_dir.is_dir() {
                        return embedded.clone();
                    }
                    return Arc::new(Theme::build(DEFAULT_THEME, &base, None));
                }
                let files = ThemeFiles::read_dir(&theme_dir);
                Arc::new(Theme::build(name, &base, Some(&files)))
            }
        }
    }
}

/// A theme's files, as read (not yet compiled).
#[derive(Default)]
struct ThemeFiles {
    templates: BTreeMap<String, Cow<'static, str>>,
    /// language → catalog
    messages: BTreeMap<String, Catalog>,
    css: Option<Cow<'static, str>>,
}

impl ThemeFiles {
    /// The theme built into the binary.
    fn embedded() -> ThemeFiles {
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
    fn read_dir(dir: &Path) -> ThemeFiles {
        let mut files = ThemeFiles::default();
        for (name, path) in list_files(dir) {
            if name == "style.css" {
                files.css = read_small(&path).map(Cow::Owned);
            } else if name.ends_with(".html")
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
    fn overlay(&mut self, other: ThemeFiles) {
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
fn list_files(dir: &Path) -> Vec<(String, PathBuf)> {
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

fn read_small(path: &Path) -> Option<String> {
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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A compiled theme: its templates over the default's, and its merged catalogs.
struct Theme {
    name: String,
    env: Environment<'static>,
    /// language → merged catalog
    catalogs: BTreeMap<String, Locale>,
    css: Cow<'static, str>,
}

/// One language of a theme: its merged catalog, and the same as a template value (`msg`).
#[derive(Clone)]
struct Locale {
    catalog: Arc<Catalog>,
    msg: Value,
}

impl Theme {
    /// Compiles `base` (the default theme) with `theme`'s files over it.
    fn build(name: &str, base: &ThemeFiles, theme: Option<&ThemeFiles>) -> Theme {
        let mut env = Environment::new();
        // Missing optional values (`errors.email` without `errors`) are simply empty.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        // `none` (JSON null) prints as nothing, not as "none"; everything else is escaped.
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                return Ok(());
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.add_filter("t", translate);
        for (file, source) in &base.templates {
            for key in [file.clone(), format!("{DEFAULT_THEME}/{file}")] {
                if let Err(e) = env.add_template_owned(key, source.clone()) {
                    tracing::error!(theme = DEFAULT_THEME, template = %file, error = %e, "template does not compile");
                }
            }
        }
        if let Some(theme) = theme {
            for (file, source) in &theme.templates {
                // On failure the default's file stays in place.
                if let Err(e) = env.add_template_owned(file.clone(), source.clone()) {
                    tracing::error!(theme = %name, template = %file, error = %e, "template does not compile; using the default theme's");
                }
            }
        }

        // For each language: default English < theme English < default's < theme's.
        let empty = Catalog::new();
        let layer = |files: Option<&ThemeFiles>, lang: &str| -> Catalog {
            files
                .and_then(|f| f.messages.get(lang))
                .cloned()
                .unwrap_or_else(|| empty.clone())
        };
        let mut langs: Vec<String> = base.messages.keys().cloned().collect();
        if let Some(theme) = theme {
            langs.extend(theme.messages.keys().cloned());
        }
        langs.push(FALLBACK_LOCALE.to_string());
        let mut catalogs = BTreeMap::new();
        for lang in langs {
            if catalogs.contains_key(&lang) {
                continue;
            }
            let mut merged = layer(Some(base), FALLBACK_LOCALE);
            merged.extend(layer(theme, FALLBACK_LOCALE));
            merged.extend(layer(Some(base), &lang));
            merged.extend(layer(theme, &lang));
            let msg = Value::from(Serde(&merged));
            catalogs.insert(
                lang,
                Locale {
                    catalog: Arc::new(merged),
                    msg,
                },
            );
        }

        let css = theme
            .and_then(|t| t.css.clone())
            .or_else(|| base.css.clone())
            .unwrap_or(Cow::Borrowed(DEFAULT_CSS));
        Theme {
            name: name.to_string(),
            env,
            catalogs,
            css,
        }
    }

    /// The catalog for `lang`: exact, else case-insensitive, else its base language, else
    /// English. Returns the language actually used.
    fn catalog(&self, lang: &str) -> (String, Locale) {
        let primary = lang.split(['-', '_']).next().unwrap_or_default();
        let found = self
            .catalogs
            .get_key_value(lang)
            .or_else(|| self.catalogs.iter().find(|(k, _)| k.eq_ignore_ascii_case(lang)))
            .or_else(|| self.catalogs.iter().find(|(k, _)| k.eq_ignore_ascii_case(primary)))
            .or_else(|| self.catalogs.get_key_value(FALLBACK_LOCALE));
        match found {
            Some((lang, locale)) => (lang.clone(), locale.clone()),
            None => (
                FALLBACK_LOCALE.to_string(),
                Locale {
                    catalog: Arc::new(Catalog::new()),
                    msg: Value::from(Serde(Catalog::new())),
                },
            ),
        }
    }

    fn render(&self, template: &str, lang: &str, context: &serde_json::Value) -> String {
        let (lang, locale) = self.catalog(lang);
        let ours = minijinja::context! {
            msg => locale.msg,
            lang => lang.clone(),
            theme => self.name.clone(),
        };
        // The first map wins: callers cannot replace `msg`, `lang` or `theme`.
        let ctx = merge_maps([ours, Value::from(Serde(context))]);
        match self.env.get_template(template).and_then(|t| t.render(ctx)) {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(theme = %self.name, template, error = %e, "template rendering failed");
                tracing::debug!(detail = %e.display_debug_info(), "template error detail");
                fallback_page(&lang, &locale.catalog)
            }
        }
    }
}

/// The page shown when a template cannot be rendered: static apart from escaped catalog text.
fn fallback_page(lang: &str, catalog: &Catalog) -> String {
    let text = catalog
        .get("pageUnavailable")
        .map(String::as_str)
        .unwrap_or("This page could not be displayed.");
    let text = escape_html(text);
    format!(
        "<!doctype html><html lang=\"{}\"><meta charset=\"utf-8\"><title>{text}</title><p>{text}</p></html>",
        escape_html(lang)
    )
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The `t` filter: a message key → its text in the page language (anything else is shown as
/// it is); a map `{key, args}` → the text with `{name}` placeholders filled from `args`; keyword
/// arguments fill placeholders too. The result is plain text and is escaped on output.
fn translate(state: &State, value: Value, kwargs: Kwargs) -> Result<String, Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(String::new());
    }
    let (key_or_text, args) = match value.as_str() {
        Some(s) => (s.to_string(), Value::UNDEFINED),
        None => match value.get_attr("key") {
            Ok(key) if key.as_str().is_some() => (
                key.as_str().unwrap_or_default().to_string(),
                value.get_attr("args").unwrap_or(Value::UNDEFINED),
            ),
            _ => (value.to_string(), Value::UNDEFINED),
        },
    };
    let text = state
        .lookup("msg")
        .and_then(|msg| msg.get_attr(&key_or_text).ok())
        .and_then(|t| t.as_str().map(str::to_string))
        .unwrap_or(key_or_text);
    let mut named: BTreeMap<String, String> = BTreeMap::new();
    if let Ok(iter) = args.try_iter() {
        for name in iter {
            if let (Some(n), Ok(v)) = (name.as_str(), args.get_attr(name.as_str().unwrap_or_default())) {
                named.insert(n.to_string(), display(&v));
            }
        }
    }
    let names: Vec<String> = kwargs.args().map(str::to_string).collect();
    for name in names {
        let v: Value = kwargs.get(&name)?;
        named.insert(name, display(&v));
    }
    kwargs.assert_all_used()?;
    Ok(i18n::interpolate(&text, |name| named.get(name).cloned()))
}

fn display(v: &Value) -> String {
    if v.is_undefined() || v.is_none() {
        String::new()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_context(template: &str) -> serde_json::Value {
        let mut ctx = json!({ "realm_name": "Demo", "action": "/realms/demo/login-actions", "csrf": "csrf-token" });
        let extra = match template {
            "login.html" | "username.html" | "password.html" => json!({ "username": "alice", "error": null }),
            "otp.html" => json!({ "error": null, "can_use_recovery_code": true }),
            "recovery_code.html" => json!({ "error": "invalidRecoveryCode" }),
            "configure_otp.html" => json!({
                "qr_svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"><path d=\"M0 0h1v1H0z\"/></svg>",
                "secret_grouped": "JBSW Y3DP EHPK 3PXP",
                "issuer": "Demo", "account": "alice", "algorithm": "SHA1", "digits": 6, "period": 30, "error": null
            }),
            "recovery_codes.html" => json!({ "codes": ["aaaa-bbbb", "cccc-dddd"] }),
            "update_password.html" => {
                json!({ "error": null, "requirements": [{ "key": "passwordMinLength", "args": { "min": 12 } }, "At least one digit"] })
            }
            "update_profile.html" => {
                json!({ "email": "a@example.com", "first_name": "Alice", "last_name": "A", "errors": {} })
            }
            "terms.html" => json!({ "terms_text": "Be nice.\nReally." }),
            "error.html" => json!({ "message": "realmNotFound" }),
            "info.html" => json!({ "heading": "loggedOutHeading", "message": "loggedOutMessage" }),
            "logout_confirm.html" => json!({ "carry": [["state", "xyz"], ["client_id", "app"]] }),
            "form_post.html" => json!({ "params": [["code", "abc"], ["state", "xyz"]] }),
            _ => json!({}),
        };
        if let (Some(obj), serde_json::Value::Object(extra)) = (ctx.as_object_mut(), extra) {
            obj.extend(extra);
        }
        ctx
    }

    fn assert_not_fallback(html: &str, what: &str) {
        assert!(
            !html.contains("could not be displayed"),
            "{what} did not render:\n{html}"
        );
        assert!(!html.contains("kann nicht angezeigt"), "{what} did not render:\n{html}");
    }

    /// A fresh, empty directory under the system's temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let dir = std::env::temp_dir().join(format!("gatehouse-themes-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, rel: &str, text: &str) {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn every_template_compiles_and_renders_in_every_language() {
        let t = Templates::new();
        let theme = t.theme(DEFAULT_THEME);
        for (name, _) in DEFAULT_TEMPLATES {
            if let Err(e) = theme.env.get_template(name) {
                panic!("{name}: {}", e.display_debug_info());
            }
            for lang in ["en", "de"] {
                let html = t.render_page(DEFAULT_THEME, name, lang, &sample_context(name));
                assert_not_fallback(&html, &format!("{name} ({lang})"));
                if *name != "base.html" {
                    assert!(
                        !html.contains(">none<") && !html.contains("value=\"none\""),
                        "{name}: a null printed as none:\n{html}"
                    );
                }
                if html.contains("<form") && *name != "form_post.html" {
                    assert!(
                        html.contains("method=\"post\" action=\"&#x2f;realms&#x2f;demo&#x2f;login-actions\""),
                        "{name}"
                    );
                    assert!(
                        html.contains("<input type=\"hidden\" name=\"csrf\" value=\"csrf-token\">"),
                        "{name}"
                    );
                }
            }
        }
    }

    #[test]
    fn templates_use_only_known_messages() {
        let t = Templates::new();
        let theme = t.theme(DEFAULT_THEME);
        let en = &theme.catalogs["en"].catalog;
        for (name, _) in DEFAULT_TEMPLATES {
            let tmpl = theme.env.get_template(name).unwrap();
            for var in tmpl.undeclared_variables(true) {
                if let Some(key) = var.strip_prefix("msg.") {
                    assert!(en.contains_key(key), "{name} uses unknown message {key}");
                }
            }
        }
    }

    #[test]
    fn catalogs_have_the_same_keys() {
        let files = ThemeFiles::embedded();
        assert_eq!(
            files.messages.len(),
            DEFAULT_MESSAGES.len(),
            "a built-in catalog does not parse"
        );
        let en = &files.messages["en"];
        for (lang, text) in DEFAULT_MESSAGES {
            let catalog = i18n::parse_catalog(text).unwrap_or_else(|e| panic!("{lang}.yaml: {e}"));
            let missing: Vec<_> = en.keys().filter(|k| !catalog.contains_key(*k)).collect();
            let extra: Vec<_> = catalog.keys().filter(|k| !en.contains_key(*k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{lang}.yaml: missing {missing:?}, extra {extra:?}"
            );
            for (key, value) in &catalog {
                assert!(!value.trim().is_empty(), "{lang}.yaml: {key} is empty");
            }
        }
    }

    #[test]
    fn text_comes_from_the_catalog_of_the_language() {
        let t = Templates::new();
        let de = t.render_page(DEFAULT_THEME, "login.html", "de", &sample_context("login.html"));
        assert!(de.contains("<html lang=\"de\">"));
        assert!(de.contains("Bei Ihrem Konto anmelden"));
        assert!(!de.contains("Sign in to your account"));
        // a regional tag uses its language; an unknown one falls back to English
        let de_at = t.render_page(DEFAULT_THEME, "login.html", "de-AT", &sample_context("login.html"));
        assert!(de_at.contains("<html lang=\"de\">"));
        let fr = t.render_page(DEFAULT_THEME, "login.html", "fr", &sample_context("login.html"));
        assert!(fr.contains("<html lang=\"en\">") && fr.contains("Sign in to your account"));
        // the old entry point: default theme, English
        let old = t.render("login.html", &sample_context("login.html"));
        assert!(old.contains("Sign in to your account"));
        assert_eq!(t.locales(DEFAULT_THEME), ["de", "en"]);
        assert_eq!(t.negotiate(DEFAULT_THEME, None, Some("de-DE,de;q=0.9,en;q=0.8")), "de");
        assert_eq!(t.message(DEFAULT_THEME, "de", "doSignIn").as_deref(), Some("Anmelden"));
    }

    #[test]
    fn server_texts_are_translated_when_they_are_keys() {
        let t = Templates::new();
        let mut ctx = sample_context("login.html");
        ctx["error"] = json!("invalidCredentials");
        let html = t.render_page(DEFAULT_THEME, "login.html", "de", &ctx);
        assert!(html.contains("Benutzername oder Passwort ist falsch."), "{html}");
        assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"login-error\""));
        assert!(html.contains("id=\"login-error\""));
        // plain text is shown as it is
        ctx["error"] = json!("Enter your username and password.");
        let html = t.render_page(DEFAULT_THEME, "login.html", "de", &ctx);
        assert!(html.contains("Enter your username and password."));
        // a key with arguments
        ctx["error"] = json!({ "key": "accountLockedFor", "args": { "minutes": 5 } });
        let html = t.render_page(DEFAULT_THEME, "login.html", "en", &ctx);
        assert!(html.contains("Try again in 5 minutes."), "{html}");
        // requirements
        let html = t.render_page(
            DEFAULT_THEME,
            "update_password.html",
            "de",
            &sample_context("update_password.html"),
        );
        assert!(html.contains("<li>Mindestens 12 Zeichen</li>"), "{html}");
        assert!(html.contains("<li>At least one digit</li>"));
        assert!(html.contains("aria-describedby=\"password-requirements\""));
        // placeholders filled from the page context, escaped
        let mut ctx = sample_context("logout_confirm.html");
        ctx["realm_name"] = json!("<b>Acme</b>");
        let html = t.render_page(DEFAULT_THEME, "logout_confirm.html", "en", &ctx);
        assert!(
            html.contains("Do you want to sign out of &lt;b&gt;Acme&lt;&#x2f;b&gt;?"),
            "{html}"
        );
    }

    #[test]
    fn user_input_is_escaped_but_the_qr_code_is_not() {
        let t = Templates::new();
        let evil = "\"><script>alert(1)</script>";
        let mut ctx = sample_context("login.html");
        ctx["username"] = json!(evil);
        ctx["error"] = json!(evil);
        let html = t.render_page(DEFAULT_THEME, "login.html", "en", &ctx);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("\"><"), "attribute broken out of:\n{html}");

        let mut ctx = sample_context("configure_otp.html");
        ctx["account"] = json!(evil);
        ctx["issuer"] = json!(evil);
        let svg = sample_context("configure_otp.html")["qr_svg"]
            .as_str()
            .unwrap()
            .to_string();
        let html = t.render_page(DEFAULT_THEME, "configure_otp.html", "en", &ctx);
        assert!(html.contains(&svg), "the QR code must be inline SVG:\n{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("<code id=\"otp-secret\" class=\"secret\">JBSW Y3DP EHPK 3PXP</code>"));
        assert!(html.contains("name=\"otp\""));
        assert!(html.contains("autocomplete=\"one-time-code\"") && html.contains("inputmode=\"numeric\""));

        for (name, field) in [
            ("recovery_codes.html", "codes"),
            ("terms.html", "terms_text"),
            ("error.html", "message"),
            ("info.html", "message"),
        ] {
            let mut ctx = sample_context(name);
            ctx[field] = if field == "codes" { json!([evil]) } else { json!(evil) };
            let html = t.render_page(DEFAULT_THEME, name, "en", &ctx);
            assert_not_fallback(&html, name);
            assert!(!html.contains("<script>"), "{name}: {html}");
        }
        let mut ctx = sample_context("update_profile.html");
        ctx["email"] = json!(evil);
        ctx["errors"] = json!({ "email": evil });
        let html = t.render_page(DEFAULT_THEME, "update_profile.html", "en", &ctx);
        assert!(!html.contains("<script>"));
        assert!(html.contains("aria-describedby=\"email-error\""));
    }

    #[test]
    fn pages_carry_the_contract_fields() {
        let t = Templates::new();
        let r = |name: &str| t.render_page(DEFAULT_THEME, name, "en", &sample_context(name));

        let html = r("otp.html");
        let verify = html.find("Verify").unwrap();
        let another = html.find("name=\"try_another\" value=\"recovery-code\"").unwrap();
        assert!(
            verify < another,
            "the primary button must come first (Enter submits it)"
        );
        assert!(html.contains("formnovalidate"));
        let mut ctx = sample_context("otp.html");
        ctx["can_use_recovery_code"] = json!(false);
        assert!(
            !t.render_page(DEFAULT_THEME, "otp.html", "en", &ctx)
                .contains("try_another")
        );

        let html = r("password.html");
        assert!(html.contains("name=\"username\" value=\"alice\" autocomplete=\"username\" readonly hidden"));
        assert!(html.contains("autocomplete=\"current-password\""));

        let html = r("recovery_codes.html");
        assert!(html.contains("<ol id=\"recovery-codes\""));
        assert!(html.contains("<li class=\"recovery-code\">aaaa-bbbb</li>"));
        assert!(html.contains("name=\"acknowledge\" value=\"yes\""));

        let html = r("recovery_code.html");
        assert!(html.contains("name=\"recovery_code\"") && html.contains("autocomplete=\"off\""));
        assert!(html.contains("This recovery code is not valid"));

        let html = r("update_password.html");
        assert!(html.contains("name=\"password-new\"") && html.contains("name=\"password-confirm\""));
        assert_eq!(html.matches("autocomplete=\"new-password\"").count(), 2);

        let html = r("update_profile.html");
        for needle in [
            "autocomplete=\"email\"",
            "autocomplete=\"given-name\"",
            "autocomplete=\"family-name\"",
            "name=\"firstName\"",
            "name=\"lastName\"",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
        assert!(!html.contains("aria-invalid"));

        let html = r("terms.html");
        assert!(html.contains("name=\"accept\" value=\"yes\"") && html.contains("name=\"accept\" value=\"no\""));

        let html = r("form_post.html");
        assert!(html.contains("<script>document.forms[0].submit()</script>"));

        for (name, _) in DEFAULT_TEMPLATES {
            let html = r(name);
            assert!(
                !html.contains("http://") || name.contains("configure_otp"),
                "{name} loads an external asset"
            );
            assert!(!html.contains("https://"), "{name} loads an external asset");
        }
    }

    #[test]
    fn missing_or_broken_templates_give_a_safe_page() {
        let t = Templates::new();
        let html = t.render_page(DEFAULT_THEME, "no-such.html", "de", &json!({}));
        assert!(html.contains("Diese Seite kann nicht angezeigt werden."));
        let html = t.render_page(DEFAULT_THEME, "login.html", "en", &json!(null));
        assert_not_fallback(&html, "login.html without context");
        let html = t.render_page("../../etc", "login.html", "../x", &json!([1, 2]));
        assert_not_fallback(&html, "login.html with odd arguments");
    }

    #[test]
    fn themes_override_file_by_file_and_key_by_key() {
        let dir = TempDir::new("override");
        dir.write(
            "acme/login.html",
            "{% extends \"base.html\" %}{% block content %}<p id=\"acme\">ACME {{ msg.loginHeading }} {{ username }}</p>{% endblock %}",
        );
        dir.write(
            "acme/base.html",
            "{% extends \"default/base.html\" %}{% block title %}Acme · {{ super() }}{% endblock %}\
             {% block head %}{{ super() }}<link rel=\"stylesheet\" href=\"/resources/acme/style.css\">{% endblock %}",
        );
        dir.write("acme/broken.html", "{% if %}");
        dir.write("acme/otp.html", "{% for %}broken");
        dir.write("acme/style.css", "body { color: red }");
        dir.write(
            "acme/messages/en.yaml",
            "loginHeading: Welcome to Acme\nacmeOnly: Acme text\n",
        );
        dir.write("acme/messages/de.yaml", "doVerify: Prüfen\n");
        dir.write("acme/messages/broken.yaml", "a: [\n");
        // not read when not live: the default theme is the embedded one
        dir.write("default/login.html", "DISK DEFAULT");
        dir.write("bad name/login.html", "BAD");

        let t = Templates::load(Some(&dir.0), false);
        assert!(t.has_theme("acme") && t.has_theme("default") && !t.has_theme("bad name"));
        assert_eq!(t.theme_names(), ["acme", "default"]);

        let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
        assert!(html.contains("<p id=\"acme\">ACME Welcome to Acme alice</p>"), "{html}");
        assert!(html.contains("<title>Acme · Demo</title>"), "{html}");
        // German: the theme has no German loginHeading, so the default's German one wins
        let html = t.render_page("acme", "login.html", "de", &sample_context("login.html"));
        assert!(html.contains("ACME Bei Ihrem Konto anmelden"), "{html}");
        // a file the theme lacks comes from default, with the theme's base and messages
        let html = t.render_page(
            "acme",
            "recovery_code.html",
            "de",
            &sample_context("recovery_code.html"),
        );
        assert!(
            html.contains("Wiederherstellungscode eingeben") && html.contains(">Prüfen</button>"),
            "{html}"
        );
        assert!(
            html.contains("<link rel=\"stylesheet\" href=\"/resources/acme/style.css\">"),
            "{html}"
        );
        // a broken theme file falls back to the default's
        let html = t.render_page("acme", "otp.html", "en", &sample_context("otp.html"));
        assert!(html.contains("name=\"otp\""), "{html}");
        assert_eq!(t.message("acme", "de", "acmeOnly").as_deref(), Some("Acme text"));
        assert_eq!(t.stylesheet("acme"), "body { color: red }");
        assert_eq!(t.stylesheet("default"), DEFAULT_CSS);
        // the embedded default is untouched by the directory's default/
        let html = t.render_page(DEFAULT_THEME, "login.html", "en", &sample_context("login.html"));
        assert!(!html.contains("DISK DEFAULT") && html.contains("Sign in to your account"));
        // an unknown theme is the default
        let html = t.render_page("nope", "login.html", "en", &sample_context("login.html"));
        assert!(html.contains("Sign in to your account"));
    }

    #[test]
    fn live_mode_reads_the_files_on_every_render() {
        let dir = TempDir::new("live");
        let t = Templates::from_dir(dir.0.clone());
        // nothing on disk yet: the embedded default
        let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
        assert!(html.contains("Sign in to your account"));
        assert!(!t.has_theme("acme"));

        dir.write(
            "acme/login.html",
            "{% extends \"base.html\" %}{% block content %}v1{% endblock %}",
        );
        dir.write(
            "default/base.html",
            "<main>{{ realm_name }} {% block content %}{% endblock %}</main>",
        );
        dir.write("default/messages/en.yaml", "doVerify: Check it\n");
        assert!(t.has_theme("acme"));
        let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
        assert_eq!(html, "<main>Demo v1</main>");

        dir.write(
            "acme/login.html",
            "{% extends \"base.html\" %}{% block content %}v2{% endblock %}",
        );
        let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
        assert_eq!(html, "<main>Demo v2</main>");
        // the default theme from disk, per file and per key over the embedded one
        let html = t.render_page(DEFAULT_THEME, "otp.html", "en", &sample_context("otp.html"));
        assert!(
            html.starts_with("<main>Demo") && html.contains(">Check it</button>"),
            "{html}"
        );
        assert!(html.contains("Enter your one-time code"));

        dir.write(
            "acme/login.html",
            "{% extends \"base.html\" %}{% block content %}{{ 1 + }}{% endblock %}",
        );
        let html = t.render_page("acme", "login.html", "en", &sample_context("login.html"));
        assert!(
            html.contains("name=\"password\""),
            "a broken file falls back to the default's:\n{html}"
        );

        let t = Templates::load(Some(&dir.0), true);
        let html = t.render_page(
            "acme",
            "recovery_code.html",
            "en",
            &sample_context("recovery_code.html"),
        );
        assert!(html.starts_with("<main>Demo"), "{html}");
    }
}

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

mod files;
mod render;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::i18n::{self, FALLBACK_LOCALE};
use files::ThemeFiles;
pub use files::is_theme_name;
use render::Theme;

/// The name of the built-in theme.
pub const DEFAULT_THEME: &str = "default";

/// The built-in theme's stylesheet (served at `/resources/default/style.css`).
pub const DEFAULT_CSS: &str = include_str!("../../../themes/default/style.css");

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

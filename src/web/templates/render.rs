//! A compiled theme: minijinja templates over the default's, merged catalogs, and the `t`
//! filter that shows server messages in the page's language.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Kwargs, Serde, Value, merge_maps};
use minijinja::{Environment, Error, State, UndefinedBehavior};

use super::files::ThemeFiles;
use super::{DEFAULT_CSS, DEFAULT_THEME};
use crate::web::i18n::{self, Catalog, FALLBACK_LOCALE};

/// A compiled theme: its templates over the default's, and its merged catalogs.
pub(super) struct Theme {
    pub(super) name: String,
    pub(super) env: Environment<'static>,
    /// language → merged catalog
    pub(super) catalogs: BTreeMap<String, Locale>,
    pub(super) css: Cow<'static, str>,
}

/// One language of a theme: its merged catalog, and the same as a template value (`msg`).
#[derive(Clone)]
pub(super) struct Locale {
    pub(super) catalog: Arc<Catalog>,
    pub(super) msg: Value,
}

impl Theme {
    /// Compiles `base` (the default theme) with `theme`'s files over it.
    pub(super) fn build(name: &str, base: &ThemeFiles, theme: Option<&ThemeFiles>) -> Theme {
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
        // Unix seconds as RFC 3339 (for `datetime` attributes) and as people read them.
        env.add_filter("datetime", |t: i64| crate::events::time::format_rfc3339(t));
        env.add_filter("when", |t: i64| {
            let iso = crate::events::time::format_rfc3339(t);
            format!("{} {} UTC", &iso[..10], &iso[11..16])
        });
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

        let catalogs = merged_catalogs(base, theme);
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
    pub(super) fn catalog(&self, lang: &str) -> (String, Locale) {
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

    pub(super) fn render(&self, template: &str, lang: &str, context: &serde_json::Value) -> String {
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

/// For each language: default English < theme English < default's < theme's.
fn merged_catalogs(base: &ThemeFiles, theme: Option<&ThemeFiles>) -> BTreeMap<String, Locale> {
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
    catalogs
}

/// The page shown when a template cannot be rendered: static apart from escaped catalog text.
pub(super) fn fallback_page(lang: &str, catalog: &Catalog) -> String {
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

pub(super) fn escape_html(s: &str) -> String {
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
pub(super) fn translate(state: &State, value: Value, kwargs: Kwargs) -> Result<String, Error> {
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

pub(super) fn display(v: &Value) -> String {
    if v.is_undefined() || v.is_none() {
        String::new()
    } else {
        v.to_string()
    }
}

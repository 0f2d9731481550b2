//! Languages of the pages: choosing a locale for a request, and message catalogs.
//!
//! A catalog is a flat YAML map `key: text` (`themes/<theme>/messages/<lang>.yaml`). Texts are
//! plain text (never HTML: templates escape them) and may hold `{name}` placeholders, filled by
//! [`interpolate`].

use std::collections::BTreeMap;

/// The language used when nothing else matches, and the one every catalog falls back to.
pub const FALLBACK_LOCALE: &str = "en";

/// One language's messages: key → text.
pub type Catalog = BTreeMap<String, String>;

/// At most this many entries of a `ui_locales` or `Accept-Language` value are considered.
const MAX_TAGS: usize = 32;

/// Chooses the page language: the first of the space-separated `ui_locales` (OIDC, in order of
/// preference) that is available, else the best `Accept-Language` entry by q-value, else `en`.
///
/// Matching ignores case, and a regional tag falls back to its language (`de-DE` → `de`,
/// `zh-Hant-TW` → `zh-Hant` → `zh`); a plain language also matches a regional catalog (`pt` →
/// `pt-BR`) when nothing closer exists. Returns the spelling used in `available`.
pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>, available: &[&str]) -> String {
    if let Some(ui) = ui_locales {
        for tag in ui.split_whitespace().take(MAX_TAGS) {
            if let Some(found) = best_match(tag, available) {
                return found.to_string();
            }
        }
    }
    if let Some(header) = accept_language {
        for tag in accept_language_tags(header) {
            if let Some(found) = best_match(tag, available) {
                return found.to_string();
            }
        }
    }
    FALLBACK_LOCALE.to_string()
}

/// The language ranges of an `Accept-Language` header, best first (stable for equal q-values);
/// entries with `q=0`, a malformed q-value, or the wildcard `*` are left out.
fn accept_language_tags(header: &str) -> Vec<&str> {
    let mut tags: Vec<(u16, &str)> = Vec::new();
    for entry in header.split(',').take(MAX_TAGS) {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        if tag.is_empty() || tag == "*" {
            continue;
        }
        let mut q = Some(1000);
        for param in parts {
            let param = param.trim();
            if let Some(value) = param.strip_prefix("q=").or_else(|| param.strip_prefix("Q=")) {
                q = parse_q(value.trim());
            }
        }
        match q {
            Some(q) if q > 0 => tags.push((q, tag)),
            _ => {}
        }
    }
    // sort_by is stable: equal q-values keep the order the client sent.
    tags.sort_by_key(|t| std::cmp::Reverse(t.0));
    tags.into_iter().map(|(_, t)| t).collect()
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000` …) in thousandths; `None` when malformed.
fn parse_q(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

/// The available locale that best serves `tag`: exact, then ever shorter prefixes of it, then
/// any regional variant of its language.
fn best_match<'a>(tag: &str, available: &[&'a str]) -> Option<&'a str> {
    let tag = tag.trim();
    if tag.is_empty() || tag.len() > 64 || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    let tag = tag.replace('_', "-");
    let mut candidate = tag.as_str();
    loop {
        if let Some(found) = available.iter().find(|a| a.eq_ignore_ascii_case(candidate)) {
            return Some(found);
        }
        match candidate.rfind('-') {
            Some(i) => candidate = &candidate[..i],
            None => break,
        }
    }
    let language = candidate;
    available.iter().copied().find(|a| {
        a.split(['-', '_'])
            .next()
            .is_some_and(|primary| primary.eq_ignore_ascii_case(language))
    })
}

/// Parses a catalog: a flat YAML map of keys to texts. Anything else (nesting, lists, empty
/// keys) is an error with a readable message.
pub fn parse_catalog(text: &str) -> Result<Catalog, String> {
    if text.trim().is_empty() {
        return Ok(Catalog::new());
    }
    let raw: BTreeMap<String, serde_json::Value> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    let mut catalog = Catalog::new();
    for (key, value) in raw {
        if key.trim().is_empty() {
            return Err("a message key is empty".into());
        }
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => String::new(),
            _ => return Err(format!("message `{key}` must be a text, not a list or a map")),
        };
        catalog.insert(key, text);
    }
    Ok(catalog)
}

/// Replaces each `{name}` in `text` for which `arg(name)` gives a value; other braces stay.
pub fn interpolate(text: &str, arg: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0
            && after[name_len..].starts_with('}')
            && let Some(value) = arg(&after[..name_len])
        {
            out.push_str(&value);
            rest = &after[name_len + 1..];
            continue;
        }
        out.push('{');
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVAILABLE: &[&str] = &["en", "de"];

    #[test]
    fn ui_locales_come_first_in_their_order() {
        assert_eq!(negotiate(Some("de en"), Some("en"), AVAILABLE), "de");
        assert_eq!(negotiate(Some("fr de"), Some("en"), AVAILABLE), "de");
        assert_eq!(negotiate(Some("de-CH"), None, AVAILABLE), "de");
        assert_eq!(negotiate(Some("  EN-gb  de"), None, AVAILABLE), "en");
    }

    #[test]
    fn unmatched_ui_locales_fall_through_to_accept_language() {
        assert_eq!(negotiate(Some("fr ja"), Some("de-DE,de;q=0.9"), AVAILABLE), "de");
        assert_eq!(negotiate(Some(""), Some("de"), AVAILABLE), "de");
    }

    #[test]
    fn accept_language_by_q_value() {
        assert_eq!(negotiate(None, Some("de-DE"), AVAILABLE), "de");
        assert_eq!(negotiate(None, Some("en;q=0.5, de;q=0.8"), AVAILABLE), "de");
        assert_eq!(
            negotiate(None, Some("fr-FR,fr;q=0.9,de;q=0.7,en;q=0.6"), AVAILABLE),
            "de"
        );
        assert_eq!(
            negotiate(None, Some("fr-FR,fr;q=0.9,en;q=0.8,de;q=0.7"), AVAILABLE),
            "en"
        );
        // equal q-values keep the client's order
        assert_eq!(negotiate(None, Some("de;q=0.5,en;q=0.5"), AVAILABLE), "de");
        // q=0 means "not acceptable"
        assert_eq!(negotiate(None, Some("de;q=0, en;q=0.1"), AVAILABLE), "en");
        assert_eq!(negotiate(None, Some("de;q=0.000"), AVAILABLE), "en");
        assert_eq!(negotiate(None, Some("DE-at ; q=1.0"), AVAILABLE), "de");
    }

    #[test]
    fn fallback_is_english() {
        assert_eq!(negotiate(None, None, AVAILABLE), "en");
        assert_eq!(negotiate(Some("fr"), Some("ja, *;q=0.1"), AVAILABLE), "en");
        assert_eq!(negotiate(None, Some(""), AVAILABLE), "en");
        assert_eq!(negotiate(None, Some(",,;;q=,"), AVAILABLE), "en");
        assert_eq!(negotiate(None, Some("de;q=2"), AVAILABLE), "en");
        assert_eq!(negotiate(None, Some("de;q=abc"), AVAILABLE), "en");
        assert_eq!(negotiate(Some("<script>"), Some("../../etc"), AVAILABLE), "en");
        assert_eq!(negotiate(Some("de"), None, &[]), "en");
    }

    #[test]
    fn regional_catalogs() {
        let available = ["en", "pt-BR", "zh-Hant"];
        assert_eq!(negotiate(Some("pt"), None, &available), "pt-BR");
        assert_eq!(negotiate(Some("pt-br"), None, &available), "pt-BR");
        assert_eq!(negotiate(None, Some("zh-Hant-TW"), &available), "zh-Hant");
        assert_eq!(negotiate(None, Some("zh_Hant"), &available), "zh-Hant");
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.8"), Some(800));
        assert_eq!(parse_q("0.123"), Some(123));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q(".5"), None);
    }

    #[test]
    fn catalogs_parse_flat_maps_only() {
        let c = parse_catalog("a: Hello\nb: \"Yes: {name}\"\nc: 12\n").unwrap();
        assert_eq!(c["a"], "Hello");
        assert_eq!(c["b"], "Yes: {name}");
        assert_eq!(c["c"], "12");
        assert!(parse_catalog("a:\n  b: nested\n").is_err());
        assert!(parse_catalog("- a\n- b\n").is_err());
        assert!(parse_catalog("").unwrap().is_empty());
    }

    #[test]
    fn interpolation() {
        let args = |n: &str| (n == "min").then(|| "12".to_string());
        assert_eq!(interpolate("At least {min} characters", args), "At least 12 characters");
        assert_eq!(interpolate("{min}{min}", args), "1212");
        assert_eq!(interpolate("{other} {min", args), "{other} {min");
        assert_eq!(interpolate("{} { min }", args), "{} { min }");
        assert_eq!(interpolate("ünï{min}cødé", args), "ünï12cødé");
    }
}

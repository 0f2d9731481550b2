//! Log set-up. Logs go to standard error: human-readable text by default, one JSON object per
//! line with `log_format: json`. Inside a request every line carries the `request` span
//! (request id, method, route template).

/// Installs the global subscriber; the level filter comes from `GATEHOUSE_LOG` (an env-filter
/// such as `info` or `gatehouse=debug,info`), default `info`.
/// `json` gives one JSON object per line, otherwise human-readable text.
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        // The current span only: the request span is the outermost, so the list adds nothing.
        builder.json().with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.try_init()
    };
}

/// How much of a client-supplied string a log line keeps.
pub const UNTRUSTED_MAX_CHARS: usize = 200;

/// A string a client sent (a path segment, a header, a form field), made safe for a log line:
/// control characters and Unicode line and direction marks are escaped (`\n`, `\u{202e}`) and
/// backslashes doubled, so it cannot forge or hide lines, and it is cut at
/// [`UNTRUSTED_MAX_CHARS`] characters, so it cannot flood the log. Use it wherever a value from
/// a request reaches `tracing`.
pub fn untrusted(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(UNTRUSTED_MAX_CHARS) + 16);
    for (i, c) in value.chars().enumerate() {
        if i == UNTRUSTED_MAX_CHARS {
            out.push_str(&format!("…({} chars)", value.chars().count()));
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.extend(c.escape_unicode())
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_forge_lines() {
        let forged = "x\nINFO gatehouse: admin signed in\r\t\u{1b}[31m";
        let logged = untrusted(forged);
        assert!(!logged.contains(['\n', '\r', '\t', '\u{1b}']), "{logged}");
        assert_eq!(logged, "x\\nINFO gatehouse: admin signed in\\r\\t\\u{1b}[31m");
        assert_eq!(
            untrusted("a\\nb"),
            "a\\\\nb",
            "a literal backslash-n stays distinguishable"
        );
        assert_eq!(untrusted("rtl\u{202e}txt"), "rtl\\u{202e}txt");
        assert_eq!(untrusted("acme-theme_2"), "acme-theme_2");
    }

    #[test]
    fn untrusted_text_is_cut() {
        let long = "é".repeat(60_000);
        let logged = untrusted(&long);
        assert!(logged.starts_with(&"é".repeat(UNTRUSTED_MAX_CHARS)), "{logged}");
        assert!(logged.ends_with("…(60000 chars)"), "{logged}");
        assert!(logged.chars().count() < UNTRUSTED_MAX_CHARS + 20);
        assert_eq!(
            untrusted(&"a".repeat(UNTRUSTED_MAX_CHARS)),
            "a".repeat(UNTRUSTED_MAX_CHARS)
        );
    }
}

//! Writing events out: JSON Lines and CSV for tools, a table for people. Each writer takes one
//! event at a time, so an export of any size streams page by page.

use std::io::Write;

use super::Event;

/// How `gatehouse events` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for reading in a terminal
    #[default]
    Table,
    /// One JSON object per line
    Jsonl,
    /// Comma-separated values with a header row (RFC 4180 quoting)
    Csv,
}

pub const CSV_HEADER: &str = "id,time,realm,type,user_id,username,client_id,ip,user_agent,details";

/// Writes events in one format; `finish` says when nothing was written.
pub struct Writer<'a> {
    format: Format,
    out: &'a mut dyn Write,
    written: u64,
}

impl<'a> Writer<'a> {
    pub fn new(format: Format, out: &'a mut dyn Write) -> Writer<'a> {
        Writer {
            format,
            out,
            written: 0,
        }
    }

    pub fn write(&mut self, e: &Event) -> std::io::Result<()> {
        if self.written == 0 {
            match self.format {
                Format::Csv => writeln!(self.out, "{CSV_HEADER}")?,
                Format::Table => writeln!(self.out, "{}", table_row(&TABLE_HEADER.map(String::from)))?,
                Format::Jsonl => {}
            }
        }
        match self.format {
            Format::Jsonl => writeln!(self.out, "{}", jsonl_line(e))?,
            Format::Csv => writeln!(self.out, "{}", csv_row(e))?,
            Format::Table => writeln!(self.out, "{}", table_row(&table_cells(e)))?,
        }
        self.written += 1;
        Ok(())
    }

    /// Ends the output: a CSV always has its header; people are told when nothing matched.
    pub fn finish(&mut self) -> std::io::Result<u64> {
        if self.written == 0 {
            match self.format {
                Format::Csv => writeln!(self.out, "{CSV_HEADER}")?,
                Format::Table => writeln!(self.out, "no events match")?,
                Format::Jsonl => {}
            }
        }
        self.out.flush()?;
        Ok(self.written)
    }
}

/// One JSON object (no trailing newline).
pub fn jsonl_line(e: &Event) -> String {
    // Serializing plain strings and a `Value` cannot fail.
    serde_json::to_string(e).unwrap_or_default()
}

/// One CSV record (no trailing newline); `details` is compact JSON. Every cell is
/// [`neutralized`] against formula injection before it is quoted.
pub fn csv_row(e: &Event) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        e.id.to_string(),
        e.time.clone(),
        e.realm.clone(),
        e.kind.clone(),
        opt(&e.user_id),
        opt(&e.username),
        opt(&e.client_id),
        opt(&e.ip),
        opt(&e.user_agent),
        e.details.to_string(),
    ]
    .iter()
    .map(|f| csv_field(&neutralized(f)).into_owned())
    .collect::<Vec<_>>()
    .join(",")
}

/// A cell a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return: a user agent or username an attacker chose) gets a leading `'`, so it is
/// shown as text (OWASP's CSV injection advice). Other cells are unchanged.
pub fn neutralized(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// Quotes a CSV field when it holds a comma, a quote or a line break (RFC 4180): the field
/// is wrapped in quotes and each quote doubled. (Formula escaping is [`neutralized`]'s.)
pub fn csv_field(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\"")).into()
    } else {
        value.into()
    }
}

const TABLE_HEADER: [&str; 7] = ["ID", "TIME", "TYPE", "USER", "CLIENT", "IP", "DETAILS"];
const TABLE_WIDTHS: [usize; 6] = [7, 20, 18, 20, 14, 15];

fn table_cells(e: &Event) -> [String; 7] {
    let dash = |v: Option<&String>| v.map_or_else(|| "-".to_string(), |s| printable(s));
    let details = match e.details.as_object() {
        Some(o) if o.is_empty() => String::new(),
        _ => e.details.to_string(),
    };
    [
        e.id.to_string(),
        e.time.clone(),
        printable(&e.kind),
        dash(e.username.as_ref().or(e.user_id.as_ref())),
        dash(e.client_id.as_ref()),
        dash(e.ip.as_ref()),
        printable(&details),
    ]
}

/// Control characters (from a user agent, say) would break the table or drive the terminal.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn table_row(cells: &[String; 7]) -> String {
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(TABLE_WIDTHS) {
        line.push_str(&format!("{cell:<width$} "));
    }
    line.push_str(&cells[6]);
    line.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            id: 7,
            timestamp: 1_769_860_800,
            time: "2026-01-31T12:00:00Z".into(),
            realm: "demo".into(),
            kind: "login_error".into(),
            user_id: Some("u1".into()),
            username: Some("alice".into()),
            client_id: Some("web".into()),
            ip: Some("127.0.0.1".into()),
            user_agent: Some("Agent, \"quoted\"\nnext".into()),
            details: serde_json::json!({ "reason": "bad password" }),
        }
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn csv_row_has_every_column() {
        let row = csv_row(&event());
        assert_eq!(
            row,
            "7,2026-01-31T12:00:00Z,demo,login_error,u1,alice,web,127.0.0.1,\"Agent, \"\"quoted\"\"\nnext\",\"{\"\"reason\"\":\"\"bad password\"\"}\""
        );
        assert_eq!(CSV_HEADER.split(',').count(), 10);
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_neutralized() {
        let mut e = event();
        e.user_agent = Some("=HYPERLINK(\"https://evil.example\",\"click\")".into());
        e.username = Some("@SUM(1+1)".into());
        e.client_id = Some("+cmd".into());
        e.ip = Some("-2+3".into());
        e.user_id = Some("\tx".into());
        e.kind = "\rx".into();
        let row = csv_row(&e);
        assert_eq!(
            row,
            "7,2026-01-31T12:00:00Z,demo,\"'\rx\",'\tx,'@SUM(1+1),'+cmd,'-2+3,\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"click\"\")\",\"{\"\"reason\"\":\"\"bad password\"\"}\""
        );
        assert_eq!(neutralized("plain"), "plain");
        assert_eq!(neutralized("a=b"), "a=b");
        assert_eq!(neutralized(""), "");
    }

    #[test]
    fn jsonl_carries_the_fields() {
        let v: serde_json::Value = serde_json::from_str(&jsonl_line(&event())).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["time"], "2026-01-31T12:00:00Z");
        assert_eq!(v["type"], "login_error");
        assert_eq!(v["username"], "alice");
        assert_eq!(v["details"]["reason"], "bad password");
        assert!(v.get("timestamp").is_none());
        // The admin API's names, camelCase.
        assert_eq!(v["userId"], "u1");
        assert_eq!(v["clientId"], "web");
        assert_eq!(v["ipAddress"], "127.0.0.1");
        assert!(v["userAgent"].is_string());
        assert_eq!(v.as_object().map(|o| o.len()), Some(10));
    }

    #[test]
    fn table_escapes_control_characters_and_says_when_empty() {
        let mut out = Vec::new();
        let mut w = Writer::new(Format::Table, &mut out);
        let mut e = event();
        e.username = Some("eve\u{1b}[31m".into());
        w.write(&e).unwrap();
        assert_eq!(w.finish().unwrap(), 1);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.starts_with("ID "), "{text}");
        assert!(text.contains("eve\\u{1b}[31m"), "{text}");
        assert!(!text.contains('\u{1b}'));

        let mut out = Vec::new();
        assert_eq!(Writer::new(Format::Table, &mut out).finish().unwrap(), 0);
        assert_eq!(String::from_utf8(out).unwrap(), "no events match\n");
        let mut out = Vec::new();
        Writer::new(Format::Csv, &mut out).finish().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), format!("{CSV_HEADER}\n"));
    }
}

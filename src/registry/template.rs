//! `--value-template`: one key holding a text made from the record, for consumers that expect
//! another shape than the five keys or the JSON object — the 2014 web app reads
//! `/services/db/db_private_ip` = `{"value": "<private ip>"}`.
//!
//! A placeholder is `{` + one of [`PLACEHOLDERS`] + `}`; any other brace is literal text, so a
//! JSON template needs no escaping. A `{name}` with an unknown lower-case name is refused (a
//! typo would otherwise be written verbatim). Values are inserted JSON-string-escaped (`"` → `\"`,
//! `\` → `\\`, control characters → `\uXXXX`), which leaves addresses, ports, host and unit names
//! as they are and keeps a JSON template valid whatever `--unit` or `--host` hold.

use std::fmt;

use super::Record;

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 7] = [
    "unit",
    "host",
    "public_ipv4_addr",
    "private_ipv4_addr",
    "port",
    "public_ipv6_addr",
    "private_ipv6_addr",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(&'static str),
}

/// A parsed `--value-template`.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.source)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

impl Template {
    /// Parses a template; the error names the template and the unknown placeholder.
    pub fn parse(source: &str) -> Result<Template, String> {
        if source.trim().is_empty() {
            return Err(format!("{source:?}: must not be empty"));
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name_len = after.bytes().take_while(|b| is_name_byte(*b)).count();
            if name_len > 0 && after.as_bytes().get(name_len) == Some(&b'}') {
                let name = &after[..name_len];
                let field = PLACEHOLDERS.iter().find(|p| **p == name).ok_or_else(|| {
                    format!(
                        "{source:?}: unknown placeholder {{{name}}}; known: {}",
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                    )
                })?;
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Field(field));
                rest = &after[name_len + 1..];
            } else {
                text.push('{');
                rest = after;
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    /// The value for `record`.
    pub fn render(&self, record: &Record) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(&escape(&field(record, f))),
            }
        }
        out
    }
}

/// The field's value; empty when the record has no address of that family.
fn field(r: &Record, name: &str) -> String {
    r.fields()
        .into_iter()
        .find(|(f, _)| *f == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// JSON string escaping without the surrounding quotes.
fn escape(v: &str) -> String {
    let quoted = serde_json::Value::String(v.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests;

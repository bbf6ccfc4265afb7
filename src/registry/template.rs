//! `--value-template`: one key holding a text made from the record, for consumers that expect
//! another shape than the five keys or the JSON object — the 2014 web app reads
//! `/services/db/db_private_ip` = `{"value": "<private ip>"}`.
//!
//! A placeholder is `{` + one of [`PLACEHOLDERS`] + `}`; any other brace is literal text, so a
//! JSON template needs no escaping. What only looks like a placeholder is refused, since it
//! would otherwise be written verbatim: a `{name}` whose name is unknown, in another case or
//! padded with spaces (`{privat_ip}`, `{PORT}`, `{ port }`), and a known name without its
//! closing brace (`{port`). Values are inserted JSON-string-escaped (`"` → `\"`,
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
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The placeholders, spelled as a template writes them.
fn known() -> String {
    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
}

/// What follows a `{`: a placeholder, something that only looks like one (refused, with why),
/// or literal text. Returns the field and the length it takes after the `{`.
fn placeholder(after: &str) -> Result<Option<(&'static str, usize)>, String> {
    let lead = after.len() - after.trim_start_matches(' ').len();
    let name_len = after[lead..]
        .bytes()
        .take_while(|b| is_name_byte(*b))
        .count();
    let name = &after[lead..lead + name_len];
    if name.is_empty() {
        return Ok(None);
    }
    let rest = &after[lead + name_len..];
    let trail = rest.len() - rest.trim_start_matches(' ').len();
    let closed = rest[trail..].starts_with('}');
    let exact = PLACEHOLDERS.iter().find(|p| **p == name);
    let like = PLACEHOLDERS.iter().find(|p| p.eq_ignore_ascii_case(name));
    match (closed, lead + trail, exact) {
        (true, 0, Some(field)) => Ok(Some((field, name_len + 1))),
        (true, _, _) => {
            let written = &after[..lead + name_len + trail + 1];
            let hint = like
                .map(|p| format!(" (did you mean {{{p}}}?)"))
                .unwrap_or_default();
            Err(format!(
                "unknown placeholder {{{written}{hint}; known: {}",
                known()
            ))
        }
        // `{port` then anything but `}`: a known name whose closing brace is missing.
        (false, _, _) if like.is_some() => Err(format!(
            "placeholder {{{name} has no closing brace; known: {}",
            known()
        )),
        (false, _, _) => Ok(None),
    }
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
            if let Some((field, len)) =
                placeholder(after).map_err(|why| format!("{source:?}: {why}"))?
            {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Field(field));
                rest = &after[len..];
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

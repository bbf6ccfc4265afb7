//! What an error message may quote from a reply: one line of printable text, and for a non-JSON
//! body (an HTML error page from a proxy or a server without the route) only its content type and
//! a short sanitised line (the page's title or first heading), never the raw body.

/// The longest message kept from a fault body.
pub(crate) const MAX_MESSAGE: usize = 120;

/// One line of printable text: control characters become spaces, runs of whitespace collapse,
/// and the result is cut at `max` characters (with `…`).
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() > max {
        out = out.chars().take(max.saturating_sub(1)).collect::<String>();
        out.push('…');
    }
    out
}

/// The text between `<tag ...>` and `</tag>`, case-insensitive, if any.
fn element_text<'a>(html: &'a str, lower: &str, tag: &str) -> Option<&'a str> {
    let open = lower.find(&format!("<{tag}"))?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find(&format!("</{tag}"))?;
    html.get(start..end)
}

/// Drops everything between `<` and `>`.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// What a non-JSON body may say in an error: its content type and one short sanitised line
/// (an HTML page's title or first heading, else its first line of text). Never the raw body.
pub(crate) fn describe_non_json(content_type: Option<&str>, body: &[u8]) -> String {
    let kind = content_type
        .map(|c| one_line(c.split(';').next().unwrap_or(c), 60))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "no content type".into());
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let line = if lower.contains("<html") || lower.contains("<!doctype") || lower.contains("<body")
    {
        let short = |t: &str| Some(one_line(&strip_tags(t), MAX_MESSAGE)).filter(|t| !t.is_empty());
        element_text(&text, &lower, "title")
            .and_then(short)
            .or_else(|| element_text(&text, &lower, "h1").and_then(short))
            .or_else(|| short(&text))
            .unwrap_or_else(|| "an HTML page".into())
    } else {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        one_line(&strip_tags(first), MAX_MESSAGE)
    };
    if line.is_empty() {
        format!("empty {kind} body")
    } else {
        format!("non-JSON reply ({kind}): {line}")
    }
}

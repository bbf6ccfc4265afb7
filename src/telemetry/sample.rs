//! The bounded list an info line names (journald splits lines above 48 KB); the full list goes to
//! debug.

/// How many items an info line names.
pub const LOG_SAMPLE: usize = 10;

/// At most `n` items of a list for a log line, then how many more there are.
pub fn sample<T: std::fmt::Display>(items: impl IntoIterator<Item = T>, n: usize) -> String {
    let mut out = Vec::new();
    let mut more = 0usize;
    for (i, it) in items.into_iter().enumerate() {
        if i < n {
            out.push(it.to_string());
        } else {
            more += 1;
        }
    }
    let mut s = out.join(" ");
    if more > 0 {
        s.push_str(&format!(" (+{more} more)"));
    }
    s
}

#[cfg(test)]
mod tests;

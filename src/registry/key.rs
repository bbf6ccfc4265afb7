//! Canonical etcd key paths, for `--key`, lbsync's `--prefix` and `--election-key`: a leading
//! `/`, non-empty segments (no `//`), no `.` or `..` segment (etcd keys are plain strings, so
//! `/a/../b` would be a key of its own that no reader expects), no whitespace or control
//! characters. One trailing `/` is accepted and dropped. Two different accepted spellings
//! therefore never name the same key, and neither do the owner keys derived from them.

/// The tree sidekick keeps its own keys in (owner records, lbsync's election); no `--key` or
/// `--prefix` may point into it.
pub const RESERVED_ROOT: &str = "sidekick";

/// The canonical form of `raw` (no trailing `/`), or why it is refused. The reason does not
/// repeat the input: callers prefix it with the flag and the value.
pub fn canonical(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let Some(body) = raw.strip_prefix('/') else {
        return Err("must start with '/', e.g. /services/web/web01".into());
    };
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() {
        return Err("must name a key below '/', e.g. /services/web/web01".into());
    }
    for segment in body.split('/') {
        match segment {
            "" => return Err("must not contain an empty segment ('//')".into()),
            "." | ".." => return Err(format!("must not contain a {segment:?} segment")),
            _ => {}
        }
    }
    Ok(format!("/{body}"))
}

/// [`canonical`], also refusing keys inside sidekick's own [`RESERVED_ROOT`] tree.
pub fn canonical_outside_reserved(raw: &str) -> Result<String, String> {
    let key = canonical(raw)?;
    if key.split('/').nth(1) == Some(RESERVED_ROOT) {
        return Err(format!(
            "/{RESERVED_ROOT}/ holds sidekick's own owner and election keys; choose another path"
        ));
    }
    Ok(key)
}

//! A small reader of systemd unit files for the unit-file tests: sections, `Key=Value`, comments
//! and `\` line continuations ([`Unit`]); fleet's specifiers and `${VAR}` expanded the way
//! systemd would for instance `01` on host `core01` ([`exec_argv`]); and the fake contents of
//! the environment files the units read ([`unit_env`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Unit {
    pub file: String,
    pub sections: Vec<(String, Vec<(String, String)>)>,
}

impl Unit {
    pub fn parse(file: &str, text: &str) -> Result<Unit, String> {
        let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut pending = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
                // systemd skips comment lines inside a continuation; an empty line there is
                // almost surely a mistake, so it is rejected.
                if line.is_empty() && !pending.is_empty() {
                    return Err(format!(
                        "{file}:{}: continuation runs into an empty line",
                        n + 1
                    ));
                }
                continue;
            }
            if let Some(body) = line.strip_suffix('\\') {
                pending.push_str(body);
                pending.push(' ');
                continue;
            }
            let full = std::mem::take(&mut pending) + line;
            if let Some(name) = full.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                sections.push((name.to_string(), Vec::new()));
                continue;
            }
            let (k, v) = full
                .split_once('=')
                .ok_or_else(|| format!("{file}:{}: not Key=Value: {full:?}", n + 1))?;
            let (_, entries) = sections
                .last_mut()
                .ok_or_else(|| format!("{file}:{}: key outside any section", n + 1))?;
            entries.push((k.trim().to_string(), v.trim().to_string()));
        }
        if !pending.is_empty() {
            return Err(format!("{file}: continuation at end of file"));
        }
        Ok(Unit {
            file: file.to_string(),
            sections,
        })
    }

    pub fn load(file: &str) -> Unit {
        let path = units_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Unit::parse(file, &text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every value of `key` in `section`, in order.
    pub fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.sections
            .iter()
            .filter(|(s, _)| s == section)
            .flat_map(|(_, e)| e.iter())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of `key` in `section`; panics naming the unit if absent or repeated.
    pub fn one(&self, section: &str, key: &str) -> &str {
        match self.all(section, key).as_slice() {
            [v] => v,
            other => panic!(
                "{}: [{section}] {key}= expected once, found {other:?}",
                self.file
            ),
        }
    }

    /// The `Environment=` assignments (`A=b` each; no quoting in these units).
    pub fn environment(&self) -> Vec<(String, String)> {
        self.all("Service", "Environment")
            .iter()
            .flat_map(|v| v.split_whitespace())
            .map(|a| {
                let (k, v) = a.split_once('=').expect("Environment= entries are A=b");
                (k.to_string(), v.to_string())
            })
            .collect()
    }
}

pub fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("unit-files")
}

/// The name of the unit as systemd/fleet would run it (`web@.service` → `web@01.service`).
pub fn instance_name(file: &str) -> String {
    file.replace("@.", "@01.")
}

/// What `%d` expands to for `unit`: the directory systemd fills from `LoadCredential=`.
pub fn credentials_dir(unit: &str) -> String {
    format!("/run/credentials/{unit}")
}

/// Expands the specifiers these units use, as for instance `01` on host `core01`; any other
/// specifier is an error (it would be a typo or a specifier fleet does not know).
pub fn expand_specifiers(s: &str, unit: &str) -> Result<String, String> {
    let instance = unit
        .split_once('@')
        .map(|(_, rest)| rest.trim_end_matches(".service"))
        .unwrap_or("");
    let prefix = unit.split(['@', '.']).next().unwrap_or(unit);
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i') | Some('I') => out.push_str(instance),
            Some('n') => out.push_str(unit),
            Some('p') => out.push_str(prefix),
            Some('H') => out.push_str("core01"),
            // $CREDENTIALS_DIRECTORY, where systemd puts the unit's LoadCredential= files.
            Some('d') => out.push_str(&credentials_dir(unit)),
            Some('%') => out.push('%'),
            other => return Err(format!("unknown specifier %{other:?} in {s:?}")),
        }
    }
    Ok(out)
}

/// Expands `${VAR}` from `env`; an undefined variable is an error naming it.
pub fn expand_env(s: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unterminated ${{ in {s:?}"))?;
        let name = &rest[start + 2..start + end];
        let value = env
            .get(name)
            .ok_or_else(|| format!("${{{name}}} is not set by any environment file"))?;
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    assert!(!rest.contains('$'), "bare $VAR in {s:?}: use ${{VAR}}");
    out.push_str(rest);
    Ok(out)
}

/// Fake contents of the environment files the units name, as the README documents them.
pub fn fake_env_file(path: &str, public: &str, private: &str) -> Vec<(String, String)> {
    let pairs: &[(&str, &str)] = match path {
        "/etc/environment" => &[
            ("COREOS_PUBLIC_IPV4", public),
            ("COREOS_PRIVATE_IPV4", private),
        ],
        "/etc/sidekick/lbsync.env" => &[
            ("OS_USERNAME", "demo-user"),
            ("OS_REGION_NAME", "IAD"),
            ("LB_NAME", "demo-lb"),
        ],
        "/etc/sidekick/db.env" => &[("MYSQL_ROOT_PASSWORD", "not-a-real-password")],
        "/etc/sidekick/sidekick.env"
        | "/etc/sidekick/sidekick-host.env"
        | "/etc/sidekick/monweb.env"
        | "/etc/sidekick/mondb.env"
        | "/etc/sidekick/lbsync-nginx.env" => &[],
        other => panic!("unexpected EnvironmentFile={other}"),
    };
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The environment systemd would give the unit's commands: Environment= first, then the
/// EnvironmentFile= files in order (they override).
pub fn unit_env(unit: &Unit, public: &str, private: &str) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = unit.environment().into_iter().collect();
    for f in unit.all("Service", "EnvironmentFile") {
        env.extend(fake_env_file(f.trim_start_matches('-'), public, private));
    }
    env
}

/// Splits a command line into words the way systemd does: whitespace separates words, a word
/// may be quoted with `'...'` or `"..."` (the quotes are removed, whitespace inside is kept), and
/// a backslash takes the next character literally.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') => w.push(chars.next().ok_or("trailing backslash")?),
                        Some(x) => w.push(x),
                        None => return Err(format!("unterminated {c} in {line:?}")),
                    }
                }
            }
            '\\' => word
                .get_or_insert_with(String::new)
                .push(chars.next().ok_or("trailing backslash")?),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The argv of one Exec line: specifiers and `${VAR}` expanded, split into words as systemd
/// does ([`split_words`]), the `-`/`@`/`+`/`!`/`:` prefixes of the program removed.
pub fn exec_argv(unit: &Unit, line: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    let name = instance_name(&unit.file);
    let line = expand_specifiers(line, &name).unwrap_or_else(|e| panic!("{}: {e}", unit.file));
    let line = expand_env(&line, env).unwrap_or_else(|e| panic!("{}: {e}", unit.file));
    let mut argv = split_words(&line).unwrap_or_else(|e| panic!("{}: {e}", unit.file));
    argv[0] = argv[0]
        .trim_start_matches(['-', '@', '+', '!', ':'])
        .to_string();
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_handles_sections_comments_and_continuations() {
        let u = Unit::parse(
            "t.service",
            "# c\n[Unit]\nA=1\n\n[Service]\nExecStart=/bin/x \\\n  # skipped\n  --y %i\nB = two\n",
        )
        .unwrap();
        assert_eq!(u.one("Unit", "A"), "1");
        assert_eq!(u.one("Service", "ExecStart"), "/bin/x  --y %i");
        assert_eq!(u.one("Service", "B"), "two");
        assert!(Unit::parse("t", "A=1\n").is_err(), "key outside a section");
        assert!(
            Unit::parse("t", "[S]\nnonsense\n").is_err(),
            "line without ="
        );
        assert_eq!(
            expand_specifiers("web-%i %n %H 100%% %d/k", "web@07.service").unwrap(),
            "web-07 web@07.service core01 100% /run/credentials/web@07.service/k"
        );
        assert!(expand_specifiers("%Z", "x.service").is_err());
        let env = BTreeMap::from([("A".to_string(), "1.2.3.4".to_string())]);
        assert_eq!(expand_env("${A}:180", &env).unwrap(), "1.2.3.4:180");
        assert!(expand_env("${B}", &env).is_err());
        assert_eq!(
            split_words(r#"/bin/x --t '{"value": "{ip}"}' "a b"c d\ e"#).unwrap(),
            ["/bin/x", "--t", r#"{"value": "{ip}"}"#, "a bc", "d e"]
        );
        assert!(split_words("'open").is_err());
    }
}

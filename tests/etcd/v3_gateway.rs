//! The README's "Coming from the 2014 scripts" read: the documented `curl` line against etcd's v3
//! JSON gateway returns the value sidekick writes for the 2014 web app, and the v2 read the
//! 2014 `db_host.php` made does not see it. The line is taken from README.md itself, so the doc
//! and this test cannot drift apart.

use std::process::Command;

use crate::*;
use testkit::etcd::Etcd;
use testkit::process::output_with_deadline;

const DB_KEY: &str = "/services/db/db_private_ip";
/// What `unit-files/mondb.service` writes (`--value-template '{"value": "{private_ipv4_addr}"}'`).
const DB_VALUE: &str = r#"{"value": "10.0.0.8"}"#;
const README_ENDPOINT: &str = "http://127.0.0.1:2379";

/// The one command line between the README's `v3-read` markers.
fn readme_curl_line() -> String {
    let readme = include_str!("../../README.md");
    let begin = readme
        .find("<!-- v3-read:begin -->")
        .expect("README has the v3-read block");
    let end = readme[begin..]
        .find("<!-- v3-read:end -->")
        .expect("README closes the v3-read block");
    let lines: Vec<&str> = readme[begin..begin + end]
        .lines()
        .filter(|l| l.starts_with("curl "))
        .collect();
    assert_eq!(lines.len(), 1, "one curl line in the v3-read block");
    lines[0].to_string()
}

fn sh(line: &str) -> String {
    let out = output_with_deadline(Command::new("bash").args(["-c", line]), None, SOON)
        .unwrap_or_else(|e| panic!("bash -c {line:?}: {e}"));
    assert!(out.status.success(), "{line}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn base64(flag: &str, input: &str) -> String {
    let out = output_with_deadline(
        Command::new("base64").args([flag]),
        Some(input.as_bytes()),
        SOON,
    )
    .expect("coreutils base64");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_readme_v3_gateway_read_returns_the_db_key_and_v2_does_not_see_it() {
    let line = readme_curl_line();
    assert!(line.contains(README_ENDPOINT), "{line}");
    assert!(
        line.contains(&base64("-w0", DB_KEY)),
        "the README's curl line asks for {DB_KEY}: {line}"
    );
    let etcd = Etcd::start();
    let endpoint = etcd.endpoints()[0].clone();
    let line = line.replace(README_ENDPOINT, endpoint.trim_end_matches('/'));

    // Before the database registers: an answer without `kvs` (db_host.php returns null).
    let empty: serde_json::Value = serde_json::from_str(&sh(&line)).expect("JSON answer");
    assert!(empty.get("kvs").is_none(), "{empty}");

    etcd.access().put_blocking(DB_KEY, DB_VALUE);
    let answer = sh(&line);
    let json: serde_json::Value = serde_json::from_str(&answer).expect("JSON answer");
    let value = json["kvs"][0]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no kvs[0].value in {answer}"));
    assert_eq!(base64("-d", value), DB_VALUE, "{answer}");

    // The 2014 read (v2 API, same key) does not see it: etcd keeps v2 apart (or has it off).
    let v2 = sh(&format!(
        "curl -s {}/v2/keys{DB_KEY}",
        endpoint.trim_end_matches('/')
    ));
    assert!(!v2.contains("10.0.0.8"), "a v2 read saw the v3 key: {v2}");
}

//! Issue 22's bad input, as given there, through the real binary: values that were accepted and
//! then written or used silently. Each is refused at start with exit 2 and one line naming it.

use super::table::{agent, assert_refused, lbsync, rackspace};

fn nginx(extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--backend",
        "nginx",
        "--upstream-file",
        "/tmp/sidekick-bad-input-issue22.conf",
        "--upstream-name",
        "web",
    ];
    v.extend_from_slice(extra);
    lbsync(&v)
}

const KNOWN: &str = "{unit}, {host}, {public_ipv4_addr}, {private_ipv4_addr}, {port}";

#[test]
fn value_template_placeholders_that_only_look_right() {
    for (template, named) in [
        ("{PORT}", "{PORT}"),
        ("{ port }", "{ port }"),
        (
            r#"{"value": "{private_ipv4_addr"}"#,
            "{private_ipv4_addr has no closing brace",
        ),
    ] {
        for mode in ["run", "check"] {
            assert_refused(
                &agent(mode, &["--value-template", template]),
                &["--value-template", named, KNOWN],
            );
        }
    }
}

#[test]
fn static_nodes_follow_the_instances_address_rules() {
    for (node, why) in [
        ("1.2.3.4:0", "port 0"),
        ("0.0.0.0:80", "unspecified"),
        ("224.0.0.1:80", "multicast"),
    ] {
        assert_refused(
            &nginx(&["--static-node", node]),
            &["--static-node", node, why],
        );
    }
    // Loopback: refused for Rackspace (which cannot reach it) unless --allow-loopback, as for
    // instances; nginx on this host may proxy to it.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("api-key");
    std::fs::write(&key, "k\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut args = rackspace("--api-key-file", &key);
    args.extend(["--static-node", "127.0.0.1:80"].map(String::from));
    assert_refused(
        &args,
        &[
            "--static-node",
            "127.0.0.1:80",
            "loopback",
            "--allow-loopback",
        ],
    );
}

#[test]
fn rackspace_only_flags_with_nginx_are_refused() {
    for flag in [
        &["--drain-period", "10s"][..],
        &["--allow-loopback"],
        &["--lb-name", "web-lb"],
        &["--username", "demo"],
    ] {
        assert_refused(&nginx(flag), &[flag[0], "--backend rackspace"]);
    }
}

#[test]
fn control_characters_in_written_values_are_refused() {
    for unit in ["web\nINFO forged line", "web\u{1b}[31mred"] {
        let shown = format!("{unit:?}");
        for mode in ["run", "check"] {
            assert_refused(
                &agent(mode, &["--unit", unit]),
                &["--unit", &shown, "control characters"],
            );
        }
    }
    assert_refused(
        &agent("run", &["--host", "core\n01"]),
        &["--host", "control characters"],
    );
}

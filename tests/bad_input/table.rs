//! One test per row of issue 9's table, run through the real binary. The etcd endpoint and the
//! Docker socket point at nothing, so a refusal that came after a connection attempt would show as
//! a timeout or another exit code.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use testkit::agent::run_to_completion;

const QUICK: Duration = Duration::from_secs(5);
const NOWHERE: [&str; 2] = ["--etcd-endpoints", "http://127.0.0.1:1"];

pub(crate) fn sidekick(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = run_to_completion(args, &[], QUICK);
    (out, started.elapsed())
}

pub(crate) fn agent(mode: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        mode,
        "--container",
        "web01",
        "--container-port",
        "80/tcp",
        "--key",
        "/services/web/web01",
        "--docker-host",
        "unix:///nonexistent-sidekick-test.sock",
    ]
    .map(String::from)
    .to_vec();
    v.extend(NOWHERE.map(String::from));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

pub(crate) fn lbsync(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["lbsync".into()];
    v.extend(NOWHERE.map(String::from));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Exit 2, within a moment, with exactly one line on stderr that contains every `needle`.
pub(crate) fn assert_refused(args: &[String], needles: &[&str]) {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, took) = sidekick(&argv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{argv:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{argv:?}: not one line: {stderr}");
    for n in needles {
        assert!(
            lines[0].contains(n),
            "{argv:?}: {n:?} missing from {stderr}"
        );
    }
    assert!(took < QUICK, "{argv:?} took {took:?}");
}

#[test]
fn durations_that_overflowed_are_refused() {
    let huge = "18446744073709551615s";
    for mode in ["run", "check"] {
        for flag in ["--ttl", "--health-interval", "--health-timeout"] {
            assert_refused(&agent(mode, &[flag, huge]), &[flag, huge]);
        }
    }
    assert_refused(
        &agent("run", &["--resync-interval", huge]),
        &["--resync-interval", huge],
    );
    for flag in ["--debounce", "--resync-interval", "--election-ttl", "--ttl"] {
        assert_refused(
            &lbsync(&["--backend", "nginx", flag, huge]),
            &[flag.trim_start_matches("--"), huge],
        );
    }
}

#[test]
fn a_ttl_above_etcds_maximum_is_refused() {
    assert_refused(
        &agent("run", &["--ttl", "9999999999s"]),
        &["--ttl", "9999999999s"],
    );
    assert_refused(&agent("run", &["--ttl", "2h"]), &["--ttl", "2h", "1h"]);
}

#[test]
fn keys_that_are_not_canonical_are_refused() {
    for key in [
        "web01",
        "/services/web/../web01",
        "/services/./web01",
        "/services//web01",
        "/services/web01//",
        "/sidekick/owners/services/web/web01",
    ] {
        let mut args = agent("run", &[]);
        let i = args.iter().position(|a| a == "--key").unwrap();
        args[i + 1] = key.into();
        assert_refused(&args, &["--key", key]);
    }
    assert_refused(
        &lbsync(&["--backend", "nginx", "--prefix", "services/web/"]),
        &["--prefix", "services/web/"],
    );
}

#[test]
fn a_trailing_slash_is_dropped() {
    let mut args = agent("check", &["--json"]);
    let i = args.iter().position(|a| a == "--key").unwrap();
    args[i + 1] = "/services/web/web01/".into();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _) = sidekick(&argv);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("web01//"), "{stdout}");
}

pub(crate) fn rackspace(secret_flag: &str, path: &Path) -> Vec<String> {
    lbsync(&[
        "--backend",
        "rackspace",
        "--lb-name",
        "web-lb",
        "--username",
        "demo",
        secret_flag,
        &path.display().to_string(),
    ])
}

#[test]
fn secret_files_must_be_small_regular_one_line_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let huge = dir.path().join("huge");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let two_lines = dir.path().join("two-lines");
    std::fs::write(&two_lines, "secret-one\nsecret-two\n").unwrap();
    for (path, why) in [
        (Path::new("/dev/zero"), "character device"),
        (fifo.as_path(), "FIFO"),
        (huge.as_path(), "at most 65536"),
        (dir.path(), "directory"),
        (two_lines.as_path(), "more than one line"),
    ] {
        let shown = path.display().to_string();
        for flag in ["--api-key-file", "--password-file"] {
            assert_refused(&rackspace(flag, path), &[flag, &shown, why]);
        }
        assert_refused(
            &agent(
                "run",
                &["--etcd-user", "root", "--etcd-password-file", &shown],
            ),
            &["--etcd-password-file", &shown, why],
        );
    }
    let stderr = {
        let args = rackspace("--api-key-file", &two_lines);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        String::from_utf8_lossy(&sidekick(&argv).0.stderr).into_owned()
    };
    assert!(
        !stderr.contains("secret-one"),
        "the content leaked: {stderr}"
    );
}

#[test]
fn lbsync_validates_its_backend_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upstream.conf").display().to_string();
    assert_refused(
        &lbsync(&[
            "--backend",
            "nginx",
            "--upstream-file",
            &file,
            "--upstream-name",
            "bad name",
        ]),
        &["--upstream-name", "bad name"],
    );
    assert_refused(
        &lbsync(&[
            "--backend",
            "nginx",
            "--upstream-file",
            &file,
            "--upstream-name",
            "web",
            "--health-path",
            "/health.php",
            "--health-timeout",
            "0s",
        ]),
        &["--health-timeout", "0s"],
    );
}

#[test]
fn check_and_run_agree_on_a_bad_docker_host() {
    for mode in ["check", "run"] {
        let mut args = agent(mode, &[]);
        let i = args.iter().position(|a| a == "--docker-host").unwrap();
        args[i + 1] = "ftp://x".into();
        assert_refused(&args, &["--docker-host", "ftp://x"]);
    }
}

#[test]
fn a_missing_docker_socket_is_reported_once_and_waited_for() {
    // Not bad input: Docker may simply not be up yet (the contract: the agent never exits
    // because Docker went away). One warning naming the socket, no flood while it retries.
    let args = agent("run", &[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = testkit::agent::AgentProcess::spawn(&argv, &[]);
    p.wait_for_log("waiting for the docker socket", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2)); // several retries (100 ms to 1 s apart)
    assert!(p.is_running(), "{}", p.context("exited instead of waiting"));
    let logs = p.logs();
    assert_eq!(
        logs.matches("nonexistent-sidekick-test.sock").count(),
        1,
        "{logs}"
    );
    p.sigterm();
    assert!(p
        .wait_exit(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
}

#[test]
fn check_with_docker_unreachable_says_what_run_does() {
    let args = agent("check", &[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _) = sidekick(&argv);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains("would be deleted"), "{stdout}");
    assert!(stdout.contains("run leaves the keys"), "{stdout}");
}

#[test]
fn a_network_name_docker_cannot_have_and_an_unknown_address_family_are_refused() {
    for mode in ["run", "check"] {
        for bad in ["", "back end", ".net", "net/1"] {
            assert_refused(
                &agent(mode, &["--network", bad]),
                &["--network", "network name"],
            );
        }
    }
    for bad in ["ip4", "both", ""] {
        assert_refused(
            &lbsync(&["--backend", "nginx", "--address-family", bad]),
            &["--address-family", bad],
        );
    }
}

/// A unit whose environment file is missing (issue 21): the unit says
/// `SIDEKICK_REQUIRE_ENV_FILE=FILE` and `EnvironmentFile=-FILE`; sidekick refuses in one line
/// naming FILE, in every mode, before connecting to anything.
#[test]
fn a_missing_environment_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("lbsync.env");
    let shown = missing.display().to_string();
    for args in [
        agent("run", &["--require-env-file", &shown]),
        agent("check", &["--require-env-file", &shown]),
        lbsync(&["--backend", "nginx", "--require-env-file", &shown]),
    ] {
        assert_refused(&args, &[&shown, "--require-env-file"]);
    }
    let out = run_to_completion(
        &[
            "host",
            "--require-env-file",
            &dir.path().display().to_string(),
        ],
        &[],
        QUICK,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a directory is not an environment file"
    );
}

/// `--version` names the commit the binary was built from (build.rs).
#[test]
fn version_names_the_commit() {
    let out = run_to_completion(&["--version"], &[], QUICK);
    let version = String::from_utf8_lossy(&out.stdout);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(h) if h.status.success() => {
            let commit = String::from_utf8_lossy(&h.stdout).trim().to_string();
            let want = format!("sidekick {} (git {commit}", env!("CARGO_PKG_VERSION"));
            assert!(version.starts_with(&want), "{version:?}, want {want:?}…");
        }
        _ => assert!(version.contains("no git commit"), "{version:?}"),
    }
}

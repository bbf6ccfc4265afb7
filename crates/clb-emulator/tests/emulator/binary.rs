//! The `clb-emulator` binary: its one start line, serving, exit 0 on SIGTERM, exit 2 on bad flags.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

use super::{api_key, http, public_url, token_of, DEADLINE};

/// Kills the child if a test fails half-way.
struct Reaper(Option<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test]
async fn prints_its_address_serves_and_exits_zero_on_sigterm() {
    let args = [
        "--listen",
        ":0",
        "--lb",
        "web",
        "--user",
        "alice:k1:pw",
        "--tenant",
        "777",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_clb-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reaper = Reaper(Some(child));
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    let line = tokio::time::timeout(DEADLINE, line).await.unwrap().unwrap();
    let url = line
        .strip_prefix("clb-emulator listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected start line {line:?}"));
    assert!(
        line.trim_end()
            .ends_with(&format!("(identity: {url}/v2.0)")),
        "{line}"
    );

    let http = http();
    let resp = http
        .post(format!("{url}/v2.0/tokens"))
        .json(&api_key("alice", "k1"))
        .send();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let access: Value = resp.json().await.unwrap();
    assert_eq!(access["access"]["token"]["tenant"]["id"], "777");
    let lbs = format!("{}/loadbalancers", public_url(&access, "ORD"));
    let resp = http
        .get(lbs)
        .header("X-Auth-Token", token_of(&access))
        .send();
    let lbs: Value = resp.await.unwrap().json().await.unwrap();
    assert_eq!(lbs["loadBalancers"][0]["name"], "web");

    let mut child = reaper.0.take().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the child this test spawned and has not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let waited = tokio::task::spawn_blocking(move || child.wait().unwrap());
    let status = tokio::time::timeout(DEADLINE, waited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// Runs the binary to completion within [`DEADLINE`] (killed and failed otherwise): (code, stderr).
fn run_bounded(args: &[&str]) -> (Option<i32>, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_clb-emulator"))
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reaper = Reaper(Some(child));
    let started = std::time::Instant::now();
    loop {
        let child = reaper.0.as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            reaper.0 = None;
            return (status.code(), stderr);
        }
        assert!(started.elapsed() < DEADLINE, "{args:?} did not exit");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn malformed_flags_exit_two_naming_the_flag() {
    for args in [
        ["--fail-rate", "2"],
        ["--pending-update", "5"],
        ["--user", "nokey"],
        ["--fault", "bogus"],
        ["--node-page-size", "0"],
    ] {
        let (code, stderr) = run_bounded(&args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
    }
}

/// Starts the binary with `args` on a free port; returns its reaper and base URL.
async fn start_binary(args: &[&str]) -> (Reaper, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clb-emulator"))
        .args(args)
        .args(["--listen", ":0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reaper = Reaper(Some(child));
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    let line = tokio::time::timeout(DEADLINE, line).await.unwrap().unwrap();
    let url = line
        .strip_prefix("clb-emulator listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected start line {line:?}"))
        .to_string();
    (reaper, url)
}

#[tokio::test]
async fn fault_flags_switch_faults_on_at_start_and_after_a_delay() {
    let http = http();
    let tokens = |url: &str| format!("{url}/v2.0/tokens");
    let (_r, url) = start_binary(&["--fault", "identity-401,no-limits-route"]).await;
    let resp = http
        .post(tokens(&url))
        .json(&api_key("demo", "demo-api-key"));
    assert_eq!(
        resp.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let faults: Value = http
        .get(format!("{url}/_emulator/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["no_limits_route"], true);
    assert_eq!(faults["html_404"], false);

    let (_r2, url) = start_binary(&["--identity-401-after", "300ms"]).await;
    let resp = http
        .post(tokens(&url))
        .json(&api_key("demo", "demo-api-key"));
    assert_eq!(resp.send().await.unwrap().status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let resp = http
            .post(tokens(&url))
            .json(&api_key("demo", "demo-api-key"));
        if resp.send().await.unwrap().status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "identity never refused"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

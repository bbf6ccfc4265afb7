//! `sidekick run` and `sidekick check` as a user runs them: the built binary as a child process,
//! against real etcd (one member, a 3-member cluster, TLS + auth) and the real Docker Engine with
//! containers built FROM scratch. This file holds the shared helpers; the tests live in
//! `tests/agent/`.

mod addresses;
mod check;
mod faults;
mod lifecycle;
mod ownership;
mod probes;

use std::collections::BTreeMap;
use std::time::Duration;

use testkit::agent::AgentProcess;
use testkit::etcd::EtcdAccess;
use testkit::wait_until;

pub const KEY: &str = "/services/web/web01";
/// The five fields, from the codec `run` writes with.
pub use sidekick::registry::FIELDS;
pub const PASS_SHA1: &str = "19d549807218f4fc3f2129757445f977e4b81408";
pub const FAIL_SHA1: &str = "dbe72348d4e3aa87958f421e4a9592a82839f3d8";

/// Upper bound for anything that should happen "at once".
pub const SOON: Duration = Duration::from_secs(10);

pub use testkit::agent::run_args;

pub fn spawn(args: &[String], env: &[(&str, &str)]) -> AgentProcess {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    AgentProcess::spawn(&argv, env)
}

/// The agent's keys under `key` (value, lease).
pub fn keys(etcd: &EtcdAccess, key: &str) -> BTreeMap<String, (String, i64)> {
    etcd.get_prefix_blocking(&format!("{key}/"))
}

/// Waits until the five keys are there with `port`, and returns them.
pub fn wait_registered(
    etcd: &EtcdAccess,
    key: &str,
    port: u16,
    agent: &AgentProcess,
) -> BTreeMap<String, (String, i64)> {
    let mut last = BTreeMap::new();
    let found = testkit::wait::poll_until(SOON, || {
        last = keys(etcd, key);
        last.len() == 5
            && last.get(&format!("{key}/port")).map(|(v, _)| v.as_str())
                == Some(port.to_string().as_str())
    });
    assert!(
        found,
        "{}",
        agent.context(&format!(
            "keys with port {port} never appeared; last seen {last:?}"
        ))
    );
    last
}

pub fn wait_gone(
    etcd: &EtcdAccess,
    key: &str,
    deadline: Duration,
    agent: &AgentProcess,
    why: &str,
) {
    let gone = testkit::wait::poll_until(deadline, || keys(etcd, key).is_empty());
    assert!(
        gone,
        "{}",
        agent.context(&format!("keys still present: {why}: {:?}", keys(etcd, key)))
    );
}

/// Asserts the keys stay present (and registered on `port`) for `d`. Reads that fail (etcd
/// electing a leader) are skipped, but most reads must succeed.
pub fn assert_stays_registered(
    etcd: &EtcdAccess,
    key: &str,
    port: u16,
    d: Duration,
    agent: &AgentProcess,
) {
    let start = std::time::Instant::now();
    let (mut ok, mut failed) = (0, 0);
    while start.elapsed() < d {
        match etcd.try_get_prefix_blocking(&format!("{key}/")) {
            Ok(k) => {
                ok += 1;
                let msg = format!("keys vanished after {:?}: {k:?}", start.elapsed());
                assert_eq!(k.len(), 5, "{}", agent.context(&msg));
                assert_eq!(k[&format!("{key}/port")].0, port.to_string());
            }
            Err(_) => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok > failed, "etcd answered {ok} reads and failed {failed}");
}

pub fn wait_log(agent: &AgentProcess, needle: &str) {
    wait_until(SOON, needle, || agent.logs().contains(needle));
}

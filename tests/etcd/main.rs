//! etcd as production runs it (issues 14 and 15), with `sidekick run` and `sidekick lbsync` as
//! child processes: least-privilege users (a refused permission is a configuration error,
//! exit 2, naming the key and the prefixes the role needs), a 3-member cluster with a member
//! down (the work stays on the members that answer, the log stays quiet), no raft proposals
//! while idle, `host`'s one shared lease, the minority-partition drill (members in network
//! namespaces; needs root) and the drill of a host cut off from etcd, then healed.

mod heal;
mod idle;
mod members;
mod partition;
mod permissions;
mod shared_lease;
mod v3_gateway;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use testkit::agent::AgentProcess;
use testkit::etcd::EtcdAccess;
use testkit::instances::{self, Instance};

pub const KEY: &str = "/services/web/web01";
pub const SOON: Duration = Duration::from_secs(10);

pub use testkit::agent::run_args;

/// `sidekick lbsync` with the nginx backend writing into `dir` (check and reload are `true`:
/// these tests are about etcd, not nginx).
pub fn lbsync_args(dir: &Path, etcd_args: &[String], extra: &[&str]) -> Vec<String> {
    let mut flags = vec!["--prefix", "/services/web/"];
    flags.extend_from_slice(extra);
    testkit::agent::lbsync_nginx_args(&dir.join("upstream.conf"), etcd_args, &flags)
}

pub fn spawn(args: &[String]) -> AgentProcess {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    AgentProcess::spawn(&argv, &[])
}

/// The agent's keys under `key` (value, lease).
pub fn keys(etcd: &EtcdAccess, key: &str) -> BTreeMap<String, (String, i64)> {
    etcd.get_prefix_blocking(&format!("{key}/"))
}

/// Waits until the five keys are there.
pub fn wait_registered(etcd: &EtcdAccess, key: &str, agent: &AgentProcess, deadline: Duration) {
    let mut last = BTreeMap::new();
    let ok = testkit::wait::poll_until(deadline, || {
        last = keys(etcd, key);
        last.len() == 5
    });
    assert!(
        ok,
        "{}",
        agent.context(&format!("keys never appeared; last seen {last:?}"))
    );
}

/// Waits until `p` logs `needle`.
pub fn wait_log(p: &AgentProcess, needle: &str, deadline: Duration) {
    let ok = testkit::wait::poll_until(deadline, || p.logs().contains(needle));
    assert!(ok, "{}", p.context(&format!("never logged {needle:?}")));
}

/// Writes instance `name`'s five keys under /services/web/ (as `sidekick run` would).
pub fn register(etcd: &EtcdAccess, name: &str, addr: &str) {
    let addr = addr.parse().expect("a test address");
    let one = Instance::new("/services/web/", name, addr, "core02");
    instances::register(etcd, vec![one], 1);
}

/// Waits until lbsync's upstream file in `dir` mentions `needle`.
pub fn wait_upstream(dir: &Path, needle: &str, lbsync: &AgentProcess, deadline: Duration) {
    let file = dir.join("upstream.conf");
    let ok = testkit::wait::poll_until(deadline, || {
        std::fs::read_to_string(&file).is_ok_and(|s| s.contains(needle))
    });
    assert!(
        ok,
        "{}",
        lbsync.context(&format!(
            "the upstream never listed {needle}: {:?}",
            std::fs::read_to_string(&file)
        ))
    );
}

/// Log lines of `p` after the first `from` lines that mention a refused connection.
pub fn refused_lines(p: &AgentProcess, from: usize) -> Vec<String> {
    p.logs()
        .lines()
        .skip(from)
        .filter(|l| l.to_ascii_lowercase().contains("refused"))
        .map(str::to_string)
        .collect()
}

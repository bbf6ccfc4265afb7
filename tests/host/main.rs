//! `sidekick host` as a user runs it: the built binary as a child process, one per "host", against
//! real etcd and the real Docker Engine with containers built FROM scratch and configured by
//! labels. Tests run in parallel on one Docker Engine, so each test's agent manages only the
//! containers carrying its own `sidekick-test.case` label (`--require-label`). This file holds
//! the shared helpers; the tests live in `tests/host/`.

mod check;
mod faults;
mod lifecycle;
mod ownership;
mod services;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use testkit::agent::AgentProcess;
use testkit::docker::{unique_name, Container, ContainerOpts};
use testkit::engine::Engine;
use testkit::etcd::EtcdAccess;

pub use sidekick::registry::FIELDS;
pub const PASS_SHA1: &str = "19d549807218f4fc3f2129757445f977e4b81408";

/// Upper bound for anything that should happen "at once".
pub const SOON: Duration = Duration::from_secs(10);

/// The label that ties a test's containers to its agent.
pub const CASE_LABEL: &str = "sidekick-test.case";

/// One test's share of the Docker Engine: its case label value.
pub struct Case(pub String);

impl Default for Case {
    fn default() -> Case {
        Case(unique_name("case"))
    }
}

impl Case {
    pub fn new() -> Case {
        Case::default()
    }

    /// The web image, labelled for this case with `sidekick.key=key`.
    pub fn web(&self, key: &str) -> ContainerOpts {
        self.plain().label("sidekick.key", key)
    }

    /// The web image with this case's label only (no sidekick labels).
    pub fn plain(&self) -> ContainerOpts {
        ContainerOpts::web().label(CASE_LABEL, &self.0)
    }

    /// `sidekick host` arguments for this case, with `etcd_args` and `extra`.
    pub fn host_args(&self, etcd_args: &[String], extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = [
            "host",
            "--host",
            "core01",
            "--require-label",
            &format!("{CASE_LABEL}={}", self.0),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(etcd_args.iter().cloned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }
}

pub fn spawn(args: &[String], env: &[(&str, &str)]) -> AgentProcess {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    AgentProcess::spawn(&argv, env)
}

/// The keys under `key` (value, lease).
pub fn keys(etcd: &EtcdAccess, key: &str) -> BTreeMap<String, (String, i64)> {
    etcd.get_prefix_blocking(&format!("{key}/"))
}

/// Waits until the five keys under `key` are there with `port`, and returns them.
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
            "{key}: keys with port {port} never appeared; last seen {last:?}"
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
        agent.context(&format!(
            "{key}: keys still present: {why}: {:?}",
            keys(etcd, key)
        ))
    );
}

pub fn wait_log(agent: &AgentProcess, needle: &str) {
    agent.wait_for_log(needle, SOON);
}

/// How many lines of the agent's output contain every one of `needles`.
pub fn log_lines(agent: &AgentProcess, needles: &[&str]) -> usize {
    agent
        .logs()
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

/// Starts one container per `opts`, four at a time (a burst of `docker run`s).
pub fn run_all(opts: Vec<ContainerOpts>) -> Vec<Container> {
    run_all_on(&Engine::docker(), opts)
}

/// [`run_all`] on `engine`.
pub fn run_all_on(engine: &Engine, opts: Vec<ContainerOpts>) -> Vec<Container> {
    let queue = Mutex::new(opts.into_iter().enumerate().collect::<Vec<_>>());
    let made = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let next = queue.lock().unwrap().pop();
                let Some((i, o)) = next else { break };
                let c = engine.run(o);
                made.lock().unwrap().push((i, c));
            });
        }
    });
    let mut made = made.into_inner().unwrap();
    made.sort_by_key(|(i, _)| *i);
    made.into_iter().map(|(_, c)| c).collect()
}

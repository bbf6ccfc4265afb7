//! Figure 7: raft proposals while idle (issue 14). One `sidekick run` and one `sidekick lbsync`
//! (nginx backend, check and reload `true`) on one etcd member, both settled; etcd's raft index
//! (`etcdctl endpoint status -w json` → `raft_index`, read here with the same status call) before
//! and after the idle window. Keepalives, watches and reads are not proposals: the target is 0.

use std::time::Duration;

use serde::Serialize;

use super::Plan;
use testkit::agent::AgentProcess;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::{raft_index, Etcd};

const KEY: &str = "/services/idlebench/web01";

#[derive(Debug, Clone, Serialize)]
pub struct IdleResults {
    pub window_s: u64,
    pub raft_index_before: u64,
    pub raft_index_after: u64,
}

impl IdleResults {
    pub fn proposals(&self) -> u64 {
        self.raft_index_after.saturating_sub(self.raft_index_before)
    }
}

fn spawn(args: &[String]) -> AgentProcess {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    AgentProcess::spawn(&argv, &[])
}

pub fn run(plan: &Plan) -> Result<IdleResults, String> {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let web = Container::run(ContainerOpts::web());
    let mut etcd_args = vec!["--etcd-endpoints".to_string(), etcd.endpoint_arg()];
    etcd_args.extend(["--ttl".to_string(), "5s".to_string()]);
    let mut run_args: Vec<String> = [
        "run",
        "--container",
        web.name(),
        "--container-port",
        "80/tcp",
        "--key",
        KEY,
        "--unit",
        "idle@01.service",
        "--host",
        "bench01",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_args.extend(etcd_args.iter().cloned());
    let agent = spawn(&run_args);
    let upstream = dir.path().join("upstream.conf");
    let mut lb_args: Vec<String> = [
        "lbsync",
        "--backend",
        "nginx",
        "--upstream-name",
        "idle",
        "--check-cmd",
        "true",
        "--reload-cmd",
        "true",
        "--prefix",
        "/services/idlebench/",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    lb_args.extend([
        "--upstream-file".to_string(),
        upstream.display().to_string(),
    ]);
    lb_args.extend(etcd_args.iter().cloned());
    let lbsync = spawn(&lb_args);
    let port = format!(":{}", web.host_port(80));
    let settled = testkit::wait::poll_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&upstream).is_ok_and(|s| s.contains(&port))
            && lbsync.logs().contains("elected leader")
    });
    if !settled {
        return Err(format!(
            "agent and lbsync never settled\n{}\n{}",
            agent.logs(),
            lbsync.logs()
        ));
    }
    std::thread::sleep(plan.settle);
    let before = raft_index(&etcd.access());
    std::thread::sleep(plan.idle);
    let after = raft_index(&etcd.access());
    Ok(IdleResults {
        window_s: plan.idle.as_secs(),
        raft_index_before: before,
        raft_index_after: after,
    })
}

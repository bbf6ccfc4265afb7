//! `sidekick lbsync --backend rackspace` as users run it: the built binary as a child process,
//! real etcd, and the clb-emulator (in this process, on its own thread) standing in for the
//! Rackspace API. This file holds the rig; the tests live in `tests/lbsync/`.

mod converge;
mod etcd_faults;
mod faults;
mod leader_drill;
mod outside;
mod watch;

use std::collections::BTreeSet;
use std::time::Duration;

use clb_emulator::{BackgroundEmulator, Config, Emulator};
use testkit::agent::AgentProcess;
use testkit::etcd::{Etcd, EtcdAccess};
use testkit::instances::{self, Instance};

pub const API_KEY: &str = "lbsync-test-api-key-7f3a";
pub const LB: &str = "web-lb";

/// The emulator on its own thread, with the test account.
pub type Emu = BackgroundEmulator;

/// Starts the emulator with `config` and the one test account.
pub fn start_emu(mut config: Config) -> Emu {
    config.users = vec![clb_emulator::User::new(
        "demo",
        API_KEY,
        Some("demo-password"),
        "123456",
    )];
    Emulator::new(config)
        .start_background()
        .expect("start the emulator")
}

/// The addresses (`ip:port`) of a load balancer's nodes.
pub fn addresses(emu: &Emu, lb: u64) -> BTreeSet<String> {
    emu.api
        .nodes(lb)
        .into_iter()
        .map(|n| format!("{}:{}", n.address, n.port))
        .collect()
}

/// etcd + emulator + an API key file.
pub struct Rig {
    pub etcd: Etcd,
    pub emu: Emu,
    pub lb: u64,
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub fn new(config: Config) -> Rig {
        let etcd = Etcd::start();
        let emu = start_emu(config);
        let lb = emu.api.create_load_balancer(LB);
        Rig {
            etcd,
            emu,
            lb,
            dir: key_dir(),
        }
    }

    pub fn args(&self, extra: &[&str]) -> Vec<String> {
        lbsync_args(
            &self.emu,
            self.dir.path(),
            &self.etcd.sidekick_args(),
            extra,
        )
    }

    pub fn spawn(&self, extra: &[&str]) -> AgentProcess {
        let args = self.args(extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        AgentProcess::spawn(&argv, &[])
    }

    pub fn nodes(&self) -> BTreeSet<String> {
        addresses(&self.emu, self.lb)
    }

    /// Waits until the LB holds exactly `want`.
    pub fn wait_nodes(&self, want: &BTreeSet<String>, deadline: Duration, lbsync: &AgentProcess) {
        let ok = testkit::wait::poll_until(deadline, || self.nodes() == *want);
        assert!(
            ok,
            "{}",
            lbsync.context(&format!(
                "LB nodes {:?} never became {want:?}",
                self.nodes()
            ))
        );
    }
}

/// A temp dir holding `api-key` (mode 600), as an operator would keep it.
pub fn key_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api-key"), format!("{API_KEY}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(dir.path().join("api-key"), mode).unwrap();
    dir
}

/// `sidekick lbsync` arguments against `emu`, with the API key file in `dir`.
pub fn lbsync_args(
    emu: &Emu,
    dir: &std::path::Path,
    etcd_args: &[String],
    extra: &[&str],
) -> Vec<String> {
    let key = dir.join("api-key");
    let mut v: Vec<String> = [
        "lbsync",
        "--backend",
        "rackspace",
        "--lb-name",
        LB,
        "--username",
        "demo",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(
        ["--region", "ORD", "--resync-interval", "2s"]
            .iter()
            .map(|s| s.to_string()),
    );
    v.extend(["--api-key-file".to_string(), key.display().to_string()]);
    v.extend(["--identity-url".to_string(), emu.identity_url.clone()]);
    v.extend(etcd_args.iter().cloned());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `n` instance addresses `10.0.X.Y:18000+i`.
pub fn addrs(range: std::ops::Range<usize>) -> BTreeSet<String> {
    range
        .map(|i| format!("10.0.{}.{}:{}", i / 200, i % 200 + 1, 18000 + i))
        .collect()
}

/// Writes each instance's five keys in one transaction, as `sidekick run` does.
pub fn register(etcd: &EtcdAccess, prefix: &str, names_addrs: &[(String, String)]) {
    let all = names_addrs
        .iter()
        .map(|(name, addr)| {
            let addr = addr.parse().expect("a test address");
            Instance::new(prefix, name, addr, "core01")
        })
        .collect();
    instances::register(etcd, all, 1);
}

/// Registers `addrs` as instances `i000`, `i001`, ... under /services/web/.
pub fn register_all(etcd: &EtcdAccess, addrs: &BTreeSet<String>) {
    let items: Vec<(String, String)> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("i{i:03}"), a.clone()))
        .collect();
    register(etcd, "/services/web/", &items);
}

pub fn delete_prefix(etcd: &EtcdAccess, prefix: &str) {
    let (access, prefix) = (etcd.clone(), prefix.to_string());
    testkit::rt::block_on(async move {
        let mut c = access.client().await;
        c.delete(
            prefix,
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    });
}

/// Deletes several prefixes in one transaction (simultaneous departures).
pub fn delete_prefixes(etcd: &EtcdAccess, prefixes: &[String]) {
    let (access, prefixes) = (etcd.clone(), prefixes.to_vec());
    testkit::rt::block_on(async move {
        let mut c = access.client().await;
        let ops: Vec<_> = prefixes
            .into_iter()
            .map(|p| {
                etcd_client::TxnOp::delete(p, Some(etcd_client::DeleteOptions::new().with_prefix()))
            })
            .collect();
        c.txn(etcd_client::Txn::new().and_then(ops)).await.unwrap();
    });
}

pub const CONVERGE: Duration = Duration::from_secs(15);

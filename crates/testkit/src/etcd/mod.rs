//! Real etcd 3.4 (`/usr/bin/etcd`) for tests: a single member ([`Etcd`]) or a static-bootstrap
//! cluster ([`EtcdCluster`]) on free loopback ports with their own temp dirs, optionally with TLS
//! (client certificates) and auth. Drop kills every member and removes the dirs; when the test
//! is panicking the members' logs are printed first.

mod access;
mod kv;
mod member;
pub mod netns;
pub mod roles;
mod single;
mod tls;
mod watch;

pub use access::EtcdAccess;
pub use kv::{get_key, get_prefix, key_lease, lease_ttl, put};
pub use roles::{add_user, raft_index, Perm};
pub use single::Etcd;
pub use tls::TlsFiles;
pub use watch::{EventKind, WatchEvent, Watcher};

use super::{free_port, rt};
use member::Member;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a fresh member or cluster may take to answer requests.
pub(crate) const START_DEADLINE: Duration = Duration::from_secs(15);
/// How long a member gets after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The key the health checks read (never written).
const HEALTH_KEY: &str = "/sidekick-test/health-probe";

/// TLS and auth choices for [`Etcd::start_with`] / [`EtcdCluster::start_with`].
#[derive(Clone, Debug, Default)]
pub struct EtcdOptions {
    /// Serve clients over TLS and require client certificates (`--client-cert-auth`).
    pub tls: bool,
    /// Enable auth with this user (granted the `root` role) and password. A user other than
    /// `root` gets a `root` user with the same password next to it.
    pub auth: Option<(String, String)>,
}

impl EtcdOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }
    pub fn auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_string(), password.to_string()));
        self
    }
}

/// An etcd cluster of `n` members on 127.0.0.1.
pub struct EtcdCluster {
    members: Vec<Member>,
    access: EtcdAccess,
    opts: EtcdOptions,
    dir: TempDir,
}

fn unique_token() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "sk-test-{}-{}-{:08x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

impl EtcdCluster {
    /// Starts `n` members (plain HTTP, no auth) and waits until every one answers.
    pub fn start(n: usize) -> EtcdCluster {
        Self::start_with(n, EtcdOptions::default())
    }

    /// Starts `n` members with TLS/auth as in `opts` and waits until every one answers.
    pub fn start_with(n: usize, opts: EtcdOptions) -> EtcdCluster {
        assert!(n >= 1, "an etcd cluster needs at least one member");
        let dir = tempfile::Builder::new()
            .prefix("sk-etcd-")
            .tempdir()
            .expect("create etcd temp dir");
        let pki = opts.tls.then(|| tls::generate(&dir.path().join("pki")));
        let scheme = if opts.tls { "https" } else { "http" };
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = unique_token();
        let members: Vec<Member> = ports
            .iter()
            .enumerate()
            .map(|(i, &(client_port, peer_port))| {
                let name = format!("m{i}");
                let mdir = dir.path().join(&name);
                std::fs::create_dir_all(&mdir).expect("create member dir");
                let client_url = format!("{scheme}://127.0.0.1:{client_port}");
                let peer_url = format!("http://127.0.0.1:{peer_port}");
                let tls_paths = pki.as_ref().map(|p| {
                    (
                        p.server_cert.to_string_lossy().into_owned(),
                        p.server_key.to_string_lossy().into_owned(),
                        p.ca.to_string_lossy().into_owned(),
                    )
                });
                let args = member::args(
                    &name,
                    &mdir.join("data").to_string_lossy(),
                    &client_url,
                    &peer_url,
                    &initial_cluster,
                    &token,
                    tls_paths
                        .as_ref()
                        .map(|(c, k, a)| (c.as_str(), k.as_str(), a.as_str())),
                );
                Member {
                    name,
                    client_port,
                    dir: mdir,
                    args,
                    child: None,
                }
            })
            .collect();
        let endpoints = members
            .iter()
            .map(|m| format!("{scheme}://127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>();
        let mut cluster = EtcdCluster {
            members,
            access: EtcdAccess {
                endpoints,
                tls: pki.map(|p| p.client),
                auth: None,
            },
            opts: opts.clone(),
            dir,
        };
        for m in &mut cluster.members {
            m.spawn();
        }
        cluster.wait_healthy(START_DEADLINE);
        if let Some((user, password)) = &opts.auth {
            cluster.enable_auth(user, password);
            cluster.access.auth = Some((user.clone(), password.clone()));
            cluster.wait_healthy(START_DEADLINE);
        }
        cluster
    }

    fn enable_auth(&self, user: &str, password: &str) {
        let access = self.access.clone();
        let (user, password) = (user.to_string(), password.to_string());
        rt::block_on(async move {
            let mut c = access.client().await;
            let _ = c.role_add("root").await; // may exist already
            c.user_add(user.as_str(), password.as_str(), None)
                .await
                .expect("etcd user add");
            c.user_grant_role(user.as_str(), "root")
                .await
                .expect("etcd grant root role");
            if user != "root" {
                c.user_add("root", password.as_str(), None)
                    .await
                    .expect("etcd user add root");
                c.user_grant_role("root", "root")
                    .await
                    .expect("etcd grant root role to root");
            }
            c.auth_enable().await.expect("etcd auth enable");
        });
    }

    /// How many members the cluster has (a cluster is never empty).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Client URLs of all members, e.g. `http://127.0.0.1:23791`.
    pub fn endpoints(&self) -> Vec<String> {
        self.access.endpoints.clone()
    }

    /// All client URLs except member `i`'s.
    pub fn endpoints_except(&self, i: usize) -> Vec<String> {
        let mut e = self.endpoints();
        e.remove(i);
        e
    }

    /// Comma-joined endpoints, for `--etcd-endpoints`.
    pub fn endpoint_arg(&self) -> String {
        self.endpoints().join(",")
    }

    /// Connection settings (endpoints, TLS files, user) for clients, watchers and helpers.
    pub fn access(&self) -> EtcdAccess {
        self.access.clone()
    }

    /// A client over all endpoints, with TLS/auth as configured.
    pub async fn client(&self) -> etcd_client::Client {
        self.access.client().await
    }

    pub fn ca_path(&self) -> Option<PathBuf> {
        self.access.tls.as_ref().map(|t| t.ca.clone())
    }
    pub fn client_cert_path(&self) -> Option<PathBuf> {
        self.access.tls.as_ref().map(|t| t.cert.clone())
    }
    pub fn client_key_path(&self) -> Option<PathBuf> {
        self.access.tls.as_ref().map(|t| t.key.clone())
    }
    pub fn user(&self) -> Option<String> {
        self.opts.auth.as_ref().map(|a| a.0.clone())
    }
    pub fn password(&self) -> Option<String> {
        self.opts.auth.as_ref().map(|a| a.1.clone())
    }

    /// Writes the password to a file in the cluster's temp dir (for `--etcd-password-file`).
    pub fn password_file(&self) -> Option<PathBuf> {
        let pw = self.password()?;
        let path = self.dir.path().join("etcd-password");
        std::fs::write(&path, pw).expect("write password file");
        Some(path)
    }

    /// `sidekick` flags to reach this etcd (endpoints, TLS files, user + password file).
    pub fn sidekick_args(&self) -> Vec<String> {
        self.access
            .sidekick_args(&self.dir.path().join("etcd-password"))
    }

    /// The cluster's temp dir (members' dirs, PKI and logs live below it).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn is_running(&mut self, i: usize) -> bool {
        self.members[i].is_running()
    }

    /// SIGKILL member `i` (data dir kept; `start(i)` brings it back).
    pub fn kill(&mut self, i: usize) {
        self.members[i].kill();
    }

    /// SIGTERM member `i` (SIGKILL after 5 s) and reap it; data dir kept.
    pub fn stop(&mut self, i: usize) {
        self.members[i].stop(STOP_GRACE);
    }

    /// Starts member `i` again with the same flags and data dir (`start(n)` is taken by the
    /// constructor). Does not wait: with quorum lost it cannot answer yet; call
    /// [`EtcdCluster::wait_healthy`] when it should.
    pub fn start_member(&mut self, i: usize) {
        self.members[i].spawn();
    }

    /// SIGKILLs member `i`, deletes its data dir and starts it again on the same ports, as an
    /// etcd rebuilt or restored empty (a single member comes back as a new cluster whose revision
    /// starts again at 1; auth is not set up again). Does not wait, like [`Self::start_member`].
    pub fn rebuild_member_empty(&mut self, i: usize) {
        self.members[i].kill();
        let data = self.members[i].dir.join("data");
        if data.exists() {
            std::fs::remove_dir_all(&data).expect("remove the member's data dir");
        }
        self.members[i].spawn();
    }

    /// Stops every member (a full outage that keeps the data).
    pub fn stop_all(&mut self) {
        for i in 0..self.members.len() {
            self.members[i].signal_term();
        }
        for m in &mut self.members {
            m.stop(STOP_GRACE);
        }
    }

    /// Starts every stopped member and waits until all answer.
    pub fn start_all(&mut self) {
        for m in &mut self.members {
            if !m.is_running() {
                m.spawn();
            }
        }
        self.wait_healthy(START_DEADLINE);
    }

    /// Waits until every running member answers a linearizable read (so it has a leader and
    /// quorum); panics with the members' logs after `deadline`, or at once if a member exits.
    pub fn wait_healthy(&mut self, deadline: Duration) {
        let wanted: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].is_running())
            .collect();
        let start = Instant::now();
        let mut pending = wanted.clone();
        // Bounded: each round takes at least 50 ms and the loop ends at the deadline.
        while !pending.is_empty() {
            for &i in &wanted {
                if !self.members[i].is_running() {
                    panic!(
                        "etcd member m{i} exited while waiting for it\n{}",
                        self.logs()
                    );
                }
            }
            let eps: Vec<(usize, EtcdAccess)> = pending
                .iter()
                .map(|&i| {
                    let ep = self.access.endpoints[i].clone();
                    (i, self.access.with_endpoints(&[ep]))
                })
                .collect();
            pending = rt::block_on(async move {
                let mut still = Vec::new();
                for (i, one) in eps {
                    if !probe(&one).await {
                        still.push(i);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                still
            });
            if !pending.is_empty() && start.elapsed() >= deadline {
                panic!(
                    "etcd members {pending:?} not healthy within {deadline:?}\n{}",
                    self.logs()
                );
            }
        }
    }

    /// Index of the current leader (asks each running member's status; waits up to 10 s).
    pub fn leader_index(&mut self) -> usize {
        let running: Vec<(usize, String)> = (0..self.members.len())
            .filter(|&i| self.members[i].is_running())
            .map(|i| (i, self.access.endpoints[i].clone()))
            .collect();
        let access = self.access.clone();
        let found = rt::block_on(async move {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                for (i, ep) in &running {
                    let one = access.with_endpoints(std::slice::from_ref(ep));
                    if let Ok(mut c) = one.connect().await {
                        if let Ok(s) = c.status().await {
                            let me = s.header().map(|h| h.member_id());
                            if s.leader() != 0 && me == Some(s.leader()) {
                                return Some(*i);
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        });
        found.unwrap_or_else(|| panic!("no etcd leader within 10 s\n{}", self.logs()))
    }

    /// Every member's log, each under a header line.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- etcd {} log ---\n{}", m.name, m.log()))
            .collect()
    }
}

/// One linearizable read through `access` succeeds.
async fn probe(access: &EtcdAccess) -> bool {
    let fut = async {
        let mut c = access.connect().await.ok()?;
        c.get(HEALTH_KEY, None).await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), fut).await,
        Ok(Some(_))
    )
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
        if std::thread::panicking() {
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(60).collect();
            eprintln!(
                "etcd logs (last lines, test panicked):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

//! An etcd cluster whose members each live in their own network namespace, for partition drills
//! (needs root and `ip netns`; iptables for [`NetnsCluster::cut`]). The members' namespaces hang
//! on a private bridge inside a "switch" namespace; the root namespace (where the agents run)
//! reaches them through one more veth into the switch, on a private /24. Cutting a member off
//! from its peers is an iptables rule inside that member's own namespace, so the host's firewall
//! is never touched. Every name carries a per-cluster tag; Drop kills the members and deletes the
//! namespaces and the host's veth, also when the test panics.
//!
//! Client hosts ([`NetnsCluster::add_host`]): a process that must lose etcd on its own (an agent,
//! an lbsync instance) runs in its own namespace on the same bridge ([`NetnsHost::spawn`],
//! [`NetnsHost::command`]); [`NetnsHost::cut_from_etcd`] drops its traffic to and from etcd's
//! client port only (iptables inside that namespace), so the Docker socket (a unix socket,
//! reachable from any namespace) and servers of the root namespace on [`NetnsCluster::root_ip`]
//! stay reachable.
//!
//! ```text
//!   root ns: agents ── <tag>h ──┐  (<net>.1)
//!                               │  switch ns <tag>sw: bridge br0
//!   <tag>m0: etcd ── <tag>m0a ──┤  (<net>.11, .12, ...)
//!   <tag>m1: etcd ── <tag>m1a ──┤
//!   <tag>m2: etcd ── <tag>m2a ──┤
//!   <tag>-<name>: ── <tag>x0a ──┘  (client hosts: <net>.101, .102, ...)
//! ```

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::super::agent::{sidekick_bin, AgentProcess};
use super::super::rt;
use super::access::EtcdAccess;
use super::member::{self, Member};
use super::START_DEADLINE;

const CLIENT_PORT: u16 = 2379;
const PEER_PORT: u16 = 2380;

/// Runs `ip` (or another command) and panics with its stderr when it fails.
fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Like [`sh`] but ignoring failures (cleanup).
fn sh_quiet(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).output();
}

/// True when this process can make network namespaces (root, `ip` installed).
pub fn available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A private /24 no route of this host uses: 10.213.N.0/24.
fn free_subnet() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let routes = Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for _ in 0..254 {
        let n = (std::process::id() as usize
            + N.fetch_add(1, Ordering::Relaxed) * 7
            + fastrand::usize(..254))
            % 254
            + 1;
        let net = format!("10.213.{n}");
        if !routes.contains(&format!("{net}.")) {
            return net;
        }
    }
    panic!("no free 10.213.N.0/24 subnet for the netns cluster");
}

pub struct NetnsCluster {
    tag: String,
    net: String,
    members: Vec<Member>,
    /// Every namespace made so far (deleted by Drop, even if construction stopped half-way).
    namespaces: Vec<String>,
    access: EtcdAccess,
    /// How many client hosts were made (numbers their addresses and interfaces).
    hosts: AtomicUsize,
    _dir: TempDir,
}

impl NetnsCluster {
    /// Builds the namespaces and starts `n` members; waits until each answers.
    pub fn start(n: usize) -> NetnsCluster {
        assert!(
            available(),
            "the partition drill needs root and `ip netns` (CI has both)"
        );
        let tag = format!("sk{:05x}", fastrand::u32(..0xfffff));
        let net = free_subnet();
        let dir = tempfile::Builder::new()
            .prefix("sk-netns-")
            .tempdir()
            .expect("create netns etcd temp dir");
        let mut c = NetnsCluster {
            tag: tag.clone(),
            net: net.clone(),
            members: Vec::new(),
            namespaces: Vec::new(),
            access: EtcdAccess::plain(&[]),
            hosts: AtomicUsize::new(0),
            _dir: dir,
        };
        // From here on, Drop cleans whatever was made.
        let sw = c.switch_ns();
        c.namespaces.push(sw.clone());
        sh("ip", &["netns", "add", &sw]);
        sh("ip", &["-n", &sw, "link", "set", "lo", "up"]);
        sh("ip", &["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        sh("ip", &["-n", &sw, "link", "set", "br0", "up"]);
        let (h, hb) = (format!("{tag}h"), format!("{tag}hb"));
        sh(
            "ip",
            &["link", "add", &h, "type", "veth", "peer", "name", &hb],
        );
        sh("ip", &["link", "set", &hb, "netns", &sw]);
        sh(
            "ip",
            &["-n", &sw, "link", "set", &hb, "master", "br0", "up"],
        );
        sh("ip", &["addr", "add", &format!("{net}.1/24"), "dev", &h]);
        sh("ip", &["link", "set", &h, "up"]);
        let initial_cluster = (0..n)
            .map(|i| format!("m{i}=http://{}:{PEER_PORT}", c.ip(i)))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("{tag}-token");
        for i in 0..n {
            let ns = c.member_ns(i);
            let (a, b) = (format!("{tag}m{i}a"), format!("{tag}m{i}b"));
            c.namespaces.push(ns.clone());
            sh("ip", &["netns", "add", &ns]);
            sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            sh(
                "ip",
                &["link", "add", &a, "type", "veth", "peer", "name", &b],
            );
            sh("ip", &["link", "set", &a, "netns", &ns]);
            sh("ip", &["link", "set", &b, "netns", &sw]);
            sh("ip", &["-n", &sw, "link", "set", &b, "master", "br0", "up"]);
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", c.ip(i)),
                    "dev",
                    &a,
                ],
            );
            sh("ip", &["-n", &ns, "link", "set", &a, "up"]);
            let name = format!("m{i}");
            let mdir = c._dir.path().join(&name);
            std::fs::create_dir_all(&mdir).expect("create member dir");
            let client_url = format!("http://{}:{CLIENT_PORT}", c.ip(i));
            let peer_url = format!("http://{}:{PEER_PORT}", c.ip(i));
            let mut args = vec![
                "netns".to_string(),
                "exec".into(),
                ns.clone(),
                "etcd".into(),
            ];
            args.extend(member::args(
                &name,
                &mdir.join("data").to_string_lossy(),
                &client_url,
                &peer_url,
                &initial_cluster,
                &token,
                None,
            ));
            c.members.push(Member {
                name,
                client_port: CLIENT_PORT,
                dir: mdir,
                args,
                child: None,
            });
        }
        c.access = EtcdAccess::plain(&(0..n).map(|i| c.endpoint(i)).collect::<Vec<_>>());
        for m in &mut c.members {
            m.spawn_program("ip");
        }
        c.wait_healthy(START_DEADLINE);
        c
    }

    fn switch_ns(&self) -> String {
        format!("{}sw", self.tag)
    }

    fn member_ns(&self, i: usize) -> String {
        format!("{}m{i}", self.tag)
    }

    /// The root namespace's address on the bridge: where a client host reaches a server of the
    /// root namespace (one listening on this address or on 0.0.0.0).
    pub fn root_ip(&self) -> String {
        format!("{}.1", self.net)
    }

    /// A client host: a new namespace `<tag>-<name>` on the bridge, with its own address. Its
    /// Drop deletes the namespace (the processes in it are the caller's to stop).
    pub fn add_host(&self, name: &str) -> NetnsHost {
        let k = self.hosts.fetch_add(1, Ordering::Relaxed);
        assert!(k < 100, "at most 100 client hosts per netns cluster");
        let host = NetnsHost {
            ns: format!("{}-{name}", self.tag),
            ip: format!("{}.{}", self.net, 101 + k),
        };
        let sw = self.switch_ns();
        let (a, b) = (format!("{}x{k}a", self.tag), format!("{}x{k}b", self.tag));
        sh("ip", &["netns", "add", &host.ns]);
        sh("ip", &["-n", &host.ns, "link", "set", "lo", "up"]);
        sh(
            "ip",
            &["link", "add", &a, "type", "veth", "peer", "name", &b],
        );
        sh("ip", &["link", "set", &a, "netns", &host.ns]);
        sh("ip", &["link", "set", &b, "netns", &sw]);
        sh("ip", &["-n", &sw, "link", "set", &b, "master", "br0", "up"]);
        sh(
            "ip",
            &[
                "-n",
                &host.ns,
                "addr",
                "add",
                &format!("{}/24", host.ip),
                "dev",
                &a,
            ],
        );
        sh("ip", &["-n", &host.ns, "link", "set", &a, "up"]);
        host
    }

    /// Member `i`'s address on the private bridge.
    pub fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.net, 11 + i)
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!("http://{}:{CLIENT_PORT}", self.ip(i))
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.access.endpoints.clone()
    }

    pub fn access(&self) -> EtcdAccess {
        self.access.clone()
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Waits until every member answers a linearizable read.
    pub fn wait_healthy(&mut self, deadline: Duration) {
        let start = Instant::now();
        for i in 0..self.members.len() {
            let one = self.access.with_endpoints(&[self.endpoint(i)]);
            let ok = rt::block_on(async move {
                while start.elapsed() < deadline {
                    let r = tokio::time::timeout(Duration::from_secs(2), async {
                        let mut c = one.connect().await.ok()?;
                        c.get("/sidekick-test/health-probe", None).await.ok()
                    })
                    .await;
                    if matches!(r, Ok(Some(_))) {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                false
            });
            assert!(ok, "netns etcd member m{i} not healthy\n{}", self.logs());
        }
    }

    /// Index of the member that leads now (waits up to 10 s).
    pub fn leader_index(&self) -> usize {
        let access = self.access.clone();
        let eps = self.endpoints();
        let found = rt::block_on(async move {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                for (i, ep) in eps.iter().enumerate() {
                    let one = access.with_endpoints(std::slice::from_ref(ep));
                    if let Ok(mut c) = one.connect().await {
                        if let Ok(Ok(s)) =
                            tokio::time::timeout(Duration::from_secs(1), c.status()).await
                        {
                            let me = s.header().map(|h| h.member_id());
                            if s.leader() != 0 && me == Some(s.leader()) {
                                return Some(i);
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

    /// Cuts member `i` off from its peers (not from the root namespace): it keeps accepting
    /// clients but can neither commit nor forward anything.
    pub fn cut(&self, i: usize) {
        let ns = self.member_ns(i);
        for j in (0..self.members.len()).filter(|&j| j != i) {
            let peer = self.ip(j);
            for (chain, dir) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
                sh(
                    "ip",
                    &[
                        "netns", "exec", &ns, "iptables", "-w", "-A", chain, dir, &peer, "-j",
                        "DROP",
                    ],
                );
            }
        }
    }

    /// Undoes [`NetnsCluster::cut`].
    pub fn heal(&self, i: usize) {
        let ns = self.member_ns(i);
        for chain in ["INPUT", "OUTPUT"] {
            sh("ip", &["netns", "exec", &ns, "iptables", "-w", "-F", chain]);
        }
    }

    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- etcd {} log ---\n{}", m.name, m.log()))
            .collect()
    }
}

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
        if std::thread::panicking() {
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(60).collect();
            eprintln!(
                "netns etcd logs (last lines, test panicked):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        for ns in self.namespaces.iter().rev() {
            sh_quiet("ip", &["netns", "del", ns]);
        }
        sh_quiet("ip", &["link", "del", &format!("{}h", self.tag)]);
    }
}

/// A client "host" of a [`NetnsCluster`]: its own network namespace on the cluster's bridge.
pub struct NetnsHost {
    ns: String,
    ip: String,
}

impl NetnsHost {
    /// The namespace's name (for `ip netns exec` / `ip -n`).
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Its address on the bridge.
    pub fn ip(&self) -> &str {
        &self.ip
    }

    /// `program` run inside this namespace (`ip netns exec NS program`, which execs it under the
    /// same pid); add its arguments.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns]).arg(program);
        cmd
    }

    /// `sidekick <args>` inside this namespace, as [`AgentProcess::spawn`] starts it.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> AgentProcess {
        let bin = sidekick_bin();
        let mut argv = vec!["netns", "exec", &self.ns];
        let bin = bin.to_str().expect("a UTF-8 path to the sidekick binary");
        argv.push(bin);
        argv.extend_from_slice(args);
        AgentProcess::spawn_program(std::path::Path::new("ip"), &argv, env)
    }

    /// The rules of a cut: every packet to or from etcd's client port.
    fn iptables_etcd(&self, op: &str) {
        let port = CLIENT_PORT.to_string();
        for (chain, dir) in [("OUTPUT", "--dport"), ("INPUT", "--sport")] {
            sh(
                "ip",
                &[
                    "netns", "exec", &self.ns, "iptables", "-w", op, chain, "-p", "tcp", dir,
                    &port, "-j", "DROP",
                ],
            );
        }
    }

    /// Drops this host's traffic to and from etcd's client port (silently, as a network that
    /// lost the path: no reset, no refusal); everything else still flows.
    pub fn cut_from_etcd(&self) {
        self.iptables_etcd("-A");
    }

    /// Undoes [`NetnsHost::cut_from_etcd`] (only its rules).
    pub fn heal(&self) {
        self.iptables_etcd("-D");
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        // The veth goes with the namespace (its peer in the switch with it).
        sh_quiet("ip", &["netns", "del", &self.ns]);
    }
}

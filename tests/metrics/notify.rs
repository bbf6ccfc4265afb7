//! systemd's notify protocol, seen from systemd's side: a datagram socket bound as
//! `NOTIFY_SOCKET` receives `READY=1` once the first decision is applied, `WATCHDOG=1` about
//! every half `WATCHDOG_USEC`, and `STOPPING=1` on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use testkit::etcd::Etcd;

use super::*;

/// A stand-in for systemd's notify socket: every datagram, with when it arrived.
pub struct NotifySocket {
    path: PathBuf,
    got: Arc<Mutex<Vec<(Instant, String)>>>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    pub fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::downgrade(&got);
        // Ends once the test drops the socket (the weak reference dies).
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Some(sink) = sink.upgrade() {
                if let Ok(n) = sock.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock().unwrap().push((Instant::now(), text));
                }
            }
        });
        NotifySocket {
            path,
            got,
            _dir: dir,
        }
    }

    pub fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }

    /// Every `KEY=value` line received so far, with its arrival time.
    pub fn lines(&self) -> Vec<(Instant, String)> {
        let got = self.got.lock().unwrap();
        got.iter()
            .flat_map(|(t, m)| m.lines().map(move |l| (*t, l.to_string())))
            .collect()
    }

    pub fn count(&self, line: &str) -> usize {
        self.lines().iter().filter(|(_, l)| l == line).count()
    }

    pub fn wait_for(&self, line: &str, what: &str, agent: &AgentProcess) {
        let ok = testkit::wait::poll_until(SOON, || self.count(line) > 0);
        assert!(
            ok,
            "{}",
            agent.context(&format!("{what}: no {line:?}; got {:?}", self.lines()))
        );
    }
}

#[test]
fn run_says_ready_pings_the_watchdog_and_says_stopping() {
    let etcd = Etcd::start();
    let notify = NotifySocket::bind();
    let (addr, port) = metrics_addr();
    let container = testkit::docker::unique_name("absent");
    let args = testkit::agent::run_args(
        &etcd.sidekick_args(),
        &container,
        "/services/web/notify01",
        &["--metrics-addr", &addr],
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = AgentProcess::spawn(
        &argv,
        &[
            ("NOTIFY_SOCKET", notify.path()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    // The container does not exist: the decision "no keys" is applied, so the agent is ready.
    notify.wait_for("READY=1", "ready", &agent);
    let status = notify
        .lines()
        .into_iter()
        .rev()
        .find(|(_, l)| l.starts_with("STATUS="))
        .map(|(_, l)| l);
    assert!(
        status
            .as_deref()
            .is_some_and(|s| s.contains("not registered") && s.contains("does not exist")),
        "{}",
        agent.context(&format!("STATUS says why: {status:?}"))
    );
    // Half of 2 s: three pings within about 3 s.
    let ok = testkit::wait::poll_until(SOON, || notify.count("WATCHDOG=1") >= 3);
    assert!(ok, "{}", agent.context(&format!("{:?}", notify.lines())));
    let pings: Vec<Instant> = notify
        .lines()
        .into_iter()
        .filter(|(_, l)| l == "WATCHDOG=1")
        .map(|(t, _)| t)
        .collect();
    for w in pings.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(700) && gap <= Duration::from_millis(1500),
            "pings every ~1 s, got a gap of {gap:?}"
        );
    }
    assert_eq!(get(port, "/healthz").map(|(c, _)| c), Some(200));
    assert_eq!(notify.count("STOPPING=1"), 0);

    agent.sigterm();
    let exit = agent.wait_exit(SOON);
    assert!(
        exit.is_some_and(|s| s.success()),
        "{}",
        agent.context("exit 0")
    );
    notify.wait_for("STOPPING=1", "stopping on SIGTERM", &agent);
    assert_eq!(notify.count("READY=1"), 1, "{:?}", notify.lines());
}

#[test]
fn without_a_watchdog_there_are_no_pings() {
    let etcd = Etcd::start();
    let notify = NotifySocket::bind();
    let container = testkit::docker::unique_name("absent");
    let args = testkit::agent::run_args(
        &etcd.sidekick_args(),
        &container,
        "/services/web/notify02",
        &[],
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = AgentProcess::spawn(&argv, &[("NOTIFY_SOCKET", notify.path())]);
    notify.wait_for("READY=1", "ready", &agent);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(notify.count("WATCHDOG=1"), 0, "{:?}", notify.lines());
    agent.sigterm();
    assert!(agent.wait_exit(SOON).is_some_and(|s| s.success()));
    notify.wait_for("STOPPING=1", "stopping on SIGTERM", &agent);
}

#[test]
fn host_is_ready_after_its_first_look_at_the_containers() {
    let etcd = Etcd::start();
    let notify = NotifySocket::bind();
    let label = format!(
        "sidekick-test.only={}",
        testkit::docker::unique_name("none")
    );
    let mut args: Vec<String> = ["host", "--require-label", &label]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(etcd.sidekick_args());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut host = AgentProcess::spawn(&argv, &[("NOTIFY_SOCKET", notify.path())]);
    // No container carries the label: the first listing is empty, and that is a decision.
    notify.wait_for("READY=1", "host ready", &host);
    notify.wait_for("STATUS=0 of 0 keys registered", "host status", &host);
    host.sigterm();
    assert!(host.wait_exit(SOON).is_some_and(|s| s.success()));
    notify.wait_for("STOPPING=1", "stopping on SIGTERM", &host);
}

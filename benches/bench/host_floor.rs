//! What no agent can beat in figure 6, measured beside it: the address the containers publish on
//! (the production path, not docker-proxy), what one HTTP probe costs the kernel on this machine
//! (a minimal blocking prober on the same containers and schedule as the agent), and how soon the
//! containers of a burst answer at all (an observer that knows each port before the container
//! starts and polls it every millisecond).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::dockerapi::Events;
use super::sys::wall_ns;
use testkit::docker::ContainerOpts;

/// The host address the bench publishes on: a TEST-NET-2 address put on `lo` for the run, as
/// `COREOS_PUBLIC_IPV4` sits on a host interface in production. A connection from the host to
/// it goes through Docker's DNAT rule in the OUTPUT chain straight to the container, as a probe
/// of a real public address does; 127.0.0.1 would go through docker-proxy instead (Docker leaves
/// loopback to the userland proxy), a path production never takes for an address it announces.
pub const BENCH_PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 77);

/// The address the containers publish on; removes it from `lo` when dropped if it put it there.
pub struct PublishAddr {
    pub ip: Ipv4Addr,
    /// Why the run fell back to 127.0.0.1, if it did.
    pub fallback: Option<String>,
    added: bool,
}

impl PublishAddr {
    /// `BENCH_HOST_PUBLISH_IP` if set (e.g. 127.0.0.1 to measure the docker-proxy path), else
    /// [`BENCH_PUBLIC_IP`] added to `lo` (needs root), else 127.0.0.1 with the reason.
    pub fn setup() -> PublishAddr {
        if let Ok(ip) = std::env::var("BENCH_HOST_PUBLISH_IP") {
            if let Ok(ip) = ip.parse() {
                return PublishAddr::at(ip, false);
            }
        }
        let cidr = format!("{BENCH_PUBLIC_IP}/32");
        if on_lo(BENCH_PUBLIC_IP) {
            // Already there (a previous run or a person put it there): use it, leave it.
            return PublishAddr::at(BENCH_PUBLIC_IP, false);
        }
        let out = std::process::Command::new("ip")
            .args(["addr", "add", &cidr, "dev", "lo"])
            .output();
        match out {
            Ok(o) if o.status.success() => PublishAddr::at(BENCH_PUBLIC_IP, true),
            Ok(o) => PublishAddr::loopback(format!(
                "ip addr add {cidr} dev lo: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => PublishAddr::loopback(format!("ip: {e}")),
        }
    }

    fn at(ip: Ipv4Addr, added: bool) -> PublishAddr {
        PublishAddr {
            ip,
            fallback: None,
            added,
        }
    }

    fn loopback(why: String) -> PublishAddr {
        eprintln!("bench: publishing on 127.0.0.1 (docker-proxy): {why}");
        PublishAddr {
            ip: Ipv4Addr::LOCALHOST,
            fallback: Some(why),
            added: false,
        }
    }

    /// Docker's `-p` spec for container port 80 on this address, the host port chosen by Docker
    /// or given.
    pub fn spec(&self, host_port: Option<u16>) -> String {
        match host_port {
            Some(p) => format!("{}:{p}:80", self.ip),
            None => format!("{}::80", self.ip),
        }
    }
}

impl Drop for PublishAddr {
    fn drop(&mut self) {
        if self.added {
            let _ = std::process::Command::new("ip")
                .args(["addr", "del", &format!("{}/32", self.ip), "dev", "lo"])
                .output();
        }
    }
}

/// Whether `ip` is already an address of `lo`.
fn on_lo(ip: Ipv4Addr) -> bool {
    std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", "lo"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {ip}/")))
        .unwrap_or(false)
}

/// One `GET /health.php` on a new connection: true on a complete 200.
pub fn get_ok(addr: SocketAddr) -> bool {
    get_ok_within(addr, Duration::from_secs(2))
}

/// [`get_ok`] with the connect bounded by `connect`.
fn get_ok_within(addr: SocketAddr, connect: Duration) -> bool {
    matches!(
        testkit::docker::http_get_at(addr, "/health.php", connect, Duration::from_secs(2)),
        Ok((200, _))
    )
}

/// On-CPU nanoseconds of the calling thread so far.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeFloor {
    pub probes: usize,
    pub passed: usize,
    /// On-CPU time of the prober thread per probe (user + kernel, schedstat), µs.
    pub us_per_probe: f64,
    /// That cost at the agent's rate (containers ÷ interval), % of one core.
    pub pct_at_rate: f64,
    pub rate_per_s: f64,
}

/// Probes every address once per `interval`, all back to back (the agent's probes of containers
/// registered together stay in phase like this), for `rounds` rounds: the CPU one plain blocking
/// HTTP probe per container and interval costs on this machine, with nothing else in the thread.
pub fn probe_floor(addrs: &[SocketAddr], interval: Duration, rounds: usize) -> ProbeFloor {
    let before = thread_cpu_ns().unwrap_or(0);
    let mut passed = 0;
    let mut next = Instant::now();
    for _ in 0..rounds {
        passed += addrs.iter().filter(|a| get_ok(**a)).count();
        next += interval;
        super::sys::sleep_until(next);
    }
    let used = thread_cpu_ns().unwrap_or(0).saturating_sub(before) as f64;
    let probes = addrs.len() * rounds;
    let us_per_probe = used / 1e3 / probes.max(1) as f64;
    let rate_per_s = addrs.len() as f64 / interval.as_secs_f64();
    ProbeFloor {
        probes,
        passed,
        us_per_probe,
        pct_at_rate: us_per_probe * rate_per_s / 1e4,
        rate_per_s,
    }
}

/// One burst of `opts.len()` `docker run`s at once with no agent running, each published on a
/// host port chosen beforehand: per container, its `start` event → its first complete HTTP 200.
/// An ideal agent: one observer thread that knows every port in advance and, from the moment it
/// sees a container's `start` event, polls it round after round with 1 ms between rounds (each
/// attempt bounded to 20 ms) until it answers. What it leaves out is the inspect a real agent
/// needs to learn a Docker-chosen port.
pub fn burst_floor(
    addr: &PublishAddr,
    events_filter: &str,
    opts: Vec<ContainerOpts>,
) -> Result<Vec<f64>, String> {
    let events = Events::follow_filter(events_filter);
    std::thread::sleep(Duration::from_millis(300)); // the events child subscribes
    let ports = testkit::free_ports(opts.len());
    let names: Vec<String> = (0..opts.len())
        .map(|_| testkit::docker::unique_name("floor"))
        .collect();
    let runs: Vec<ContainerOpts> = opts
        .into_iter()
        .zip(ports.iter().zip(&names))
        .map(|(o, (p, n))| o.name(n).publish(&addr.spec(Some(*p))))
        .collect();
    let by_name: BTreeMap<&str, SocketAddr> = names
        .iter()
        .map(String::as_str)
        .zip(ports.iter().map(|p| SocketAddr::from((addr.ip, *p))))
        .collect();
    let (made, ready) = std::thread::scope(|s| {
        let observer = s.spawn(|| {
            // name → (start event, first 200)
            let mut ready: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while ready.len() < by_name.len() && Instant::now() < deadline {
                for e in events.all() {
                    if e.action != "start" || ready.contains_key(&e.name) {
                        continue;
                    }
                    let Some(t) = by_name.get(e.name.as_str()) else {
                        continue;
                    };
                    if get_ok_within(*t, Duration::from_millis(20)) {
                        ready.insert(e.name.clone(), (e.time_nano, wall_ns()));
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            ready
        });
        let made = super::host::run_at_once(runs, names.len());
        (made, observer.join().unwrap_or_default())
    });
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for c in &made {
        match ready.get(c.name()) {
            Some((start, at)) => out.push((at - start) as f64 / 1e6),
            None => missing.push(c.name().to_string()),
        }
    }
    super::host::remove_all(made);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "no start event or no answer from {}",
            missing.join(", ")
        ))
    }
}

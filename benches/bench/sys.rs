//! The host and its processes as /proc shows them: machine facts for the report header, wall
//! clock in nanoseconds, a process's RSS breakdown and CPU ticks (own and waited-for children),
//! its live descendants, and where an RSS goes by mapping (`smaps`).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Wall-clock nanoseconds since the Unix epoch (the clock Docker's `timeNano` uses).
pub fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Maps monotonic `Instant`s (as the harness Watcher records them) to wall-clock nanoseconds.
/// Taken right before each measured action, so clock slew between the two clocks over the
/// seconds that follow is far below a microsecond.
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    wall: i64,
    inst: Instant,
}

impl Anchor {
    pub fn now() -> Anchor {
        let inst = Instant::now();
        Anchor {
            wall: wall_ns(),
            inst,
        }
    }

    pub fn wall_of(&self, at: Instant) -> i64 {
        match at.checked_duration_since(self.inst) {
            Some(d) => self.wall + d.as_nanos() as i64,
            None => self.wall - self.inst.duration_since(at).as_nanos() as i64,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub date: String,
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    pub docker: String,
    pub etcd: String,
    pub memory_mb: u64,
    /// /proc/loadavg at the start (other work on the machine skews every figure).
    pub loadavg: String,
    /// The binary under test and its size.
    pub sidekick_bin: String,
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub fn host_info() -> HostInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let memory_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    HostInfo {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        cpu_model,
        cores: cores.max(1),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        docker: first_line("docker", &["version", "--format", "{{.Server.Version}}"]),
        etcd: first_line("etcd", &["--version"]),
        memory_mb,
        loadavg: loadavg(),
        sidekick_bin: {
            let p = sidekick_bin();
            let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            let shown = p
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .map(|r| r.display().to_string())
                .unwrap_or_else(|_| p.display().to_string());
            format!("{shown} ({:.1} MiB)", size as f64 / 1048576.0)
        },
    }
}

/// Kernel clock ticks per second (the unit of utime/stime).
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU time of a process in ticks: (utime+stime, cutime+cstime) from /proc/PID/stat. The
/// second part is the time of children the process has waited for.
pub fn cpu_ticks(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14 -> index 11.
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok());
    Some((n(11)? + n(12)?, n(13)? + n(14)?))
}

/// RSS figures from /proc/PID/status, in kB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rss {
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
    pub shmem: u64,
    pub hwm: u64,
    pub threads: u64,
}

pub fn rss(pid: u32) -> Option<Rss> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut r = Rss::default();
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        match k {
            "VmRSS:" => r.rss = v,
            "RssAnon:" => r.anon = v,
            "RssFile:" => r.file = v,
            "RssShmem:" => r.shmem = v,
            "VmHWM:" => r.hwm = v,
            "Threads:" => r.threads = v,
            _ => {}
        }
    }
    (r.rss > 0).then_some(r)
}

/// Direct children of `pid` (all its threads), from /proc/PID/task/*/children.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|x| x.parse::<u32>().ok()));
        }
    }
    out
}

/// `pid` and all its live descendants (bounded: at most 256 processes).
pub fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() && all.len() < 256 {
        let kids = children(all[i]);
        all.extend(kids);
        i += 1;
    }
    all
}

/// Resident kB per mapping kind from /proc/PID/smaps: the executable, shared libraries, heap,
/// stacks, anonymous mappings (allocator arenas, thread stacks), other.
pub fn rss_by_mapping(pid: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return out;
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut kind = String::from("other");
    for line in s.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let path = line.split_whitespace().nth(5).unwrap_or("");
            kind = match path {
                "" => "anonymous (allocator arenas, thread stacks)".into(),
                "[heap]" => "[heap] (brk)".into(),
                "[stack]" => "[stack] (main thread)".into(),
                p if p == exe || exe.starts_with(p) => "executable (text+data)".into(),
                p if p.contains(".so") => "shared libraries".into(),
                p => format!("other ({p})"),
            };
        } else if let Some(v) = line.strip_prefix("Rss:") {
            let kb: u64 = v
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            *out.entry(kind.clone()).or_insert(0) += kb;
        }
    }
    out.retain(|_, v| *v > 0);
    out
}

/// Sleeps until `deadline` (no-op if past).
pub fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// Whether a `docker-proxy` process serves host port `port` (Docker's userland proxy is on).
pub fn userland_proxy_for(port: u16) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    let want = format!("\0-host-port\0{port}\0");
    dir.flatten().any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
            let c = String::from_utf8_lossy(&c);
            c.contains("docker-proxy") && c.contains(&want)
        })
    })
}

/// The 1/5/15-minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The `sidekick` binary under test: `$BENCH_SIDEKICK_BIN` when set (to compare another build),
/// else the release binary Cargo built for this benchmark.
pub fn sidekick_bin() -> std::path::PathBuf {
    std::env::var_os("BENCH_SIDEKICK_BIN")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(testkit::agent::sidekick_bin)
}

/// Starts `sidekick <args>` (the binary under test) as the harness does.
pub fn spawn_sidekick(args: &[&str], env: &[(&str, &str)]) -> testkit::agent::AgentProcess {
    testkit::agent::AgentProcess::spawn_program(&sidekick_bin(), args, env)
}

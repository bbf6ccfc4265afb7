//! The nginx backend against a real nginx (Debian's /usr/sbin/nginx): a private nginx per test in
//! a temp prefix, real HTTP backends on loopback, and assertions on the bytes that come back
//! through nginx.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sidekick::lbsync::backend::{nginx::NginxBackend, Backend as _};
use sidekick::lbsync::plan::NodePlan;
use sidekick::lbsync::Step;
use sidekick::nginx::{render_into, Applied, NginxConfig, NginxError, NginxUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use testkit::nginx::Nginx;

const NAME: &str = "app";
/// An upstream nginx.conf defines itself, so a backend rendering this name is rejected by `-t`.
const CLASH: &str = "clash";
const DEADLINE: Duration = Duration::from_secs(10);
const WINDOW: usize = 30;

/// The upstream file for `servers`, in a buffer of its own.
fn render(name: &str, servers: &BTreeSet<SocketAddr>) -> String {
    let mut out = String::new();
    render_into(&mut out, name, servers);
    out
}

/// An HTTP server that answers every request with `200` and its own name as the body.
struct Backend {
    name: String,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn backend(name: &str, ip: &str) -> Backend {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = name.to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                let read_head = async {
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return false,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    true
                };
                if tokio::time::timeout(Duration::from_secs(5), read_head).await != Ok(true) {
                    return;
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Backend {
        name: name.to_string(),
        addr,
        task,
    }
}

async fn backends(n: usize) -> Vec<Backend> {
    let mut v = Vec::new();
    for i in 1..=n {
        v.push(backend(&format!("backend-{i}"), "127.0.0.1").await);
    }
    v
}

/// The backend's configuration for this test's private nginx.
fn config(nginx: &Nginx, name: &str) -> NginxConfig {
    NginxConfig {
        upstream_file: nginx.upstream_file(),
        upstream_name: name.to_string(),
        check_cmd: nginx.check_cmd(),
        reload_cmd: nginx.reload_cmd(),
        command_timeout: Duration::from_secs(10),
    }
}

fn addrs(bs: &[&Backend]) -> BTreeSet<SocketAddr> {
    bs.iter().map(|b| b.addr).collect()
}

fn names(bs: &[&Backend]) -> BTreeSet<String> {
    bs.iter().map(|b| b.name.clone()).collect()
}

/// One request through nginx on a fresh connection: (status, body), or what went wrong.
async fn get(port: u16) -> Result<(u16, String), String> {
    let exchange = async {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status line in {text:?}"))?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        Ok((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .unwrap_or_else(|_| Err("no answer within 5s".to_string()))
}

/// Who answered each of `n` requests: the body for a 200, `status N` otherwise.
async fn sample(port: u16, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let who = match get(port).await {
            Ok((200, body)) => body,
            Ok((status, _)) => format!("status {status}"),
            Err(e) => format!("error {e}"),
        };
        *counts.entry(who).or_insert(0) += 1;
    }
    counts
}

/// Waits (bounded) for a window of `WINDOW` requests answered by exactly `expected`, each at least
/// once and nobody else; returns that window's counts.
async fn wait_served_by(port: u16, expected: &BTreeSet<String>) -> BTreeMap<String, usize> {
    let started = Instant::now();
    loop {
        let counts = sample(port, WINDOW).await;
        if counts.keys().cloned().collect::<BTreeSet<_>>() == *expected {
            return counts;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "nginx never served exactly {expected:?}; last window: {counts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_backends_all_serve_and_nobody_else() {
    let nginx = Nginx::start(NAME, &format!("upstream {CLASH} {{ server 127.0.0.1:1; }}"));
    let bs = backends(3).await;
    let all: Vec<&Backend> = bs.iter().collect();
    let mut b = NginxUpstream::new(config(&nginx, NAME)).unwrap();
    let r = b.apply(&addrs(&all)).await.unwrap();
    let Applied::Reloaded { added, removed } = r else {
        panic!("expected a reload, got {r:?}")
    };
    assert_eq!(added, addrs(&all).into_iter().collect::<Vec<_>>());
    assert!(removed.is_empty());
    let counts = wait_served_by(nginx.port, &names(&all)).await;
    eprintln!("3 backends over {WINDOW} requests: {counts:?}");
    assert_eq!(b.current().unwrap(), addrs(&all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_backend_stops_getting_requests() {
    let nginx = Nginx::start(NAME, &format!("upstream {CLASH} {{ server 127.0.0.1:1; }}"));
    let bs = backends(3).await;
    let mut b = NginxUpstream::new(config(&nginx, NAME)).unwrap();
    b.apply(&addrs(&[&bs[0], &bs[1], &bs[2]])).await.unwrap();
    wait_served_by(nginx.port, &names(&[&bs[0], &bs[1], &bs[2]])).await;

    // bs[2] keeps running: only nginx's config can keep requests away from it.
    let kept = [&bs[0], &bs[1]];
    let r = b.apply(&addrs(&kept)).await.unwrap();
    let applied_at = Instant::now();
    assert_eq!(
        r,
        Applied::Reloaded {
            added: vec![],
            removed: vec![bs[2].addr]
        }
    );
    let (mut last_hit, mut hits, mut clean, mut sent) = (None, 0, 0, 0);
    while clean < WINDOW {
        assert!(
            applied_at.elapsed() < DEADLINE,
            "{} still served after {DEADLINE:?} ({hits} hits)",
            bs[2].name
        );
        let answer = get(nginx.port).await;
        sent += 1;
        match answer {
            Ok((200, body)) if body == bs[2].name => {
                last_hit = Some(applied_at.elapsed());
                hits += 1;
                clean = 0;
            }
            Ok((200, body)) if names(&kept).contains(&body) => clean += 1,
            other => panic!("unexpected answer through nginx: {other:?}"),
        }
    }
    eprintln!(
        "removed backend: last request {:?} after apply() returned ({hits} of {sent} requests \
         reached it after apply), then {WINDOW} in a row never did",
        last_hit.unwrap_or_default()
    );
    wait_served_by(nginx.port, &names(&kept)).await;
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_set_again_is_unchanged_with_no_write_check_or_reload() {
    let nginx = Nginx::start(NAME, &format!("upstream {CLASH} {{ server 127.0.0.1:1; }}"));
    let bs = backends(2).await;
    let (checks, reloads) = (nginx.path("checks.log"), nginx.path("reloads.log"));
    let mut cfg = config(&nginx, NAME);
    cfg.check_cmd = format!("echo check >> '{}' && {}", checks.display(), cfg.check_cmd);
    cfg.reload_cmd = format!(
        "echo reload >> '{}' && {}",
        reloads.display(),
        cfg.reload_cmd
    );
    let mut b = NginxUpstream::new(cfg).unwrap();

    let set = addrs(&[&bs[0], &bs[1]]);
    assert!(matches!(
        b.apply(&set).await.unwrap(),
        Applied::Reloaded { .. }
    ));
    assert_eq!((count_lines(&checks), count_lines(&reloads)), (1, 1));
    let meta = std::fs::metadata(nginx.upstream_file()).unwrap();
    let bytes = std::fs::read(nginx.upstream_file()).unwrap();

    assert_eq!(b.apply(&set).await.unwrap(), Applied::Unchanged);
    // The same servers split differently between managed and static render the same file.
    let mut lb = NginxBackend::new(b, BTreeSet::from([bs[1].addr]));
    let only_first = NodePlan {
        want: BTreeSet::from([bs[0].addr]),
        empty_guard: false,
    };
    assert_eq!(
        lb.apply(&only_first, &|| true).await.unwrap(),
        Step::Converged
    );

    let after = std::fs::metadata(nginx.upstream_file()).unwrap();
    assert_eq!(after.modified().unwrap(), meta.modified().unwrap());
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&after),
        std::os::unix::fs::MetadataExt::ino(&meta)
    );
    assert_eq!(std::fs::read(nginx.upstream_file()).unwrap(), bytes);
    assert_eq!((count_lines(&checks), count_lines(&reloads)), (1, 1));
    wait_served_by(nginx.port, &names(&[&bs[0], &bs[1]])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_config_leaves_the_file_and_the_served_set_alone() {
    let nginx = Nginx::start(NAME, &format!("upstream {CLASH} {{ server 127.0.0.1:1; }}"));
    let bs = backends(3).await;
    let old = [&bs[0], &bs[1]];
    let mut good = NginxUpstream::new(config(&nginx, NAME)).unwrap();
    good.apply(&addrs(&old)).await.unwrap();
    wait_served_by(nginx.port, &names(&old)).await;
    let before = std::fs::read(nginx.upstream_file()).unwrap();

    // Same file, but an upstream name nginx.conf already defines: `nginx -t` says duplicate.
    let mut clashing = NginxUpstream::new(config(&nginx, CLASH)).unwrap();
    let e = clashing.apply(&addrs(&[&bs[2]])).await.unwrap_err();
    eprintln!("rejected: {e}");
    assert!(matches!(e, NginxError::CheckFailed { .. }), "{e:?}");
    assert_eq!(e.metric_label(), "check_failed");
    assert!(
        e.to_string().contains("duplicate upstream \"clash\""),
        "{e}"
    );
    assert_eq!(std::fs::read(nginx.upstream_file()).unwrap(), before);

    // A check that fails outright (`false`) does the same.
    let mut cfg = config(&nginx, NAME);
    cfg.check_cmd = "false".to_string();
    let e = NginxUpstream::new(cfg)
        .unwrap()
        .apply(&addrs(&[&bs[2]]))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("`false` exited with status 1"),
        "{e}"
    );
    assert_eq!(std::fs::read(nginx.upstream_file()).unwrap(), before);

    let counts = wait_served_by(nginx.port, &names(&old)).await;
    assert!(!counts.contains_key(&bs[2].name));
    assert_eq!(good.apply(&addrs(&old)).await.unwrap(), Applied::Unchanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_set_passes_the_check_and_answers_502_at_once() {
    let nginx = Nginx::start(NAME, &format!("upstream {CLASH} {{ server 127.0.0.1:1; }}"));
    let bs = backends(1).await;
    let mut b = NginxUpstream::new(config(&nginx, NAME)).unwrap();
    b.apply(&addrs(&[&bs[0]])).await.unwrap();
    wait_served_by(nginx.port, &names(&[&bs[0]])).await;

    let r = b.apply(&BTreeSet::new()).await.unwrap();
    assert_eq!(
        r,
        Applied::Reloaded {
            added: vec![],
            removed: vec![bs[0].addr]
        }
    );
    let text = std::fs::read_to_string(nginx.upstream_file()).unwrap();
    assert!(text.contains("server 127.0.0.1:1 down;"), "{text}");
    assert!(b.current().unwrap().is_empty());
    let check = Command::new("sh")
        .args(["-c", &format!("{} -t", nginx.cmd())])
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    let counts = wait_served_by(nginx.port, &BTreeSet::from(["status 502".to_string()])).await;
    let started = Instant::now();
    let (status, _) = get(nginx.port).await.unwrap();
    eprintln!(
        "empty upstream: {counts:?}; one more request answered {status} in {:?}",
        started.elapsed()
    );
    assert_eq!(status, 502);
    // nginx answered without trying to connect anywhere.
    assert!(nginx.error_log().contains("no live upstreams"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_and_ipv4_backends_serve_side_by_side() {
    let nginx = Nginx::start(NAME, &format!("upstream {CLASH} {{ server 127.0.0.1:1; }}"));
    let v4 = backend("backend-v4", "127.0.0.1").await;
    let v6 = backend("backend-v6", "::1").await;
    let mut b = NginxUpstream::new(config(&nginx, NAME)).unwrap();
    b.apply(&addrs(&[&v4, &v6])).await.unwrap();
    let text = std::fs::read_to_string(nginx.upstream_file()).unwrap();
    assert!(
        text.contains(&format!("server [::1]:{};", v6.addr.port())),
        "{text}"
    );
    wait_served_by(nginx.port, &names(&[&v4, &v6])).await;
    assert_eq!(b.current().unwrap(), addrs(&[&v4, &v6]));
}

#[test]
fn render_brackets_ipv6_and_sorts() {
    let set: BTreeSet<SocketAddr> = [
        "[2001:db8::1]:8080",
        "10.0.0.2:80",
        "[::1]:80",
        "10.0.0.10:80",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    let text = render("web", &set);
    let servers: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .collect();
    assert_eq!(
        servers,
        [
            "10.0.0.2:80;",
            "10.0.0.10:80;",
            "[::1]:80;",
            "[2001:db8::1]:8080;"
        ]
    );
    assert!(text.starts_with("# Generated by sidekick lbsync"), "{text}");
    assert!(
        text.contains("upstream web {\n") && text.ends_with("}\n"),
        "{text}"
    );
}

#[test]
fn render_is_deterministic() {
    let a: Vec<SocketAddr> = (1..=20)
        .map(|i| {
            format!("10.0.{}.{}:{}", i % 3, i, 8000 + i)
                .parse()
                .unwrap()
        })
        .collect();
    let forward: BTreeSet<SocketAddr> = a.iter().copied().collect();
    let backward: BTreeSet<SocketAddr> = a.iter().rev().copied().collect();
    assert_eq!(render("app", &forward), render("app", &backward));
    assert_eq!(render("app", &forward), render("app", &forward.clone()));
    assert_eq!(
        render("app", &BTreeSet::new()),
        render("app", &BTreeSet::new())
    );
}

//! The whole chain as a user runs it: web containers, one `sidekick run` beside each, etcd,
//! `sidekick lbsync --backend nginx`, and a real nginx. Assertions are on the bytes that come back
//! through nginx.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use testkit::agent::AgentProcess;
use testkit::docker::{http_get, Container, ContainerOpts};
use testkit::etcd::Etcd;
use testkit::nginx::Nginx;

/// Who answered `n` requests for `/who.txt` through nginx.
fn sample(nginx: &Nginx, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let who = match http_get(nginx.port, "/who.txt") {
            Ok((200, body)) => String::from_utf8_lossy(&body).trim().to_string(),
            Ok((status, _)) => format!("status {status}"),
            Err(e) => format!("error {e}"),
        };
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

fn spawn(args: &[String]) -> AgentProcess {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    AgentProcess::spawn(&argv, &[])
}

#[test]
fn nginx_serves_exactly_the_healthy_registered_containers() {
    let etcd = Etcd::start();
    let nginx = Nginx::start("web", "");
    let mut webs = Vec::new();
    let mut agents = Vec::new();
    for i in 1..=3 {
        let web = Container::run(ContainerOpts::web());
        web.exec_ok(&["sh", "-c", &format!("echo web0{i} > /www/who.txt")]);
        let mut args: Vec<String> = [
            "run",
            "--container",
            web.name(),
            "--container-port",
            "80/tcp",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(["--key".to_string(), format!("/services/web/web0{i}")]);
        args.extend(etcd.sidekick_args());
        agents.push(spawn(&args));
        webs.push(web);
    }
    let mut args: Vec<String> = [
        "lbsync",
        "--backend",
        "nginx",
        "--upstream-name",
        "web",
        "--resync-interval",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "--upstream-file".to_string(),
        nginx.upstream_file().display().to_string(),
    ]);
    args.extend(["--check-cmd".to_string(), format!("{} -t", nginx.cmd())]);
    args.extend([
        "--reload-cmd".to_string(),
        format!("{} -s reload", nginx.cmd()),
    ]);
    args.extend(etcd.sidekick_args());
    let lbsync = spawn(&args);

    let all = ["web01", "web02", "web03"];
    let ok = testkit::wait::poll_until(Duration::from_secs(20), || {
        let seen = sample(&nginx, 30);
        all.iter().all(|w| seen.contains_key(*w)) && seen.len() == 3
    });
    assert!(
        ok,
        "{}",
        lbsync.context(&format!(
            "nginx never served exactly the three: {:?}\n{}",
            sample(&nginx, 30),
            nginx.error_log()
        ))
    );

    // Stop web02: its agent deregisters at the kill event, lbsync rewrites and reloads nginx.
    let stopped = Instant::now();
    webs[1].stop();
    let gone = testkit::wait::poll_until(Duration::from_secs(20), || {
        !sample(&nginx, 30).contains_key("web02")
    });
    assert!(gone, "{}", lbsync.context("web02 still in rotation"));
    eprintln!(
        "web02 left nginx's rotation {:?} after docker stop was issued",
        stopped.elapsed()
    );
    let seen = sample(&nginx, 60);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        vec!["web01", "web03"],
        "only the healthy two: {seen:?}"
    );
    // nginx stops sending to a stopped container at once (proxy_next_upstream), which can be
    // before lbsync's rewrite: reloads are spaced (at most one per 400 ms under churn), so the
    // file is awaited, not read once.
    let two = testkit::wait::poll_until(Duration::from_secs(5), || {
        std::fs::read_to_string(nginx.upstream_file())
            .is_ok_and(|u| u.matches("server 127.0.0.1:").count() == 2)
    });
    let upstream = std::fs::read_to_string(nginx.upstream_file()).unwrap_or_default();
    assert!(two, "the upstream still lists web02:\n{upstream}");
    drop(agents);
}

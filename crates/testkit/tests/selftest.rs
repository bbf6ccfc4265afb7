//! Proves the test kit works against the real components:
//! etcd (single, 3-member cluster, TLS + auth), the Docker web image and containers, the
//! severable Docker socket proxy, child processes, ports and waits.

use std::time::{Duration, Instant};
use testkit::docker::{http_get, Container, ContainerOpts, HEALTH_BODY};
use testkit::docker_proxy::DockerProxy;
use testkit::etcd::{get_prefix, key_lease, put, Etcd, EtcdCluster, EtcdOptions, Watcher};
use testkit::{agent, free_ports, rt, wait_until};

const SECS10: Duration = Duration::from_secs(10);

#[tokio::test]
async fn etcd_single_member_put_get_and_watch() {
    let etcd = Etcd::start();
    assert!(etcd.endpoint_arg().starts_with("http://127.0.0.1:"));
    let watcher = Watcher::start(&etcd.endpoints(), "/selftest/");
    let mut c = etcd.client().await;
    put(&mut c, "/selftest/a", "1").await;
    let lease = c.lease_grant(30, None).await.unwrap().id();
    c.put(
        "/selftest/b",
        "2",
        Some(etcd_client::PutOptions::new().with_lease(lease)),
    )
    .await
    .unwrap();
    let all = get_prefix(&mut c, "/selftest/").await;
    assert_eq!(all.get("/selftest/a"), Some(&("1".to_string(), 0)));
    assert_eq!(all.get("/selftest/b"), Some(&("2".to_string(), lease)));
    assert_eq!(key_lease(&mut c, "/selftest/b").await, Some(lease));
    assert_eq!(key_lease(&mut c, "/selftest/none").await, None);
    c.delete("/selftest/a", None).await.unwrap();
    let del = watcher
        .wait_for_async(|e| e.is_delete() && e.key == "/selftest/a", SECS10)
        .await
        .expect("DELETE of /selftest/a seen");
    assert_eq!(del.prev_value.as_deref(), Some("1"));
    let kinds: Vec<_> = watcher
        .events()
        .iter()
        .map(|e| (e.kind, e.key.clone()))
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(watcher.puts().len(), 2);
}

/// Retries a put through `endpoints` until it succeeds; the time it took.
fn put_within(access: &testkit::etcd::EtcdAccess, key: &str, value: &str) -> Duration {
    let (access, key, value) = (access.clone(), key.to_string(), value.to_string());
    rt::block_on(async move {
        let start = Instant::now();
        testkit::wait_until_async(
            Duration::from_secs(15),
            "put through remaining members",
            || {
                let (access, key, value) = (access.clone(), key.clone(), value.clone());
                async move {
                    match access.connect().await {
                        Ok(mut c) => c.put(key, value, None).await.is_ok(),
                        Err(_) => false,
                    }
                }
            },
        )
        .await;
        start.elapsed()
    })
}

#[test]
fn etcd_cluster_survives_leader_kill_and_full_outage() {
    let mut cluster = EtcdCluster::start(3);
    assert_eq!(cluster.endpoints().len(), 3);
    let watcher = Watcher::start(&cluster.endpoints(), "/cl/");
    let access = cluster.access();
    put_within(&access, "/cl/before", "x");

    let leader = cluster.leader_index();
    cluster.kill(leader);
    assert!(!cluster.is_running(leader));
    let rest = access.with_endpoints(&cluster.endpoints_except(leader));
    put_within(&rest, "/cl/after-kill", "y");
    let new_leader = cluster.leader_index();
    assert_ne!(new_leader, leader);

    cluster.start_member(leader);
    cluster.wait_healthy(Duration::from_secs(15));

    cluster.stop_all();
    assert!((0..3).all(|i| !cluster.is_running(i)));
    cluster.start_all();
    let data: Vec<(String, String)> = access
        .get_prefix_blocking("/cl/")
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect();
    assert_eq!(
        data,
        vec![
            ("/cl/after-kill".to_string(), "y".to_string()),
            ("/cl/before".to_string(), "x".to_string())
        ]
    );
    // The watcher rode out both outages and resumed from its last revision.
    put_within(&access, "/cl/after-outage", "z");
    watcher
        .wait_for(|e| e.key == "/cl/after-outage", SECS10)
        .expect("watcher sees events after the outage");
    let keys: Vec<String> = watcher.events().into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["/cl/before", "/cl/after-kill", "/cl/after-outage"]);
    assert!(watcher.deletes().is_empty());
}

#[tokio::test]
async fn etcd_tls_and_auth() {
    let etcd = Etcd::start_with(EtcdOptions::new().tls().auth("root", "s3cret"));
    assert!(etcd.endpoint_arg().starts_with("https://127.0.0.1:"));
    assert!(etcd.ca_path().unwrap().exists());
    assert!(etcd.client_cert_path().unwrap().exists());
    assert!(etcd.client_key_path().unwrap().exists());
    assert_eq!(etcd.user().as_deref(), Some("root"));
    assert_eq!(
        std::fs::read_to_string(etcd.password_file().unwrap()).unwrap(),
        "s3cret"
    );

    let args = etcd.sidekick_args();
    assert_eq!(args[0], "--etcd-endpoints");
    for flag in [
        "--etcd-cacert",
        "--etcd-cert",
        "--etcd-key",
        "--etcd-user",
        "--etcd-password-file",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing: {args:?}");
    }

    let mut c = etcd.client().await;
    put(&mut c, "/tls/k", "v").await;
    assert_eq!(get_prefix(&mut c, "/tls/").await.len(), 1);

    // Right certificates, no password: rejected.
    let mut anon = etcd.access().without_auth().client().await;
    let err = anon.put("/tls/k2", "v", None).await;
    let err = err.expect_err("put without password must fail");
    assert!(err.to_string().contains("permission denied"), "{err}");

    // Wrong password: connecting (authenticating) fails.
    let mut wrong = etcd.access();
    wrong.auth = Some(("root".into(), "nope".into()));
    assert!(wrong.connect().await.is_err());

    // No TLS at all: no answer.
    let plain = testkit::etcd::EtcdAccess::plain(&etcd.endpoints())
        .with_endpoints(&[etcd.endpoints()[0].replace("https://", "http://")]);
    let r = tokio::time::timeout(SECS10, async {
        let mut c = plain.connect().await?;
        c.get("/tls/k", None).await
    })
    .await;
    assert!(!matches!(r, Ok(Ok(_))), "plain HTTP must not work");

    // Watchers work with TLS + auth too.
    let w = Watcher::start_with(&etcd.access(), "/tls/");
    put(&mut c, "/tls/w", "1").await;
    w.wait_for_async(|e| e.key == "/tls/w", SECS10)
        .await
        .expect("TLS watcher sees the put");
}

#[test]
fn web_container_serves_health_body_and_can_change_it() {
    let c = Container::run(ContainerOpts::web());
    assert!(c.name().starts_with("sk-test-"));
    c.wait_http_ready(SECS10);
    let port = c.host_port(80);
    let (code, body) = http_get(port, "/health.php").unwrap();
    assert_eq!((code, body.as_slice()), (200, HEALTH_BODY));
    assert_eq!(body, b"\n\nPASS");
    let (code, index) = http_get(port, "/index.html").unwrap();
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&index).contains("sidekick"));

    c.set_health_body(b"FAIL\n");
    assert_eq!(http_get(port, "/health.php").unwrap().1, b"FAIL\n");
    assert_eq!(http_get(port, "/nope").unwrap().0, 404);
}

#[test]
fn web_container_sigterm_behaviour() {
    let normal = Container::run(ContainerOpts::web());
    let stubborn = Container::run(ContainerOpts::web().ignore_sigterm());
    normal.wait_http_ready(SECS10);
    stubborn.wait_http_ready(SECS10);

    // The normal server exits on SIGTERM at once, with status 0.
    let t = Instant::now();
    normal.stop_with_timeout(8);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(normal.inspect("{{.State.ExitCode}}"), "0");

    // The stubborn one survives SIGTERM and is killed at the end of the stop timeout.
    stubborn.kill("TERM");
    let port = stubborn.host_port(80);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(http_get(port, "/health.php").unwrap().0, 200);
    }
    assert!(stubborn.is_running());
    let t = Instant::now();
    stubborn.stop_with_timeout(2);
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(stubborn.inspect("{{.State.ExitCode}}"), "137");
}

#[test]
fn container_lifecycle_healthcheck_and_tcp_mode() {
    // Name picked first, container created later and started later still.
    let name = testkit::docker::unique_name("late");
    let mut c = Container::create(
        ContainerOpts::web()
            .name(&name)
            .web_healthcheck(Duration::from_millis(300))
            .label("app", "selftest")
            .stop_timeout(3),
    );
    assert_eq!(c.status(), "created");
    assert_eq!(c.inspect("{{index .Config.Labels \"app\"}}"), "selftest");
    c.start();
    c.wait_health("healthy", SECS10);
    c.set_health_body(b"nope");
    c.wait_health("unhealthy", SECS10);
    c.set_health_body(HEALTH_BODY);
    c.wait_health("healthy", SECS10);

    let renamed = format!("{name}-renamed");
    c.rename(&renamed);
    assert_eq!(c.inspect("{{.Name}}"), format!("/{renamed}"));
    c.restart();
    c.wait_http_ready(SECS10);
    c.kill("KILL");
    c.wait_status("exited", SECS10);
    c.rm_force();

    let tcp = Container::run(ContainerOpts::web().tcp_only(5432));
    let port = tcp.host_port(5432);
    wait_until(SECS10, "tcp listener accepts", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(tcp.try_host_port(80).is_none());
}

fn docker_ps_via(host: &str) -> bool {
    let mut cmd = std::process::Command::new("docker");
    cmd.args(["-H", host, "ps", "-q"]);
    testkit::process::output_with_deadline(&mut cmd, None, Duration::from_secs(30))
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn docker_proxy_forwards_severs_and_restores() {
    let proxy = DockerProxy::start();
    let host = proxy.docker_host();
    assert!(host.starts_with("unix:///"));
    assert!(docker_ps_via(&host));
    assert!(proxy.connections_accepted() >= 1);

    // A long-lived stream (docker events) through the proxy is cut by sever().
    let mut events = agent::AgentProcess::spawn_program(
        std::path::Path::new("docker"),
        &["-H", &host, "events"],
        &[],
    );
    wait_until(SECS10, "events stream open", || {
        proxy.open_connections() >= 1
    });
    proxy.sever();
    assert!(
        events.wait_exit(SECS10).is_some(),
        "{}",
        events.context("docker events should end when the proxy severs")
    );
    assert!(!docker_ps_via(&host));
    assert!(proxy.connections_refused() >= 1);

    proxy.restore();
    assert!(docker_ps_via(&host));
}

#[test]
fn child_processes_logs_signals_and_completion() {
    let mut p = agent::AgentProcess::spawn_program(
        std::path::Path::new("/bin/sh"),
        &[
            "-c",
            "echo out-$RUST_LOG; echo err-$EXTRA >&2; exec sleep 30",
        ],
        &[("EXTRA", "x")],
    );
    p.wait_for_log("out-info", SECS10);
    p.wait_for_log("err-x", SECS10);
    assert!(p.is_running());
    p.sigterm();
    let st = p.wait_exit(SECS10).expect("exits on SIGTERM");
    assert!(!st.success());
    assert!(!p.is_running());

    // The sidekick binary Cargo built is where the harness says.
    assert!(agent::sidekick_bin().exists());
    let out = agent::run_to_completion(&["--help"], &[], Duration::from_secs(30));
    let _ = out.status; // the CLI is being written elsewhere; it only has to finish
}

#[test]
fn ports_are_distinct_and_free() {
    let ports = free_ports(64);
    let mut sorted = ports.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ports.len());
    for p in ports {
        std::net::TcpListener::bind(("127.0.0.1", p)).expect("free port is bindable");
    }
}

#[test]
#[should_panic(expected = "timed out after 100ms waiting for the impossible")]
fn wait_until_panics_with_description() {
    wait_until(Duration::from_millis(100), "the impossible", || false);
}

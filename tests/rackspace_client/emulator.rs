//! The client against the real CLB emulator and its fault switches: servers without the limits
//! route, HTML 404 pages, a second load balancer service in the catalog, hyphenated statuses,
//! Identity refusing credentials (at start and after they worked), node list pages, and the GET
//! budget while a PENDING_UPDATE window is waited out.

use clb_emulator::{Config, Emulator, Faults, RunningEmulator};
use sidekick::rackspace::{CredentialsRetry, LimitsSource};

use super::*;

struct Emu {
    api: Emulator,
    server: RunningEmulator,
}

async fn emu(config: Config) -> Emu {
    let api = Emulator::new(config);
    let server = api.spawn_local().await.unwrap();
    Emu { api, server }
}

fn demo_config(e: &Emu) -> ClientConfig {
    logs();
    ClientConfig::new(
        e.server.identity_url(),
        "ORD",
        Credentials::api_key("demo", "demo-api-key"),
    )
}

fn client(e: &Emu) -> Client {
    Client::new(demo_config(e)).unwrap()
}

fn faults(f: impl FnOnce(&mut Faults)) -> Faults {
    let mut all = Faults::default();
    f(&mut all);
    all
}

fn node(i: u32) -> NewNode {
    NewNode {
        address: format!("10.0.0.{i}"),
        port: 80,
        condition: NodeCondition::Enabled,
    }
}

fn assert_no_html(what: &str, text: &str) {
    for bad in ["<", ">", "DOCTYPE", "doctype", "Apache", "\n"] {
        assert!(!text.contains(bad), "{what}: {bad:?} in {text}");
    }
    assert!(text.chars().count() <= 250, "{what}: too long: {text}");
}

#[tokio::test]
async fn without_the_limits_route_the_defaults_are_used_and_the_client_keeps_working() {
    let e = emu(Config {
        node_limit: 50,
        faults: faults(|f| f.no_limits_route = true),
        ..Config::default()
    })
    .await;
    let lb = e.api.create_load_balancer("web");
    let c = client(&e);
    let read = c.account_limits().await.unwrap();
    assert_eq!(
        (read.limits.node_limit, read.limits.batch_delete_limit),
        (25, 10),
        "the documented defaults, not the server's 50"
    );
    match &read.source {
        LimitsSource::Defaults { reason } => {
            assert!(reason.contains("404"), "{reason}");
            assert_no_html("limits reason", reason);
        }
        other => panic!("{other:?}"),
    }
    let limits = c.account_limits().await.unwrap().limits;
    assert_eq!(limits.node_limit, 25);
    c.add_nodes(lb, &[node(1), node(2)]).await.unwrap();
    assert_eq!(c.get_load_balancer(lb).await.unwrap().nodes.len(), 2);
    // With the route back, the server's limits are read.
    e.api.set_faults(Faults::default());
    let read = c.account_limits().await.unwrap();
    assert_eq!(
        (read.limits.node_limit, read.source),
        (50, LimitsSource::Api)
    );
}

#[tokio::test]
async fn html_404_pages_never_reach_an_error_message() {
    let e = emu(Config {
        faults: faults(|f| f.html_404 = true),
        ..Config::default()
    })
    .await;
    let lb = e.api.create_load_balancer("web");
    let c = client(&e);
    let errors = [
        c.get_load_balancer(4242).await.unwrap_err(),
        c.list_nodes(4242).await.unwrap_err(),
        c.delete_nodes(lb, &[99], 10).await.unwrap_err(),
        c.add_nodes(4242, &[node(1)]).await.unwrap_err(),
    ];
    for e in &errors {
        assert_no_html("Display", &e.to_string());
        assert!(e.to_string().contains("text/html"), "{e}");
        assert_ne!(
            e.metric_label(),
            "lb_gone",
            "an HTML page is not the API: {e:?}"
        );
    }
    // The JSON 404 on the load balancer's own URL still means gone.
    e.api.set_faults(Faults::default());
    let gone = c.get_load_balancer(4242).await.unwrap_err();
    assert_eq!(gone.metric_label(), "lb_gone", "{gone:?}");
    let other = c.list_nodes(4242).await.unwrap_err();
    assert_eq!(other.metric_label(), "not_found", "{other:?}");
}

#[tokio::test]
async fn a_second_lb_service_listed_first_is_not_picked() {
    let e = emu(Config {
        faults: faults(|f| f.control_service_first = true),
        ..Config::default()
    })
    .await;
    let lb = e.api.create_load_balancer("web");
    let c = client(&e);
    assert_eq!(c.resolve(Some("web"), None).await.unwrap(), lb);
    assert_eq!(c.get_load_balancer(lb).await.unwrap().id, lb);
    let s = e.api.stats();
    assert_eq!(s.requests_to("GET", "control"), 0, "{:?}", s.requests);
}

#[tokio::test]
async fn hyphenated_and_unknown_statuses_are_read() {
    let e = emu(Config {
        pending_update: Duration::from_secs(30),
        faults: faults(|f| f.hyphenated_status = true),
        ..Config::default()
    })
    .await;
    let lb = e.api.create_load_balancer("web");
    let c = client(&e);
    c.add_nodes(lb, &[node(1)]).await.unwrap();
    let read = c.get_load_balancer(lb).await.unwrap();
    assert_eq!(read.status, LbStatus::PendingUpdate);
    assert!(read.status.is_pending());
    let listed = c.list_load_balancers(None).await.unwrap();
    assert_eq!(listed[0].status, LbStatus::PendingUpdate);
    e.api.set_status(lb, "MIGRATING");
    let read = c.get_load_balancer(lb).await.unwrap();
    assert!(matches!(read.status, LbStatus::Other(_)) && !read.status.accepts_changes());
    assert_eq!(read.status.to_string(), "MIGRATING");
}

#[tokio::test]
async fn identity_401_at_start_is_credentials_rejected_at_once() {
    let e = emu(Config {
        faults: faults(|f| f.identity_401 = true),
        ..Config::default()
    })
    .await;
    let c = client(&e);
    let started = Instant::now();
    let err = c.authenticate().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_rejected_credentials(), "{err:?}");
    assert!(
        matches!(
            err,
            Error::CredentialsRejected {
                status: 401,
                revoked: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("--username"), "{err}");
    assert_eq!(e.api.stats().auth_calls, 1);
}

#[tokio::test]
async fn identity_401_after_working_is_retried_a_few_times_then_rejected() {
    let e = emu(Config::default()).await;
    let lb = e.api.create_load_balancer("web");
    let mut cfg = demo_config(&e);
    cfg.credentials_retry = CredentialsRetry {
        retries: 4,
        first: Duration::from_millis(100),
        cap: Duration::from_millis(400),
    };
    let c = Client::new(cfg).unwrap();
    c.get_load_balancer(lb).await.unwrap();
    e.api.set_faults(faults(|f| f.identity_401 = true));
    e.api.expire_tokens();
    let started = Instant::now();
    let err = c.get_load_balancer(lb).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            Error::CredentialsRejected {
                status: 401,
                revoked: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("worked before"), "{err}");
    let s = e.api.stats();
    // One initial authentication, the re-authentication after the CLB 401, four retries.
    assert_eq!(s.auth_calls, 6, "{s:?}");
    // The backoff's lower bounds: 50 + 100 + 200 + 200 ms.
    assert!(took >= Duration::from_millis(550), "{took:?}");
    let times = s.times_of("POST", Some("tokens"));
    assert!(
        times.windows(2).skip(1).all(|w| w[1] - w[0] >= 50),
        "{times:?}"
    );
    // The defaults: at most 5 Identity requests over about a minute.
    let d = CredentialsRetry::default();
    assert_eq!(d.retries, 4);
    assert!(d.first * 7 / 2 >= Duration::from_secs(20) && d.cap <= Duration::from_secs(30));
}

#[tokio::test]
async fn node_lists_over_a_hundred_are_read_page_by_page() {
    let e = emu(Config {
        node_limit: 300,
        ..Config::default()
    })
    .await;
    let lb = e.api.create_load_balancer("web");
    for i in 0..230u32 {
        e.api
            .add_node_direct(lb, &format!("10.1.{}.{}", i / 200, i % 200 + 1), 8080);
    }
    let c = client(&e);
    let read = c.get_load_balancer(lb).await.unwrap();
    assert_eq!(read.nodes.len(), 230);
    let mut ids: Vec<u64> = read.nodes.iter().map(|n| n.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 230);
    assert_eq!(c.list_nodes(lb).await.unwrap(), read.nodes);
    let s = e.api.stats();
    assert_eq!(
        s.requests_for("GET", "nodes", 200),
        6,
        "three pages per listing"
    );
}

#[tokio::test]
async fn gets_stay_within_budget_while_a_pending_window_is_polled_hard() {
    let window = Duration::from_secs(3);
    let e = emu(Config {
        pending_update: window,
        ..Config::default()
    })
    .await;
    let lb = e.api.create_load_balancer("web");
    let c = client(&e);
    // Idle: the first GET goes out at once.
    let t = Instant::now();
    c.get_load_balancer(lb).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    // A caller polling as fast as it can through one PENDING window (the worst case).
    e.api.reset_stats();
    c.add_nodes(lb, &[node(1)]).await.unwrap();
    let mutated = Instant::now();
    let deadline = mutated + Duration::from_secs(10);
    while !c
        .get_load_balancer(lb)
        .await
        .unwrap()
        .status
        .accepts_changes()
    {
        assert!(Instant::now() < deadline, "never ACTIVE");
    }
    let polled = mutated.elapsed();
    let s = e.api.stats();
    let gets = s.times_of("GET", None);
    assert!(s.peak_in_window("GET", 1000) <= 5, "{gets:?}");
    eprintln!(
        "GET budget: {} GETs while polling a {window:?} PENDING window for {polled:?}, peak {} in 1 s",
        gets.len(),
        s.peak_in_window("GET", 1000)
    );
    let allowed = 5 + 3 * polled.as_secs_f64().ceil() as usize;
    assert!(
        gets.len() <= allowed,
        "{} GETs in {polled:?}: {gets:?}",
        gets.len()
    );
}

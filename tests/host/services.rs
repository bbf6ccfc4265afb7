//! Several services per container (`sidekick.<name>.key`): each service is registered,
//! health-checked and removed on its own, against real etcd and a real container serving two
//! ports.

use std::collections::BTreeSet;

use crate::*;
use testkit::docker::{docker, Container, ContainerOpts};
use testkit::etcd::{Etcd, Watcher};

/// The web image on two published ports: the container-wide service on 80 (`/health.php`) and
/// service `admin` on 81 (`/admin.php`), labelled as a user would.
fn two_ports(case: &Case, main: &str, admin: &str) -> ContainerOpts {
    case.web(main)
        // (81 first: publishing the default 127.0.0.1::80 first would be replaced by the next.)
        .publish("127.0.0.1::81")
        .publish("127.0.0.1::80")
        .label("sidekick.port", "80")
        .label("sidekick.admin.key", admin)
        .label("sidekick.admin.port", "81/tcp")
        .label("sidekick.admin.health.path", "/admin.php")
}

/// Starts the second web server (port 81) and its health page in `c`.
fn serve_admin(c: &Container) {
    c.exec_ok(&[
        "sh",
        "-c",
        "cp /www/health.php /www/admin.php && httpd -p 81 -h /www",
    ]);
}

/// The services' key prefixes that `watcher` saw deleted.
fn deleted(watcher: &Watcher) -> BTreeSet<String> {
    watcher
        .deletes()
        .iter()
        .filter_map(|e| e.key.rsplit_once('/').map(|(k, _)| k.to_string()))
        .collect()
}

#[test]
fn two_services_of_one_container_register_fail_and_leave_on_their_own() {
    let etcd = Etcd::start();
    let case = Case::new();
    let (main, admin) = ("/services/web/m1", "/services/admin/m1");
    let web = Container::run(
        two_ports(&case, main, admin)
            .ignore_sigterm()
            .stop_timeout(4),
    );
    serve_admin(&web);
    let agent = spawn(
        &case.host_args(&etcd.sidekick_args(), &["--health-interval", "300ms"]),
        &[],
    );
    let m = wait_registered(&etcd.access(), main, web.host_port(80), &agent);
    let a = wait_registered(&etcd.access(), admin, web.host_port(81), &agent);
    for (k, key) in [(&m, main), (&a, admin)] {
        assert_eq!(k[&format!("{key}/unit")].0, web.name(), "{key}");
        assert_eq!(k[&format!("{key}/public_ipv4_addr")].0, "127.0.0.1");
    }
    assert_ne!(web.host_port(80), web.host_port(81));

    // The admin page fails: only the admin keys leave; then it passes again and they return.
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    web.exec_ok(&["rm", "/www/admin.php"]);
    wait_gone(&etcd.access(), admin, SOON, &agent, "admin health fails");
    assert_eq!(keys(&etcd.access(), main).len(), 5, "main keys stay");
    web.exec_ok(&["cp", "/www/health.php", "/www/admin.php"]);
    wait_registered(&etcd.access(), admin, web.host_port(81), &agent);
    assert_eq!(
        deleted(&watcher),
        BTreeSet::from([admin.to_string()]),
        "{}",
        agent.context("only the failing service's keys were deleted")
    );

    // docker stop: both services leave, before the container dies (it ignores SIGTERM for 4 s).
    let id = web.id().to_string();
    let stopper = std::thread::spawn(move || docker(&["stop", "-t", "4", &id]));
    wait_gone(&etcd.access(), main, SOON, &agent, "docker stop");
    wait_gone(&etcd.access(), admin, SOON, &agent, "docker stop");
    assert!(
        web.is_running(),
        "keys must go while the container is still shutting down"
    );
    let _ = stopper.join();
    assert_eq!(
        deleted(&watcher),
        BTreeSet::from([main.to_string(), admin.to_string()])
    );
    // docker start: both come back.
    web.start();
    serve_admin(&web);
    wait_registered(&etcd.access(), main, web.host_port(80), &agent);
    wait_registered(&etcd.access(), admin, web.host_port(81), &agent);
}

#[test]
fn a_bad_service_label_leaves_the_good_services_registered() {
    let etcd = Etcd::start();
    let case = Case::new();
    let web = Container::run(
        two_ports(&case, "/services/web/g1", "/services/admin/g1")
            .label("sidekick.Bad.key", "/services/bad/g1")
            .label("sidekick.twin.key", "/services/web/g1/")
            .label("sidekick.tcp.key", "/services/tcp/g1")
            .label("sidekick.tcp.health.mode", "tcp"),
    );
    serve_admin(&web);
    let agent = spawn(&case.host_args(&etcd.sidekick_args(), &[]), &[]);
    let name = web.name();
    wait_log(
        &agent,
        &format!(
            "container \"{name}\": label sidekick.Bad.key=\"/services/bad/g1\": service name \"Bad\" must be made of a-z, 0-9, _ and -"
        ),
    );
    wait_log(
        &agent,
        &format!(
            "container \"{name}\": label sidekick.twin.key=\"/services/web/g1/\": the same key as sidekick.key"
        ),
    );
    wait_registered(
        &etcd.access(),
        "/services/web/g1",
        web.host_port(80),
        &agent,
    );
    wait_registered(
        &etcd.access(),
        "/services/admin/g1",
        web.host_port(81),
        &agent,
    );
    // Service tcp falls back to the container-wide port (80) and probes it by TCP.
    wait_registered(
        &etcd.access(),
        "/services/tcp/g1",
        web.host_port(80),
        &agent,
    );
    // The container's events do not repeat the errors, and nothing else is written.
    web.restart();
    serve_admin(&web);
    wait_registered(
        &etcd.access(),
        "/services/admin/g1",
        web.host_port(81),
        &agent,
    );
    for label in ["sidekick.Bad.key", "sidekick.twin.key"] {
        assert_eq!(log_lines(&agent, &[name, label]), 1, "{}", agent.logs());
    }
    let prefixes: BTreeSet<String> = etcd
        .access()
        .get_prefix_blocking("/services/")
        .keys()
        .filter_map(|k| k.rsplit_once('/').map(|(p, _)| p.to_string()))
        .collect();
    assert_eq!(
        prefixes,
        BTreeSet::from([
            "/services/admin/g1".to_string(),
            "/services/tcp/g1".to_string(),
            "/services/web/g1".to_string(),
        ])
    );
}

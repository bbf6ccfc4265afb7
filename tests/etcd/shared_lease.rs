//! `sidekick host` keeps one lease for every container of the host (issue 10's end state): all
//! keys sit on it, a stopped container's keys go by a guarded delete while the lease lives on for
//! the others, and SIGTERM revokes the one lease, every key at once.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::*;
use testkit::docker::{unique_name, Container, ContainerOpts};
use testkit::etcd::{add_user, Etcd, EtcdOptions, Perm};

const CASE_LABEL: &str = "sidekick-test.case";

fn host_args(case: &str, etcd_args: &[String]) -> Vec<String> {
    let mut v: Vec<String> = [
        "host",
        "--host",
        "core01",
        "--require-label",
        &format!("{CASE_LABEL}={case}"),
        "--ttl",
        "5s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(etcd_args.iter().cloned());
    v
}

#[test]
fn host_binds_every_container_to_one_lease_and_revokes_it_once() {
    let etcd = Etcd::start();
    let case = unique_name("case");
    let key = |i: usize| format!("/services/shared/web{i:02}");
    let webs: Vec<Container> = (0..3)
        .map(|i| {
            Container::run(
                ContainerOpts::web()
                    .label(CASE_LABEL, &case)
                    .label("sidekick.key", &key(i)),
            )
        })
        .collect();
    let mut host = spawn(&host_args(&case, &etcd.sidekick_args()));
    for i in 0..3 {
        wait_registered(&etcd.access(), &key(i), &host, SOON);
    }
    let leases: BTreeSet<i64> = (0..3)
        .flat_map(|i| keys(&etcd.access(), &key(i)).into_values().map(|(_, l)| l))
        .collect();
    assert_eq!(
        leases.len(),
        1,
        "{}",
        host.context(&format!("leases {leases:?}"))
    );
    let lease = *leases.iter().next().unwrap();
    webs[0].stop();
    let gone = testkit::wait::poll_until(SOON, || keys(&etcd.access(), &key(0)).is_empty());
    assert!(
        gone,
        "{}",
        host.context("the stopped container's keys stayed")
    );
    assert_eq!(keys(&etcd.access(), &key(1)).len(), 5, "the others stay");
    assert!(
        etcd.access().lease_ttl_blocking(lease).is_some(),
        "the shared lease lives on"
    );
    host.sigterm();
    let status = host.wait_exit(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        host.context("exit 0")
    );
    for i in 1..3 {
        assert!(keys(&etcd.access(), &key(i)).is_empty(), "revoked at once");
    }
    assert!(
        etcd.access().lease_ttl_blocking(lease).is_none(),
        "the lease is gone"
    );
}

#[test]
fn host_without_sidekick_owners_in_its_role_exits_2() {
    let etcd = Etcd::start_with(EtcdOptions::new().auth("root", "root-pw"));
    let dir = tempfile::tempdir().unwrap();
    let svc = add_user(
        &etcd.access(),
        "host-web",
        "host-pw",
        "host-web",
        &[(Perm::ReadWrite, "/services/")],
    );
    let mut host = spawn(&host_args(
        &unique_name("case"),
        &svc.sidekick_args(&dir.path().join("pw")),
    ));
    let status = host.wait_exit(SOON);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{}",
        host.context("a refused permission at startup is a configuration error")
    );
    assert!(host
        .logs()
        .contains("permission denied writing /sidekick/owners/"));
}

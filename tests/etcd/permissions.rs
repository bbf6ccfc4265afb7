//! Least-privilege etcd users: a role that does not cover what a mode needs is refused at
//! startup with exit 2 and an error naming the operation, the key and the prefixes the role
//! needs; the README's least-privilege roles are enough for `run` and `lbsync` to work.

use std::time::Duration;

use crate::*;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::{add_user, Etcd, EtcdOptions, Perm};

fn root() -> Etcd {
    Etcd::start_with(EtcdOptions::new().auth("root", "root-pw"))
}

#[test]
fn run_without_sidekick_owners_in_its_role_exits_2_naming_the_key_and_the_prefixes() {
    let etcd = root();
    let dir = tempfile::tempdir().unwrap();
    let svc = add_user(
        &etcd.access(),
        "web-only",
        "web-pw",
        "web-only",
        &[(Perm::ReadWrite, "/services/")],
    );
    let args = run_args(
        &svc.sidekick_args(&dir.path().join("pw")),
        "sk-no-such-container",
        KEY,
        &[],
    );
    let mut agent = spawn(&args);
    let status = agent.wait_exit(SOON);
    let logs = agent.logs();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{}",
        agent.context("a refused permission at startup is a configuration error")
    );
    for needle in [
        "permission denied writing /sidekick/owners/services/web/web01",
        "\"web-only\"",
        "/sidekick/owners/",
        "key prefix",
    ] {
        assert!(logs.contains(needle), "{needle:?} missing:\n{logs}");
    }
}

#[test]
fn lbsync_without_its_election_prefix_exits_2_naming_the_key_and_the_prefixes() {
    let etcd = root();
    let dir = tempfile::tempdir().unwrap();
    let reader = add_user(
        &etcd.access(),
        "reader",
        "reader-pw",
        "reader",
        &[(Perm::Read, "/services/")],
    );
    let mut lbsync = spawn(&lbsync_args(
        dir.path(),
        &reader.sidekick_args(&dir.path().join("pw")),
        &[],
    ));
    let status = lbsync.wait_exit(SOON);
    let logs = lbsync.logs();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{}",
        lbsync.context("a refused permission at startup is a configuration error")
    );
    for needle in [
        "permission denied writing /sidekick/lbsync/nginx/web",
        "readwrite on /sidekick/lbsync/",
    ] {
        assert!(logs.contains(needle), "{needle:?} missing:\n{logs}");
    }
}

#[test]
fn a_wrong_password_exits_2() {
    let etcd = root();
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = etcd.access();
    wrong.auth = Some(("root".into(), "not-the-password".into()));
    let mut agent = spawn(&run_args(
        &wrong.sidekick_args(&dir.path().join("pw")),
        "sk-no-such-container",
        KEY,
        &[],
    ));
    let status = agent.wait_exit(SOON);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{}",
        agent.context("refused credentials are a configuration error")
    );
    assert!(agent
        .logs()
        .contains("refused the credentials of user \"root\""));
}

#[test]
fn the_readme_least_privilege_roles_are_enough() {
    let etcd = root();
    let dir = tempfile::tempdir().unwrap();
    // As in the README: the agent's role covers its key prefix and /sidekick/owners/; lbsync's
    // reads the registry and owns /sidekick/lbsync/.
    let agent_user = add_user(
        &etcd.access(),
        "sidekick-web01",
        "agent-pw",
        "sidekick-web01",
        &[
            (Perm::ReadWrite, KEY),
            (Perm::ReadWrite, "/sidekick/owners/"),
        ],
    );
    let lbsync_user = add_user(
        &etcd.access(),
        "sidekick-lbsync",
        "lbsync-pw",
        "sidekick-lbsync",
        &[
            (Perm::Read, "/services/web/"),
            (Perm::ReadWrite, "/sidekick/lbsync/"),
        ],
    );
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let agent = spawn(&run_args(
        &agent_user.sidekick_args(&dir.path().join("agent-pw")),
        web.name(),
        KEY,
        &[],
    ));
    wait_registered(&etcd.access(), KEY, &agent, SOON);
    let lbsync = spawn(&lbsync_args(
        dir.path(),
        &lbsync_user.sidekick_args(&dir.path().join("lbsync-pw")),
        &[],
    ));
    wait_log(&lbsync, "elected leader", SOON);
    let upstream = dir.path().join("upstream.conf");
    let ok = testkit::wait::poll_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&upstream).is_ok_and(|s| s.contains(&format!(":{port}")))
    });
    assert!(
        ok,
        "{}",
        lbsync.context("the upstream never listed the agent")
    );
    for p in [&agent, &lbsync] {
        assert!(
            !p.logs().contains("permission denied"),
            "{}",
            p.context("a least-privilege role was refused")
        );
    }
}

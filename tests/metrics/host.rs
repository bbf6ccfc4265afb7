//! `sidekick host` with `--metrics-addr`: one `sidekick_registered` series per labelled
//! container's key, 1 while registered, and gone once the container is removed (no alert waits
//! on a container that no longer exists).

use testkit::agent::AgentProcess;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::Etcd;

use super::*;

#[test]
fn one_series_per_key_that_goes_with_its_container() {
    let etcd = Etcd::start();
    let only = testkit::docker::unique_name("hostm");
    let key = format!("/services/web/{only}");
    let mut web = Container::run(
        ContainerOpts::web()
            .label("sidekick.key", &key)
            .label("sidekick-test.only", &only),
    );
    let (addr, port) = metrics_addr();
    let filter = format!("sidekick-test.only={only}");
    let args =
        testkit::agent::host_args(&etcd.sidekick_args(), &filter, &["--metrics-addr", &addr]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = AgentProcess::spawn(&argv, &[]);
    let series = format!("sidekick_registered{{key=\"{key}\"}}");
    let s = wait_value(port, &series, "1 once registered", &host, |v| v == 1.0);
    promtool_check_metrics(&s, &host);
    assert_eq!(
        s.matches("sidekick_registered{").count(),
        1,
        "{}",
        host.context(&s)
    );

    web.rm_force();
    let ok = testkit::wait::poll_until(SOON, || {
        get(port, "/metrics").is_some_and(|(_, b)| !b.contains(&series))
    });
    assert!(
        ok,
        "{}",
        host.context("the removed container's series is gone")
    );
    let s = scrape(port, &host);
    assert!(
        value(&s, "sidekick_build_info{version=\"0.1.0\"}").is_some(),
        "{s}"
    );
}

//! sidekick's integration-test kit, compiled once and shared by the product's tests and benches:
//! real etcd members and clusters (TLS, auth), real Docker (or Podman: [`engine`]) containers
//! built FROM scratch, a
//! severable Docker socket proxy, a private nginx, the `sidekick` binary as a child process, free
//! ports and deadline-bounded waits, instances' keys as `sidekick run` writes them (`instances`),
//! and the SVG figures of the benchmark report (`plot`).
//!
//! Everything here is isolated per test (unique names, own ports and temp dirs) and cleans up on
//! Drop, also when the test panics.
//!
//! ```ignore
//! use std::time::Duration;
//! use testkit::{agent::AgentProcess, docker::{Container, ContainerOpts}, etcd::{Etcd, Watcher}};
//!
//! #[test]
//! fn registers_web() {
//!     let etcd = Etcd::start();
//!     let web = Container::run(ContainerOpts::web());      // busybox httpd, 127.0.0.1::80
//!     let watcher = Watcher::start(&etcd.endpoints(), "/services/web/");
//!     let mut args = vec!["run".to_string(), "--container".into(), web.name().into(),
//!                         "--container-port".into(), "80/tcp".into(), "--key".into(),
//!                         "/services/web/w1".into()];
//!     args.extend(etcd.sidekick_args());
//!     let argv: Vec<&str> = args.iter().map(String::as_str).collect();
//!     let agent = AgentProcess::spawn(&argv, &[]);
//!     watcher.wait_for(|e| e.key == "/services/web/w1/port", Duration::from_secs(10))
//!         .unwrap_or_else(|| panic!("{}", agent.context("port key never written")));
//! }
//! ```

pub mod abuse;
pub mod agent;
pub mod docker;
pub mod docker_proxy;
pub mod engine;
pub mod etcd;
pub mod instances;
pub mod nginx;
pub mod plot;
pub mod ports;
pub mod process;
pub mod rt;
pub mod wait;

pub use ports::{free_port, free_ports};
pub use wait::{wait_for_value, wait_until, wait_until_async};

//! sidekick: a service-discovery agent for containers.
//!
//! `run` keeps one container's keys in etcd under a lease while it is healthy, `host` does the same
//! for every labelled container of the host in one process, `lbsync` reconciles
//! the registered instances into a load balancer (Rackspace Cloud Load Balancers or nginx), and
//! `check` explains what `run` would do. Decisions live in pure functions; I/O lives in one module
//! per external system (docker, etcd, health probe, rackspace, nginx).

pub mod agent;
pub mod backoff;
pub mod check;
pub mod cli;
pub mod config;
pub mod docgen;
pub mod docker;
pub mod duration;
pub mod etcd;
pub mod health;
pub mod host;
pub mod lbsync;
pub mod netinfo;
pub mod nginx;
pub mod rackspace;
pub mod registry;
pub mod signals;
pub mod telemetry;

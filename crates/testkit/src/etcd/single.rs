//! [`Etcd`]: a single-member etcd, the common case; a thin wrapper over a one-member
//! [`EtcdCluster`] whose member is addressed without an index.

use super::{EtcdAccess, EtcdCluster, EtcdOptions, START_DEADLINE};
use std::path::PathBuf;

/// A single-member etcd. Everything [`EtcdCluster`] offers is reachable through
/// [`Etcd::cluster`]; the common parts are repeated here.
pub struct Etcd {
    cluster: EtcdCluster,
}

impl Etcd {
    /// Plain HTTP, no auth; returns once a request succeeded.
    pub fn start() -> Etcd {
        Etcd {
            cluster: EtcdCluster::start(1),
        }
    }

    pub fn start_with(opts: EtcdOptions) -> Etcd {
        Etcd {
            cluster: EtcdCluster::start_with(1, opts),
        }
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.cluster.endpoints()
    }
    pub fn endpoint_arg(&self) -> String {
        self.cluster.endpoint_arg()
    }
    pub fn access(&self) -> EtcdAccess {
        self.cluster.access()
    }
    pub async fn client(&self) -> etcd_client::Client {
        self.cluster.client().await
    }
    pub fn ca_path(&self) -> Option<PathBuf> {
        self.cluster.ca_path()
    }
    pub fn client_cert_path(&self) -> Option<PathBuf> {
        self.cluster.client_cert_path()
    }
    pub fn client_key_path(&self) -> Option<PathBuf> {
        self.cluster.client_key_path()
    }
    pub fn user(&self) -> Option<String> {
        self.cluster.user()
    }
    pub fn password(&self) -> Option<String> {
        self.cluster.password()
    }
    pub fn password_file(&self) -> Option<PathBuf> {
        self.cluster.password_file()
    }
    pub fn sidekick_args(&self) -> Vec<String> {
        self.cluster.sidekick_args()
    }
    pub fn logs(&self) -> String {
        self.cluster.logs()
    }
    pub fn is_running(&mut self) -> bool {
        self.cluster.is_running(0)
    }
    /// SIGTERM (SIGKILL after 5 s); data kept.
    pub fn stop(&mut self) {
        self.cluster.stop(0)
    }
    /// SIGKILL; data kept.
    pub fn kill(&mut self) {
        self.cluster.kill(0)
    }
    /// Starts the stopped/killed process again (same port, same data) and waits until it answers.
    pub fn resume(&mut self) {
        self.cluster.start_member(0);
        self.cluster.wait_healthy(START_DEADLINE);
    }
    /// Kills etcd, empties its data dir and starts it again on the same port: a rebuilt etcd,
    /// whose revision starts again at 1. Returns once it answers.
    pub fn rebuild_empty(&mut self) {
        self.cluster.rebuild_member_empty(0);
        self.cluster.wait_healthy(START_DEADLINE);
    }
    /// `stop()` then `resume()`.
    pub fn restart(&mut self) {
        self.stop();
        self.resume();
    }
    pub fn cluster(&mut self) -> &mut EtcdCluster {
        &mut self.cluster
    }
}

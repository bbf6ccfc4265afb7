//! [`Network`]: a user-defined Docker bridge network a test creates and removes on drop.

use super::{docker, docker_ok, unique_name};

/// A user-defined bridge network named `sk-test-…`, removed on drop (declare it before the
/// containers attached to it, so they are removed first).
pub struct Network(String);

impl Network {
    /// Dual-stack: Docker picks the IPv4 subnet; the IPv6 one is a random ULA /64 (`fd00:5a:X::/64`).
    pub fn dual_stack() -> Network {
        let name = unique_name("net");
        let subnet = format!("fd00:5a:{:x}::/64", fastrand::u16(1..));
        docker_ok(&["network", "create", "--ipv6", "--subnet", &subnet, &name]);
        Network(name)
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.0]);
    }
}

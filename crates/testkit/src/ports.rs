//! Free loopback TCP ports that do not collide with other test threads or other test processes.
//!
//! Ports come from 20000..32000, below the kernel's ephemeral range (32768+) so neither outgoing
//! connections nor Docker's random `127.0.0.1::80` host ports take them. A port is handed out
//! at most once per process, and a marker file in `/tmp/sidekick-test-ports/` reserves it
//! against other processes for ten minutes.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

const LOW: u16 = 20000;
const HIGH: u16 = 32000;
const RESERVATION: Duration = Duration::from_secs(600);
const MAX_TRIES: usize = 2000;

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static SET: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

fn reservation_dir() -> PathBuf {
    std::env::temp_dir().join("sidekick-test-ports")
}

/// Claims `port` across processes: creates its marker file, or takes over a marker older than
/// the reservation period.
fn reserve_across_processes(port: u16) -> bool {
    let dir = reservation_dir();
    let _ = fs::create_dir_all(&dir);
    let marker = dir.join(port.to_string());
    if OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .is_ok()
    {
        return true;
    }
    let stale = fs::metadata(&marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > RESERVATION);
    if stale {
        // Refresh the marker's time so a concurrent taker sees it as fresh.
        let _ = fs::remove_file(&marker);
        return OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .is_ok();
    }
    false
}

/// A TCP port on 127.0.0.1 that nobody listens on and no other test has been given.
pub fn free_port() -> u16 {
    for _ in 0..MAX_TRIES {
        let port = fastrand::u16(LOW..HIGH);
        {
            let mut set = handed_out().lock().unwrap();
            if set.contains(&port) {
                continue;
            }
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
                continue;
            }
            if !reserve_across_processes(port) {
                continue;
            }
            set.insert(port);
        }
        return port;
    }
    panic!("free_port: no free port found in {LOW}..{HIGH} after {MAX_TRIES} tries");
}

/// `n` distinct free ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

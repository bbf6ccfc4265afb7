//! `scripts/demo --check` end to end: etcd, clb-emulator, nginx, two lbsyncs, five web
//! containers (three with a `sidekick run` each, two labelled for one `sidekick host`), requests
//! through nginx and one container of each kind leaving. It runs with
//! the binaries this `cargo test` built (`DEMO_BIN_DIR`) instead of a release build, so the suite
//! needs no second compilation. Exit 0 means every step of the demo was observed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far above the ~10 s it takes once the web image exists (building the image adds a few).
const DEADLINE: Duration = Duration::from_secs(300);
/// How long the demo gets to clean up after SIGTERM before it is killed.
const CLEANUP_GRACE: Duration = Duration::from_secs(30);

/// "demo --check: 20/20 steps observed in 6.1 s" -> (20, 20).
fn steps_line(out: &str) -> Option<(u32, u32)> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with("demo --check: "))?;
    let counts = line.strip_prefix("demo --check: ")?.split(' ').next()?;
    let (seen, all) = counts.split_once('/')?;
    Some((seen.parse().ok()?, all.parse().ok()?))
}

#[test]
fn demo_check_observes_every_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_sidekick"))
        .parent()
        .expect("the binary has a directory");
    assert!(
        bin_dir.join("clb-emulator").exists(),
        "clb-emulator is not next to {}",
        env!("CARGO_BIN_EXE_sidekick")
    );
    let log = tempfile::NamedTempFile::new().unwrap();
    let out_file = log.reopen().unwrap();
    let err_file = out_file.try_clone().unwrap(); // same open file: one shared offset
    let mut child = Command::new(root.join("scripts/demo"))
        .arg("--check")
        .env("DEMO_BIN_DIR", bin_dir)
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(err_file)
        .spawn()
        .expect("start scripts/demo");

    let started = Instant::now();
    let mut signalled: Option<Instant> = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        match signalled {
            None if started.elapsed() > DEADLINE => {
                // SIGTERM: the demo's trap stops its processes and removes its containers.
                // SAFETY: signals the child this test started and has not reaped yet.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                signalled = Some(Instant::now());
            }
            Some(at) if at.elapsed() > CLEANUP_GRACE => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(log.path()).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("scripts/demo --check never finished:\n{out}"));
    assert!(
        signalled.is_none(),
        "scripts/demo --check overran {DEADLINE:?}:\n{out}"
    );
    assert!(status.success(), "scripts/demo --check: {status}\n{out}");
    match steps_line(&out) {
        Some((seen, all)) if seen == all && all > 0 => {}
        other => panic!("no 'demo --check: N/N steps observed' line ({other:?}):\n{out}"),
    }
    eprintln!(
        "scripts/demo --check passed in {:?}:\n{out}",
        started.elapsed()
    );
}

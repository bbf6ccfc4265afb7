//! The test web image `sidekick-test-web:<content hash>`, built FROM scratch (no registry) from
//! crates/testkit/test-web/ plus the host's static busybox. Built at most once per process
//! (OnceLock) and once per machine and content (the tag is a hash of every input; a file lock serialises
//! concurrent test binaries, and an existing tag is reused). Podman gets the same image from
//! Docker's store (`docker save | podman load`: no registry), as `localhost/<tag>`.

use super::cli::{cli_with, docker, docker_with};
use sha1::{Digest, Sha1};
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Body of /www/health.php in the image: two newlines, then PASS (6 bytes).
pub const HEALTH_BODY: &[u8] = b"\n\nPASS";
/// Where the static busybox comes from.
pub const BUSYBOX: &str = "/bin/busybox";

const DOCKERFILE: &str = include_str!("../../test-web/Dockerfile");
const ENTRYPOINT: &str = include_str!("../../test-web/entrypoint.sh");
const INDEX_HTML: &str = include_str!("../../test-web/index.html");
/// CGI health endpoints for probe drills: one answers after 3 s, one streams forever.
const SLOW_CGI: &str = include_str!("../../test-web/cgi-bin/slow");
const ENDLESS_CGI: &str = include_str!("../../test-web/cgi-bin/endless");
const BUILD_DEADLINE: Duration = Duration::from_secs(300);

fn tag_for(busybox: &[u8]) -> String {
    let mut h = Sha1::new();
    for part in [
        DOCKERFILE.as_bytes(),
        ENTRYPOINT.as_bytes(),
        INDEX_HTML.as_bytes(),
        SLOW_CGI.as_bytes(),
        ENDLESS_CGI.as_bytes(),
        HEALTH_BODY,
        busybox,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    format!("sidekick-test-web:{}", &hex::encode(h.finalize())[..12])
}

fn image_exists(tag: &str) -> bool {
    docker(&["image", "inspect", "--format", "{{.Id}}", tag])
        .status
        .success()
}

/// Holds an exclusive flock on a file in /tmp until dropped (released on close).
struct BuildLock {
    _file: File,
}

impl BuildLock {
    fn take(deadline: Duration) -> BuildLock {
        let path = std::env::temp_dir().join("sidekick-test-web.lock");
        let f = File::create(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let start = Instant::now();
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return BuildLock { _file: f };
            }
            assert!(
                start.elapsed() < deadline,
                "waited {deadline:?} for another test process building the web image"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn write_context(dir: &Path, busybox: &[u8]) {
    let w = |rel: &str, data: &[u8]| {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().expect("has parent")).expect("create context dir");
        fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    };
    w("Dockerfile", DOCKERFILE.as_bytes());
    w("entrypoint.sh", ENTRYPOINT.as_bytes());
    w("www/index.html", INDEX_HTML.as_bytes());
    w("www/health.php", HEALTH_BODY);
    w("www/cgi-bin/slow", SLOW_CGI.as_bytes());
    w("www/cgi-bin/endless", ENDLESS_CGI.as_bytes());
    w("busybox", busybox);
    use std::os::unix::fs::PermissionsExt;
    for cgi in ["www/cgi-bin/slow", "www/cgi-bin/endless"] {
        fs::set_permissions(dir.join(cgi), fs::Permissions::from_mode(0o755)).expect("chmod cgi");
    }
    fs::set_permissions(dir.join("busybox"), fs::Permissions::from_mode(0o755))
        .expect("chmod busybox");
}

fn build() -> String {
    let busybox = fs::read(BUSYBOX)
        .unwrap_or_else(|e| panic!("read {BUSYBOX} (install busybox-static): {e}"));
    let tag = tag_for(&busybox);
    if image_exists(&tag) {
        return tag;
    }
    let _lock = BuildLock::take(BUILD_DEADLINE);
    if image_exists(&tag) {
        return tag;
    }
    let ctx = tempfile::Builder::new()
        .prefix("sk-web-ctx-")
        .tempdir()
        .expect("create build context");
    write_context(ctx.path(), &busybox);
    let ctx_path = ctx.path().to_string_lossy().into_owned();
    let out = docker_with(
        &[
            "build",
            "-q",
            "--label",
            "sidekick-test=1",
            "-t",
            &tag,
            &ctx_path,
        ],
        None,
        BUILD_DEADLINE,
    );
    assert!(
        out.status.success(),
        "docker build of {tag} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tag
}

/// Tag of the test web image, building it if needed. The first call in a process also removes
/// containers left behind by test processes that no longer exist.
pub fn web_image() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        super::cleanup_stale();
        build()
    })
}

/// Copies Docker's `tag` into Podman's store unless it is there already (under the build lock).
fn load_into_podman(tag: &str) {
    let exists = |t: &str| {
        cli_with("podman", &["image", "exists", t], None, BUILD_DEADLINE)
            .status
            .success()
    };
    let local = format!("localhost/{tag}");
    if exists(&local) {
        return;
    }
    let _lock = BuildLock::take(BUILD_DEADLINE);
    if exists(&local) {
        return;
    }
    let saved = docker_with(&["save", tag], None, BUILD_DEADLINE);
    assert!(
        saved.status.success(),
        "docker save {tag} failed: {}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let out = cli_with("podman", &["load"], Some(&saved.stdout), BUILD_DEADLINE);
    assert!(
        out.status.success(),
        "podman load of {tag} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Tag of the test web image for `cli` (`docker` or `podman`), making it available there first.
/// The first call per CLI in a process also removes that engine's stale test containers.
pub fn web_image_for(cli: &str) -> &'static str {
    static PODMAN: OnceLock<String> = OnceLock::new();
    if cli != "podman" {
        return web_image();
    }
    PODMAN.get_or_init(|| {
        let tag = web_image();
        super::cleanup_stale_with("podman");
        load_into_podman(tag);
        format!("localhost/{tag}")
    })
}

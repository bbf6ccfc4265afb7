//! The images in docker/, built by their own build scripts the way a user builds them:
//! `sidekick-web` serves `/health.php` as exactly "\n\nPASS" and `/` naming the container, and
//! stops at once on `docker stop`; the FROM-scratch `sidekick` image (release binary plus the
//! libraries ldd lists) runs `--version` and `check` against a web container through the mounted
//! Docker socket, and `host` registers a labelled container until `docker stop`. Images get per-process tags (`…:test-<pid>`) removed on Drop; tags of dead
//! test processes are removed on the next run.
//!
//! The sidekick image test packs the binary `cargo test` already built (`SIDEKICK_BIN`), so the
//! suite needs no release build; `docker/sidekick/build.sh` without it builds the release binary.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::docker::{docker, docker_ok, docker_with, http_get, Container, ContainerOpts};
use testkit::docker::{unique_name, PID_LABEL};
use testkit::process::output_with_deadline;

const PASS_SHA1: &str = "19d549807218f4fc3f2129757445f977e4b81408";
const WEB_BUILD_DEADLINE: Duration = Duration::from_secs(300);
const SIDEKICK_BUILD_DEADLINE: Duration = Duration::from_secs(300);
const SOON: Duration = Duration::from_secs(30);

/// An image tag this process owns; `docker rmi` on Drop.
struct TestImage(String);

impl TestImage {
    /// Runs `docker/<dir>/build.sh <repo>:test-<pid>` and returns the tag.
    fn build(dir: &str, repo: &str, deadline: Duration, env: &[(&str, &str)]) -> TestImage {
        remove_stale_tags(repo);
        let tag = format!("{repo}:test-{}", std::process::id());
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docker")
            .join(dir)
            .join("build.sh");
        let start = Instant::now();
        let mut cmd = Command::new(&script);
        cmd.arg(&tag);
        // Not the CARGO_* variables `cargo test` sets for this process: a build script that
        // tracks one (ring's tracks CARGO_MANIFEST_DIR) would otherwise make every release build
        // here and every plain `cargo build --release` rebuild the whole tree for each other.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        let out = output_with_deadline(&mut cmd, None, deadline)
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        let image = TestImage(tag);
        assert!(
            out.status.success(),
            "{} failed ({}):\n{}\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("built {} in {:?}", image.0, start.elapsed());
        image
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

/// Removes `<repo>:test-<pid>` tags whose process no longer exists (a test run that was killed).
fn remove_stale_tags(repo: &str) {
    let out = docker(&["images", repo, "--format", "{{.Tag}}"]);
    for tag in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(pid) = tag
            .strip_prefix("test-")
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the pid exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = docker(&["rmi", "-f", &format!("{repo}:{tag}")]);
        }
    }
}

/// The Docker daemon's unix socket on this host (DOCKER_HOST=unix://… or the default).
fn docker_socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string())
}

#[test]
fn web_image_serves_health_page_and_hostname_and_stops_at_once() {
    let image = TestImage::build("web", "sidekick-web", WEB_BUILD_DEADLINE, &[]);
    let web = Container::run(ContainerOpts::web().image(&image.0));
    web.wait_http_ready(SOON);
    let port = web.host_port(80);

    let (code, body) = http_get(port, "/health.php").expect("GET /health.php");
    assert_eq!((code, body.as_slice()), (200, b"\n\nPASS".as_slice()));

    let hostname = web.inspect("{{.Config.Hostname}}");
    assert!(!hostname.is_empty());
    let (code, body) = http_get(port, "/").expect("GET /");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&format!(">{hostname}<")),
        "index page does not name {hostname}: {body}"
    );

    // httpd runs unprivileged; PID 1 is the shell that handles SIGTERM.
    let ps = web.exec_ok(&["ps"]);
    assert!(
        ps.lines()
            .any(|l| l.contains("httpd") && l.contains("65534")),
        "{ps}"
    );

    // SIGTERM ends it at once with status 0 (a PID-1 httpd would ignore it and be SIGKILLed
    // after docker stop's 10 s, status 137).
    let start = Instant::now();
    web.stop();
    let took = start.elapsed();
    assert_eq!(web.inspect("{{.State.ExitCode}}"), "0", "{}", web.logs());
    assert!(took < Duration::from_secs(3), "docker stop took {took:?}");
}

#[test]
fn sidekick_image_runs_version_and_check_through_the_docker_socket() {
    let bin = env!("CARGO_BIN_EXE_sidekick");
    let image = TestImage::build(
        "sidekick",
        "sidekick",
        SIDEKICK_BUILD_DEADLINE,
        &[("SIDEKICK_BIN", bin)],
    );
    let size: u64 = docker_ok(&["image", "inspect", "-f", "{{.Size}}", &image.0])
        .parse()
        .expect("image size");
    assert!(size < 64 << 20, "FROM-scratch image is {size} bytes");

    let version = docker_ok(&["run", "--rm", &image.0, "--version"]);
    // The version and the commit it was built from (build.rs).
    let want = format!("sidekick {} (", env!("CARGO_PKG_VERSION"));
    assert!(
        version.starts_with(&want) && (version.contains("(git ") || version.contains("no git")),
        "{version}"
    );
    // Not root by default; the agent gets the socket's group with --group-add, as the README
    // shows, and nothing else.
    let user = docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", &image.0]);
    assert_eq!(user, "65532:65532");

    let web = Container::run(ContainerOpts::web());
    web.wait_http_ready(SOON);
    let socket = docker_socket();
    let mount = format!("{socket}:/var/run/docker.sock");
    let group = std::os::unix::fs::MetadataExt::gid(
        &std::fs::metadata(&socket).expect("the Docker socket"),
    )
    .to_string();
    let name = unique_name("sidekick-check");
    let pid_label = format!("{PID_LABEL}={}", std::process::id());
    #[rustfmt::skip]
    let args = [
        "run", "--rm", "--name", &name, "--label", "sidekick-test=1", "--label", &pid_label,
        "-v", &mount, "--group-add", &group, "--network", "host", &image.0,
        "check", "--container", web.name(), "--container-port", "80/tcp",
        "--key", "/services/web/web01", "--health-digest", PASS_SHA1,
        "--etcd-endpoints", "http://127.0.0.1:1", "--json",
    ];
    // Without the socket's group the non-root agent is refused, and says what to do about it.
    let denied_name = unique_name("sidekick-denied");
    #[rustfmt::skip]
    let denied_args = [
        "run", "--rm", "--name", &denied_name, "--label", "sidekick-test=1", "--label", &pid_label,
        "-v", &mount, "--network", "host", &image.0,
        "check", "--container", web.name(), "--etcd-endpoints", "http://127.0.0.1:1",
    ];
    let denied = docker_with(&denied_args, None, Duration::from_secs(60));
    let _ = docker(&["rm", "-f", &denied_name]);
    let text = String::from_utf8_lossy(&denied.stdout);
    assert!(
        text.contains("Permission denied") && text.contains("--group-add"),
        "no hint about the socket's group: {text}"
    );

    let out = docker_with(&args, None, Duration::from_secs(60));
    let _ = docker(&["rm", "-f", &name]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let show = format!(
        "exit {:?}\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    // Registrable: check's exit code is about the container, not about etcd (which it only
    // reads, and reports as unreachable).
    assert_eq!(out.status.code(), Some(0), "{show}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("check --json");
    assert_eq!(report["container"]["state"]["running"], true, "{show}");
    assert_eq!(report["probe"]["status"], 200, "{show}");
    assert_eq!(report["probe"]["observed_sha1"], PASS_SHA1, "{show}");
    let port = web.host_port(80).to_string();
    assert_eq!(
        report["would_write"]["/services/web/web01/port"], port,
        "{show}"
    );
    assert!(report["etcd"]["error"].is_string(), "{show}");

    // Host mode as the README runs it: the socket mounted, the host's network; a labelled
    // container is registered, `docker stop` of the agent (SIGTERM) removes its keys.
    let etcd = testkit::etcd::Etcd::start();
    let case = unique_name("image-host");
    let labelled = Container::run(
        ContainerOpts::web()
            .label("sidekick-test.case", &case)
            .label("sidekick.key", "/services/web/img"),
    );
    let name = unique_name("sidekick-host");
    let require = format!("sidekick-test.case={case}");
    let endpoints = etcd.endpoint_arg();
    #[rustfmt::skip]
    let args = [
        "run", "-d", "--name", &name, "--label", "sidekick-test=1", "--label", &pid_label,
        "-v", &mount, "--group-add", &group, "--network", "host", &image.0,
        "host", "--host", "core01", "--require-label", &require, "--etcd-endpoints", &endpoints,
    ];
    docker_ok(&args);
    let port = labelled.host_port(80).to_string();
    let registered = testkit::wait::poll_until(SOON, || {
        etcd.access()
            .get_prefix_blocking("/services/web/img/")
            .get("/services/web/img/port")
            .is_some_and(|(v, _)| *v == port)
    });
    let logs = docker(&["logs", &name]);
    let show = String::from_utf8_lossy(&logs.stderr).into_owned();
    assert!(
        registered,
        "host mode in the image never registered: {show}"
    );
    docker_ok(&["stop", &name]);
    let code = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    let _ = docker(&["rm", "-f", &name]);
    assert_eq!(code, "0", "{show}");
    assert!(
        etcd.access().get_prefix_blocking("/").is_empty(),
        "docker stop removes the keys: {show}"
    );
}

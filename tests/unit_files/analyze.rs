//! What systemd itself says about the units: `systemd-analyze verify` with the real sidekick
//! binary at the units' ExecStart path (inside a temp root), `systemd-analyze security
//! --offline=true` holding each sidekick unit to its exposure target (issue 13), and the
//! least-privilege settings that score does not see (credentials, notify, the docker group).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::process::output_with_deadline;

use crate::unit::{instance_name, units_dir, Unit};
use crate::{show, DEADLINE, UNITS};

const ANALYZE: &str = "/usr/bin/systemd-analyze";

/// Each unit that runs sidekick, and the highest `systemd-analyze security` exposure allowed.
/// The agents hold the Docker socket (root-equivalent, which the score does not know), and
/// lbsync-nginx stays root to check and reload nginx.
const TARGETS: [(&str, f64); 5] = [
    ("lbsync.service", 2.0),
    ("monweb@.service", 4.0),
    ("mondb.service", 4.0),
    ("sidekick-host.service", 4.0),
    ("lbsync-nginx.service", 5.0),
];

fn analyze_available() -> bool {
    let ok = Path::new(ANALYZE).exists();
    if !ok {
        eprintln!(
            "SKIP: {ANALYZE} not installed (Debian package systemd); the parser tests still ran"
        );
    }
    ok
}

fn analyze(args: &[&str]) -> Output {
    let mut cmd = Command::new(ANALYZE);
    cmd.args(args).env("SYSTEMD_COLORS", "0");
    output_with_deadline(&mut cmd, None, DEADLINE).expect("systemd-analyze ran")
}

/// The number in "→ Overall exposure level for X: 1.3 OK 🙂".
fn exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let (_, rest) = line.rsplit_once(": ")?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn exposure_line_parses() {
    assert_eq!(
        exposure("x\n→ Overall exposure level for monweb@i.service: 1.3 OK 🙂\n"),
        Some(1.3)
    );
    assert_eq!(exposure("nothing"), None);
}

/// `systemd-analyze security --offline=true` on every sidekick unit, each held to its target.
#[test]
fn units_meet_their_exposure_targets() {
    if !analyze_available() {
        return;
    }
    let mut report = Vec::new();
    for (file, target) in TARGETS {
        let path = units_dir().join(file);
        let out = analyze(&[
            "security",
            "--offline=true",
            "--no-pager",
            &path.to_string_lossy(),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let score = exposure(&text).unwrap_or_else(|| panic!("{file}: no score: {}", show(&out)));
        report.push(format!("{file}: {score} (target <= {target})"));
        assert!(
            score <= target,
            "{file}: exposure {score} > {target}:\n{text}"
        );
    }
    eprintln!("exposure: {}", report.join(", "));
}

/// What the score cannot see: the agents run as a transient user whose only extra privilege is
/// the docker group; lbsync gets its API key as a credential file, not an environment
/// variable; every sidekick unit tells systemd when it is ready and feeds the watchdog.
#[test]
fn units_keep_secrets_out_of_the_environment_and_drop_root() {
    for (file, _) in TARGETS {
        let u = Unit::load(file);
        assert_eq!(u.one("Service", "Type"), "notify", "{file}");
        assert_eq!(u.one("Service", "NotifyAccess"), "main", "{file}");
        assert_eq!(u.one("Service", "WatchdogSec"), "30s", "{file}");
        assert_eq!(u.one("Service", "NoNewPrivileges"), "yes", "{file}");
        assert_eq!(u.one("Service", "ProtectSystem"), "strict", "{file}");
        for e in u.all("Service", "Environment") {
            assert!(!e.contains("OS_API_KEY"), "{file}: secret in Environment=");
        }
        if file != "lbsync-nginx.service" {
            assert_eq!(u.one("Service", "DynamicUser"), "yes", "{file}");
            assert_eq!(u.one("Service", "CapabilityBoundingSet"), "", "{file}");
        }
    }
    for file in ["monweb@.service", "mondb.service", "sidekick-host.service"] {
        let u = Unit::load(file);
        assert_eq!(u.one("Service", "SupplementaryGroups"), "docker", "{file}");
        assert!(
            u.one("Service", "RestrictAddressFamilies")
                .contains("AF_NETLINK"),
            "{file}: getifaddrs needs netlink"
        );
    }
    // Metrics on loopback only (issue 11), for the two long-lived per-host services.
    for file in ["lbsync.service", "sidekick-host.service"] {
        let exec = Unit::load(file).one("Service", "ExecStart").to_string();
        assert!(
            exec.contains("--metrics-addr 127.0.0.1:"),
            "{file}: metrics on loopback: {exec}"
        );
    }
    let lbsync = Unit::load("lbsync.service");
    assert_eq!(
        lbsync.one("Service", "LoadCredential"),
        "api-key:/etc/sidekick/api-key"
    );
    assert!(lbsync
        .one("Service", "ExecStart")
        .contains("--api-key-file %d/api-key"));
    let nginx = Unit::load("lbsync-nginx.service");
    assert_eq!(
        nginx.one("Service", "CapabilityBoundingSet"),
        "CAP_DAC_OVERRIDE CAP_NET_BIND_SERVICE"
    );
    let exec = nginx.one("Service", "ExecStart");
    let upstream = exec
        .split_whitespace()
        .skip_while(|w| *w != "--upstream-file")
        .nth(1)
        .expect("--upstream-file");
    let dir = Path::new(upstream).parent().expect("a directory");
    assert!(
        nginx
            .one("Service", "ReadWritePaths")
            .split_whitespace()
            .any(|p| Path::new(p) == dir),
        "lbsync-nginx must be able to write {}",
        dir.display()
    );
    assert_eq!(nginx.one("Unit", "PartOf"), "nginx.service");
}

/// A temp root for `systemd-analyze verify --root`: the host's unit directory (for targets
/// such as sysinit.target), our units in /etc/systemd/system, the sidekick binary under test at
/// /usr/bin/sidekick and a stand-in /usr/bin/docker.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["usr/bin", "usr/lib/systemd", "etc/systemd/system"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let status = Command::new("cp")
            .args(["-a", "/usr/lib/systemd/system"])
            .arg(root.join("usr/lib/systemd"))
            .status()
            .expect("cp ran");
        assert!(status.success(), "copy /usr/lib/systemd/system");
        let bin = Path::new(env!("CARGO_BIN_EXE_sidekick"));
        let at = root.join("usr/bin/sidekick");
        if std::fs::hard_link(bin, &at).is_err() {
            std::fs::copy(bin, &at).unwrap();
        }
        std::fs::copy("/bin/true", root.join("usr/bin/docker")).unwrap();
        // Machines without Docker's own unit (CI images) still resolve Requires=docker.service.
        std::fs::write(
            root.join("etc/systemd/system/docker.service"),
            "[Unit]\nDescription=stand-in\n[Service]\nExecStart=/usr/bin/docker\n",
        )
        .unwrap();
        Root { dir }
    }

    fn install(&self, file: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join("etc/systemd/system").join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn verify(&self, file: &str) -> Output {
        let root = format!("--root={}", self.dir.path().display());
        analyze(&["verify", "--man=no", &root, &instance_name(file)])
    }
}

/// `systemd-analyze verify` of every unit, inside a root where /usr/bin/sidekick is the binary
/// under test. Any warning about one of our units fails.
#[test]
fn units_pass_systemd_analyze_verify() {
    if !analyze_available() {
        return;
    }
    let root = Root::new();
    for file in UNITS {
        let text = std::fs::read_to_string(units_dir().join(file)).unwrap();
        root.install(file, &text);
    }
    for file in UNITS {
        let out = root.verify(file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ours: Vec<&str> = stderr
            .lines()
            .filter(|l| UNITS.iter().any(|u| l.contains(&instance_name(u))))
            .collect();
        assert!(
            out.status.success() && ours.is_empty(),
            "{file}: {}",
            show(&out)
        );
    }

    // The check above would notice a mistake: a misspelt key, a missing binary.
    let monweb = std::fs::read_to_string(units_dir().join("monweb@.service")).unwrap();
    root.install(
        "monweb@.service",
        &monweb.replace("RestartSec=1s", "RestartSec=1s\nRestrat=always"),
    );
    let out = root.verify("monweb@.service");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Restrat"),
        "verify did not report a bad key: {}",
        show(&out)
    );
    std::fs::remove_file(root.dir.path().join("usr/bin/sidekick")).unwrap();
    let out = root.verify("lbsync.service");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("/usr/bin/sidekick"),
        "verify did not report a missing binary: {}",
        show(&out)
    );
}

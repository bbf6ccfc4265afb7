//! The fleet units in unit-files/: they load as plain systemd units (`systemd-analyze verify` on
//! copies whose binaries point at existing programs), carry the sections and keys the demo relies
//! on, and every `sidekick ...` command line in them, with fleet's specifiers and `${VAR}`
//! expanded, is accepted by the real binary: `run` lines go through `sidekick check` with the same
//! flags (exit 1 for an absent container, exit 0 with the expected keys for a real one),
//! `lbsync` lines through `sidekick lbsync ... --dry-run` (no usage error), the `host` line as
//! an agent against a real etcd and a labelled container.

mod analyze;
mod unit;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use testkit::docker::{unique_name, Container, ContainerOpts};
use testkit::process::{output_with_deadline, RunError};
use unit::{credentials_dir, exec_argv, instance_name, unit_env, Unit};

pub const UNITS: [&str; 7] = [
    "web@.service",
    "monweb@.service",
    "db.service",
    "mondb.service",
    "lbsync.service",
    "lbsync-nginx.service",
    "sidekick-host.service",
];
const PASS_SHA1: &str = "19d549807218f4fc3f2129757445f977e4b81408";
const FAIL_SHA1: &str = "dbe72348d4e3aa87958f421e4a9592a82839f3d8";
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The sidekick command of a unit: its argv after `/usr/bin/sidekick`, and its environment.
fn sidekick_command(
    file: &str,
    public: &str,
    private: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let unit = Unit::load(file);
    let mut env = unit_env(&unit, public, private);
    let argv = exec_argv(&unit, unit.one("Service", "ExecStart"), &env);
    // The unit's environment file is faked above; the check that it exists gets a real one.
    if let Some(required) = env.get_mut("SIDEKICK_REQUIRE_ENV_FILE") {
        let present = Path::new(env!("CARGO_TARGET_TMPDIR")).join("unit-env-file-present.env");
        std::fs::write(&present, "").expect("writing a stand-in environment file");
        *required = present.display().to_string();
    }
    assert_eq!(
        argv[0], "/usr/bin/sidekick",
        "{file}: ExecStart runs sidekick"
    );
    (argv[1..].to_vec(), env.into_iter().collect())
}

/// Points `--metrics-addr`, when the unit sets it, at a free port: tests share this machine, and
/// the units' fixed loopback ports may be taken.
fn any_metrics_port(args: &mut [String]) {
    if args.iter().any(|a| a == "--metrics-addr") {
        let addr = format!("127.0.0.1:{}", testkit::ports::free_port());
        set_flag(args, "--metrics-addr", &addr);
    }
}

/// Replaces the value of `--flag` (which must be present) in `args`.
fn set_flag(args: &mut [String], flag: &str, value: &str) {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing from {args:?}"));
    args[i + 1] = value.to_string();
}

/// `sidekick <args>` with exactly `env` from the unit (none of the test's own SIDEKICK_*,
/// COREOS_*, OS_*, ETCDCTL_* or LB_NAME variables); None when it outlived `deadline`.
fn sidekick(args: &[String], env: &[(String, String)], deadline: Duration) -> Option<Output> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sidekick"));
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if ["SIDEKICK_", "COREOS_", "OS_", "ETCDCTL_", "LB_NAME"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1").envs(env.iter().cloned());
    match output_with_deadline(&mut cmd, None, deadline) {
        Ok(out) => Some(out),
        Err(RunError::TimedOut { .. }) => None,
        Err(e) => panic!("sidekick {args:?}: {e}"),
    }
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------------

#[test]
fn units_have_the_sections_and_keys_the_demo_relies_on() {
    let web = Unit::load("web@.service");
    assert_eq!(web.one("Service", "EnvironmentFile"), "/etc/environment");
    assert_eq!(
        web.one("Service", "ExecStartPre"),
        "-/usr/bin/docker rm -f web-%i"
    );
    assert_eq!(
        web.one("Service", "ExecStop"),
        "/usr/bin/docker stop web-%i"
    );
    assert_eq!(web.one("Service", "Restart"), "always");
    assert_eq!(web.one("Service", "TimeoutStartSec"), "0");
    assert_eq!(web.one("Unit", "Requires"), "docker.service");
    assert_eq!(web.one("Unit", "After"), "docker.service");
    let env = unit_env(&web, "203.0.113.7", "10.0.0.7");
    let argv = exec_argv(&web, web.one("Service", "ExecStart"), &env);
    assert_eq!(
        argv.join(" "),
        "/usr/bin/docker run --rm --name web-01 -p 203.0.113.7:18001:80 sidekick-web"
    );

    let monweb = Unit::load("monweb@.service");
    assert_eq!(monweb.one("Unit", "BindsTo"), "web@%i.service");
    assert_eq!(monweb.one("Unit", "After"), "web@%i.service");
    assert_eq!(
        monweb.one("X-Fleet", "X-ConditionMachineOf"),
        "web@%i.service"
    );
    let mondb = Unit::load("mondb.service");
    assert_eq!(mondb.one("Unit", "BindsTo"), "db.service");
    assert_eq!(mondb.one("X-Fleet", "X-ConditionMachineOf"), "db.service");
    for u in [&monweb, &mondb] {
        assert_eq!(u.one("Service", "Restart"), "always", "{}", u.file);
        assert_eq!(u.one("Service", "KillSignal"), "SIGTERM", "{}", u.file);
        assert_eq!(u.one("Service", "TimeoutStopSec"), "5s", "{}", u.file);
        // SIGTERM revokes the lease: no ExecStop that would race it with its own deletes.
        assert!(u.all("Service", "ExecStop").is_empty(), "{}", u.file);
        assert!(u.environment().contains(&(
            "SIDEKICK_ETCD_ENDPOINTS".into(),
            "http://127.0.0.1:2379".into()
        )));
    }
    let monweb_exec = monweb.one("Service", "ExecStart");
    assert!(monweb_exec.contains(&format!("--health-digest {PASS_SHA1}")));

    let host = Unit::load("sidekick-host.service");
    assert_eq!(host.one("X-Fleet", "Global"), "true", "one per machine");
    assert_eq!(host.one("Unit", "Requires"), "docker.service");
    assert_eq!(host.one("Unit", "After"), "docker.service");
    assert_eq!(host.one("Service", "Restart"), "always");
    assert_eq!(host.one("Service", "KillSignal"), "SIGTERM");
    assert_eq!(host.one("Service", "RestartPreventExitStatus"), "2");
    assert!(
        host.all("Service", "ExecStop").is_empty(),
        "SIGTERM removes the keys"
    );
    assert_eq!(host.all("Install", "WantedBy"), ["multi-user.target"]);
    assert!(host.environment().contains(&(
        "SIDEKICK_ETCD_ENDPOINTS".into(),
        "http://127.0.0.1:2379".into()
    )));

    let db = Unit::load("db.service");
    assert!(db
        .all("Service", "EnvironmentFile")
        .contains(&"-/etc/sidekick/db.env"));
    let lbsync = Unit::load("lbsync.service");
    // Every unit that runs sidekick reads its own environment file, and requires it (issue 21).
    for (file, env_file) in [
        ("lbsync.service", "/etc/sidekick/lbsync.env"),
        ("lbsync-nginx.service", "/etc/sidekick/lbsync-nginx.env"),
        ("sidekick-host.service", "/etc/sidekick/sidekick-host.env"),
        ("monweb@.service", "/etc/sidekick/monweb.env"),
        ("mondb.service", "/etc/sidekick/mondb.env"),
    ] {
        let u = Unit::load(file);
        let files = u.all("Service", "EnvironmentFile");
        assert_eq!(
            files.last(),
            Some(&format!("-{env_file}").as_str()),
            "{file}"
        );
        assert!(
            u.environment()
                .contains(&("SIDEKICK_REQUIRE_ENV_FILE".into(), env_file.into())),
            "{file}: requires {env_file}"
        );
    }
    assert!(
        lbsync.all("X-Fleet", "Conflicts").is_empty(),
        "leader election, not Conflicts"
    );

    for file in UNITS {
        let u = Unit::load(file);
        assert!(
            !u.all("Install", "WantedBy").is_empty(),
            "{file}: enable needs [Install]"
        );
        assert!(!u.one("Unit", "Description").is_empty());
        // No secret literal in any setting (comments may show the file format).
        for (_, entries) in &u.sections {
            for (k, v) in entries {
                let v = v.to_lowercase();
                assert!(!v.contains("password="), "{file}: password literal in {k}=");
                assert!(!v.contains("api_key="), "{file}: API key literal in {k}=");
            }
        }
        for exec in u.all("Service", "ExecStart") {
            assert!(
                !exec.contains(FAIL_SHA1),
                "{file}: FAIL-page digest in ExecStart"
            );
        }
    }
}

/// Every `sidekick run` line, run as `sidekick check` with the same flags and an unreachable
/// etcd: an absent container is "not registrable" (exit 1), never a usage error (exit 2).
#[test]
fn run_lines_are_valid_sidekick_flags() {
    for file in ["monweb@.service", "mondb.service"] {
        let (mut args, env) = sidekick_command(file, "203.0.113.7", "10.0.0.7");
        assert_eq!(args[0], "run", "{file}");
        args[0] = "check".into();
        let absent = unique_name("absent");
        set_flag(&mut args, "--container", &absent);
        args.extend(["--etcd-endpoints".into(), "http://127.0.0.1:1".into()]);
        let out = sidekick(&args, &env, DEADLINE).expect("check finishes");
        assert_eq!(out.status.code(), Some(1), "{file}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("does not exist"),
            "{file}: {}",
            show(&out)
        );
    }
}

/// `sidekick check` with the monweb@01 line, against a real web container serving "\n\nPASS":
/// registrable, with the keys the 2014 units wrote (the digest in the unit is the right one).
#[test]
fn monweb_line_registers_a_healthy_web_container() {
    let web = Container::run(ContainerOpts::web());
    web.wait_http_ready(DEADLINE);
    let (mut args, env) = sidekick_command("monweb@.service", "127.0.0.1", "10.0.0.7");
    args[0] = "check".into();
    set_flag(&mut args, "--container", web.name());
    args.extend(["--etcd-endpoints", "http://127.0.0.1:1", "--json"].map(String::from));
    let out = sidekick(&args, &env, DEADLINE).expect("check finishes");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = &report["would_write"];
    let port = web.host_port(80).to_string();
    for (k, v) in [
        ("unit", "monweb@01.service"),
        ("host", "core01"),
        ("public_ipv4_addr", "127.0.0.1"),
        ("private_ipv4_addr", "10.0.0.7"),
        ("port", port.as_str()),
    ] {
        assert_eq!(w[format!("/services/web/web01/{k}")], v, "{k}: {report:#}");
    }
}

/// The mondb line against a TCP listener published on the "private IP": the probe goes there and
/// the record is the 2014 key, one JSON text holding the private IP.
#[test]
fn mondb_line_would_write_the_2014_db_key() {
    let db = Container::run(ContainerOpts::web().tcp_only(3306));
    let (mut args, env) = sidekick_command("mondb.service", "203.0.113.7", "127.0.0.1");
    args[0] = "check".into();
    set_flag(&mut args, "--container", db.name());
    args.extend(["--etcd-endpoints", "http://127.0.0.1:1", "--json"].map(String::from));
    // Retried: the listener in the fresh container may take a moment to accept.
    let mut last = None;
    let ok = testkit::wait::poll_until(DEADLINE, || {
        let out = sidekick(&args, &env, DEADLINE).expect("check finishes");
        let done = out.status.code() == Some(0);
        last = Some(out);
        done
    });
    let out = last.expect("ran at least once");
    assert!(ok, "mondb check never registrable: {}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["would_write"],
        serde_json::json!({ "/services/db/db_private_ip": r#"{"value": "127.0.0.1"}"# }),
        "{report:#}"
    );
}

/// The mondb unit's ExecStart exactly as written (specifiers and the environment files
/// substituted, the etcd endpoint pointed at a test etcd, the container at a test container):
/// the agent writes `/services/db/db_private_ip` = `{"value": "<COREOS_PRIVATE_IPV4>"}`, the
/// JSON text the 2014 web app's db_host.php decodes, bound to its lease; SIGTERM removes it.
#[test]
fn mondb_unit_writes_the_2014_db_key_under_its_lease() {
    const KEY: &str = "/services/db/db_private_ip";
    let etcd = testkit::etcd::Etcd::start();
    let db = Container::run(ContainerOpts::web().tcp_only(3306));
    let (mut args, env) = sidekick_command("mondb.service", "203.0.113.7", "127.0.0.1");
    assert_eq!(args[0], "run");
    set_flag(&mut args, "--container", db.name());
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k != "SIDEKICK_ETCD_ENDPOINTS")
        .collect();
    env.push(("SIDEKICK_ETCD_ENDPOINTS".into(), etcd.endpoint_arg()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut agent = testkit::agent::AgentProcess::spawn(&argv, &env);
    let access = etcd.access();
    let mut last = Default::default();
    let written = testkit::wait::poll_until(DEADLINE, || {
        last = access.get_prefix_blocking("/services/db/");
        !last.is_empty()
    });
    assert!(
        written,
        "{}",
        agent.context(&format!("no key under /services/db/: {last:?}"))
    );
    let (value, lease) = last
        .get(KEY)
        .cloned()
        .unwrap_or_else(|| panic!("{}", agent.context(&format!("{KEY} missing: {last:?}"))));
    assert_eq!(last.len(), 1, "exactly one key: {last:?}");
    assert_eq!(value, r#"{"value": "127.0.0.1"}"#);
    // What db_host.php does with it: decode, take .value.
    let decoded: serde_json::Value = serde_json::from_str(&value).unwrap();
    assert_eq!(decoded["value"], "127.0.0.1");
    assert_ne!(lease, 0, "bound to the agent's lease");
    agent.sigterm();
    assert!(agent.wait_exit(DEADLINE).is_some_and(|s| s.success()));
    assert!(
        access.get_prefix_blocking("/services/db/").is_empty(),
        "the lease revoke removes the key"
    );
}

/// The sidekick-host unit's ExecStart as written (specifiers and environment files substituted,
/// etcd pointed at a test etcd, and, because tests share this Docker Engine, narrowed to this
/// test's containers with `--require-label`): a labelled container is registered with the
/// host's name from `%H` and the public IP from /etc/environment; an unlabelled one is not;
/// SIGTERM removes the keys.
#[test]
fn the_host_unit_registers_labelled_containers() {
    let etcd = testkit::etcd::Etcd::start();
    let case = unique_name("unit-host");
    let labelled = Container::run(
        ContainerOpts::web()
            .label("sidekick-test.case", &case)
            .label("sidekick.key", "/services/web/web01")
            .label("sidekick.health.digest", PASS_SHA1),
    );
    let _plain = Container::run(ContainerOpts::web().label("sidekick-test.case", &case));
    let (mut args, env) = sidekick_command("sidekick-host.service", "127.0.0.1", "10.0.0.7");
    assert_eq!(args[0], "host");
    any_metrics_port(&mut args);
    args.extend([
        "--require-label".into(),
        format!("sidekick-test.case={case}"),
    ]);
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k != "SIDEKICK_ETCD_ENDPOINTS")
        .collect();
    env.push(("SIDEKICK_ETCD_ENDPOINTS".into(), etcd.endpoint_arg()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut agent = testkit::agent::AgentProcess::spawn(&argv, &env);
    let access = etcd.access();
    let mut last = Default::default();
    let written = testkit::wait::poll_until(DEADLINE, || {
        last = access.get_prefix_blocking("/services/");
        last.len() == 5
    });
    assert!(written, "{}", agent.context(&format!("keys: {last:?}")));
    let value = |k: &str| last[&format!("/services/web/web01/{k}")].0.clone();
    assert_eq!(value("host"), "core01");
    assert_eq!(value("public_ipv4_addr"), "127.0.0.1");
    assert_eq!(value("private_ipv4_addr"), "10.0.0.7");
    assert_eq!(value("unit"), labelled.name());
    assert_eq!(value("port"), labelled.host_port(80).to_string());
    agent.sigterm();
    assert!(agent.wait_exit(DEADLINE).is_some_and(|s| s.success()));
    assert!(
        access.get_prefix_blocking("/").is_empty(),
        "SIGTERM removes every key"
    );
}

/// The lbsync lines with `--dry-run`, etcd and the identity service unreachable on loopback and
/// the upstream file in a temp dir: whatever lbsync does then, it is not a usage error.
#[test]
fn lbsync_lines_are_valid_sidekick_flags() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir
        .path()
        .join("upstream.conf")
        .to_string_lossy()
        .into_owned();
    let creds_dir = dir.path().to_string_lossy().into_owned();
    let key = dir.path().join("api-key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    let runs: Vec<_> = ["lbsync.service", "lbsync-nginx.service"]
        .into_iter()
        .map(|file| {
            let creds_dir = creds_dir.clone();
            let (mut args, mut env) = sidekick_command(file, "203.0.113.7", "10.0.0.7");
            assert_eq!(args[0], "lbsync", "{file}");
            any_metrics_port(&mut args);
            if args.iter().any(|a| a == "--upstream-file") {
                set_flag(&mut args, "--upstream-file", &upstream);
            }
            // LoadCredential= files, as systemd would copy them into the credentials directory.
            let creds = credentials_dir(&instance_name(file));
            for a in args.iter_mut() {
                *a = a.replace(&creds, &creds_dir);
            }
            args.extend(["--dry-run", "--etcd-endpoints", "http://127.0.0.1:1"].map(String::from));
            // Rackspace-only flags are refused with --backend nginx (issue 22).
            if args
                .windows(2)
                .any(|w| w[0] == "--backend" && w[1] == "rackspace")
            {
                args.extend(["--identity-url", "http://127.0.0.1:1/v2.0"].map(String::from));
            }
            env.push(("SIDEKICK_CHECK_CMD".into(), "true".into()));
            env.push(("SIDEKICK_RELOAD_CMD".into(), "true".into()));
            std::thread::spawn(move || (file, sidekick(&args, &env, Duration::from_secs(8))))
        })
        .collect();
    for run in runs {
        let (file, out) = run.join().unwrap();
        // Still running at the deadline (waiting for etcd) is fine: the flags were accepted.
        if let Some(out) = out {
            assert_ne!(
                out.status.code(),
                Some(2),
                "{file}: usage error: {}",
                show(&out)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("unexpected argument"), "{file}: {stderr}");
        }
    }
}

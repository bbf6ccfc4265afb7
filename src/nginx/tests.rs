//! The backend's decisions with shell stand-ins for nginx (the real nginx is in tests/nginx.rs).

use super::*;

fn set(addrs: &[&str]) -> BTreeSet<SocketAddr> {
    addrs.iter().map(|a| a.parse().unwrap()).collect()
}

fn cfg(dir: &Path, check: &str, reload: &str) -> NginxConfig {
    NginxConfig {
        check_cmd: check.to_string(),
        reload_cmd: reload.to_string(),
        command_timeout: Duration::from_secs(5),
        ..NginxConfig::new(dir.join("upstream.conf"), "app")
    }
}

/// The upstream file for `servers`, in a buffer of its own.
fn render(name: &str, servers: &BTreeSet<SocketAddr>) -> String {
    let mut out = String::new();
    render_into(&mut out, name, servers);
    out
}

#[test]
fn new_rejects_bad_input_naming_the_flag() {
    let d = tempfile::tempdir().unwrap();
    let err = |c: NginxConfig| NginxUpstream::new(c).unwrap_err().to_string();

    let mut c = cfg(d.path(), "true", "true");
    c.upstream_name = "my app;".into();
    assert!(err(c.clone()).contains("--upstream-name \"my app;\""));
    c.upstream_name = String::new();
    assert!(err(c).contains("--upstream-name \"\": must not be empty"));

    let mut c = cfg(d.path(), "true", "true");
    c.upstream_file = d.path().join("missing-dir/upstream.conf");
    let e = err(c);
    assert!(
        e.contains("--upstream-file") && e.contains("missing-dir"),
        "{e}"
    );
    let mut c = cfg(d.path(), "true", "true");
    c.upstream_file = d.path().to_path_buf();
    assert!(err(c).contains("is a directory"));

    assert_eq!(
        err(cfg(d.path(), " ", "true")),
        "--check-cmd must not be empty"
    );
    assert_eq!(
        err(cfg(d.path(), "true", "")),
        "--reload-cmd must not be empty"
    );
    let mut c = cfg(d.path(), "true", "true");
    c.command_timeout = Duration::ZERO;
    assert!(NginxUpstream::new(c).unwrap_err().is_config());
}

#[tokio::test]
async fn writes_once_then_unchanged_and_reports_the_diff() {
    let d = tempfile::tempdir().unwrap();
    let mut b = NginxUpstream::new(cfg(d.path(), "true", "true")).unwrap();
    // 10.0.0.9 stays throughout, as a static node does.
    let r = b
        .apply(&set(&["10.0.0.1:80", "10.0.0.9:80"]))
        .await
        .unwrap();
    assert_eq!(
        r,
        Applied::Reloaded {
            added: vec![
                "10.0.0.1:80".parse().unwrap(),
                "10.0.0.9:80".parse().unwrap()
            ],
            removed: vec![]
        }
    );
    assert_eq!(b.current().unwrap(), set(&["10.0.0.1:80", "10.0.0.9:80"]));
    assert!(matches!(b.loaded, Loaded::Current(_)));
    let again = b
        .apply(&set(&["10.0.0.1:80", "10.0.0.9:80"]))
        .await
        .unwrap();
    assert_eq!(again, Applied::Unchanged);
    let r = b
        .apply(&set(&["10.0.0.2:80", "10.0.0.9:80"]))
        .await
        .unwrap();
    assert_eq!(
        r,
        Applied::Reloaded {
            added: vec!["10.0.0.2:80".parse().unwrap()],
            removed: vec!["10.0.0.1:80".parse().unwrap()]
        }
    );
}

#[tokio::test]
async fn first_apply_after_start_reloads_an_unchanged_file_once() {
    let d = tempfile::tempdir().unwrap();
    let s = set(&["10.0.0.1:80"]);
    std::fs::write(d.path().join("upstream.conf"), render("app", &s)).unwrap();
    let mut b = NginxUpstream::new(cfg(d.path(), "true", "true")).unwrap();
    assert!(
        !matches!(b.loaded, Loaded::Current(_)),
        "a reload is pending"
    );
    let r = b.apply(&s).await.unwrap();
    assert_eq!(
        r,
        Applied::Reloaded {
            added: vec![],
            removed: vec![]
        }
    );
    assert_eq!(b.apply(&s).await.unwrap(), Applied::Unchanged);
}

#[tokio::test]
async fn failed_check_puts_the_old_bytes_back_or_removes_a_new_file() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("upstream.conf");
    let mut b = NginxUpstream::new(cfg(d.path(), "echo rejected >&2; exit 1", "true")).unwrap();
    let e = b.apply(&set(&["10.0.0.1:80"])).await.unwrap_err();
    assert_eq!(e.metric_label(), "check_failed");
    assert!(e.to_string().contains("rejected"), "{e}");
    assert!(
        !path.exists(),
        "a file that did not exist before is removed again"
    );

    std::fs::write(&path, b"# hand-written\n").unwrap();
    let e = b.apply(&set(&["10.0.0.1:80"])).await.unwrap_err();
    assert!(
        matches!(
            e,
            NginxError::CheckFailed {
                failure: Failure::Exit(1),
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"# hand-written\n");
    assert!(b
        .current()
        .unwrap_err()
        .to_string()
        .contains("no `upstream app {` block"));
}

#[tokio::test]
async fn check_timeout_and_missing_binary_restore_too() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("upstream.conf");
    std::fs::write(&path, b"before").unwrap();
    let mut c = cfg(d.path(), "sleep 30", "true");
    c.command_timeout = Duration::from_millis(200);
    let e = NginxUpstream::new(c)
        .unwrap()
        .apply(&set(&["10.0.0.1:80"]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("did not finish within 200ms"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"before");

    let c = cfg(d.path(), "nginx-not-installed-here -t", "true");
    let e = NginxUpstream::new(c)
        .unwrap()
        .apply(&set(&["10.0.0.1:80"]))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("`nginx-not-installed-here -t` could not run: command not found"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"before");
}

#[tokio::test]
async fn failed_reload_keeps_the_new_file_and_retries_with_the_pending_diff() {
    let d = tempfile::tempdir().unwrap();
    let flag = d.path().join("reload-ok");
    let reload = format!(
        "test -e {} || {{ echo no master >&2; exit 1; }}",
        flag.display()
    );
    let mut b = NginxUpstream::new(cfg(d.path(), "true", &reload)).unwrap();
    let s = set(&["10.0.0.1:80"]);
    let e = b.apply(&s).await.unwrap_err();
    assert_eq!(e.metric_label(), "reload_failed");
    assert!(e.to_string().contains("stays in place") && e.to_string().contains("no master"));
    assert_eq!(b.current().unwrap(), s);
    assert!(
        !matches!(b.loaded, Loaded::Current(_)),
        "a reload is pending"
    );

    std::fs::write(&flag, b"").unwrap();
    let r = b.apply(&s).await.unwrap();
    assert_eq!(
        r,
        Applied::Reloaded {
            added: vec!["10.0.0.1:80".parse().unwrap()],
            removed: vec![]
        }
    );
    assert_eq!(b.apply(&s).await.unwrap(), Applied::Unchanged);
}

#[tokio::test]
async fn an_apply_dropped_midway_is_finished_by_the_next_one() {
    let d = tempfile::tempdir().unwrap();
    let s = set(&["10.0.0.1:80"]);
    let mut b = NginxUpstream::new(cfg(d.path(), "true", "true")).unwrap();
    b.apply(&BTreeSet::new()).await.unwrap();

    // lbsync shutting down while the check runs: the new file is on disk, nginx never reloaded.
    b.cfg.check_cmd = "sleep 30".to_string();
    let dropped = tokio::time::timeout(Duration::from_millis(300), b.apply(&s));
    assert!(dropped.await.is_err());
    assert!(
        !matches!(b.loaded, Loaded::Current(_)),
        "a reload is pending"
    );

    b.cfg.check_cmd = "true".to_string();
    let r = b.apply(&s).await.unwrap();
    assert_eq!(
        r,
        Applied::Reloaded {
            added: vec!["10.0.0.1:80".parse().unwrap()],
            removed: vec![]
        }
    );
}

#[test]
fn render_into_writes_what_display_writes() {
    let servers: BTreeSet<SocketAddr> = [
        "0.0.0.0:0",
        "10.1.2.3:8080",
        "255.255.255.255:65535",
        "192.168.100.9:80",
        "[2001:db8::1]:443",
        "[::ffff:10.0.0.1]:9",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let mut want = String::from(
        "# Generated by sidekick lbsync (upstream app). Do not edit: changes are overwritten.\nupstream app {\n",
    );
    for s in &servers {
        want.push_str(&format!("    server {s};\n"));
    }
    want.push_str("}\n");
    let mut buf = String::from("left over from an earlier render");
    render_into(&mut buf, "app", &servers);
    assert_eq!(buf, want);
    assert_eq!(render("app", &servers), want);
    render_into(&mut buf, "app", &BTreeSet::new());
    assert!(
        buf.contains(&format!("    server {PLACEHOLDER};\n")),
        "{buf}"
    );
}

#[tokio::test]
async fn a_hand_edit_of_an_unchanged_set_is_still_overwritten() {
    let d = tempfile::tempdir().unwrap();
    let mut b = NginxUpstream::new(cfg(d.path(), "true", "true")).unwrap();
    let want = set(&["10.0.0.1:80", "10.0.0.2:80"]);
    b.apply(&want).await.unwrap();
    assert_eq!(b.apply(&want).await.unwrap(), Applied::Unchanged);
    let file = d.path().join("upstream.conf");
    std::fs::write(&file, render("app", &set(&["10.0.0.1:80"]))).unwrap();
    let r = b.apply(&want).await.unwrap();
    assert!(matches!(r, Applied::Reloaded { .. }), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        render("app", &want)
    );
    assert_eq!(b.apply(&want).await.unwrap(), Applied::Unchanged);
}

use std::time::{Duration, Instant};

use super::*;

fn err(flag: &'static str, path: &Path) -> String {
    read_secret_file(flag, path).unwrap_err().to_string()
}

#[test]
fn one_line_with_or_without_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    for (text, want) in [
        ("abc123\n", "abc123"),
        ("abc123", "abc123"),
        ("pa ss\r\n", "pa ss"),
    ] {
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_secret_file("--api-key-file", &path).unwrap(), want);
    }
}

#[test]
fn errors_name_flag_and_path_never_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    let shown = path.display().to_string();
    for (text, why) in [
        ("\n", "is empty"),
        ("", "is empty"),
        ("line-one-secret\nline-two\n", "more than one line"),
        ("line-one-secret\rx", "more than one line"),
    ] {
        std::fs::write(&path, text).unwrap();
        let e = err("--password-file", &path);
        assert!(e.contains(why) && e.contains("--password-file"), "{e}");
        assert!(e.contains(&shown) && !e.contains("line-one"), "{e}");
    }
    std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
    assert!(err("--password-file", &path).contains("not UTF-8"));
    let e = err("--api-key-file", &dir.path().join("nope"));
    assert!(e.contains("nope") && e.contains("--api-key-file"), "{e}");
}

#[test]
fn refuses_devices_fifos_directories_and_huge_files_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let huge = dir.path().join("huge");
    File::create(&huge)
        .unwrap()
        .set_len(2 * 1024 * 1024 * 1024)
        .unwrap();
    let started = Instant::now();
    for (path, why) in [
        (Path::new("/dev/zero"), "character device"),
        (fifo.as_path(), "FIFO"),
        (dir.path(), "directory"),
        (huge.as_path(), "at most 65536"),
    ] {
        let e = err("--api-key-file", path);
        assert!(e.contains(why), "{e}");
        assert!(e.contains(&path.display().to_string()), "{e}");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_limit_holds_for_larger_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pem");
    std::fs::write(&path, vec![b'a'; 100]).unwrap();
    assert_eq!(
        read_limited("--etcd-cacert", &path, 100).unwrap().len(),
        100
    );
    let e = read_limited("--etcd-cacert", &path, 99).unwrap_err();
    assert!(e.to_string().contains("100 bytes"), "{e}");
}

#[test]
fn mode_bits() {
    assert!(!readable_by_others(0o600));
    assert!(!readable_by_others(0o400));
    assert!(readable_by_others(0o640));
    assert!(readable_by_others(0o604));
    assert!(readable_by_others(0o644));
}

#[test]
fn a_missing_env_file_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lbsync.env");
    let e = require_env_file(&path).unwrap_err().to_string();
    assert!(
        e.contains(&path.display().to_string()) && e.contains("--require-env-file"),
        "{e}"
    );
    assert!(!e.contains('\n'), "one line: {e}");
    let e = require_env_file(dir.path()).unwrap_err().to_string();
    assert!(e.contains("is a directory"), "{e}");
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    require_env_file(&path).expect("only its existence is checked, not who can read it");
}

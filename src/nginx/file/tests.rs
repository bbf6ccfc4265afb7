use super::*;

#[test]
fn write_keeps_mode_replaces_at_symlink_target_and_restore_undoes() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real.conf");
    let link = d.path().join("link.conf");
    fs::write(&real, b"old").unwrap();
    fs::set_permissions(&real, Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();

    write_atomic(&link, b"new").unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&real).unwrap(), b"new");
    assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o640);

    restore(&link, Some(b"old")).unwrap();
    assert_eq!(read(&link).unwrap().as_deref(), Some(&b"old"[..]));
    restore(&link, None).unwrap();
    assert_eq!(read(&real).unwrap(), None);
    // Nothing but the link is left behind: no temp files.
    let names: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn a_new_file_gets_0644() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("u.conf");
    write_atomic(&p, b"x").unwrap();
    assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o644);
}

use super::*;

#[test]
fn a_server_behind_us_or_another_cluster_means_re_list() {
    // Watching from 61 (saw 60): a fresh etcd at revision 1 is behind.
    assert!(!follows(1, 7, 61, 7));
    assert!(follows(60, 7, 61, 7));
    assert!(follows(75, 7, 61, 7));
    assert!(!follows(60, 8, 61, 7));
}

#[test]
fn the_range_end_covers_the_prefix() {
    assert_eq!(range_end(b"/a/"), b"/a0".to_vec());
    assert_eq!(range_end(b"a\xff"), b"b".to_vec());
}

#[test]
fn a_compaction_is_said_as_such_not_as_an_etcd_behind_us() {
    // What etcd answers a watch that starts below the compacted revision (issue 22): canceled,
    // compact_revision set, and a header whose revision is 0, which `follows` alone would
    // read as "etcd is behind".
    assert_eq!(
        cancel_reason(true, 1234, ""),
        Some("history compacted up to revision 1234".to_string())
    );
    assert!(!follows(0, 7, 61, 7));
    assert_eq!(cancel_reason(false, 0, ""), None);
    assert_eq!(
        cancel_reason(true, 0, ""),
        Some("canceled by etcd without a reason".to_string())
    );
    assert_eq!(
        cancel_reason(true, 0, "permission denied"),
        Some("permission denied".to_string())
    );
}

use super::*;

#[test]
fn a_server_behind_us_or_another_cluster_means_re_list() {
    // Watching from 61 (saw 60): a fresh etcd at revision 1 is behind.
    assert_eq!(continuity(1, 7, 61, 7), Continuity::Lost);
    assert_eq!(continuity(60, 7, 61, 7), Continuity::Follows);
    assert_eq!(continuity(75, 7, 61, 7), Continuity::Follows);
    assert_eq!(continuity(60, 8, 61, 7), Continuity::Lost);
}

#[test]
fn the_range_end_covers_the_prefix() {
    assert_eq!(range_end(b"/a/"), b"/a0".to_vec());
    assert_eq!(range_end(b"a\xff"), b"b".to_vec());
}

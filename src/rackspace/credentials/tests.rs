//! Unit tests of `credentials`.

use super::*;

#[test]
fn debug_redacts_secret() {
    let c = Credentials::api_key("alice", "s3cr3t-key");
    let d = format!("{c:?}");
    assert!(!d.contains("s3cr3t"), "{d}");
    assert!(d.contains("alice") && d.contains("<redacted>"), "{d}");
    let p = format!("{:?}", Secret::Password("hunter2".into()));
    assert_eq!(p, "Password(<redacted>)");
}

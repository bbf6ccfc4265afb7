//! Unit tests of `clb`.

use super::*;

fn lb(id: u64, name: &str, status: LbStatus) -> LoadBalancerSummary {
    LoadBalancerSummary {
        id,
        name: name.into(),
        status,
    }
}

#[test]
fn pick_by_name() {
    let all = [
        lb(1, "web", LbStatus::Active),
        lb(2, "db", LbStatus::Active),
        lb(3, "web", LbStatus::Deleted),
    ];
    assert_eq!(pick_lb("web", None, &all), Ok(1));
    assert_eq!(
        pick_lb("api", None, &all),
        Err(Error::NoSuchLb { name: "api".into() })
    );
}

#[test]
fn ambiguous_names_need_an_id() {
    let all = [
        lb(4, "web", LbStatus::Active),
        lb(9, "web", LbStatus::Build),
    ];
    let e = pick_lb("web", None, &all).unwrap_err();
    assert_eq!(
        e,
        Error::AmbiguousLb {
            name: "web".into(),
            ids: vec![4, 9]
        }
    );
    assert!(e.to_string().contains("--lb-id"), "{e}");
    assert_eq!(pick_lb("web", Some(9), &all), Ok(9));
    let e = pick_lb("web", Some(5), &all).unwrap_err();
    assert!(e.to_string().contains("4,9"), "{e}");
    let e = pick_lb("api", Some(5), &all).unwrap_err();
    assert!(
        e.to_string().contains("no load balancer has that name"),
        "{e}"
    );
}

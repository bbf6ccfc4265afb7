use super::*;

#[test]
fn tenant_is_the_second_segment() {
    assert_eq!(tenant_of("/v1.0/123456/loadbalancers"), "123456");
    assert_eq!(tenant_of("/v1.0"), "");
}

//! The registry view itself: it lists the prefix, follows the watch across a compaction, and
//! publishes each revision it reaches; the desired set is read from the shared registry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sidekick::lbsync::node_plan::AddressRules;
use sidekick::lbsync::registry::Registry;
use sidekick::lbsync::view;
use testkit::etcd::Etcd;

#[test]
fn the_view_lists_then_follows_changes_across_a_compaction() {
    let etcd = Etcd::start();
    let access = etcd.access();
    for i in 0..20 {
        access.put_blocking(&format!("/services/web/i{i}/public_ipv4_addr"), "10.0.0.1");
        access.put_blocking(
            &format!("/services/web/i{i}/port"),
            &format!("{}", 1000 + i),
        );
    }
    let ok = testkit::rt::block_on(async move {
        let mut c = access.client().await;
        let pool = sidekick::etcd::Pool::connect(&sidekick::etcd::EtcdConfig {
            endpoints: access.endpoints.clone(),
            tls: None,
            auth: None,
        })
        .await
        .unwrap();
        let (tx, mut rx) = tokio::sync::watch::channel(None);
        let registry = Arc::new(Mutex::new(Registry::new(
            "/services/web/",
            &["public_ipv4_addr"],
            AddressRules::default(),
        )));
        let task = tokio::spawn(view::run(
            pool,
            registry.clone(),
            "/services/web/".into(),
            tx,
        ));
        let count = || view::desired(&registry, 0).addrs.len();
        let listed = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|d| d.is_some()))
            .await
            .is_ok();
        let listed = listed && count() == 20;
        let rev = c.get("/", None).await.unwrap().header().unwrap().revision();
        c.compact(rev, None).await.unwrap();
        c.put("/services/web/new/public_ipv4_addr", "10.0.0.2", None)
            .await
            .unwrap();
        c.put("/services/web/new/port", "2000", None).await.unwrap();
        let followed = tokio::time::timeout(Duration::from_secs(5), async {
            while count() != 21 {
                rx.changed().await.unwrap();
            }
        })
        .await
        .is_ok();
        drop(rx);
        task.abort();
        listed && followed
    });
    assert!(
        ok,
        "listed 20, then the new instance seen after the compaction"
    );
}

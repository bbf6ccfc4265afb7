//! The registry view itself: it lists the prefix, follows the watch across a compaction, and
//! publishes each revision it reaches; the desired set is read from the shared registry. A
//! leader that needs the view at a revision gets it through a progress request, without waiting
//! for a change under the prefix.

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
        let (seen, _) = tokio::sync::watch::channel(0);
        let (_wanted, wanted) = tokio::sync::watch::channel(0);
        let task = tokio::spawn(view::run(
            pool,
            registry.clone(),
            "/services/web/".into(),
            tx,
            view::CatchUp { seen, wanted },
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

#[test]
fn a_revision_a_leader_needs_is_confirmed_without_a_change_under_the_prefix() {
    let etcd = Etcd::start();
    let access = etcd.access();
    access.put_blocking("/services/web/i0/public_ipv4_addr", "10.0.0.1");
    access.put_blocking("/services/web/i0/port", "1000");
    let (listed_at, caught_up, need) = testkit::rt::block_on(async move {
        let mut c = access.client().await;
        let pool = sidekick::etcd::Pool::connect(&sidekick::etcd::EtcdConfig {
            endpoints: access.endpoints.clone(),
            tls: None,
            auth: None,
        })
        .await
        .unwrap();
        let (tx, _rx) = tokio::sync::watch::channel(None);
        let (seen_tx, mut seen) = tokio::sync::watch::channel(0);
        let (wanted_tx, wanted) = tokio::sync::watch::channel(0);
        let registry = Arc::new(Mutex::new(Registry::new(
            "/services/web/",
            &["public_ipv4_addr"],
            AddressRules::default(),
        )));
        let task = tokio::spawn(view::run(
            pool,
            registry,
            "/services/web/".into(),
            tx,
            view::CatchUp {
                seen: seen_tx,
                wanted,
            },
        ));
        let listed_at = *tokio::time::timeout(Duration::from_secs(5), seen.wait_for(|&s| s > 0))
            .await
            .expect("the listing reports its revision")
            .unwrap();
        // Writes elsewhere move etcd's revision; the prefix watch sees no event for them.
        for i in 0..3 {
            c.put(format!("/elsewhere/{i}"), "x", None).await.unwrap();
        }
        let need = c
            .get("/elsewhere/0", None)
            .await
            .unwrap()
            .header()
            .unwrap()
            .revision();
        wanted_tx.send_replace(need);
        // Far less than the view's own 10 s progress period: the request goes out at once.
        let _ = tokio::time::timeout(Duration::from_secs(3), seen.wait_for(|&s| s >= need)).await;
        let caught_up = *seen.borrow();
        task.abort();
        (listed_at, caught_up, need)
    });
    assert!(
        listed_at < need,
        "the listing ({listed_at}) precedes the writes elsewhere ({need})"
    );
    assert!(
        caught_up >= need,
        "the view confirmed revision {caught_up}, the leader needed {need}"
    );
}

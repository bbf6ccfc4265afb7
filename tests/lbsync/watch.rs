//! The prefix watch itself: a watch from a compacted revision re-lists and keeps watching.

use std::time::Duration;

use testkit::etcd::Etcd;

#[test]
fn a_watch_from_a_compacted_revision_relists_and_keeps_watching() {
    let etcd = Etcd::start();
    let access = etcd.access();
    for i in 0..20 {
        access.put_blocking(&format!("/services/web/i{i}/port"), "1");
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
        let rev = c.get("/", None).await.unwrap().header().unwrap().revision();
        c.compact(rev, None).await.unwrap();
        let (tx, mut rx) = tokio::sync::watch::channel(tokio::time::Instant::now());
        // Start watching from revision 2, long compacted away.
        let task = tokio::spawn(sidekick::lbsync::watch::watch_prefix(
            pool,
            "/services/web/".into(),
            2,
            tx,
        ));
        let relisted = tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .is_ok();
        // After the re-list the watch follows new changes.
        let seen = *rx.borrow_and_update();
        c.put("/services/web/new/port", "2", None).await.unwrap();
        let followed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                rx.changed().await.unwrap();
                if *rx.borrow() != seen {
                    break;
                }
            }
        })
        .await
        .is_ok();
        drop(rx);
        task.abort();
        relisted && followed
    });
    assert!(ok, "compaction: re-list signalled and the new put seen");
}

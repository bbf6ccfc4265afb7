//! The registry view itself: it lists the prefix, follows the watch across a compaction, and
//! publishes each revision it reaches; the desired set is read from the shared registry. A
//! leader that needs the view at a revision gets it through a progress request, without waiting
//! for a change under the prefix.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sidekick::lbsync::instances::InstanceMap;
use sidekick::lbsync::registry_view::{self, View};
use sidekick::registry::node::AddressRules;
use testkit::etcd::Etcd;

/// The registry view of `/services/web/` on `access`, as lbsync runs it: the driver's ends (the
/// registry it fills, the revisions it publishes, the two ends of its catch-up channel: the
/// revisions it has applied; the revision a leader wants) and its task.
async fn start_view(access: &testkit::etcd::EtcdAccess) -> (View, tokio::task::JoinHandle<()>) {
    let pool = sidekick::etcd::Pool::connect(&sidekick::etcd::EtcdConfig {
        endpoints: access.endpoints.clone(),
        tls: None,
        auth: None,
    })
    .await
    .unwrap();
    let registry = InstanceMap::new(
        "/services/web/",
        &["public_ipv4_addr"],
        AddressRules::default(),
    );
    registry_view::spawn(pool, registry, "/services/web/".into())
}

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
        let (
            View {
                registry,
                changed: mut rx,
                ..
            },
            task,
        ) = start_view(&access).await;
        let count = || registry.lock().unwrap().desired().len();
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
        // The view runs while someone holds its receiver.
        let (
            View {
                changed: _rx,
                mut seen,
                wanted: wanted_tx,
                ..
            },
            task,
        ) = start_view(&access).await;
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

/// A TCP relay to etcd that can be cut (every connection closed, new ones refused) and healed.
struct Relay {
    port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(target: &str) -> Relay {
        let target: std::net::SocketAddr = target
            .trim_start_matches("http://")
            .parse()
            .expect("etcd endpoint is ip:port");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (c, k) = (cut.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if c.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                let mut list = k.lock().unwrap();
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                list.extend([client, server]);
            }
        });
        Relay { port, cut, conns }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn after_a_compaction_lbsync_says_history_compacted() {
    // Issue 22: the watch re-opened below the compacted revision was reported as "etcd is behind
    // what lbsync saw (rebuilt on an empty data dir) etcd_revision=0".
    let etcd = Etcd::start();
    let access = etcd.access();
    access.put_blocking("/services/web/a/public_ipv4_addr", "10.0.0.1");
    access.put_blocking("/services/web/a/port", "80");
    let relay = Relay::start(&etcd.endpoints()[0]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upstream.conf");
    let etcd_args = vec!["--etcd-endpoints".to_string(), relay.endpoint()];
    let args = testkit::agent::lbsync_nginx_args(&file, &etcd_args, &["--election-ttl", "5s"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let lbsync = testkit::agent::AgentProcess::spawn(&argv, &[]);
    lbsync.wait_for_log("nginx upstream updated", Duration::from_secs(15));

    relay.cut();
    for i in 0..5 {
        access.put_blocking("/services/web/a/port", &format!("{}", 81 + i));
    }
    let compactor = access.clone();
    testkit::rt::block_on(async move {
        let mut c = compactor.client().await;
        let rev = c.get("/", None).await.unwrap().header().unwrap().revision();
        c.compact(rev, None).await.unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    relay.heal();

    lbsync.wait_for_log("history compacted", Duration::from_secs(15));
    let logs = lbsync.logs();
    assert!(!logs.contains("etcd is behind"), "{logs}");
}

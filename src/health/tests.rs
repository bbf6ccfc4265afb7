use super::*;

const PASS_BODY: &[u8] = b"\n\nPASS";
const PASS_SHA1: &str = "19d549807218f4fc3f2129757445f977e4b81408";
const FAIL_SHA1: &str = "dbe72348d4e3aa87958f421e4a9592a82839f3d8";

#[test]
fn digest_accepts_40_hex_in_either_case() {
    assert_eq!(Digest::parse(PASS_SHA1).unwrap().as_str(), PASS_SHA1);
    let upper = PASS_SHA1.to_ascii_uppercase();
    assert_eq!(Digest::parse(&upper).unwrap().as_str(), PASS_SHA1);
}

#[test]
fn digest_rejects_wrong_length_and_non_hex_naming_the_value() {
    for bad in [
        "",
        "abc",
        &PASS_SHA1[..39],
        &format!("{PASS_SHA1}0"),
        &PASS_SHA1.replace('1', "g"),
    ] {
        let e = Digest::parse(bad).unwrap_err();
        assert!(e.contains("40 hex"), "{e}");
        assert!(e.contains(&format!("{bad:?}")), "{e}");
    }
}

#[test]
fn the_seed_bodies_hash_as_documented() {
    assert_eq!(sha1_hex(PASS_BODY), PASS_SHA1);
    assert_eq!(sha1_hex(b"\n\nFAIL"), FAIL_SHA1);
}

#[test]
fn judge_requires_2xx_and_the_exact_body() {
    let t = Instant::now();
    let pass = Digest::parse(PASS_SHA1).unwrap();
    assert!(judge(200, PASS_BODY, Some(&pass), t).pass);
    assert!(judge(204, b"", None, t).pass);
    assert!(!judge(500, PASS_BODY, Some(&pass), t).pass);
    assert!(!judge(500, b"", None, t).pass);
    // Trimming is not done: "PASS" alone hashes differently from "\n\nPASS".
    let o = judge(200, b"PASS", Some(&pass), t);
    assert!(!o.pass);
    let err = o.error.unwrap();
    assert!(
        err.contains(&sha1_hex(b"PASS")) && err.contains(PASS_SHA1),
        "{err}"
    );
    // The 2014 pitfall: the documented digest was the FAIL page's.
    let fail = Digest::parse(FAIL_SHA1).unwrap();
    let o = judge(200, PASS_BODY, Some(&fail), t);
    assert_eq!(o.observed_sha1.as_deref(), Some(PASS_SHA1));
    assert_eq!(o.expected_sha1.as_deref(), Some(FAIL_SHA1));
}

#[test]
fn urls_bracket_ipv6_and_add_a_missing_slash() {
    let p = Probe::Http {
        addr: "[::1]:8080".parse().unwrap(),
        path: "health.php".into(),
        digest: None,
    };
    assert_eq!(p.url().unwrap(), "http://[::1]:8080/health.php");
}

async fn serve_once(response: &'static [u8], delay: Duration) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            tokio::time::sleep(delay).await;
            let _ = s.write_all(response).await;
            let _ = s.shutdown().await;
        }
    });
    addr
}

#[tokio::test]
async fn http_probe_reads_status_and_body_digest() {
    let addr = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n\n\nPASS",
        Duration::ZERO,
    )
    .await;
    let probe = Probe::Http {
        addr,
        path: "/health.php".into(),
        digest: Some(Digest::parse(PASS_SHA1).unwrap()),
    };
    let o = Prober::new(Duration::from_secs(2)).probe(&probe).await;
    assert!(o.pass, "{o:?}");
    assert_eq!(o.status, Some(200));
    assert_eq!(o.body_bytes, Some(6));
}

#[tokio::test]
async fn http_probe_fails_a_slow_answer_at_the_deadline() {
    let addr = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let probe = Probe::Http {
        addr,
        path: "/".into(),
        digest: None,
    };
    let o = Prober::new(Duration::from_millis(200)).probe(&probe).await;
    assert!(!o.pass);
    assert!(o.error.unwrap().contains("within 200ms"));
}

#[tokio::test]
async fn tcp_probe_passes_on_listen_and_fails_on_refused() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let prober = Prober::new(Duration::from_secs(1));
    assert!(prober.probe(&Probe::Tcp { addr }).await.pass);
    drop(l);
    let o = prober.probe(&Probe::Tcp { addr }).await;
    assert!(!o.pass && o.error.is_some(), "{o:?}");
}

#[tokio::test]
async fn http_probe_sends_an_origin_form_get_with_the_host_header() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let probe = Probe::Http {
        addr,
        path: "health.php?x=1".into(),
        digest: None,
    };
    let o = Prober::new(Duration::from_secs(2)).probe(&probe).await;
    assert!(o.pass, "{o:?}");
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /health.php?x=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains(&format!("host: {addr}\r\n")),
        "{request}"
    );
}

#[tokio::test]
async fn http_probe_fails_when_the_connection_closes_without_an_answer() {
    // What the userland proxy does while the container is not listening yet.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    });
    let probe = Probe::Http {
        addr,
        path: "/".into(),
        digest: None,
    };
    let o = Prober::new(Duration::from_secs(2)).probe(&probe).await;
    assert!(!o.pass);
    let e = o.error.unwrap();
    assert!(e.starts_with(&format!("GET http://{addr}/: ")), "{e}");
}

#[tokio::test]
async fn http_probe_of_a_closed_port_names_the_connect() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let probe = Probe::Http {
        addr,
        path: "/".into(),
        digest: None,
    };
    let o = Prober::new(Duration::from_secs(2)).probe(&probe).await;
    assert!(!o.pass);
    let e = o.error.unwrap();
    assert!(e.contains("connect") && e.contains("refused"), "{e}");
}

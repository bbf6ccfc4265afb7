//! The Rackspace client against an in-test fake of Identity + Cloud Load Balancers on 127.0.0.1:0:
//! auth and region selection, 401 handling, token refresh, error classification on the wire,
//! request shapes, and that secrets never leak into errors, Debug or logs.

mod fake;

mod auth;
mod calls;
mod emulator;
mod secrets;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fake::{Fake, Reply, API_KEY, PASSWORD, TENANT, TOKEN_MARK, USER};
use sidekick::rackspace::{
    Client, ClientConfig, Credentials, Error, LbStatus, NewNode, NodeCondition, NodeStatus,
};

fn config(fake: &Fake, region: &str, creds: Credentials) -> ClientConfig {
    logs(); // every test's log lines go through the leak check
    ClientConfig::new(fake.identity_url(), region, creds)
}

fn key_client(fake: &Fake) -> Client {
    Client::new(config(fake, "ORD", Credentials::api_key(USER, API_KEY))).unwrap()
}

/// Captures every `sidekick` log line (all levels) of every test in this binary once installed.
/// A global subscriber, because thread-local ones race on tracing's callsite interest cache.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn logs() -> &'static LogBuf {
    static LOGS: OnceLock<LogBuf> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("sidekick=trace"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [API_KEY, PASSWORD, TOKEN_MARK, "VERYSECRET"] {
        assert!(!text.contains(secret), "{what} leaks a secret: {text}");
    }
}

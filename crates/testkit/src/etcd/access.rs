//! How to reach an etcd (endpoints, optional TLS files, optional user/password) and turning that
//! into an `etcd_client::Client`. Test clients get short timeouts so a dead server fails a
//! request instead of hanging the test.

use super::super::rt;
use super::tls::TlsFiles;
use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Connection settings for one etcd (single member or cluster).
#[derive(Clone, Debug)]
pub struct EtcdAccess {
    pub endpoints: Vec<String>,
    pub tls: Option<TlsFiles>,
    pub auth: Option<(String, String)>,
}

impl EtcdAccess {
    /// Plain HTTP, no auth.
    pub fn plain(endpoints: &[String]) -> Self {
        EtcdAccess {
            endpoints: endpoints.to_vec(),
            tls: None,
            auth: None,
        }
    }

    /// The same settings restricted to the given endpoints.
    pub fn with_endpoints(&self, endpoints: &[String]) -> Self {
        EtcdAccess {
            endpoints: endpoints.to_vec(),
            ..self.clone()
        }
    }

    /// The same settings without user/password (TLS, if any, is kept).
    pub fn without_auth(&self) -> Self {
        EtcdAccess {
            auth: None,
            ..self.clone()
        }
    }

    /// Connect options: TLS and user as configured, 3 s connect timeout, 5 s per request.
    pub fn connect_options(&self) -> ConnectOptions {
        self.base_options()
            .with_timeout(Duration::from_secs(5))
            .with_connect_timeout(Duration::from_secs(3))
    }

    /// Options for long-lived streams (watches): no per-request timeout, but HTTP/2 keep-alive
    /// pings so a dead server is noticed within about two seconds.
    pub fn stream_options(&self) -> ConnectOptions {
        self.base_options()
            .with_connect_timeout(Duration::from_secs(3))
            .with_keep_alive(Duration::from_secs(1), Duration::from_secs(1))
    }

    fn base_options(&self) -> ConnectOptions {
        let mut opts = ConnectOptions::new();
        if let Some((user, password)) = &self.auth {
            opts = opts.with_user(user.clone(), password.clone());
        }
        if let Some(tls) = &self.tls {
            let read = |p: &std::path::Path| {
                std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            };
            opts = opts.with_tls(
                TlsOptions::new()
                    .ca_certificate(Certificate::from_pem(read(&tls.ca)))
                    .identity(Identity::from_pem(read(&tls.cert), read(&tls.key))),
            );
        }
        opts
    }

    /// Connects (for auth this already authenticates).
    pub async fn connect(&self) -> Result<Client, etcd_client::Error> {
        Client::connect(&self.endpoints, Some(self.connect_options())).await
    }

    /// Connects or panics naming the endpoints.
    pub async fn client(&self) -> Client {
        self.connect()
            .await
            .unwrap_or_else(|e| panic!("connect to etcd {:?}: {e}", self.endpoints))
    }

    /// `sidekick` flags for this etcd: `--etcd-endpoints` plus `--etcd-cacert/--etcd-cert/
    /// --etcd-key` with TLS and `--etcd-user/--etcd-password-file` with auth (the password is
    /// written to `password_file`, which the caller chooses, e.g. in its own temp dir).
    pub fn sidekick_args(&self, password_file: &Path) -> Vec<String> {
        let mut a = vec!["--etcd-endpoints".to_string(), self.endpoints.join(",")];
        if let Some(t) = &self.tls {
            for (flag, p) in [
                ("--etcd-cacert", &t.ca),
                ("--etcd-cert", &t.cert),
                ("--etcd-key", &t.key),
            ] {
                a.push(flag.to_string());
                a.push(p.to_string_lossy().into_owned());
            }
        }
        if let Some((user, password)) = &self.auth {
            std::fs::write(password_file, password).expect("write etcd password file");
            a.push("--etcd-user".to_string());
            a.push(user.clone());
            a.push("--etcd-password-file".to_string());
            a.push(password_file.to_string_lossy().into_owned());
        }
        a
    }

    /// Blocking [`super::get_prefix`] for sync tests (own thread and runtime).
    pub fn get_prefix_blocking(&self, prefix: &str) -> BTreeMap<String, (String, i64)> {
        let (me, prefix) = (self.clone(), prefix.to_string());
        rt::block_on(async move { super::get_prefix(&mut me.client().await, &prefix).await })
    }

    /// Like [`Self::get_prefix_blocking`] but an unreachable or leaderless etcd is an `Err`.
    pub fn try_get_prefix_blocking(
        &self,
        prefix: &str,
    ) -> Result<BTreeMap<String, (String, i64)>, String> {
        let (me, prefix) = (self.clone(), prefix.to_string());
        rt::block_on(async move {
            let mut c = me.connect().await.map_err(|e| e.to_string())?;
            super::kv::try_get_prefix(&mut c, &prefix)
                .await
                .map_err(|e| e.to_string())
        })
    }

    /// Blocking plain put for sync tests.
    pub fn put_blocking(&self, key: &str, value: &str) {
        let (me, key, value) = (self.clone(), key.to_string(), value.to_string());
        rt::block_on(async move { super::put(&mut me.client().await, &key, &value).await })
    }

    /// Blocking [`super::lease_ttl`] for sync tests.
    pub fn lease_ttl_blocking(&self, lease: i64) -> Option<i64> {
        let me = self.clone();
        rt::block_on(async move { super::lease_ttl(&mut me.client().await, lease).await })
    }
}

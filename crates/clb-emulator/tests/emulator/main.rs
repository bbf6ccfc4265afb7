//! The CLB emulator over real HTTP: in-process (`Emulator::spawn_local`) for behaviour, and through
//! the built `clb-emulator` binary for its start line, flags and signal handling. This file holds the
//! harness; the tests live in `tests/emulator/`.

mod binary;
mod faults;
mod identity;
mod load_balancers;
mod nodes;

use std::time::Duration;

use clb_emulator::{Config, Emulator, RunningEmulator};
use reqwest::Method;
use serde_json::{json, Value};

/// Upper bound for every wait and every HTTP call in these tests.
const DEADLINE: Duration = Duration::from_secs(5);

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

fn api_key(user: &str, key: &str) -> Value {
    json!({"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": user, "apiKey": key}}})
}

/// The CLB publicURL of `region` in an `access` document.
fn public_url(access: &Value, region: &str) -> String {
    let catalog = access["access"]["serviceCatalog"].as_array().unwrap();
    let clb = catalog
        .iter()
        .find(|s| s["type"] == "rax:load-balancer")
        .unwrap();
    let endpoints = clb["endpoints"].as_array().unwrap();
    let ep = endpoints.iter().find(|e| e["region"] == region).unwrap();
    ep["publicURL"].as_str().unwrap().to_string()
}

fn token_of(access: &Value) -> String {
    access["access"]["token"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn nodes_body(addrs: &[(&str, u16)]) -> Value {
    let nodes: Vec<Value> = addrs
        .iter()
        .map(|(a, p)| json!({"address": a, "port": p, "condition": "ENABLED"}))
        .collect();
    json!({ "nodes": nodes })
}

/// What a CLB call answered.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// A running emulator plus an authenticated CLB client for the demo account.
struct Harness {
    emu: Emulator,
    server: RunningEmulator,
    http: reqwest::Client,
    token: String,
    clb: String,
}

impl Harness {
    async fn start(config: Config) -> Harness {
        let emu = Emulator::new(config);
        let server = emu.spawn_local().await.unwrap();
        let http = http();
        let mut h = Harness {
            emu,
            server,
            http,
            token: String::new(),
            clb: String::new(),
        };
        let (status, access) = h.auth(api_key("demo", "demo-api-key")).await;
        assert_eq!(status, 200, "{access}");
        h.token = token_of(&access);
        h.clb = public_url(&access, "ORD");
        h
    }

    async fn auth(&self, body: Value) -> (u16, Value) {
        let url = format!("{}/tokens", self.server.identity_url());
        let resp = self.http.post(url).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.clb));
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        Answer {
            status: resp.status().as_u16(),
            retry_after,
            text: resp.text().await.unwrap(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let a = self.call_as(Some(&self.token), method, path, body).await;
        (a.status, a.json())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    async fn post_nodes(&self, lb: u64, addrs: &[(&str, u16)]) -> (u16, Value) {
        let path = format!("/loadbalancers/{lb}/nodes");
        self.call(Method::POST, &path, Some(nodes_body(addrs)))
            .await
    }

    async fn wait_for_status(&self, lb: u64, want: &str) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (_, body) = self.get(&format!("/loadbalancers/{lb}")).await;
            if body["loadBalancer"]["status"] == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "LB {lb} never became {want}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

//! [`ContainerOpts`]: what `docker run`/`docker create` should do, as a builder, and the pure
//! translation into CLI arguments. Defaults: the test web image, a unique `sk-test-<pid>-…`
//! name, `-p 127.0.0.1::80` (random loopback host port), busybox httpd on port 80.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Prefix of every container name the harness creates.
pub const NAME_PREFIX: &str = "sk-test-";
/// Label on every container the harness creates; its value is the creating process's pid.
pub const PID_LABEL: &str = "sidekick-test.pid";

/// A container name no other test (thread or process) uses: `sk-test-<pid>-<n>-<rand>-<tag>`.
/// Use it to pick a name before the container exists ("agent started first" tests).
pub fn unique_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let clean: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(30)
        .collect();
    let base = format!(
        "{NAME_PREFIX}{}-{}-{:04x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u16(..)
    );
    if clean.is_empty() {
        base
    } else {
        format!("{base}-{clean}")
    }
}

#[derive(Clone, Debug)]
pub struct ContainerOpts {
    pub name: Option<String>,
    /// None = the test web image.
    pub image: Option<String>,
    /// `-p` specs; default `["127.0.0.1::80"]`.
    pub publish: Vec<String>,
    pub command: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub health_cmd: Option<String>,
    pub health_interval: Option<Duration>,
    pub health_timeout: Option<Duration>,
    pub health_retries: Option<u32>,
    pub health_start_period: Option<Duration>,
    pub stop_timeout: Option<u32>,
    pub stop_signal: Option<String>,
    /// Web image only: the server ignores SIGTERM (`docker stop` waits out its timeout).
    pub ignore_sigterm: bool,
    /// Web image only: a bare TCP listener on this port instead of httpd.
    pub tcp_only: Option<u16>,
    /// Anything else for `docker run`, before the image.
    pub extra_args: Vec<String>,
}

impl Default for ContainerOpts {
    fn default() -> Self {
        ContainerOpts {
            name: None,
            image: None,
            publish: vec!["127.0.0.1::80".to_string()],
            command: None,
            env: Vec::new(),
            labels: Vec::new(),
            health_cmd: None,
            health_interval: None,
            health_timeout: None,
            health_retries: None,
            health_start_period: None,
            stop_timeout: None,
            stop_signal: None,
            ignore_sigterm: false,
            tcp_only: None,
            extra_args: Vec::new(),
        }
    }
}

fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

impl ContainerOpts {
    /// The web image with default settings.
    pub fn web() -> Self {
        Self::default()
    }
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
    pub fn image(mut self, image: &str) -> Self {
        self.image = Some(image.to_string());
        self
    }
    /// Replaces the default publish spec with this one (call repeatedly to add more).
    pub fn publish(mut self, spec: &str) -> Self {
        if self.publish == ["127.0.0.1::80"] {
            self.publish.clear();
        }
        self.publish.push(spec.to_string());
        self
    }
    /// Publish nothing.
    pub fn no_publish(mut self) -> Self {
        self.publish.clear();
        self
    }
    pub fn command(mut self, argv: &[&str]) -> Self {
        self.command = Some(argv.iter().map(|s| s.to_string()).collect());
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_string(), value.to_string()));
        self
    }
    /// `--health-cmd` (run by /bin/sh in the container).
    pub fn health_cmd(mut self, cmd: &str) -> Self {
        self.health_cmd = Some(cmd.to_string());
        self
    }
    /// A Docker HEALTHCHECK on the web server: healthy while GET /health.php contains PASS.
    pub fn web_healthcheck(self, interval: Duration) -> Self {
        self.health_cmd("wget -q -O - http://127.0.0.1/health.php | grep -q PASS")
            .health_interval(interval)
            .health_timeout(Duration::from_secs(2))
            .health_retries(1)
    }
    pub fn health_interval(mut self, d: Duration) -> Self {
        self.health_interval = Some(d);
        self
    }
    pub fn health_timeout(mut self, d: Duration) -> Self {
        self.health_timeout = Some(d);
        self
    }
    pub fn health_retries(mut self, n: u32) -> Self {
        self.health_retries = Some(n);
        self
    }
    pub fn health_start_period(mut self, d: Duration) -> Self {
        self.health_start_period = Some(d);
        self
    }
    pub fn stop_timeout(mut self, secs: u32) -> Self {
        self.stop_timeout = Some(secs);
        self
    }
    pub fn stop_signal(mut self, sig: &str) -> Self {
        self.stop_signal = Some(sig.to_string());
        self
    }
    pub fn ignore_sigterm(mut self) -> Self {
        self.ignore_sigterm = true;
        self
    }
    /// A bare TCP listener on `port` (accepts and closes; not HTTP), published on loopback.
    pub fn tcp_only(mut self, port: u16) -> Self {
        self.tcp_only = Some(port);
        if self.publish == ["127.0.0.1::80"] {
            self.publish = vec![format!("127.0.0.1::{port}")];
        }
        self
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.extra_args.push(a.to_string());
        self
    }
}

/// Arguments after `docker run -d` / `docker create` for container `name` from `image`.
pub fn run_args(o: &ContainerOpts, name: &str, image: &str) -> Vec<String> {
    let mut a: Vec<String> = vec!["--name".into(), name.into()];
    let mut push = |flag: &str, v: String| {
        a.push(flag.to_string());
        a.push(v);
    };
    push("--label", "sidekick-test=1".into());
    push("--label", format!("{PID_LABEL}={}", std::process::id()));
    for (k, v) in &o.labels {
        push("--label", format!("{k}={v}"));
    }
    for p in &o.publish {
        push("-p", p.clone());
    }
    for (k, v) in &o.env {
        push("-e", format!("{k}={v}"));
    }
    if o.ignore_sigterm {
        push("-e", "WEB_IGNORE_SIGTERM=1".into());
    }
    if let Some(port) = o.tcp_only {
        push("-e", "WEB_MODE=tcp".into());
        push("-e", format!("WEB_PORT={port}"));
    }
    if let Some(c) = &o.health_cmd {
        push("--health-cmd", c.clone());
    }
    if let Some(d) = o.health_interval {
        push("--health-interval", go_duration(d));
    }
    if let Some(d) = o.health_timeout {
        push("--health-timeout", go_duration(d));
    }
    if let Some(n) = o.health_retries {
        push("--health-retries", n.to_string());
    }
    if let Some(d) = o.health_start_period {
        push("--health-start-period", go_duration(d));
    }
    if let Some(s) = o.stop_timeout {
        push("--stop-timeout", s.to_string());
    }
    if let Some(s) = &o.stop_signal {
        push("--stop-signal", s.clone());
    }
    a.extend(o.extra_args.iter().cloned());
    a.push(image.to_string());
    if let Some(cmd) = &o.command {
        a.extend(cmd.iter().cloned());
    }
    a
}

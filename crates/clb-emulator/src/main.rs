//! `clb-emulator`: serves the in-memory Rackspace Identity v2.0 + Cloud Load Balancers v1.0 emulator
//! (`clb_emulator`) for demos and dry runs. Prints one line with its address on stdout, logs
//! each request to stderr, exits 0 on SIGINT/SIGTERM. The `/_emulator/` admin endpoints have no
//! authentication: keep the default loopback address.

use std::time::Duration;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, ValueEnum};
use clb_emulator::{Config, Emulator, Faults, User};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

const AFTER_HELP: &str = "\
Point clients at the identity URL printed on start (e.g. --identity-url http://127.0.0.1:8900/v2.0).
Default account: demo / api key demo-api-key / password demo-password, tenant 123456.
Library defaults differ: pending-update 0 and no rate limits (see clb_emulator::Config).
Admin endpoints without authentication (keep the listener on loopback): GET /_emulator/stats,
POST /_emulator/reset-stats, POST /_emulator/expire-tokens, GET /_emulator/loadbalancers (all),
POST /_emulator/loadbalancers {name},
GET /_emulator/loadbalancers/ID[/nodes], POST /_emulator/loadbalancers/ID/nodes-direct
{address,port}, PUT /_emulator/loadbalancers/ID/status {status}, GET|PUT /_emulator/faults.
Faults (--fault, comma-separated): no-limits-route (absolutelimits answers an HTML 404),
html-404 (every 404 is an HTML page), hyphenated-status (PENDING-UPDATE), control-service-first
(a second rax:load-balancer service listed first, answering 404), identity-401 (every token
request refused; --identity-401-after D turns it on D after start).";

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// In-memory emulator of Rackspace Identity v2.0 and Cloud Load Balancers v1.0.
#[derive(Parser, Debug)]
#[command(name = "clb-emulator", version, after_help = AFTER_HELP)]
struct Cli {
    /// Address to listen on; `:PORT` means 127.0.0.1:PORT, port 0 picks a free one.
    #[arg(long, env = "CLB_EMULATOR_LISTEN", default_value = "127.0.0.1:8900")]
    listen: String,
    /// How long a load balancer stays PENDING_UPDATE after each accepted change.
    #[arg(long, env = "CLB_EMULATOR_PENDING_UPDATE", default_value = "1s", value_parser = duration)]
    pending_update: Duration,
    /// Lifetime of issued tokens.
    #[arg(long, env = "CLB_EMULATOR_TOKEN_TTL", default_value = "24h", value_parser = duration)]
    token_ttl: Duration,
    /// Maximum nodes per load balancer (NODE_LIMIT).
    #[arg(long, env = "CLB_EMULATOR_NODE_LIMIT", default_value_t = 25)]
    node_limit: usize,
    /// Maximum ids in one bulk node delete (BATCH_DELETE_LIMIT).
    #[arg(long, env = "CLB_EMULATOR_BATCH_DELETE_LIMIT", default_value_t = 10)]
    batch_delete_limit: usize,
    /// Fraction (0-1) of load balancer API calls answered with an injected 500/503.
    #[arg(long, env = "CLB_EMULATOR_FAIL_RATE", default_value_t = 0.0, value_parser = fail_rate)]
    fail_rate: f64,
    /// Delay added before every request is handled.
    #[arg(long, env = "CLB_EMULATOR_LATENCY", default_value = "0ms", value_parser = duration)]
    latency: Duration,
    /// Do not enforce the Rackspace per-method rate limits.
    #[arg(long, env = "CLB_EMULATOR_NO_RATE_LIMIT", action = ArgAction::SetTrue,
          value_parser = BoolishValueParser::new())]
    no_rate_limit: bool,
    /// Account NAME:APIKEY[:PASSWORD] (repeatable); default demo:demo-api-key:demo-password.
    #[arg(long = "user", env = "CLB_EMULATOR_USER", value_delimiter = ',', value_parser = user_spec)]
    users: Vec<(String, String, Option<String>)>,
    /// Tenant (account) id of the users.
    #[arg(long, env = "CLB_EMULATOR_TENANT", default_value = "123456")]
    tenant: String,
    /// Default region in the service catalog.
    #[arg(long, env = "CLB_EMULATOR_REGION", default_value = "ORD")]
    region: String,
    /// Load balancer created at start, ACTIVE and empty (repeatable).
    #[arg(long = "lb", env = "CLB_EMULATOR_LB", value_delimiter = ',')]
    lbs: Vec<String>,
    /// Node list page size (and the most nodes a load balancer detail lists).
    #[arg(long, env = "CLB_EMULATOR_NODE_PAGE_SIZE", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    node_page_size: u32,
    /// Fault switches to turn on (repeatable or comma-separated; see below).
    #[arg(long = "fault", env = "CLB_EMULATOR_FAULT", value_delimiter = ',', value_parser = fault_name)]
    faults: Vec<String>,
    /// Identity starts answering 401 to every token request this long after start.
    #[arg(long, env = "CLB_EMULATOR_IDENTITY_401_AFTER", value_parser = duration)]
    identity_401_after: Option<Duration>,
    /// Seed for the fault-injection random generator.
    #[arg(long, env = "CLB_EMULATOR_SEED")]
    seed: Option<u64>,
    /// Log format on stderr.
    #[arg(
        long,
        env = "CLB_EMULATOR_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

/// `500ms`, `1s`, `2m` (humantime's grammar, as sidekick's own flags).
fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

fn fail_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("fail rate {s:?} must be a number from 0 to 1")),
    }
}

fn fault_name(s: &str) -> Result<String, String> {
    Faults::default().enable(s)?;
    Ok(s.trim().to_string())
}

fn user_spec(s: &str) -> Result<(String, String, Option<String>), String> {
    let mut parts = s.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(key), password) if !name.is_empty() && !key.is_empty() => Ok((
            name.to_string(),
            key.to_string(),
            password.filter(|p| !p.is_empty()).map(str::to_string),
        )),
        _ => Err("expected NAME:APIKEY[:PASSWORD]".to_string()),
    }
}

fn listen_addr(listen: &str) -> String {
    match listen.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => listen.to_string(),
    }
}

impl Cli {
    fn config(&self) -> Config {
        let users = if self.users.is_empty() {
            vec![User {
                tenant_id: self.tenant.clone(),
                ..User::demo()
            }]
        } else {
            self.users
                .iter()
                .map(|(name, key, pw)| User::new(name, key, pw.as_deref(), &self.tenant))
                .collect()
        };
        let mut faults = Faults::default();
        for name in &self.faults {
            // Names were checked by the parser.
            let _ = faults.enable(name);
        }
        Config {
            node_page_size: self.node_page_size as usize,
            faults,
            pending_update: self.pending_update,
            token_ttl: self.token_ttl,
            node_limit: self.node_limit,
            batch_delete_limit: self.batch_delete_limit,
            fail_rate: self.fail_rate,
            latency: self.latency,
            rate_limits: !self.no_rate_limit,
            users,
            region: self.region.clone(),
            load_balancers: self.lbs.clone(),
            seed: self.seed,
        }
    }
}

fn init_logging(format: LogFormat) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = match format {
        LogFormat::Text => fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(
            EnvFilter::builder()
                .with_default_directive(LevelFilter::INFO.into())
                .from_env_lossy(),
        )
        .with(layer)
        .init();
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; waiting for Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let addr = listen_addr(&cli.listen);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    println!("clb-emulator listening on http://{local} (identity: http://{local}/v2.0)");
    tracing::info!(
        address = %local,
        region = %cli.region,
        pending_update = %humantime::format_duration(cli.pending_update),
        rate_limits = !cli.no_rate_limit,
        fail_rate = cli.fail_rate,
        "clb-emulator started"
    );
    let emulator = Emulator::new(cli.config());
    for lb in emulator.load_balancers() {
        tracing::info!(name = %lb.name, id = lb.id, tenant = %lb.tenant_id, "load balancer ready");
    }
    if let Some(after) = cli.identity_401_after {
        let emu = emulator.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let mut faults = emu.faults();
            faults.identity_401 = true;
            emu.set_faults(faults);
            tracing::info!("fault on: identity answers 401 from now on");
        });
    }
    emulator
        .serve(listener, shutdown_signal())
        .await
        .context("serving")
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("clb-emulator: {e:#}");
        std::process::exit(1);
    }
}

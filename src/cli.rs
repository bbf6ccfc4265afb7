//! The command line: clap definitions for every mode (the only module that defines them; `docgen`
//! renders them as man pages and completions). Every
//! flag also reads `SIDEKICK_<FLAG>`; single values are parsed here, everything that needs the
//! environment or several flags is validated in `config`. `limits` holds the bounds, defaults and
//! `--help` ranges of the duration flags; `config` re-checks labels against the same bounds.

pub mod limits;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::health::{Digest, HealthMode, DEFAULT_HEALTH_PATH};
use crate::registry::codec::AddressFamily;
use crate::registry::KeyFormat;

#[derive(Debug, Parser)]
#[command(
    name = "sidekick",
    // The version and the commit it was built from (build.rs), e.g. `0.1.0 (git 76588f7a1b2c)`.
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SIDEKICK_BUILD_COMMIT"), ")"),
    about = "Service discovery for containers: etcd registration under a lease, and load-balancer sync"
)]
pub struct Cli {
    /// Log output format.
    #[arg(long, global = true, env = "SIDEKICK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Refuse to start (exit 2, naming FILE) unless FILE exists: the environment file the unit
    /// reads with `EnvironmentFile=-FILE` (systemd's own error for a missing one names no file).
    #[arg(
        long,
        global = true,
        env = "SIDEKICK_REQUIRE_ENV_FILE",
        value_name = "FILE"
    )]
    pub require_env_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Follow one container, health-check it and keep its keys in etcd under a lease while healthy.
    Run(RunArgs),
    /// One-shot report of what `run` would see and write, and why; never writes.
    Check(CheckArgs),
    /// Do what `run` does for every container on this host labelled `sidekick.key`, in one
    /// process.
    Host(HostArgs),
    /// Reconcile the instances registered under a prefix into a load balancer.
    Lbsync(Box<LbsyncArgs>),
    /// Write the man pages and the bash, zsh and fish completions into DIR (scripts/package).
    #[command(hide = true)]
    GenerateDocs {
        /// Output directory: man/*.1 and completions/ are created in it.
        dir: PathBuf,
    },
}

/// Flags shared by every mode that talks to etcd.
#[derive(Debug, Clone, Args)]
pub struct EtcdArgs {
    /// etcd endpoints, comma separated [default: $ETCDCTL_ENDPOINTS, else http://127.0.0.1:2379].
    #[arg(
        long,
        env = "SIDEKICK_ETCD_ENDPOINTS",
        value_delimiter = ',',
        value_name = "URL[,URL...]"
    )]
    pub etcd_endpoints: Vec<String>,
    /// CA certificate (PEM) to verify etcd's server certificate.
    #[arg(long, env = "SIDEKICK_ETCD_CACERT", value_name = "FILE")]
    pub etcd_cacert: Option<PathBuf>,
    /// Client certificate (PEM) for etcd client-cert auth.
    #[arg(long, env = "SIDEKICK_ETCD_CERT", value_name = "FILE")]
    pub etcd_cert: Option<PathBuf>,
    /// Client key (PEM) for etcd client-cert auth.
    #[arg(long, env = "SIDEKICK_ETCD_KEY", value_name = "FILE")]
    pub etcd_key: Option<PathBuf>,
    /// etcd user name (with --etcd-password-file).
    #[arg(long, env = "SIDEKICK_ETCD_USER", value_name = "NAME")]
    pub etcd_user: Option<String>,
    /// File holding the etcd password.
    #[arg(long, env = "SIDEKICK_ETCD_PASSWORD_FILE", value_name = "FILE")]
    pub etcd_password_file: Option<PathBuf>,
}

/// Flags `run`, `check` and `host` share: etcd, Docker, what this host announces, the lease, and
/// the health check (in `host`, the defaults a container's `sidekick.health.*` labels override).
#[derive(Debug, Clone, Args)]
pub struct HostLevelArgs {
    #[command(flatten)]
    pub etcd: EtcdArgs,

    /// Value of the `host` key (fleet passes %H) [default: the hostname].
    #[arg(long, env = "SIDEKICK_HOST", value_name = "NAME")]
    pub host: Option<String>,
    /// Value of public_ipv4_addr, or of public_ipv6_addr for an IPv6 address [default:
    /// $COREOS_PUBLIC_IPV4, else the binding's HostIp if specific, else the address of the
    /// default-route interface].
    #[arg(long, env = "SIDEKICK_PUBLIC_IP", value_name = "IP")]
    pub public_ip: Option<IpAddr>,
    /// Value of private_ipv4_addr, or of private_ipv6_addr for an IPv6 address [default:
    /// $COREOS_PRIVATE_IPV4, else the public IP of the same family].
    #[arg(long, env = "SIDEKICK_PRIVATE_IP", value_name = "IP")]
    pub private_ip: Option<IpAddr>,
    /// HTTP GET path probed on public-ip:host-port.
    #[arg(
        long,
        env = "SIDEKICK_HEALTH_PATH",
        value_name = "PATH",
        default_value = DEFAULT_HEALTH_PATH
    )]
    pub health_path: String,
    /// 40-hex SHA1 the whole body must hash to [default: none, any 2xx passes].
    #[arg(long, env = "SIDEKICK_HEALTH_DIGEST", value_name = "SHA1", value_parser = Digest::parse)]
    pub health_digest: Option<Digest>,
    /// How health is decided: http (GET; with --health-digest the body's SHA1 must match, else
    /// any 2xx passes), tcp (connect to the published port), docker (the container's own
    /// HEALTHCHECK status), none (register while the container runs).
    #[arg(long, env = "SIDEKICK_HEALTH_MODE", value_name = "MODE", default_value = "http",
          value_parser = PossibleValuesParser::new(HealthMode::NAMES).try_map(|s| s.parse::<HealthMode>()))]
    pub health_mode: HealthMode,
    #[arg(long, env = "SIDEKICK_HEALTH_INTERVAL", value_name = "D",
          value_parser = limits::HEALTH_INTERVAL.parser(), default_value = limits::HEALTH_INTERVAL.default,
          help = limits::HEALTH_INTERVAL.help("Probe period"))]
    pub health_interval: Duration,
    #[arg(long, env = "SIDEKICK_HEALTH_TIMEOUT", value_name = "D",
          value_parser = limits::HEALTH_TIMEOUT.parser(), default_value = limits::HEALTH_TIMEOUT.default,
          help = limits::HEALTH_TIMEOUT.help("Per-probe deadline (connect, request and body together)"))]
    pub health_timeout: Duration,
    /// Consecutive passes needed to become healthy.
    #[arg(long, env = "SIDEKICK_RISE", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rise: u32,
    /// Consecutive failures needed to become unhealthy.
    #[arg(long, env = "SIDEKICK_FALL", value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub fall: u32,
    #[arg(long, env = "SIDEKICK_TTL", value_name = "D",
          value_parser = limits::TTL.parser(), default_value = limits::TTL.default,
          help = limits::TTL.help("Lease TTL (whole seconds, rounded up); the keepalive runs about every TTL/3"))]
    pub ttl: Duration,
    /// Docker daemon socket [default: $DOCKER_HOST, else unix:///var/run/docker.sock].
    #[arg(long, env = "SIDEKICK_DOCKER_HOST", value_name = "URL")]
    pub docker_host: Option<String>,
}

/// `--metrics-addr`, for the modes that keep running (`run`, `host`, `lbsync`; not `check`).
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Serve GET /metrics (Prometheus text format) and GET /healthz on this address, e.g.
    /// 127.0.0.1:9464 [default: off].
    #[arg(long, env = "SIDEKICK_METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
}

/// Flags shared by `run` and `check`: the host-level ones and the container's own.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub shared: HostLevelArgs,

    /// The container to follow, by name or id (it may not exist yet).
    #[arg(long, env = "SIDEKICK_CONTAINER", value_name = "NAME_OR_ID")]
    pub container: String,
    /// The container port whose published binding is announced, e.g. 80/tcp (`check` without
    /// --key reads it from the container's labels).
    #[arg(long, env = "SIDEKICK_CONTAINER_PORT", value_name = "PORT/PROTO", value_parser = crate::docker::PortSpec::parse)]
    pub container_port: Option<crate::docker::PortSpec>,
    /// Where to write, e.g. /services/web/web01 (`check` without --key reads the container's
    /// sidekick.* labels, as `host` does).
    #[arg(long, env = "SIDEKICK_KEY", value_name = "PREFIX")]
    pub key: Option<String>,
    /// Value of the `unit` key (fleet passes %n) [default: the container name].
    #[arg(long, env = "SIDEKICK_UNIT", value_name = "NAME")]
    pub unit: Option<String>,
    /// Key layout: keys (one key per field under --key) or json (one key holding an object)
    /// [default: keys].
    #[arg(long, env = "SIDEKICK_FORMAT", value_name = "FORMAT",
          value_parser = PossibleValuesParser::new(KeyFormat::NAMES).try_map(|s| s.parse::<KeyFormat>()))]
    pub format: Option<KeyFormat>,
    /// Internal mode: announce the container's own address on this Docker network and the
    /// container port itself (no published port needed) [default: the published port on this
    /// host's address; a --net=host container: this host's address and the container port].
    #[arg(long, env = "SIDEKICK_NETWORK", value_name = "NAME")]
    pub network: Option<String>,
    /// Write one key, --key itself, holding this text with {unit}, {host}, {public_ipv4_addr},
    /// {private_ipv4_addr} and {port} replaced (JSON-string-escaped; other braces are literal),
    /// instead of the --format layout. The 2014 db key: --key /services/db/db_private_ip
    /// --value-template '{"value": "{private_ipv4_addr}"}'.
    #[arg(
        long,
        env = "SIDEKICK_VALUE_TEMPLATE",
        value_name = "TEMPLATE",
        conflicts_with = "format"
    )]
    pub value_template: Option<String>,
}

/// `run` needs the container's port and key on the command line; `check` may read them from the
/// container's labels instead.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("container_port", |a| a.required(true)), mut_arg("key", |a| a.required(true)))]
pub struct RunArgs {
    #[command(flatten)]
    pub agent: AgentArgs,
    #[arg(long, env = "SIDEKICK_RESYNC_INTERVAL", value_name = "D",
          value_parser = limits::RESYNC_INTERVAL.parser(), default_value = limits::RESYNC_INTERVAL.default,
          help = limits::RESYNC_INTERVAL.help("How often the keys in etcd are re-read and repaired if someone changed them"))]
    pub resync_interval: Duration,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Print the report as one JSON object.
    #[arg(long, env = "SIDEKICK_JSON")]
    pub json: bool,
}

/// `host`: the host-level flags of `run` (the health flags are the defaults the containers'
/// labels override) and which containers to manage.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    #[command(flatten)]
    pub shared: HostLevelArgs,
    #[arg(long, env = "SIDEKICK_RESYNC_INTERVAL", value_name = "D",
          value_parser = limits::RESYNC_INTERVAL.parser(), default_value = limits::RESYNC_INTERVAL.default,
          help = limits::RESYNC_INTERVAL.help("How often each container's keys in etcd are re-read and repaired if someone changed them"))]
    pub resync_interval: Duration,
    /// Manage only the labelled containers that also carry this label, LABEL or LABEL=VALUE
    /// (repeatable; all must match), e.g. to split one host's containers between two agents.
    #[arg(
        long,
        env = "SIDEKICK_REQUIRE_LABEL",
        value_name = "LABEL[=VALUE]",
        value_delimiter = ','
    )]
    pub require_label: Vec<String>,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `--backend`: which kind of load balancer lbsync reconciles into (the trait the two implement
/// is `lbsync::backend::Backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// A Rackspace Cloud Load Balancer (or the bundled clb-emulator).
    Rackspace,
    /// An nginx upstream file, checked and reloaded.
    Nginx,
}

#[derive(Debug, Clone, Args)]
pub struct LbsyncArgs {
    #[command(flatten)]
    pub etcd: EtcdArgs,

    /// Instances are PREFIX<name>/{public_ipv4_addr,port,...} or a JSON object at PREFIX<name>.
    #[arg(
        long,
        env = "SIDEKICK_PREFIX",
        value_name = "P",
        default_value = "/services/web/"
    )]
    pub prefix: String,
    /// Where to reconcile.
    #[arg(long, env = "SIDEKICK_BACKEND", value_enum)]
    pub backend: BackendKind,
    /// A node lbsync never touches (repeatable), e.g. the CLB placeholder 1.1.1.1:80.
    #[arg(
        long,
        env = "SIDEKICK_STATIC_NODE",
        value_name = "ADDR:PORT",
        value_delimiter = ','
    )]
    pub static_node: Vec<std::net::SocketAddr>,
    /// Allow reconciling to zero managed nodes when the prefix is empty.
    #[arg(long, env = "SIDEKICK_ALLOW_EMPTY")]
    pub allow_empty: bool,
    /// Re-check each instance with an HTTP GET of this path before adding it.
    #[arg(long, env = "SIDEKICK_HEALTH_PATH", value_name = "PATH")]
    pub health_path: Option<String>,
    /// With the re-check: the SHA1 the whole body must hash to.
    #[arg(long, env = "SIDEKICK_HEALTH_DIGEST", value_name = "SHA1", value_parser = Digest::parse)]
    pub health_digest: Option<Digest>,
    #[arg(long, env = "SIDEKICK_HEALTH_TIMEOUT", value_name = "D",
          value_parser = limits::HEALTH_TIMEOUT.parser(), default_value = limits::HEALTH_TIMEOUT.default,
          help = limits::HEALTH_TIMEOUT.help("Deadline of one re-check"))]
    pub health_timeout: Duration,
    #[arg(long, env = "SIDEKICK_RESYNC_INTERVAL", value_name = "D",
          value_parser = limits::RESYNC_INTERVAL.parser(), default_value = limits::RESYNC_INTERVAL.default,
          help = limits::RESYNC_INTERVAL.help("Full re-read of both sides as a safety net"))]
    pub resync_interval: Duration,
    /// Deprecated and ignored: lbsync acts at once on an idle backend and batches the changes
    /// that arrive while a change is in flight. Still parsed (and range-checked), with a warning.
    #[arg(long, env = "SIDEKICK_DEBOUNCE", value_name = "D", hide = true,
          value_parser = limits::DEBOUNCE.parser())]
    pub debounce: Option<Duration>,
    /// Without the flag, config uses the default (an Option, so `--backend nginx` can refuse it).
    #[arg(long, env = "SIDEKICK_DRAIN_PERIOD", value_name = "D",
          value_parser = limits::DRAIN_PERIOD.parser(),
          help = limits::DRAIN_PERIOD.help(&format!(
              "Rackspace: set a node DRAINING this long before deleting it (0s: delete at once) [default: {}]",
              limits::DRAIN_PERIOD.default)))]
    pub drain_period: Option<Duration>,
    /// Rackspace: accept loopback instance addresses (127.0.0.0/8, ::1), e.g. against a local
    /// emulator; a real load balancer cannot reach them.
    #[arg(long, env = "SIDEKICK_ALLOW_LOOPBACK")]
    pub allow_loopback: bool,
    /// Which address of an instance becomes its node: ipv4 (public_ipv4_addr), ipv6
    /// (public_ipv6_addr) or any (IPv4 when the instance has one, else IPv6).
    #[arg(long, env = "SIDEKICK_ADDRESS_FAMILY", value_name = "FAMILY", default_value = "ipv4",
          value_parser = PossibleValuesParser::new(AddressFamily::NAMES).try_map(|s| s.parse::<AddressFamily>()))]
    pub address_family: AddressFamily,
    /// etcd key for the leader election [default: /sidekick/lbsync/<backend>/<lb>].
    #[arg(long, env = "SIDEKICK_ELECTION_KEY", value_name = "K")]
    pub election_key: Option<String>,
    /// `--ttl` is the old name, kept as a hidden alias (in `run` it means the key lease). Without
    /// the flag, config falls back to `$SIDEKICK_TTL`, then to the default.
    #[arg(long, alias = "ttl", env = "SIDEKICK_ELECTION_TTL", value_name = "D",
          value_parser = limits::ELECTION_TTL.parser(),
          help = limits::ELECTION_TTL.help(&format!(
              "TTL of the leadership lease; a standby takes over within about this long [default: {}]",
              limits::ELECTION_TTL.default)))]
    pub election_ttl: Option<Duration>,
    /// Print the plan (adds, removes) without changing the load balancer.
    #[arg(long, env = "SIDEKICK_DRY_RUN")]
    pub dry_run: bool,

    /// Rackspace: load balancer name [env: LB_NAME].
    #[arg(long, env = "SIDEKICK_LB_NAME", value_name = "NAME")]
    pub lb_name: Option<String>,
    /// Rackspace: load balancer id, when names are ambiguous.
    #[arg(long, env = "SIDEKICK_LB_ID", value_name = "ID")]
    pub lb_id: Option<u64>,
    /// Rackspace: region, e.g. ORD [env: OS_REGION_NAME or OS_REGION].
    #[arg(long, env = "SIDEKICK_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Rackspace: user name [env: OS_USERNAME].
    #[arg(long, env = "SIDEKICK_USERNAME", value_name = "NAME")]
    pub username: Option<String>,
    /// Rackspace: file holding the API key [or env OS_API_KEY].
    #[arg(long, env = "SIDEKICK_API_KEY_FILE", value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Rackspace: file holding the password [or env OS_PASSWORD].
    #[arg(long, env = "SIDEKICK_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    #[arg(long, env = "SIDEKICK_IDENTITY_URL", value_name = "URL",
          help = format!("Rackspace: identity endpoint [env: OS_AUTH_URL; default {}]", crate::rackspace::DEFAULT_IDENTITY_URL))]
    pub identity_url: Option<String>,

    /// nginx: the file holding the rendered upstream block.
    #[arg(long, env = "SIDEKICK_UPSTREAM_FILE", value_name = "PATH")]
    pub upstream_file: Option<PathBuf>,
    /// nginx: the upstream's name.
    #[arg(long, env = "SIDEKICK_UPSTREAM_NAME", value_name = "NAME")]
    pub upstream_name: Option<String>,
    /// nginx: command validating the configuration.
    #[arg(
        long,
        env = "SIDEKICK_CHECK_CMD",
        value_name = "CMD",
        default_value = crate::nginx::DEFAULT_CHECK_CMD
    )]
    pub check_cmd: String,
    /// nginx: command reloading nginx.
    #[arg(
        long,
        env = "SIDEKICK_RELOAD_CMD",
        value_name = "CMD",
        default_value = crate::nginx::DEFAULT_RELOAD_CMD
    )]
    pub reload_cmd: String,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

//! Docker: connecting (flag, `DOCKER_HOST`, or the default socket), inspecting the followed
//! container into a [`ContainerView`], and following its events across daemon restarts
//! (`follow` for one container, `follow_all` for every labelled one). Pure interpretation of
//! Docker's answers lives in `view` and `labelled`; what differs on Podman in `engine`.

pub mod address;
pub mod engine;
pub mod follow;
pub mod follow_all;
mod labelled;
mod stream;
mod view;

pub use labelled::Labelled;
pub use view::{
    bindings, kill_means_stopping, network_name, parse_signal, Binding, BindingError,
    ContainerView, NetAddrs, PortSpec, Proto,
};

use std::time::Duration;

use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::InspectContainerOptions;
use bollard::{Docker, API_DEFAULT_VERSION};

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Deadline of one Docker request (the event stream itself has none).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("invalid docker host {host:?}: {reason}")]
    BadHost { host: String, reason: String },
    /// Not a `source`: the message already holds bollard's, and `{:#}` would print it twice.
    #[error("docker: {}", api_message(.0))]
    Api(bollard::errors::Error),
    #[error("docker: no answer within {0:?}")]
    Timeout(Duration),
    /// The unix socket does not exist (yet): Docker is not running, or not started yet.
    #[error("docker socket {0} does not exist (is Docker running?)")]
    NoSocket(String),
    /// Internal mode names a network Docker does not have: a configuration error.
    #[error("{what} {name:?}: no such Docker network (see `docker network ls`)")]
    NoSuchNetwork { what: &'static str, name: String },
}

impl From<bollard::errors::Error> for DockerError {
    fn from(e: bollard::errors::Error) -> DockerError {
        match e {
            bollard::errors::Error::SocketNotFoundError(path) => DockerError::NoSocket(path),
            e => DockerError::Api(e),
        }
    }
}

/// bollard's message and the causes it hides ("client error (Connect)" says nothing; the
/// io::Error below it says "Permission denied"), with a hint when the socket refused us.
fn api_message(e: &bollard::errors::Error) -> String {
    let mut msg = e.to_string();
    let mut denied = false;
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        denied |= c
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied);
        cause = c.source();
    }
    if denied {
        msg.push_str(
            " (this user may not use the Docker socket: add it to the socket's group, e.g. \
             SupplementaryGroups=docker in the unit or docker run --group-add \
             \"$(stat -c %g /var/run/docker.sock)\")",
        );
    }
    msg
}

/// Whether `host` is an address [`connect`] can use: `unix:///path`, `/path`, `tcp://host:port`
/// or `http://host:port`. Pure; `config` calls it so a bad address is a usage error.
pub fn check_host(host: &str) -> Result<(), &'static str> {
    socket_path(host).map(|_| ())
}

/// The unix socket's path of a valid `host`, `None` for a TCP address.
fn socket_path(host: &str) -> Result<Option<&str>, &'static str> {
    if let Some(path) = host.strip_prefix("unix://") {
        return match path {
            "" => Err("empty socket path"),
            path => Ok(Some(path)),
        };
    }
    if host.starts_with('/') {
        return Ok(Some(host));
    }
    for scheme in ["tcp://", "http://"] {
        if let Some(rest) = host.strip_prefix(scheme) {
            return if rest.is_empty() || rest.starts_with('/') {
                Err("no host after the scheme")
            } else {
                Ok(None)
            };
        }
    }
    Err("expected unix:///path/to/docker.sock or tcp://host:port")
}

/// Builds a client without contacting the daemon (it may not be up yet).
pub fn connect(host: &str) -> Result<Docker, DockerError> {
    let unix = socket_path(host).map_err(|reason| DockerError::BadHost {
        host: host.to_string(),
        reason: reason.to_string(),
    })?;
    let timeout = REQUEST_TIMEOUT.as_secs();
    Ok(match unix {
        Some(path) => Docker::connect_with_unix(path, timeout, API_DEFAULT_VERSION),
        None => Docker::connect_with_http(host, timeout, API_DEFAULT_VERSION),
    }?)
}

/// [`connect`], waiting while the daemon's unix socket does not exist yet (a boot where the agent
/// starts before Docker, or Docker restarting): retried with capped backoff, logged once a
/// minute at most, until the socket appears or `stop` resolves (`Ok(None)`). Any other error (a
/// malformed host) is returned at once.
pub async fn connect_waiting(
    host: &str,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<Docker>, DockerError> {
    crate::backoff::retry_until_stopped(
        "waiting for the docker socket",
        crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        stop,
        || std::future::ready(connect(host)),
        |e| !matches!(e, DockerError::NoSocket(_)),
    )
    .await
}

/// Inspects the container by name or id; `Ok(None)` when Docker has no such container.
pub async fn inspect(
    docker: &Docker,
    reference: &str,
    spec: PortSpec,
) -> Result<Option<ContainerView>, DockerError> {
    Ok(inspect_raw(docker, reference)
        .await?
        .map(|c| ContainerView::from_inspect(&c, spec)))
}

/// Fails with [`DockerError::NoSuchNetwork`] (naming `source`, the flag or label) only when
/// Docker answers that it has no network `name`; any other failure is left to the agent's own
/// retries and reports.
pub async fn require_network(
    docker: &Docker,
    source: &'static str,
    name: &str,
) -> Result<(), DockerError> {
    let call = docker.inspect_network(
        name,
        None::<bollard::query_parameters::InspectNetworkOptions>,
    );
    match found(request(call).await) {
        Ok(None) => Err(DockerError::NoSuchNetwork {
            what: source,
            name: name.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Docker's whole inspect answer; `Ok(None)` when Docker has no such container.
pub async fn inspect_raw(
    docker: &Docker,
    reference: &str,
) -> Result<Option<ContainerInspectResponse>, DockerError> {
    let call = docker.inspect_container(reference, None::<InspectContainerOptions>);
    found(request(call).await)
}

/// One Docker request under [`REQUEST_TIMEOUT`]: every call but the event stream goes through it.
async fn request<T>(
    call: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, DockerError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(DockerError::Timeout(REQUEST_TIMEOUT)),
    }
}

/// Docker's 404 (no such container or network) as `Ok(None)`.
fn found<T>(answer: Result<T, DockerError>) -> Result<Option<T>, DockerError> {
    match answer {
        Err(DockerError::Api(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })) => Ok(None),
        answer => answer.map(Some),
    }
}

//! Process signals: the future that resolves on SIGTERM or SIGINT, for every long-running mode.

use tracing::info;

/// Resolves on the first SIGTERM or SIGINT.
pub async fn terminate() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => info!(signal = "SIGTERM", "shutdown requested"),
        _ = tokio::signal::ctrl_c() => info!(signal = "SIGINT", "shutdown requested"),
    }
}

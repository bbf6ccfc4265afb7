//! Running async code from sync harness functions: each call gets a fresh current-thread runtime
//! on its own OS thread, so it works both from plain `#[test]`s and from inside `#[tokio::test]`s
//! (where a nested `block_on` would panic).

use std::future::Future;

/// Runs `fut` to completion on a new thread with its own runtime and returns its output.
/// A panic inside `fut` is re-raised in the caller.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a tokio runtime")
            .block_on(fut)
    });
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

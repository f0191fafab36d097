//! SIGTERM and SIGINT: a run in progress stops, rolls back and records itself failed.
//!
//! Installing the handlers replaces the default action (exit at once), so every wait of
//! a run, from the first request to the last statement, must race [`Shutdown`]: a stage
//! that does not would keep a stopped pod alive until Kubernetes kills it.

use std::future::Future;

use tokio::sync::watch;

/// The run stopped because the process was asked to (exit code 1: the run failed).
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}; nothing was applied")]
pub struct Interrupted(pub &'static str);

/// Says whether, and by which signal, the process was asked to stop.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<Option<&'static str>>);

impl Shutdown {
    /// Starts listening for SIGTERM and SIGINT.
    pub fn listen() -> Self {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let name = wait_for_signal().await;
            tracing::warn!(signal = name, "stopping: rolling back the run in progress");
            let _ = tx.send(Some(name));
        });
        Shutdown(rx)
    }

    /// One that never fires (for library callers and tests).
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(None);
        std::mem::forget(tx);
        Shutdown(rx)
    }

    /// Runs `work` unless a signal arrives first; then `work` is dropped (a database
    /// statement in flight is abandoned with its connection, which rolls it back).
    pub async fn interruptible<F: Future>(&mut self, work: F) -> Result<F::Output, Interrupted> {
        tokio::select! {
            biased;
            signal = self.signalled() => Err(Interrupted(signal)),
            output = work => Ok(output),
        }
    }

    /// Resolves with the signal's name once one arrives.
    pub async fn signalled(&mut self) -> &'static str {
        loop {
            if let Some(name) = *self.0.borrow_and_update() {
                return name;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

//! The interruption of a run (its first Ctrl-C or SIGTERM), seen by every scenario: setup stops,
//! probing keeps what it observed, and the probes not run yet are reported as skipped.
//!
//! Where the requests to stop come from is a [`StopRequests`]: the process's signals
//! ([`Signals`]) in production, a button a test presses in the runner's tests.

use futures::future::BoxFuture;
use tokio::sync::watch;

/// Where a run's requests to stop come from: the first interrupts the run, the next one aborts
/// what the run still waits for (its scenarios, then its cleanup).
pub(crate) trait StopRequests: Sync {
    /// Resolves on the next request, naming it (`Ctrl-C`, `SIGTERM`).
    fn next(&self) -> BoxFuture<'_, &'static str>;
}

/// Ctrl-C and SIGTERM.
pub(crate) struct Signals;

impl StopRequests for Signals {
    fn next(&self) -> BoxFuture<'_, &'static str> {
        Box::pin(shutdown_signal())
    }
}

/// Resolves on the first Ctrl-C or SIGTERM, naming it.
pub(crate) async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
                "SIGTERM"
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<&'static str>();
    tokio::select! {
        name = ctrl_c => name,
        name = term => name,
    }
}

/// Stop requests a test makes: each press is taken by one waiting (or the next) [`StopRequests::next`].
#[cfg(test)]
pub(crate) struct StopButton {
    presses: watch::Sender<u32>,
    taken: std::sync::atomic::AtomicU32,
}

#[cfg(test)]
impl StopButton {
    pub(crate) fn new() -> StopButton {
        StopButton {
            presses: watch::channel(0).0,
            taken: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Asks the run to stop, as a SIGTERM would.
    pub(crate) fn press(&self) {
        self.presses.send_modify(|presses| *presses += 1);
    }
}

#[cfg(test)]
impl StopRequests for StopButton {
    fn next(&self) -> BoxFuture<'_, &'static str> {
        use std::sync::atomic::Ordering;
        Box::pin(async move {
            let mut presses = self.presses.subscribe();
            loop {
                let pressed = *presses.borrow_and_update();
                let taken = self.taken.load(Ordering::SeqCst);
                if pressed > taken
                    && self
                        .taken
                        .compare_exchange(taken, taken + 1, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                {
                    return "SIGTERM";
                }
                if presses.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        })
    }
}

/// Whether, and by which signal, the run was interrupted.
#[derive(Clone, Debug)]
pub(crate) struct Interrupt(watch::Receiver<Option<&'static str>>);

/// Interrupts the run for everyone holding its [`Interrupt`].
pub(crate) struct Interrupter(watch::Sender<Option<&'static str>>);

impl Interrupt {
    pub(crate) fn new() -> (Interrupter, Interrupt) {
        let (sender, receiver) = watch::channel(None);
        (Interrupter(sender), Interrupt(receiver))
    }

    /// An interruption that never comes.
    #[cfg(test)]
    pub(crate) fn never() -> Interrupt {
        Interrupt::new().1
    }

    /// The signal that interrupted the run, if one did.
    pub(crate) fn signal(&self) -> Option<&'static str> {
        *self.0.borrow()
    }

    /// Resolves once the run is interrupted; never when it cannot be any more.
    pub(crate) async fn wait(&self) -> &'static str {
        let mut receiver = self.0.clone();
        if let Ok(signal) = receiver.wait_for(Option::is_some).await
            && let Some(signal) = *signal
        {
            return signal;
        }
        std::future::pending().await
    }
}

impl Interrupter {
    pub(crate) fn interrupt(&self, signal: &'static str) {
        // No receiver left: nothing runs any more that could stop.
        let _ = self.0.send(Some(signal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_interruption_reaches_every_holder() {
        let (interrupter, interrupt) = Interrupt::new();
        let other = interrupt.clone();
        assert_eq!(interrupt.signal(), None);
        interrupter.interrupt("SIGTERM");
        assert_eq!(other.wait().await, "SIGTERM");
        assert_eq!(interrupt.signal(), Some("SIGTERM"));
    }
}

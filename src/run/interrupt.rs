//! The interruption of a run (its first Ctrl-C or SIGTERM), seen by every scenario: setup stops,
//! probing keeps what it observed, and the probes not run yet are reported as skipped.

use tokio::sync::watch;

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

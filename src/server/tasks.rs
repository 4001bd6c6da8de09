//! Running handler calls: each in its own task (so an error or a panic is contained), and
//! counted (so a graceful shutdown can wait for them).

use std::future::Future;

use tokio::sync::watch;

use super::HandlerError;

/// Counts running handler calls and websocket sessions. Each holds a [`Guard`]; shutdown waits
/// until none is left.
#[derive(Debug)]
pub(crate) struct InFlight {
    sender: watch::Sender<()>,
}

/// Held while a handler call runs.
#[derive(Debug)]
pub(crate) struct Guard {
    _receiver: watch::Receiver<()>,
}

impl InFlight {
    pub(crate) fn new() -> Self {
        let (sender, _) = watch::channel(());
        Self { sender }
    }

    pub(crate) fn enter(&self) -> Guard {
        Guard {
            _receiver: self.sender.subscribe(),
        }
    }

    /// How many calls are running.
    pub(crate) fn count(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Resolves once no call is running.
    pub(crate) async fn drained(&self) {
        self.sender.closed().await;
    }
}

/// How a handler call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    Failed,
}

/// Runs `call` in its own task, holding `guard` until it ends. An error or a panic is logged
/// (the cause, never the payload) and reported as [`Outcome::Failed`].
pub(crate) async fn run_isolated<F>(event: &str, guard: Guard, call: F) -> Outcome
where
    F: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let task = tokio::spawn(async move {
        let _guard = guard;
        call.await
    });
    match task.await {
        Ok(Ok(())) => Outcome::Done,
        Ok(Err(error)) => {
            tracing::error!(
                target: "meshagent_webhooks::server",
                event,
                error = %error,
                "webhook handler failed"
            );
            Outcome::Failed
        }
        Err(join_error) => {
            // The panic message is not logged: it may quote the payload. The panic hook has
            // already reported it.
            let cause = if join_error.is_panic() {
                "panicked"
            } else {
                "was cancelled"
            };
            tracing::error!(
                target: "meshagent_webhooks::server",
                event,
                "webhook handler {cause}"
            );
            Outcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn errors_and_panics_are_contained() {
        let in_flight = InFlight::new();
        let ok = run_isolated("a", in_flight.enter(), async { Ok(()) }).await;
        let failed = run_isolated("a", in_flight.enter(), async { Err("no".into()) }).await;
        let panicked = run_isolated("a", in_flight.enter(), async { panic!("boom") }).await;
        assert_eq!(
            [ok, failed, panicked],
            [Outcome::Done, Outcome::Failed, Outcome::Failed]
        );
        assert_eq!(in_flight.count(), 0);
    }

    #[tokio::test]
    async fn drained_waits_for_every_guard() {
        let in_flight = InFlight::new();
        in_flight.drained().await;
        let guard = in_flight.enter();
        assert_eq!(in_flight.count(), 1);
        let waiting = tokio::time::timeout(Duration::from_millis(50), in_flight.drained()).await;
        assert!(waiting.is_err(), "drained while a guard was held");
        drop(guard);
        tokio::time::timeout(Duration::from_secs(1), in_flight.drained())
            .await
            .expect("drained after the last guard");
    }
}

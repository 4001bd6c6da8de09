//! Serving: binding, the shutdown signals, and the bounded graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::connections::serve_until;
use super::router::is_local;
use super::{ServerError, WebhookHandler, WebhookServer};

/// The tracing target of the server's own events.
pub(super) const TARGET: &str = "meshagent_webhooks::server";

impl<H: WebhookHandler> WebhookServer<H> {
    /// Binds the configured host and port and serves until SIGINT (Ctrl-C) or SIGTERM; then
    /// stops accepting connections, lets in-flight requests, handler calls and websocket
    /// sessions finish (for at most the
    /// [grace period](Self::with_shutdown_grace_period)), and returns.
    ///
    /// # Errors
    ///
    /// Before binding: [`ServerError::Config`] without a usable secret (the message names
    /// `MESHAGENT_WEBHOOK_SECRET`), [`ServerError::InvalidPort`], [`ServerError::InvalidPath`].
    /// Then [`ServerError::Bind`] when the address cannot be bound, and
    /// [`ServerError::UnsignedNotLocal`] when unsigned mode is on and the address is not a
    /// loopback address.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use meshagent_webhooks::{WebhookHandler, WebhookServer};
    ///
    /// struct Nothing;
    /// impl WebhookHandler for Nothing {}
    ///
    /// #[tokio::main]
    /// async fn main() {
    ///     if let Err(error) = WebhookServer::new(Nothing).run().await {
    ///         eprintln!("error: {error}");
    ///         std::process::exit(1);
    ///     }
    /// }
    /// ```
    pub async fn run(self) -> Result<(), ServerError> {
        self.check()?;
        let port = self
            .port
            .clone()
            .map_err(|value| ServerError::InvalidPort { value })?;
        let address = format!("{}:{port}", self.host);
        let listener = TcpListener::bind((self.host.as_str(), port))
            .await
            .map_err(|source| ServerError::Bind { address, source })?;
        self.serve_with_shutdown(listener, shutdown_signal()).await
    }

    /// Serves on a listener you bound, until SIGINT or SIGTERM, with the same graceful
    /// shutdown as [`run`](Self::run). The configured host and port are not used.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), without `InvalidPort` and `Bind`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use meshagent_webhooks::{WebhookHandler, WebhookServer};
    ///
    /// struct Nothing;
    /// impl WebhookHandler for Nothing {}
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// WebhookServer::new(Nothing).serve(listener).await?;
    /// # Ok(()) }
    /// ```
    pub async fn serve(self, listener: TcpListener) -> Result<(), ServerError> {
        self.serve_with_shutdown(listener, shutdown_signal()).await
    }

    /// Serves on `listener` until `signal` completes, then shuts down gracefully as
    /// [`run`](Self::run) does. Handy in tests: bind `127.0.0.1:0` and stop the server with a
    /// channel.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{WebhookHandler, WebhookServer};
    ///
    /// struct Nothing;
    /// impl WebhookHandler for Nothing {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let address = listener.local_addr()?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let server = tokio::spawn(
    ///     WebhookServer::new(Nothing)
    ///         .with_secret("whsec_example")
    ///         .serve_with_shutdown(listener, async move { let _ = stopped.await; }),
    /// );
    /// println!("listening on {address}");
    /// stop.send(()).unwrap();
    /// server.await??;
    /// # Ok(()) }
    /// ```
    pub async fn serve_with_shutdown<F>(
        self,
        listener: TcpListener,
        signal: F,
    ) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let address = listener.local_addr()?;
        let unsigned = self.unsigned;
        if unsigned && !is_local(&address) {
            return Err(ServerError::UnsignedNotLocal {
                address: Some(address),
            });
        }
        let grace_period = self.grace_period;
        let header_read_timeout = self.header_read_timeout;
        let path = self.path.clone();
        let prepared = self.prepare()?.with_health(path == "/");
        if unsigned {
            tracing::warn!(
                target: TARGET,
                "⚠️ signature verification is OFF: any request to http://{address}{path} is \
                 accepted as a MeshAgent event, whoever sent it. For local testing only"
            );
        }
        tracing::info!(target: TARGET, "listening on http://{address}{path}");

        let in_flight = prepared.in_flight;
        let shutting_down = Arc::new(Notify::new());
        let notify = shutting_down.clone();
        let signal = async move {
            signal.await;
            tracing::info!(
                target: TARGET,
                "shutting down: no new connections; waiting up to {grace_period:?} for \
                 in-flight requests"
            );
            notify.notify_one();
        };
        let finished = async {
            serve_until(listener, prepared.router, header_read_timeout, signal).await;
            in_flight.drained().await;
        };
        let deadline = async {
            shutting_down.notified().await;
            tokio::time::sleep(grace_period).await;
        };
        tokio::select! {
            () = finished => {}
            () = deadline => tracing::warn!(
                target: TARGET,
                "grace period over: stopped waiting for {} handler call(s) or websocket \
                 session(s) and any open request",
                in_flight.count()
            ),
        }
        tracing::info!(target: TARGET, "stopped");
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM. A signal that cannot be listened for is
/// logged and never fires.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(target: TARGET, %error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::error!(target: TARGET, %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

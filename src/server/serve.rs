//! Serving: binding, accepting under the connection cap, every connection bounded in time
//! whatever its client sends, and the bounded graceful shutdown.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::{Limits, ServerError, WebhookServer};
use super::connections::{ConnectionTable, OpenConnection, Tracked};
use super::handler::WebhookHandler;
use super::routes::{ConnectionPermit, Shared, TARGET, ok};

/// How long a connection closed for idling may take to finish closing (an HTTP/2 `GOAWAY`
/// to a peer that does not read) before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The most requests one HTTP/2 connection may have in flight (hyper's default is 200). With
/// the connection cap and the layer's minimum body rate, it bounds what streams whose bodies
/// never finish can hold.
const MAX_CONCURRENT_STREAMS: u32 = 64;

impl<H: WebhookHandler> WebhookServer<H> {
    /// Binds the configured host and port and serves until SIGINT (Ctrl-C) or SIGTERM; then
    /// stops accepting connections, lets in-flight requests, handler calls and websocket
    /// sessions finish (for at most the [grace period](Self::with_shutdown_grace_period)), and
    /// returns.
    ///
    /// # Errors
    ///
    /// Before binding: [`ServerError::Config`] without a usable secret (the message names
    /// `MESHAGENT_WEBHOOK_SECRET`), [`ServerError::InvalidPort`], [`ServerError::InvalidPath`].
    /// Then [`ServerError::Bind`] when the address cannot be bound.
    pub async fn run(self) -> Result<(), ServerError> {
        let (host, port) = (self.host.clone(), self.port.clone());
        let ready = self.ready()?;
        let port = port.map_err(|value| ServerError::InvalidPort { value })?;
        let address = format!("{host}:{port}");
        let listener =
            bind(&host, port).await.map_err(|source| ServerError::Bind { address, source })?;
        ready.serve(listener, shutdown_signal()).await
    }

    /// Serves on a listener you bound, until SIGINT or SIGTERM, with the same graceful
    /// shutdown as [`run`](Self::run). The configured host and port are not used. Give the
    /// listener an accept queue of 1,024 as `run` does (`TcpSocket::listen(1024)`):
    /// `TcpListener::bind`'s 128 overflows under a burst of connections, and the kernel then
    /// drops new ones, deliveries among them, before the server sees them.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), without `InvalidPort` and `Bind`.
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
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let server = tokio::spawn(
    ///     WebhookServer::new(Nothing)
    ///         .with_secret("whsec_example")
    ///         .serve_with_shutdown(listener, async move { let _ = stopped.await; }),
    /// );
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
        self.ready()?.serve(listener, signal).await
    }

    /// Checks the configuration (once, before anything is bound) and builds the routes.
    fn ready(self) -> Result<Ready<H>, ServerError> {
        let (grace_period, limits, path) = (self.grace_period, self.limits, self.path.clone());
        let (router, shared) = self.prepare()?;
        let router = if path == "/" { router } else { router.route("/", get(ok)) };
        Ok(Ready { router, shared, grace_period, limits, path })
    }
}

/// A server whose configuration has passed its checks, with its routes: ready to serve.
struct Ready<H> {
    router: Router,
    shared: Shared<H>,
    grace_period: Duration,
    limits: Limits,
    path: String,
}

impl<H: WebhookHandler> Ready<H> {
    async fn serve<F>(self, listener: TcpListener, signal: F) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Self { router, shared, grace_period, limits, path } = self;
        let address = listener.local_addr()?;
        tracing::info!(target: TARGET, "listening on http://{address}{path}");

        let (stop, abort) = (CancellationToken::new(), CancellationToken::new());
        let connections = TaskTracker::new();
        tokio::select! {
            () = accept(&listener, &router, limits, &connections, (&stop, &abort)) => {}
            () = signal => {}
        }
        drop(listener);
        tracing::info!(
            target: TARGET,
            "shutting down: no new connections; waiting up to {grace_period:?} for in-flight \
             requests"
        );
        stop.cancel();
        connections.close();
        shared.tasks.close();
        let finished = async {
            connections.wait().await;
            shared.tasks.wait().await;
        };
        if tokio::time::timeout(grace_period, finished).await.is_err() {
            tracing::warn!(
                target: TARGET,
                "grace period over: closed {} connection(s) and abandoned {} handler call(s) \
                 or websocket session(s)",
                connections.len(),
                shared.tasks.len()
            );
            abort.cancel();
        }
        tracing::info!(target: TARGET, "stopped");
        Ok(())
    }
}

/// How many connections the kernel may hold for the server to accept (`TcpListener::bind`
/// holds 128): a burst of connections waits there while idle ones give way.
const ACCEPT_QUEUE: u32 = 1024;

/// Binds `host` (an IP address or a name) and `port` like `TcpListener::bind`, with an
/// accept queue of [`ACCEPT_QUEUE`].
async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for address in tokio::net::lookup_host((host, port)).await? {
        let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        let listening = socket.set_reuseaddr(true).and_then(|()| socket.bind(address));
        match listening.and_then(|()| socket.listen(ACCEPT_QUEUE)) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the host resolves to no address")
    }))
}

/// Accepts connections for as long as it is polled, each under a place of the connection cap
/// (at the cap, the connection idle longest gives way), and serves each in a task of
/// `connections`.
async fn accept(
    listener: &TcpListener,
    router: &Router,
    limits: Limits,
    connections: &TaskTracker,
    (stop, abort): (&CancellationToken, &CancellationToken),
) {
    let table = ConnectionTable::new(limits.max_connections);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_size.max(8 * 1024));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(limits.idle_timeout)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(u32::try_from(limits.max_header_size).unwrap_or(u32::MAX));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(target: TARGET, %error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = table.make_room().await;
        let _ = stream.set_nodelay(true);
        let open = OpenConnection::new();
        let service = Tracked {
            router: router.clone(),
            connection: open.clone(),
            permit: ConnectionPermit(Arc::new(permit)),
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let (stop, abort) = (stop.clone(), abort.clone());
        let listing = (table.clone(), open);
        connections.spawn(serve_connection(connection, listing, limits, stop, abort));
    }
}

type Connection = hyper_util::server::conn::auto::UpgradeableConnection<
    'static,
    TokioIo<TcpStream>,
    TowerToHyperService<Tracked>,
    TokioExecutor,
>;

/// Serves one connection, and closes it when the first request head has not come within the
/// header read timeout, when no request has been in flight for the idle timeout, when it is
/// idle and asked to give way to a new connection at the cap, or when the server stops.
async fn serve_connection(
    connection: Connection,
    (table, open): (Arc<ConnectionTable>, Arc<OpenConnection>),
    limits: Limits,
    stop: CancellationToken,
    abort: CancellationToken,
) {
    let mut connection = pin!(connection);
    if let Poll::Ready(result) = poll_fn(|cx| Poll::Ready(connection.as_mut().poll(cx))).await {
        return log_end(result);
    }
    let listed = table.list(open.clone());
    let mut activity = open.activity.subscribe();
    // Before the first request the connection is idle too: whichever limit comes first.
    let mut patience = limits.header_read_timeout.min(limits.idle_timeout);
    let stopping = loop {
        let idle = activity.borrow_and_update().in_flight == 0;
        tokio::select! {
            biased;
            result = connection.as_mut() => return log_end(result),
            _ = activity.changed() => patience = limits.idle_timeout,
            // Requests start only while this task polls the connection: idle here is idle
            // when it is dropped, so no request in flight is ever cut.
            () = open.give_way.notified(), if idle => if open.may_give_way() {
                table.gave_way();
                return;
            },
            () = tokio::time::sleep(patience), if idle => break false,
            () = stop.cancelled() => break true,
        }
    };
    // Closing: no longer a connection that could give way.
    drop(listed);
    connection.as_mut().graceful_shutdown();
    let closing = if stopping { Duration::MAX } else { CLOSE_GRACE };
    tokio::select! {
        result = connection => log_end(result),
        () = tokio::time::sleep(closing) => {}
        () = abort.cancelled() => {}
    }
}

fn log_end(result: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(error) = result {
        tracing::debug!(target: TARGET, %error, "connection ended with an error");
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
            Ok(mut terminate) => terminate.recv().await.unwrap_or_default(),
            Err(error) => {
                tracing::error!(target: TARGET, %error, "cannot listen for SIGTERM");
                std::future::pending().await
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

//! [`WebhookServer`]: configuration, and the routes it serves.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_HOST, DEFAULT_PATH, DEFAULT_PORT,
    DEFAULT_SHUTDOWN_GRACE_PERIOD, PORT_ENV_VAR, WebhookHandler,
};
use crate::{MeshagentSignatureLayer, WebhookSecret};

/// A ready-made MeshAgent webhook server: verifies each request, then calls a
/// [`WebhookHandler`]. See the [module docs](crate::server) for the routes and answers.
///
/// Defaults, as in MeshAgent's Python `WebhookServer`: host `0.0.0.0`, port from
/// `MESHAGENT_PORT` else 8080, path `/webhook`, secret from `MESHAGENT_WEBHOOK_SECRET` (both
/// variables are read once, by [`new`](Self::new)). Each can be set in code.
///
/// # Example
///
/// ```no_run
/// use meshagent_webhooks::{HandlerError, RoomStarted, WebhookHandler, WebhookServer};
///
/// struct Rooms;
///
/// impl WebhookHandler for Rooms {
///     async fn on_room_started(&self, room: RoomStarted) -> Result<(), HandlerError> {
///         println!("room {} started", room.room_name);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), meshagent_webhooks::ServerError> {
/// // Serves until Ctrl-C or SIGTERM.
/// WebhookServer::new(Rooms).with_host("127.0.0.1").run().await
/// # }
/// ```
#[must_use]
pub struct WebhookServer<H> {
    pub(super) handler: Arc<H>,
    pub(super) host: String,
    /// `Err(value)` when `MESHAGENT_PORT` holds something that is not a port number.
    pub(super) port: Result<u16, String>,
    pub(super) path: String,
    pub(super) secret: Option<WebhookSecret>,
    pub(super) layer: Option<MeshagentSignatureLayer>,
    pub(super) grace_period: Duration,
    pub(super) header_read_timeout: Duration,
    pub(super) unsigned: bool,
}

impl<H: WebhookHandler> WebhookServer<H> {
    /// A server for `handler`, with the defaults; reads `MESHAGENT_WEBHOOK_SECRET` and
    /// `MESHAGENT_PORT` now. A missing secret or a bad port is reported when the server
    /// starts ([`run`](Self::run), [`serve`](Self::serve), [`into_router`](Self::into_router)).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{WebhookHandler, WebhookServer};
    ///
    /// struct Nothing;
    /// impl WebhookHandler for Nothing {}
    ///
    /// let server = WebhookServer::new(Nothing);
    /// assert_eq!(server.host(), "0.0.0.0");
    /// assert_eq!(server.path(), "/webhook");
    /// ```
    pub fn new(handler: H) -> Self {
        let port = match std::env::var(PORT_ENV_VAR) {
            Ok(value) => value.trim().parse().map_err(|_| value),
            Err(std::env::VarError::NotPresent) => Ok(DEFAULT_PORT),
            Err(std::env::VarError::NotUnicode(value)) => Err(value.to_string_lossy().into()),
        };
        Self {
            handler: Arc::new(handler),
            host: DEFAULT_HOST.to_owned(),
            port,
            path: DEFAULT_PATH.to_owned(),
            secret: WebhookSecret::from_env(),
            layer: None,
            grace_period: DEFAULT_SHUTDOWN_GRACE_PERIOD,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            unsigned: false,
        }
    }

    /// The address [`run`](Self::run) binds: an IP address or a host name (default `0.0.0.0`,
    /// every interface, like MeshAgent's server; use `127.0.0.1` to accept local requests only).
    ///
    /// # Example
    ///
    /// ```
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    /// let server = meshagent_webhooks::WebhookServer::new(Nothing).with_host("127.0.0.1");
    /// assert_eq!(server.host(), "127.0.0.1");
    /// ```
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The port [`run`](Self::run) binds (default `MESHAGENT_PORT`, else 8080; 0 picks a free
    /// one). Overrides a bad `MESHAGENT_PORT`.
    ///
    /// # Example
    ///
    /// ```
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    /// let server = meshagent_webhooks::WebhookServer::new(Nothing).with_port(9000);
    /// assert_eq!(server.port(), Some(9000));
    /// ```
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Ok(port);
        self
    }

    /// The webhook route (default `/webhook`). It must start with `/` and contain no `{` or
    /// `}`; a trailing slash is a different route. A query string is ignored.
    ///
    /// # Example
    ///
    /// ```
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    /// let server = meshagent_webhooks::WebhookServer::new(Nothing).with_path("/hooks/meshagent");
    /// assert_eq!(server.path(), "/hooks/meshagent");
    /// ```
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The webhook secret (default: `MESHAGENT_WEBHOOK_SECRET`). An empty secret is refused
    /// at start-up. Replaces a layer given with
    /// [`with_signature_layer`](Self::with_signature_layer).
    ///
    /// # Example
    ///
    /// ```
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    /// let server = meshagent_webhooks::WebhookServer::new(Nothing).with_secret("whsec_example");
    /// assert!(server.into_router().is_ok());
    /// ```
    pub fn with_secret(mut self, secret: impl Into<WebhookSecret>) -> Self {
        self.secret = Some(secret.into());
        self.layer = None;
        self
    }

    /// Verifies with a ready [`MeshagentSignatureLayer`] instead of a single secret: several
    /// secrets during a rotation, another body limit, clock leeway, custom rejection bodies.
    /// A layer without a usable secret is refused at start-up.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{MeshagentSignatureLayer, WebhookServer};
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    ///
    /// let layer = MeshagentSignatureLayer::from_secrets(["whsec_new", "whsec_old"])
    ///     .with_max_body_size(256 * 1024);
    /// let server = WebhookServer::new(Nothing).with_signature_layer(layer);
    /// assert!(server.into_router().is_ok());
    /// ```
    pub fn with_signature_layer(mut self, layer: MeshagentSignatureLayer) -> Self {
        self.layer = Some(layer);
        self
    }

    /// How long a shutdown waits for in-flight requests, handler calls and websocket sessions
    /// (default 10 s). Whatever still runs after it is abandoned and `run` returns.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    ///
    /// let server = meshagent_webhooks::WebhookServer::new(Nothing)
    ///     .with_shutdown_grace_period(Duration::from_secs(30));
    /// # let _ = server;
    /// ```
    pub fn with_shutdown_grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// How long a client may take to send a complete request head (default 30 s). After it the
    /// connection is closed, so a client that trickles its headers cannot hold a connection
    /// open for as long as it likes. Bodies are bounded by the body limit, not by this.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    ///
    /// let server = meshagent_webhooks::WebhookServer::new(Nothing)
    ///     .with_header_read_timeout(Duration::from_secs(5));
    /// # let _ = server;
    /// ```
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// # ⚠️ Accepts requests that nobody signed
    ///
    /// Turns signature verification **off**: the signature layer is not installed and any
    /// request that reaches the server is handed to the handler as a MeshAgent event, whoever
    /// sent it. A configured secret is ignored. This exists for local experiments only, like
    /// `validate_webhook_secret=False` in MeshAgent's Python server; to try a real endpoint,
    /// sign requests instead (the `send_event` example, or [`Signer`](crate::Signer)).
    ///
    /// To keep it out of production it is refused unless the server listens on a loopback
    /// address (`127.0.0.1`, `::1`), and [`into_router`](Self::into_router) refuses it
    /// outright ([`ServerError::UnsignedNotLocal`](crate::ServerError::UnsignedNotLocal)). The server logs
    /// a warning when it starts.
    /// The payload is the `Meshagent-Webhook` header if present, else the body (up to 1 MiB,
    /// whatever its `Content-Type`).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    /// # #[tokio::main] async fn main() -> Result<(), meshagent_webhooks::ServerError> {
    /// meshagent_webhooks::WebhookServer::new(Nothing)
    ///     .with_host("127.0.0.1")
    ///     .dangerously_accept_unsigned_requests_for_local_testing()
    ///     .run()
    ///     .await
    /// # }
    /// ```
    pub fn dangerously_accept_unsigned_requests_for_local_testing(mut self) -> Self {
        self.unsigned = true;
        self
    }

    /// The configured host.
    ///
    /// # Example
    ///
    /// ```
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    /// assert_eq!(meshagent_webhooks::WebhookServer::new(Nothing).host(), "0.0.0.0");
    /// ```
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The configured port; `None` when `MESHAGENT_PORT` is not a port number (and
    /// [`with_port`](Self::with_port) was not called).
    ///
    /// # Example
    ///
    /// ```
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    /// let server = meshagent_webhooks::WebhookServer::new(Nothing).with_port(0);
    /// assert_eq!(server.port(), Some(0));
    /// ```
    pub fn port(&self) -> Option<u16> {
        self.port.as_ref().ok().copied()
    }

    /// The configured webhook path.
    ///
    /// # Example
    ///
    /// ```
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    /// assert_eq!(meshagent_webhooks::WebhookServer::new(Nothing).path(), "/webhook");
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl<H> fmt::Debug for WebhookServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("secret", &self.secret)
            .field("layer", &self.layer)
            .field("grace_period", &self.grace_period)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("unsigned", &self.unsigned)
            .finish_non_exhaustive()
    }
}

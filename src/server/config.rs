//! [`WebhookServer`]: its settings, the checks made before serving, and its routes as a
//! `Router` for an app of your own.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use super::handler::WebhookHandler;
use super::routes::{Shared, WebsocketLimits, webhook_route};
use crate::secret::{ConfigError, WebhookSecret};
use crate::signature::{MeshagentSignatureLayer, SignatureVerifier};

/// A ready-made MeshAgent webhook server: verifies each request, then calls a
/// [`WebhookHandler`]. See the [module docs](crate::server) for the routes, answers and
/// limits.
///
/// Defaults, as in MeshAgent's Python `WebhookServer`: host `0.0.0.0`, port from
/// `MESHAGENT_PORT` else 8080, path `/webhook`, secret from `MESHAGENT_WEBHOOK_SECRET` (read
/// once, by [`new`](Self::new), with `MESHAGENT_WEBHOOK_PREVIOUS_SECRET` during a rotation).
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
    pub(super) layer: Option<MeshagentSignatureLayer>,
    pub(super) grace_period: Duration,
    pub(super) limits: Limits,
    unsigned: bool,
    python_digest: bool,
}

/// The limits on what one client can hold.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) header_read_timeout: Duration,
    pub(super) idle_timeout: Duration,
    pub(super) max_header_size: usize,
    pub(super) max_connections: usize,
    pub(super) websocket: WebsocketLimits,
}

impl<H: WebhookHandler> WebhookServer<H> {
    /// A server for `handler`, with the defaults; reads the secrets and `MESHAGENT_PORT` now.
    /// A missing secret or a bad port is reported when the server starts.
    pub fn new(handler: H) -> Self {
        let port = match std::env::var(PORT_ENV_VAR) {
            Ok(value) => value.trim().parse().map_err(|_| value),
            Err(std::env::VarError::NotPresent) => Ok(DEFAULT_PORT),
            Err(std::env::VarError::NotUnicode(value)) => Err(value.to_string_lossy().into()),
        };
        let secrets = WebhookSecret::all_from_env();
        Self {
            handler: Arc::new(handler),
            host: DEFAULT_HOST.to_owned(),
            port,
            path: DEFAULT_PATH.to_owned(),
            layer: (!secrets.is_empty()).then(|| MeshagentSignatureLayer::from_secrets(secrets)),
            grace_period: DEFAULT_SHUTDOWN_GRACE_PERIOD,
            unsigned: false,
            python_digest: false,
            limits: Limits {
                header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                max_header_size: DEFAULT_MAX_HEADER_SIZE,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                websocket: WebsocketLimits {
                    message: DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
                    frame: DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
                },
            },
        }
    }

    /// The address [`run`](Self::run) binds: an IP address or a host name (default `0.0.0.0`,
    /// every interface, like MeshAgent's server; `127.0.0.1` accepts local requests only).
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The port [`run`](Self::run) binds (default `MESHAGENT_PORT`, else 8080; 0 picks a free
    /// one). Overrides a bad `MESHAGENT_PORT`.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Ok(port);
        self
    }

    /// The webhook route (default `/webhook`). It must start with `/`, contain no `{` or `}`,
    /// and have no segment starting with `:` or `*` (else [`ServerError::InvalidPath`] at
    /// start-up); a trailing slash is a different route. A query string is ignored.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The webhook secret (default: from the environment). An empty secret is refused at
    /// start-up. Replaces a layer given with [`with_signature_layer`](Self::with_signature_layer).
    pub fn with_secret(self, secret: impl Into<WebhookSecret>) -> Self {
        self.with_signature_layer(MeshagentSignatureLayer::new(secret.into()))
    }

    /// Verifies with a ready [`MeshagentSignatureLayer`]: several secrets, another body limit
    /// or timeout, clock leeway, custom rejection bodies. A layer without a usable secret is
    /// refused at start-up.
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
    /// assert!(server.into_router::<()>().is_ok());
    /// ```
    pub fn with_signature_layer(mut self, layer: MeshagentSignatureLayer) -> Self {
        self.layer = Some(layer);
        self
    }

    /// ⚠️ **Insecure**: checks no signature, for MeshAgent webhooks registered without a
    /// secret ([`MeshagentSignatureLayer::dangerously_accept_unsigned`]): anyone who can reach
    /// the server can send any event. Events go to
    /// [`WebhookHandler::on_unverified_event`]. Warns at start-up.
    ///
    /// # Errors
    ///
    /// At start-up, [`ConfigError::UnsignedWithSecret`] when a secret is configured too (from
    /// the environment, [`with_secret`](Self::with_secret) or
    /// [`with_signature_layer`](Self::with_signature_layer)).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{ServerError, WebhookServer};
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    ///
    /// let server = WebhookServer::new(Nothing).with_secret("whsec_example");
    /// let error = server.dangerously_accept_unsigned().into_router::<()>().unwrap_err();
    /// assert!(matches!(error, ServerError::Config(_)));
    /// ```
    pub fn dangerously_accept_unsigned(mut self) -> Self {
        self.unsigned = true;
        self
    }

    /// ⚠️ Also accepts a payload whose digest is that of Python's `json.dumps(json.loads(..))`
    /// text of it, as MeshAgent's Python receiver does
    /// ([`MeshagentSignatureLayer::with_python_digest`]), whichever layer is configured.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::WebhookServer;
    /// # struct Nothing; impl meshagent_webhooks::WebhookHandler for Nothing {}
    ///
    /// let server = WebhookServer::new(Nothing).with_secret("whsec_example").with_python_digest();
    /// assert!(server.into_router::<()>().is_ok());
    /// ```
    pub fn with_python_digest(mut self) -> Self {
        self.python_digest = true;
        self
    }

    /// How long a shutdown waits for in-flight requests, handler calls and websocket sessions
    /// (default 10 s). Whatever still runs after it is abandoned and `run` returns.
    pub fn with_shutdown_grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// How long a client may take to send a complete request head (default 30 s): from accept
    /// for the first request, whatever it sends (nothing, a byte, half an HTTP/2 preface), and
    /// from the previous answer for the next one on HTTP/1. Then the connection is closed.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How long a connection may stay open with no request in flight (default 60 s): idle
    /// HTTP/1 keep-alive and HTTP/2 connections, and unfinished HTTP/2 header blocks, are
    /// closed after it. HTTP/2 peers are also pinged at this interval and dropped when they do
    /// not answer within it.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// The largest request head, in bytes (default 64 KiB; at least 8 KiB for HTTP/1): the
    /// HTTP/1 read buffer and the HTTP/2 header list. A larger head is refused.
    pub fn with_max_header_size(mut self, bytes: usize) -> Self {
        self.limits.max_header_size = bytes;
        self
    }

    /// The most connections open at once, websocket sessions included (default 512). At the
    /// cap, a new connection takes the place of the one idle longest (no complete request head
    /// yet, HTTP/1 between requests, HTTP/2 with no open stream); while every connection has a
    /// request in flight or a websocket session, new clients wait in the kernel's accept queue.
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.limits.max_connections = connections.max(1);
        self
    }

    /// The largest websocket message a `room.call` session may receive (default 4 MiB).
    pub fn with_max_websocket_message_size(mut self, bytes: usize) -> Self {
        self.limits.websocket.message = bytes;
        self
    }

    /// The largest websocket frame a `room.call` session may receive (default 4 MiB).
    pub fn with_max_websocket_frame_size(mut self, bytes: usize) -> Self {
        self.limits.websocket.frame = bytes;
        self
    }

    /// The configured host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The configured port; `None` when `MESHAGENT_PORT` is not a port number (and
    /// [`with_port`](Self::with_port) was not called).
    pub fn port(&self) -> Option<u16> {
        self.port.as_ref().ok().copied()
    }

    /// The configured webhook path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The webhook route alone, to merge into an app with any state `S` (what the `app=`
    /// parameter of MeshAgent's Python server does). The signature layer is applied to this
    /// route only; the health check `GET /` is not included. The connection limits are then
    /// up to the app's server (see the README's security section).
    ///
    /// # Errors
    ///
    /// [`ServerError::Config`] without a usable secret, [`ServerError::InvalidPath`].
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, extract::State, routing::get};
    /// use meshagent_webhooks::{WebhookHandler, WebhookServer};
    ///
    /// struct Nothing;
    /// impl WebhookHandler for Nothing {}
    ///
    /// let webhooks = WebhookServer::new(Nothing)
    ///     .with_secret("whsec_example")
    ///     .with_path("/hooks/meshagent")
    ///     .into_router()?;
    /// let app: Router = Router::new()
    ///     .route("/", get(|State(name): State<&'static str>| async move { name }))
    ///     .merge(webhooks)
    ///     .with_state("my app");
    /// # Ok::<(), meshagent_webhooks::ServerError>(())
    /// ```
    pub fn into_router<S>(self) -> Result<Router<S>, ServerError>
    where
        S: Clone + Send + Sync + 'static,
    {
        Ok(self.prepare()?.0)
    }

    /// Checks the configuration and builds the webhook route, with the handler's task tracker.
    pub(super) fn prepare<S>(self) -> Result<(Router<S>, Shared<H>), ServerError>
    where
        S: Clone + Send + Sync + 'static,
    {
        let layer = self.check()?;
        let shared = Shared::new(self.handler, self.limits.websocket);
        let router = webhook_route(&self.path, shared.clone(), layer);
        Ok((router, shared))
    }

    /// Fails fast on what can be checked before binding; the layer to verify with.
    fn check(&self) -> Result<MeshagentSignatureLayer, ServerError> {
        // axum panics on `{`, `}`, and a segment opening with `:` or `*` (its old captures).
        let capture = |segment: &str| segment.starts_with([':', '*']);
        if !self.path.starts_with('/')
            || self.path.contains(['{', '}'])
            || self.path.split('/').any(capture)
        {
            return Err(ServerError::InvalidPath { path: self.path.clone() });
        }
        let layer = match (&self.layer, self.unsigned) {
            (Some(layer), true) if !layer.is_unsigned() => Err(ConfigError::UnsignedWithSecret),
            // No secret was in the environment when `new` read it: it is not read again.
            (None, true) => {
                Ok(MeshagentSignatureLayer::from_verifier(SignatureVerifier::unsigned()))
            }
            (Some(layer), _) if layer.is_configured() => Ok(layer.clone()),
            _ => Err(ConfigError::MissingSecret),
        }?;
        Ok(if self.python_digest { layer.with_python_digest() } else { layer })
    }
}

impl<H> fmt::Debug for WebhookServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("layer", &self.layer)
            .field("grace_period", &self.grace_period)
            .field("limits", &self.limits)
            .field("unsigned", &self.unsigned)
            .field("python_digest", &self.python_digest)
            .finish_non_exhaustive()
    }
}

/// The environment variable the default port is read from (as MeshAgent's SDK does).
pub const PORT_ENV_VAR: &str = "MESHAGENT_PORT";

/// The default host: `0.0.0.0`, every interface, as MeshAgent's Python server.
pub const DEFAULT_HOST: &str = "0.0.0.0";

/// The default port when `MESHAGENT_PORT` is unset: 8080.
pub const DEFAULT_PORT: u16 = 8080;

/// The default webhook path: `/webhook`.
pub const DEFAULT_PATH: &str = "/webhook";

/// How long a shutdown waits for in-flight work by default: 10 s.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// Default time a client has to send a complete request head: 30 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time a connection may stay open with no request in flight: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default largest request head: 64 KiB (MeshAgent's are a few KiB at most; a header payload
/// is at most 8 KiB in MeshAgent's own receiver).
pub const DEFAULT_MAX_HEADER_SIZE: usize = 64 * 1024;

/// Default most open connections: 512, well under the usual limit of 1024 open files.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Default largest websocket message and frame: 4 MiB, as aiohttp (MeshAgent's Python stack).
pub const DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Why [`WebhookServer`] could not start, or stopped with an error.
///
/// Configuration problems are found before the socket is bound, so a misconfigured server
/// fails at start-up, never on the first request. `Debug` prints the same sentence as
/// `Display`, with its cause, so `main` returning it reads well.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{ServerError, WebhookHandler, WebhookServer};
///
/// struct Nothing;
/// impl WebhookHandler for Nothing {}
///
/// let error = WebhookServer::new(Nothing).with_secret("").into_router::<()>().unwrap_err();
/// assert!(matches!(error, ServerError::Config(_)));
/// assert!(format!("{error:?}").contains("MESHAGENT_WEBHOOK_SECRET"));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No usable secret: `MESHAGENT_WEBHOOK_SECRET` unset or empty, and none given in code
    /// (or an empty one given). The message names the variable.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// `MESHAGENT_PORT` is set but is not a port number (0–65535).
    #[error("{PORT_ENV_VAR} is not a port number: {value:?}")]
    InvalidPort {
        /// The variable's value.
        value: String,
    },
    /// The webhook path does not start with `/`, contains `{` or `}`, or has a segment starting
    /// with `:` or `*`.
    #[error(
        "invalid webhook path {path:?}: it must start with `/`, contain no `{{` or `}}`, and \
         have no segment starting with `:` or `*`"
    )]
    InvalidPath {
        /// The path given.
        path: String,
    },
    /// The address could not be bound (in use, not permitted, host not found, …).
    #[error("could not listen on {address}")]
    Bind {
        /// `host:port` as configured.
        address: String,
        /// The cause.
        source: io::Error,
    },
    /// Serving failed (for example the listener's address could not be read).
    #[error("the webhook server failed")]
    Io(#[from] io::Error),
}

impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)?;
        match std::error::Error::source(self) {
            Some(cause) if !matches!(self, Self::Config(_)) => write!(f, ": {cause}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn errors_read_as_sentences_in_debug_too() {
        let error = ServerError::from(ConfigError::MissingSecret);
        assert!(
            format!("{error:?}")
                .starts_with("webhook secret is not configured: set MESHAGENT_WEBHOOK_SECRET")
        );
        assert!(error.source().is_some());
        let error = ServerError::InvalidPort { value: "eighty".to_owned() };
        assert_eq!(format!("{error:?}"), r#"MESHAGENT_PORT is not a port number: "eighty""#);
        let error = ServerError::Bind {
            address: "0.0.0.0:8080".to_owned(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        assert_eq!(error.to_string(), "could not listen on 0.0.0.0:8080");
        assert_eq!(format!("{error:?}"), "could not listen on 0.0.0.0:8080: address in use");
    }

    #[test]
    fn paths_axum_would_panic_on_are_invalid_path_errors() {
        struct Nothing;
        impl crate::WebhookHandler for Nothing {}
        let router = |path: &str| {
            WebhookServer::new(Nothing).with_secret("whsec_k").with_path(path).into_router::<()>()
        };
        for path in ["/:id", "/*", "/hooks/*rest", "/a/:b/c", "/{id}", "/a}", "webhook", ""] {
            let error = router(path).unwrap_err();
            assert!(matches!(&error, ServerError::InvalidPath { path: given } if given == path));
        }
        for path in ["/", "/webhook", "/hooks/a:b/c*", "/hooks/"] {
            assert!(router(path).is_ok(), "{path}");
        }
    }
}

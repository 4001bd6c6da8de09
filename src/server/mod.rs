//! A ready-made webhook server: [`WebhookServer`] verifies each request with
//! [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer), parses the event, and calls
//! your [`WebhookHandler`]. The Rust counterpart of `WebhookServer` in MeshAgent's Python SDK.
//!
//! | Setting | Default | In code |
//! |---|---|---|
//! | host | `0.0.0.0` (every interface) | [`with_host`](WebhookServer::with_host) |
//! | port | `$MESHAGENT_PORT`, else 8080 | [`with_port`](WebhookServer::with_port) |
//! | path | `/webhook` | [`with_path`](WebhookServer::with_path) |
//! | secret | `$MESHAGENT_WEBHOOK_SECRET` (and `$MESHAGENT_WEBHOOK_PREVIOUS_SECRET`) | [`with_secret`](WebhookServer::with_secret), [`with_signature_layer`](WebhookServer::with_signature_layer) |
//! | shutdown grace period | 10 s | [`with_shutdown_grace_period`](WebhookServer::with_shutdown_grace_period) |
//!
//! Starting without a usable secret is an error ([`ServerError::Config`], naming
//! `MESHAGENT_WEBHOOK_SECRET`), before anything is bound.
//!
//! # Limits
//!
//! Nobody holds a connection open for free. Every limit has a default and a setting:
//!
//! | Limit | Default | Setting |
//! |---|---|---|
//! | from accept to a complete request head, whatever the client sends (HTTP/1 and HTTP/2); between requests on HTTP/1 | 30 s | [`with_header_read_timeout`](WebhookServer::with_header_read_timeout) |
//! | a connection with no request in flight (HTTP/1 keep-alive, HTTP/2), and HTTP/2 pings | 60 s | [`with_idle_timeout`](WebhookServer::with_idle_timeout) |
//! | the body (from the layer) | 30 s, then 408 | [`MeshagentSignatureLayer::with_body_timeout`](crate::MeshagentSignatureLayer::with_body_timeout) |
//! | request head size (HTTP/1 buffer, HTTP/2 header list) | 64 KiB | [`with_max_header_size`](WebhookServer::with_max_header_size) |
//! | open connections, websocket sessions included | 512 | [`with_max_connections`](WebhookServer::with_max_connections) |
//! | websocket message / frame | 4 MiB / 4 MiB (aiohttp's) | [`with_max_websocket_message_size`](WebhookServer::with_max_websocket_message_size), [`with_max_websocket_frame_size`](WebhookServer::with_max_websocket_frame_size) |
//!
//! # Routes and answers
//!
//! | Request | Answer |
//! |---|---|
//! | `GET /` | 200 `{"ok": true}` (health check; only when the server owns the app) |
//! | `POST` or `GET` on the path (`HEAD` too), verified, handler returns `Ok` | 200 `{"ok": true}`, `Content-Type: application/json` |
//! | … signature or body refused by the layer | its status and reason (401, 408, 413, …: see [`signature`](crate::signature)) |
//! | … event refused by [`MeshagentEvent`](crate::MeshagentEvent) | 415, 400 or 422 with the reason |
//! | … handler returns `Err` or panics | 500 `webhook handler failed`; the cause is logged, the server keeps serving |
//! | another method on the path | 405 (the layer does not run) |
//! | a request with an `Upgrade` header | verified first (a bad signature is 401); then 405 unless `GET`, 400 (or 426) for an invalid websocket handshake, 400 unless the event is `room.call`; else 101 and [`on_call_websocket`](WebhookHandler::on_call_websocket) gets the call and the socket |
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use meshagent_webhooks::{HandlerError, RoomCall, WebhookHandler, WebhookServer};
//!
//! struct Agent;
//!
//! impl WebhookHandler for Agent {
//!     async fn on_call(&self, call: RoomCall) -> Result<(), HandlerError> {
//!         println!("joining {}", call.room_url);
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), meshagent_webhooks::ServerError> {
//!     // 0.0.0.0:$MESHAGENT_PORT (or 8080), secret from MESHAGENT_WEBHOOK_SECRET, until
//!     // Ctrl-C or SIGTERM. Every setting has a default; these two are shown for the look.
//!     WebhookServer::new(Agent)
//!         .with_path("/hooks/meshagent")
//!         .with_shutdown_grace_period(Duration::from_secs(30))
//!         .run()
//!         .await
//! }
//! ```
//!
//! To add the webhook route to an app you already serve, use
//! [`into_router`](WebhookServer::into_router).
//!
//! # Shutdown
//!
//! On SIGINT or SIGTERM ([`run`](WebhookServer::run), [`serve`](WebhookServer::serve)), or
//! when your signal completes ([`serve_with_shutdown`](WebhookServer::serve_with_shutdown)),
//! the server stops accepting connections, closes idle ones, and waits for in-flight
//! requests, handler calls and websocket sessions, for at most the grace period. Then it
//! returns; whatever still runs is abandoned.

mod config;
mod handler;
mod routes;
mod serve;

use std::fmt;
use std::io;
use std::time::Duration;

pub use config::WebhookServer;
pub use handler::{HandlerError, WebhookHandler};

use crate::ConfigError;

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
#[non_exhaustive]
pub enum ServerError {
    /// No usable secret: `MESHAGENT_WEBHOOK_SECRET` unset or empty, and none given in code
    /// (or an empty one given). The message names the variable.
    Config(ConfigError),
    /// `MESHAGENT_PORT` is set but is not a port number (0–65535).
    InvalidPort {
        /// The variable's value.
        value: String,
    },
    /// The webhook path does not start with `/`, or contains `{` or `}`.
    InvalidPath {
        /// The path given.
        path: String,
    },
    /// The address could not be bound (in use, not permitted, host not found, …).
    Bind {
        /// `host:port` as configured.
        address: String,
        /// The cause.
        source: io::Error,
    },
    /// Serving failed (for example the listener's address could not be read).
    Io(io::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(error) => fmt::Display::fmt(error, f),
            Self::InvalidPort { value } => {
                write!(f, "{PORT_ENV_VAR} is not a port number: {value:?}")
            }
            Self::InvalidPath { path } => write!(
                f,
                "invalid webhook path {path:?}: it must start with `/` and contain no `{{` or `}}`"
            ),
            Self::Bind { address, .. } => write!(f, "could not listen on {address}"),
            Self::Io(_) => f.write_str("the webhook server failed"),
        }
    }
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

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(error) => Some(error),
            Self::Bind { source, .. } | Self::Io(source) => Some(source),
            Self::InvalidPort { .. } | Self::InvalidPath { .. } => None,
        }
    }
}

impl From<ConfigError> for ServerError {
    fn from(error: ConfigError) -> Self {
        Self::Config(error)
    }
}

impl From<io::Error> for ServerError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
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
}

//! A ready-made webhook server: [`WebhookServer`] verifies each request with
//! [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer), parses the event, and calls
//! your [`WebhookHandler`]. The Rust counterpart of `WebhookServer` in MeshAgent's Python SDK.
//!
//! | Setting | Default | In code |
//! |---|---|---|
//! | host | `0.0.0.0` (every interface) | [`with_host`](WebhookServer::with_host) |
//! | port | `$MESHAGENT_PORT`, else 8080 | [`with_port`](WebhookServer::with_port) |
//! | path | `/webhook` | [`with_path`](WebhookServer::with_path) |
//! | secret | `$MESHAGENT_WEBHOOK_SECRET` | [`with_secret`](WebhookServer::with_secret), [`with_signature_layer`](WebhookServer::with_signature_layer) |
//! | shutdown grace period | 10 s | [`with_shutdown_grace_period`](WebhookServer::with_shutdown_grace_period) |
//!
//! Starting without a usable secret is an error ([`ServerError::Config`], naming
//! `MESHAGENT_WEBHOOK_SECRET`), before anything is bound.
//!
//! # Routes and answers
//!
//! | Request | Answer |
//! |---|---|
//! | `GET /` | 200 `{"ok": true}` (health check; only when the server owns the app) |
//! | `POST` or `GET` on the path (`HEAD` too), verified, handler returns `Ok` | 200 `{"ok": true}`, `Content-Type: application/json` |
//! | … signature or body refused by the layer | its status and reason (401, 413, …: see [`signature`](crate::signature)) |
//! | … event refused by [`MeshagentEvent`](crate::MeshagentEvent) | 415, 400 or 422 with the reason |
//! | … handler returns `Err` or panics | 500 `webhook handler failed`; the cause is logged, the server keeps serving |
//! | another method on the path | 405 (the layer does not run) |
//! | a request with an `Upgrade` header | verified first (a bad signature is 401); then 405 unless `GET`, 400 (or 426) for an invalid websocket handshake, 400 unless the event is `room.call`; else 101 and [`on_call_websocket`](WebhookHandler::on_call_websocket) gets the call and the socket |
//!
//! A `GET` (or `POST`) carrying the payload in a `Meshagent-Webhook` header and no `Upgrade`
//! is handled like a normal delivery.
//!
//! # Example: the default
//!
//! ```no_run
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
//!     // 0.0.0.0:$MESHAGENT_PORT (or 8080), secret from MESHAGENT_WEBHOOK_SECRET,
//!     // until Ctrl-C or SIGTERM.
//!     WebhookServer::new(Agent).run().await
//! }
//! ```
//!
//! # Example: customised
//!
//! Local address, another path, two secrets during a rotation, a longer grace period:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use meshagent_webhooks::{
//!     HandlerError, MeshagentEvent, MeshagentSignatureLayer, WebhookHandler, WebhookServer,
//! };
//!
//! struct PrintAll;
//!
//! impl WebhookHandler for PrintAll {
//!     async fn on_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
//!         println!("{} {}", event.name(), event.data());
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), meshagent_webhooks::ServerError> {
//! WebhookServer::new(PrintAll)
//!     .with_host("127.0.0.1")
//!     .with_port(9000)
//!     .with_path("/hooks/meshagent")
//!     .with_signature_layer(MeshagentSignatureLayer::from_secrets(["whsec_new", "whsec_old"]))
//!     .with_shutdown_grace_period(Duration::from_secs(30))
//!     .run()
//!     .await
//! # }
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
//! returns; whatever still runs is abandoned (and ends when the tokio runtime does).

mod builder;
mod connections;
mod error;
mod handler;
mod router;
mod routes;
mod run;
mod shared_handler;
mod tasks;

use std::time::Duration;

pub use builder::WebhookServer;
pub use error::ServerError;
pub use handler::{HandlerError, WebhookHandler};

/// The environment variable the default port is read from (as MeshAgent's SDK does).
///
/// # Example
///
/// ```
/// assert_eq!(meshagent_webhooks::server::PORT_ENV_VAR, "MESHAGENT_PORT");
/// ```
pub const PORT_ENV_VAR: &str = "MESHAGENT_PORT";

/// The default host: `0.0.0.0`, every interface, as MeshAgent's Python server.
///
/// # Example
///
/// ```
/// assert_eq!(meshagent_webhooks::server::DEFAULT_HOST, "0.0.0.0");
/// ```
pub const DEFAULT_HOST: &str = "0.0.0.0";

/// The default port when `MESHAGENT_PORT` is unset: 8080.
///
/// # Example
///
/// ```
/// assert_eq!(meshagent_webhooks::server::DEFAULT_PORT, 8080);
/// ```
pub const DEFAULT_PORT: u16 = 8080;

/// The default webhook path: `/webhook`.
///
/// # Example
///
/// ```
/// assert_eq!(meshagent_webhooks::server::DEFAULT_PATH, "/webhook");
/// ```
pub const DEFAULT_PATH: &str = "/webhook";

/// How long a shutdown waits for in-flight work by default: 10 s.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(meshagent_webhooks::server::DEFAULT_SHUTDOWN_GRACE_PERIOD, Duration::from_secs(10));
/// ```
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// Default time a client has to send a complete request head: 30 s.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(meshagent_webhooks::server::DEFAULT_HEADER_READ_TIMEOUT, Duration::from_secs(30));
/// ```
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

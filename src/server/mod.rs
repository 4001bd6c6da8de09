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
//! Nobody holds a connection open for free, and no pile of idle connections keeps a delivery
//! out: at the connection cap, the connection that has been idle longest (no complete request
//! head yet, HTTP/1 between requests, HTTP/2 with no open stream) is closed for the new one,
//! as nginx closes its "reusable" connections; a request in flight, an answer being sent (for
//! its first 5 s) or a websocket session is never cut for this, while a request the layer has
//! refused no longer protects its connection. Each such closure is counted (a rate-limited WARN, and with `metrics`
//! `meshagent_webhooks_connections_closed_total{reason="idle_at_cap"}`). Every limit has a
//! default:
//!
//! | Limit | Default | Setting |
//! |---|---|---|
//! | from accept to a complete request head, whatever the client sends (HTTP/1 and HTTP/2); between requests on HTTP/1 | 30 s | [`with_header_read_timeout`](WebhookServer::with_header_read_timeout) |
//! | a connection with no request in flight (HTTP/1 keep-alive, HTTP/2), and HTTP/2 pings | 60 s | [`with_idle_timeout`](WebhookServer::with_idle_timeout) |
//! | the body (from the layer) | 30 s, then 408 | [`MeshagentSignatureLayer::with_body_timeout`](crate::MeshagentSignatureLayer::with_body_timeout) |
//! | the body's minimum rate (from the layer), once it has taken the grace period | 500 bytes a second after 5 s, then 408 | [`MeshagentSignatureLayer::with_min_body_rate`](crate::MeshagentSignatureLayer::with_min_body_rate) |
//! | request head size (HTTP/1 buffer, HTTP/2 header list) | 64 KiB | [`with_max_header_size`](WebhookServer::with_max_header_size) |
//! | open connections, websocket sessions included; at the cap, the connection idle longest gives way to a new one | 512 | [`with_max_connections`](WebhookServer::with_max_connections) |
//! | requests in flight on one HTTP/2 connection | 64 | — |
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
mod connections;
mod handler;
mod routes;
mod serve;

pub use config::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_HOST, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_SIZE, DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE, DEFAULT_PATH, DEFAULT_PORT,
    DEFAULT_SHUTDOWN_GRACE_PERIOD, PORT_ENV_VAR, ServerError, WebhookServer,
};
pub use handler::{HandlerError, WebhookHandler};

//! Verifying `Meshagent-Signature`: the [`MeshagentSignatureLayer`] middleware and the
//! [`SignatureVerifier`] core behind it.
//!
//! MeshAgent signs each webhook with `Meshagent-Signature: Bearer <jwt>`: an HS256 JWT keyed by
//! the webhook secret whose only claim, `sha256`, is the lowercase hex SHA-256 of the payload.
//! The payload is the request body, or the value of the `Meshagent-Webhook` header when that
//! header is present (header-payload and websocket deliveries).
//!
//! For each request, in this order:
//!
//! | Step | Rule | Answer on failure |
//! |---|---|---|
//! | 1 | A secret is configured and not empty | 500 `webhook secret is not configured` |
//! | 2 | Exactly one `Meshagent-Signature`; its value (surrounding whitespace ignored) starts with exactly `Bearer ` | 401 `missing signature` |
//! | 3 | The token: three canonical unpadded base64url segments, `alg` `HS256` only, no `crit`, signed by a configured secret; `exp` in the future, `nbf`/`iat` not in the future (leeway configurable, default 0); no `aud`; `sub`/`jti`/`iss` strings; registered claims of any other JSON type rejected; a string `sha256` claim | 401 `invalid jwt` |
//! | 4 | Body: a `Content-Length` over the limit (default 1 MiB) is refused before reading; a streamed body is cut off at the limit | 413 `payload too large` |
//! | 5 | Lowercase hex SHA-256 of the raw payload bytes equals the `sha256` claim (constant time) | 401 `signature does not match payload` |
//!
//! Nothing is read from the body before the token has passed. On success the inner service
//! gets `Request<Full<Bytes>>` whose body is exactly the verified bytes (so axum's `Json`,
//! `Bytes` and `String` extractors still work) and a [`VerifiedWebhook`] extension with the
//! same bytes (shared, not copied) and the token's [`VerifiedClaims`]. When the payload came
//! from the `Meshagent-Webhook` header, the original body is dropped unread and replaced by the
//! header's bytes, with `Content-Type: application/json`.
//!
//! The bytes received are verified, not a re-serialisation: a body re-formatted after signing
//! (whitespace, escapes, key order) is rejected, and any sender that signs the exact bytes it
//! sends is accepted.
//!
//! # Example: the default
//!
//! ```
//! use axum::{Router, routing::post};
//! use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
//!
//! async fn handle(event: MeshagentEvent) {
//!     tracing::info!(event = event.name(), "webhook");
//! }
//!
//! let app: Router = Router::new()
//!     .route("/webhook", post(handle))
//!     .layer(MeshagentSignatureLayer::from_env());
//! ```
//!
//! # Example: customised
//!
//! Two secrets during a rotation, a smaller body limit, 30 s of clock leeway, and JSON
//! rejection bodies:
//!
//! ```
//! use std::time::Duration;
//!
//! use axum::{Router, routing::post};
//! use bytes::Bytes;
//! use http::{Response, header};
//! use http_body_util::Full;
//! use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
//!
//! let layer = MeshagentSignatureLayer::from_secrets(["whsec_new", "whsec_old"])
//!     .with_max_body_size(256 * 1024)
//!     .with_leeway(Duration::from_secs(30))
//!     .with_rejection_response(|rejection| {
//!         let body = serde_json::json!({ "error": rejection.body_text() }).to_string();
//!         Response::builder()
//!             .status(rejection.status())
//!             .header(header::CONTENT_TYPE, "application/json")
//!             .body(Full::new(Bytes::from(body)))
//!             .unwrap()
//!     });
//!
//! let app: Router = Router::new()
//!     .route("/hooks/meshagent", post(|event: MeshagentEvent| async move { event.name().to_owned() }))
//!     .layer(layer);
//! ```
//!
//! # Deployment caveats
//!
//! * The protocol has no timestamp and no nonce: the same body and secret always give the same
//!   token, so a captured request can be **replayed** and this layer cannot tell. Make
//!   handlers idempotent, serve over HTTPS only.
//! * Put the layer before anything that changes the body (decompression, body rewriting): it
//!   must see the bytes MeshAgent signed. Put a timeout around it (for example
//!   `tower_http::timeout::TimeoutLayer`): a client that never finishes its body is only cut
//!   off by a timeout.

mod base64url;
mod body;
mod future;
mod headers;
mod layer;
mod read;
mod service;
pub(crate) mod token;
mod verified;
mod verify;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::{DEFAULT_MAX_BODY_SIZE, MeshagentSignatureLayer};
pub use service::MeshagentSignature;
pub use verified::{PayloadSource, VerifiedWebhook};
pub use verify::{SignatureVerifier, VerifiedClaims};

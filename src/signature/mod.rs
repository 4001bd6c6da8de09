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
//! | 2 | Exactly one `Meshagent-Signature`; its value (surrounding whitespace ignored) starts with exactly `Bearer ` | 401 `missing signature: <what is wrong>` |
//! | 3 | The token: three canonical unpadded base64url segments, `alg` `HS256` only, no `crit`, signed by a configured secret; `exp` in the future, `nbf`/`iat` not in the future (leeway configurable, default 0); no `aud`; `sub`/`jti`/`iss` strings; a string `sha256` claim | 401 `invalid jwt` |
//! | 4 | The payload within the limit (default 1 MiB): a larger `Content-Length` or `Meshagent-Webhook` is refused before reading; a streamed body is cut off at the limit, or by an outer limit | 413 `payload too large` |
//! | 5 | The body arrives within the body timeout (default 30 s) and, after 5 s, at the minimum rate (default 500 bytes a second) | 408 `request body timed out` |
//! | 6 | Lowercase hex SHA-256 of the raw payload bytes equals the `sha256` claim (constant time) | 401 `signature does not match payload` |
//!
//! Nothing is read from the body before the token has passed. On success the inner service
//! gets `Request<Full<Bytes>>` whose body is exactly the verified bytes (so axum's `Json`,
//! `Bytes` and `String` extractors still work) and a [`VerifiedWebhook`] extension with the
//! same bytes and the token's [`VerifiedClaims`]. When the payload came from the
//! `Meshagent-Webhook` header, the body is thrown away and replaced by the header's bytes,
//! with `Content-Type: application/json`. The bytes received are verified, not a
//! re-serialisation: any sender that signs the exact bytes it sends is accepted.
//!
//! Two opt-in switches receive what MeshAgent's Python receiver receives:
//! [`with_python_digest`](MeshagentSignatureLayer::with_python_digest) also accepts, in step 6,
//! the digest of Python's `json.dumps(json.loads(payload))` (made only when the raw digest
//! fails), and ⚠️ [`dangerously_accept_unsigned`](MeshagentSignatureLayer::dangerously_accept_unsigned)
//! skips steps 1–3 and 6 for webhooks registered without a secret
//! ([`VerifiedWebhook::is_verified`] is then `false`).
//!
//! Outside tower (a queue consumer, another framework),
//! [`SignatureVerifier::verify_event`] applies the same rules to headers and a body in one
//! call and returns the [`MeshagentEvent`](crate::MeshagentEvent).
//!
//! # Connections
//!
//! An answer given before the body was read to its end must not cost the next delivery on a
//! keep-alive connection. So on HTTP/1 the layer reads and throws away what is left of a
//! refused body before it answers, while that stays cheap (a `Content-Length` body, up to
//! 4 MiB in at most 1,024 frames, within the body deadline), and the connection stays usable;
//! when it cannot (a longer or chunked body, a body in tiny chunks, a timeout, a broken or
//! cut-off body, a client waiting for `100 Continue`) the answer carries `Connection: close`. HTTP/2 resets the stream
//! instead. A body that trickles in below the
//! [minimum rate](MeshagentSignatureLayer::with_min_body_rate) is answered 408 within seconds,
//! and one that comes in more than 1,024 frames plus one per 256 bytes is refused (400): a
//! client cannot make the layer spend more than a few milliseconds on a body however it frames
//! it. Memory follows the bytes that arrive: 64 KiB is reserved until
//! more than that has come, whatever `Content-Length` says, then at most 16 times what has come.
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
//! // On the route only: other paths keep their 404 and 405.
//! let app: Router = Router::new()
//!     .route("/webhook", post(handle).layer(MeshagentSignatureLayer::from_env()));
//! ```
//!
//! # Example: customised
//!
//! Two secrets during a rotation, a smaller body limit, a shorter body timeout, 30 s of clock
//! leeway, and JSON rejection bodies:
//!
//! ```
//! use std::time::Duration;
//!
//! use axum::response::IntoResponse;
//! use axum::{Json, Router, routing::post};
//! use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
//!
//! let layer = MeshagentSignatureLayer::from_secrets(["whsec_new", "whsec_old"])
//!     .with_max_body_size(256 * 1024)
//!     .with_body_timeout(Duration::from_secs(10))
//!     .with_leeway(Duration::from_secs(30))
//!     .with_rejection_response(|rejection| {
//!         (rejection.status(), Json(serde_json::json!({ "error": rejection.body_text() })))
//!             .into_response()
//!     });
//!
//! let app: Router = Router::new().route(
//!     "/hooks/meshagent",
//!     post(|event: MeshagentEvent| async move { event.name().to_owned() }).layer(layer),
//! );
//! ```
//!
//! # Deployment caveats
//!
//! * The protocol has no timestamp and no nonce: the same body and secret always give the same
//!   token, so a captured request can be **replayed** and this layer cannot tell. Make
//!   handlers idempotent, serve over HTTPS only.
//! * Put the layer before anything that changes the body (decompression, body rewriting): it
//!   must see the bytes MeshAgent signed.

mod body;
mod future;
pub(crate) mod jwt;
mod layer;
mod service;
pub(crate) mod verified;
pub(crate) mod verify;

#[cfg(feature = "server")]
pub(crate) use future::Refused;
pub use future::ResponseFuture;
pub use layer::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_SIZE, DEFAULT_MIN_BODY_RATE,
    DEFAULT_MIN_BODY_RATE_GRACE, MeshagentSignatureLayer, ResponseBody,
};
pub use service::MeshagentSignature;
pub use verified::{PayloadSource, VerifiedClaims, VerifiedWebhook};
pub use verify::{MESHAGENT_SIGNATURE, MESHAGENT_WEBHOOK, SignatureVerifier};

//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example json_errors`
//!
//! One hook answers every refused webhook with JSON, whichever part refused it: the signature
//! layer (401, 408, 413, 500) or the `MeshagentEvent` extractor (415, 400, 422). Listens on
//! http://127.0.0.1:3000/webhook. Try it:
//!
//! ```sh
//! curl -i -X POST http://127.0.0.1:3000/webhook -H 'Content-Type: application/json' -d '{}'
//! # 401 {"error":"missing_signature","status":401,"message":"missing signature"}
//!
//! echo -n '{"event": "room.call", "data": {}}' > body.json
//! curl -i -X POST http://127.0.0.1:3000/webhook -H 'Content-Type: application/json' \
//!      -H "Meshagent-Signature: $(meshagent-webhooks sign body.json)" --data-binary @body.json
//! # 422 {"error":"invalid_event","status":422,"message":"invalid event: room.call: `room_name` is missing or not a string"}
//! ```

use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::post};
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer, Rejection};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Every rejection of a delivery, as `{"error": kind, "status": code, "message": reason}`.
/// `kind` is a stable snake_case name (for clients and alerts); `message` never holds the
/// secret, the token or the payload.
fn json_rejection(rejection: &Rejection) -> Response {
    let body = json!({
        "error": rejection.kind(),
        "status": rejection.status().as_u16(),
        "message": rejection.body_text(),
    });
    (rejection.status(), Json(body)).into_response()
}

async fn handle(event: MeshagentEvent) -> Json<Value> {
    println!("verified {}", event.name());
    Json(json!({"ok": true}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // INFO unless RUST_LOG says otherwise, so that refused webhooks (WARN) show. (Plain
    // `fmt::init()` with the `env-filter` feature shows only errors without RUST_LOG.)
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    // Fails now, naming MESHAGENT_WEBHOOK_SECRET, when it is not set.
    let layer = MeshagentSignatureLayer::try_from_env()?.with_rejection_response(json_rejection);
    // The extractor's rejections (415, 400, 422) come back through the layer: one hook for all.
    let app = Router::new().route("/webhook", post(handle).layer(layer));

    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}/webhook", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

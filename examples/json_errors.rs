//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example json_errors`
//!
//! One hook shapes every refused delivery as JSON: the layer's own rejections (401, 408, 413,
//! 500) and the `MeshagentEvent` extractor's (415, 400, 422). Listens on
//! http://127.0.0.1:3000/webhook.

use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
use serde_json::json;

async fn handle(event: MeshagentEvent) -> Json<serde_json::Value> {
    Json(json!({ "ok": true, "event": event.name() }))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt::init();
    let layer = MeshagentSignatureLayer::from_env().with_rejection_response(|rejection| {
        let body = json!({ "error": rejection.kind(), "message": rejection.body_text() });
        (rejection.status(), Json(body)).into_response()
    });
    let app = Router::new().route("/webhook", post(handle).layer(layer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example quickstart`
//!
//! The smallest receiving app: one route with the signature layer and a typed event. Listens
//! on http://127.0.0.1:3000/webhook.

use axum::{Router, routing::post};
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
use tokio::net::TcpListener;

async fn handle(event: MeshagentEvent) {
    match event {
        MeshagentEvent::RoomStarted(room) => println!("room {} started", room.room_name),
        MeshagentEvent::RoomCall(call) => println!("call: join {}", call.room_url),
        other => println!("{}: {}", other.name(), other.data()),
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().init(); // INFO and up: refused webhooks, a missing secret

    // On the route, not the whole router: other paths keep their 404 and 405.
    let webhook = post(handle).layer(MeshagentSignatureLayer::from_env());
    let app = Router::new().route("/webhook", webhook);

    let listener = TcpListener::bind("127.0.0.1:3000").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

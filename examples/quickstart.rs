//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example quickstart` (listens on
//! http://127.0.0.1:8080/webhook); `cargo test --example quickstart` runs its test.

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

// On the route, not the whole router: other paths keep their 404 and 405.
fn app(layer: MeshagentSignatureLayer) -> Router {
    Router::new().route("/webhook", post(handle).layer(layer))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().init(); // INFO and up: refused webhooks, a missing secret
    let listener = TcpListener::bind("127.0.0.1:8080").await.unwrap();
    axum::serve(listener, app(MeshagentSignatureLayer::from_env())).await.unwrap();
}

#[cfg(test)]
mod tests {
    use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer, RoomStarted, Signer};
    use tower::ServiceExt; // oneshot

    #[tokio::test]
    async fn a_signed_event_is_accepted_and_a_forged_one_refused() {
        let app = super::app(MeshagentSignatureLayer::new("whsec_test"));
        let event = MeshagentEvent::from(RoomStarted::new("standup"));
        let signed = Signer::new("whsec_test").request("/webhook", event.name(), &event.data());
        assert_eq!(app.clone().oneshot(signed).await.unwrap().status(), 200);
        let forged = Signer::new("whsec_other").request("/webhook", event.name(), &event.data());
        assert_eq!(app.oneshot(forged).await.unwrap().status(), 401);
    }
}

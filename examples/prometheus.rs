//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example prometheus --features metrics`
//!
//! The webhook counters and histograms in Prometheus' text format at `GET /metrics`, next to
//! the layered `POST /webhook`, on http://127.0.0.1:3000.

use axum::Router;
use axum::routing::{get, post};
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
use metrics_exporter_prometheus::PrometheusBuilder;

async fn handle(event: MeshagentEvent) {
    println!("{}", event.name());
}

#[tokio::main]
async fn main() {
    let metrics = PrometheusBuilder::new().install_recorder().expect("the only recorder");
    let app = Router::new()
        .route("/webhook", post(handle).layer(MeshagentSignatureLayer::from_env()))
        .route("/metrics", get(move || async move { metrics.render() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

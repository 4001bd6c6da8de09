//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example prometheus --features metrics`
//!
//! The `metrics` feature with a Prometheus exporter: `POST /webhook` behind the signature
//! layer, `GET /metrics` for the scraper, on http://127.0.0.1:3000. After a delivery
//! (`meshagent-webhooks send http://127.0.0.1:3000/webhook room.started`), `curl
//! http://127.0.0.1:3000/metrics` shows, among others:
//!
//! ```text
//! meshagent_webhooks_requests_total{outcome="accepted",reason="none",event="room.started"} 1
//! meshagent_webhooks_payload_bytes_sum 112
//! meshagent_webhooks_payload_bytes_count 1
//! meshagent_webhooks_verify_seconds_count 1
//! ```
//!
//! A forged delivery adds `{outcome="rejected",reason="invalid_jwt",event="unknown"}`.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

async fn handle(event: MeshagentEvent) -> &'static str {
    println!("verified {}", event.name());
    "ok"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // INFO unless RUST_LOG says otherwise, so that refused webhooks (WARN) show. (Plain
    // `fmt::init()` with the `env-filter` feature shows only errors without RUST_LOG.)
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    // The global `metrics` recorder: the layer's counter and histograms are recorded into it.
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    // Without an exporter task of its own, the recorder needs its upkeep run now and then
    // (it drains the histograms).
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });

    let layer = MeshagentSignatureLayer::try_from_env()?;
    let app = Router::new()
        .route("/webhook", post(handle).layer(layer))
        // Not behind the layer: the scraper has no MeshAgent signature.
        .route("/metrics", get(move || async move { prometheus.render() }));

    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}/webhook and /metrics", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

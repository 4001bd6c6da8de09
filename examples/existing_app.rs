//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example existing_app`
//!
//! An app that already has routes and middleware (tracing, timeout, compression, CORS) and adds
//! a MeshAgent webhook: only `/webhook` gets the signature layer. Listens on
//! http://127.0.0.1:3000 until Ctrl-C.
//!
//! (To mount the built-in server's route instead of writing a handler, merge
//! `WebhookServer::new(handler).into_router()?` into the app.)

use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use http::{Method, StatusCode};
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

async fn index() -> &'static str {
    "my app"
}

async fn status() -> Json<Value> {
    Json(json!({"status": "up"}))
}

async fn webhook(event: MeshagentEvent) -> Json<Value> {
    tracing::info!(event = event.name(), "verified MeshAgent webhook");
    Json(json!({"ok": true}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info,tower_http=debug").init();

    // Fail now, not on the first request, when MESHAGENT_WEBHOOK_SECRET is missing.
    let signature = MeshagentSignatureLayer::try_from_env().unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(1);
    });

    let app = Router::new()
        .route("/", get(index))
        .route("/api/status", get(status))
        // The layer goes on this route only: the other routes never see it.
        .route("/webhook", post(webhook).layer(signature))
        // App-wide layers wrap every route, so they run *before* the route's signature layer.
        // None of them may change the request body: the signature layer must hash the exact
        // bytes MeshAgent signed.
        .layer(
            ServiceBuilder::new()
                // Logs every request, webhooks included; reads no body.
                .layer(TraceLayer::new_for_http())
                // Also bounds how long the signature layer waits for a slow body.
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(10),
                ))
                // Compresses responses only: safe.
                .layer(CompressionLayer::new())
                // Adds headers only: safe. (MeshAgent is not a browser; CORS is for the app.)
                .layer(CorsLayer::new().allow_origin(Any).allow_methods([Method::GET])),
            // NOT here: `RequestDecompressionLayer`, or anything else that rewrites request
            // bodies. Placed app-wide it would run before the signature layer, which would then
            // hash other bytes than MeshAgent signed and answer 401 to every webhook. If other
            // routes need it, put it on those routes only.
        );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

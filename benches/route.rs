//! The routes of the load benchmark (`examples/load/`), in process: one axum `Router` called
//! with `oneshot` and its response body read, as a server would, without the network.
//!
//! - `plain`: `Json<serde_json::Value>`, no layer;
//! - `identity`: the same handler behind tower's `Identity` layer, which does nothing: what axum
//!   charges for any layer on a route (it wraps and boxes the route again);
//! - `floor`: the identity route after the two hashes any verifier computes (HMAC-SHA256 of the
//!   signing input, SHA-256 of the body), as the load benchmark's `/floor` route serves it;
//! - `layered`: `MeshagentSignatureLayer` + `MeshagentEvent`.
//!
//! The request is the 112-byte event as hyper hands it over (one chunk), built outside the
//! timed part. Each comparison runs [`common::ROUNDS`] times with its sides alternating; ids
//! end in the round (`route/identity/r2`).
//!
//! Run with: `cargo bench --bench route` (see BENCHMARKS.md for the figures).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use meshagent_webhooks::{MESHAGENT_SIGNATURE, MeshagentSignatureLayer, Signer};
use tower::ServiceExt;
use tower::layer::util::Identity;

use common::routes::{layered, plain, plain_after_hashes};
use common::{ROUNDS, SECRET, round_label};

/// Sends one request through `router` and reads the whole answer, which must be 200.
fn answer(router: &Router, request: Request<Body>) -> Bytes {
    let response = router
        .clone()
        .oneshot(request)
        .now_or_never()
        .expect("nothing here waits")
        .unwrap_or_else(|never| match never {});
    assert_eq!(response.status(), 200);
    response
        .into_body()
        .collect()
        .now_or_never()
        .expect("the answer is ready")
        .expect("the answer body")
        .to_bytes()
}

fn route(c: &mut Criterion) {
    let router = Router::new()
        .route("/plain", post(plain))
        .route("/identity", post(plain).layer(Identity::new()))
        .route("/floor", post(plain_after_hashes).layer(Identity::new()))
        .route(
            "/layered",
            post(layered).layer(MeshagentSignatureLayer::new(SECRET)),
        );
    let payload = Bytes::from(common::small_event());
    let signature = HeaderValue::from_str(&Signer::new(SECRET).signature_header(&payload))
        .expect("a token is a valid header value");
    let request = |path: &str| {
        let mut request = Request::post(path)
            .body(Body::from(payload.clone()))
            .expect("valid request");
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(payload.len()));
        headers.insert(MESHAGENT_SIGNATURE, signature.clone());
        request
    };
    let mut group = c.benchmark_group("route");
    for round in 0..ROUNDS {
        let mut sides = ["plain", "identity", "floor", "layered"];
        if round % 2 == 1 {
            sides.reverse();
        }
        for side in sides {
            let path = format!("/{side}");
            group.bench_function(BenchmarkId::new(side, round_label(round)), |b| {
                b.iter_batched(
                    || request(&path),
                    |request| answer(&router, request),
                    BatchSize::SmallInput,
                );
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = route
}
criterion_main!(benches);

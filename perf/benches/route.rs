//! The routes of the load benchmark (the `load` binary), in process: one axum `Router` called
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
//! timed part. Each comparison runs [`ROUNDS`] times with its sides alternating; ids
//! end in the round (`route/identity/r2`).
//!
//! Run with: `cargo bench -p meshagent-webhooks-perf --bench route` (see BENCHMARKS.md for the
//! figures).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use bytes::Bytes;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use http::HeaderValue;
use meshagent_webhooks::Signer;

use meshagent_webhooks_perf::routes::{answer, router, signed_request};
use meshagent_webhooks_perf::{ROUNDS, SECRET, config, round_label, small_event};

fn route(c: &mut Criterion) {
    let router = router();
    let payload = Bytes::from(small_event());
    let signature = HeaderValue::from_str(&Signer::new(SECRET).signature_header(&payload))
        .expect("a token is a valid header value");
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
                    || signed_request(&path, &payload, &signature),
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
    config = config();
    targets = route
}
criterion_main!(benches);

//! [`MeshagentSignatureLayer`] end to end on a `tower::service_fn`, next to the plain service a
//! user would otherwise write: read the body, parse it as `serde_json::Value`, answer with the
//! event name. The layered service answers the same from [`MeshagentEvent`], parsed from the
//! payload the layer verified.
//!
//! The request is built outside the timed part. Bodies are `Full` (one chunk, as when a test or
//! another layer hands over buffered bytes) and, for 1 MiB, 64 chunks of 16 KiB (as hyper
//! delivers a large body: collecting it copies the bytes once, in both services).
//!
//! Each comparison runs [`ROUNDS`] times with its sides alternating; ids end in the
//! round (`layer/plain/112B/r2`).
//!
//! Run with: `cargo bench -p meshagent-webhooks-perf --bench layer` (see BENCHMARKS.md for the
//! figures).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::convert::Infallible;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, StreamBody};
use meshagent_webhooks::{
    MESHAGENT_SIGNATURE, MeshagentEvent, MeshagentSignatureLayer, Signer, VerifiedWebhook,
};
use tower::{Service, ServiceBuilder, service_fn};

use meshagent_webhooks_perf::{ROUNDS, SECRET, SIZES, config, event_of_size, respond, round_label};

type Chunks = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<ChunkResult>>>;
type ChunkResult = Result<Frame<Bytes>, Infallible>;

/// A signed request for `payload`, with `body` as its body.
fn request<B>(payload: &Bytes, signature: &HeaderValue, body: B) -> Request<B> {
    let mut request = Request::post("/webhook").body(body).expect("valid request");
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(payload.len()));
    headers.insert(MESHAGENT_SIGNATURE, signature.clone());
    request
}

/// `payload` as a stream of `chunk`-byte frames (slices of the same buffer, no copy).
fn chunked(payload: &Bytes, chunk: usize) -> Chunks {
    let frames: Vec<ChunkResult> = (0..payload.len())
        .step_by(chunk)
        .map(|start| {
            let end = (start + chunk).min(payload.len());
            Ok(Frame::data(payload.slice(start..end)))
        })
        .collect();
    StreamBody::new(futures_util::stream::iter(frames))
}

/// What a plain `Json<serde_json::Value>` handler does: collect the body, parse, answer.
async fn plain<B>(request: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    let bytes = request.into_body().collect().await.expect("body").to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    let name = value["event"].as_str().expect("event name").to_owned();
    Ok(Response::new(Full::new(Bytes::from(name))))
}

/// The same answer from the verified event.
async fn typed(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let webhook = request.extensions().get::<VerifiedWebhook>().expect("the layer ran");
    let event = MeshagentEvent::from_json(webhook.payload()).expect("event");
    Ok(Response::new(Full::new(Bytes::from(event.name().to_owned()))))
}

/// One round of the plain service against `layered`, on requests made by `make` (outside the
/// timed part); ids `plain/{label}/r{round}` and `layered/{label}/r{round}`.
fn plain_against_layered<B, L, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    round: usize,
    make: impl Fn() -> Request<B> + Copy,
    layered: &L,
) where
    B: Body,
    B::Error: std::fmt::Debug,
    L: Service<Request<B>, Response = Response<R>, Error = Infallible> + Clone,
{
    let id = |side: &str| BenchmarkId::new(format!("{side}/{label}"), round_label(round));
    group.bench_function(id("plain"), |b| {
        let service = service_fn(plain::<B>);
        b.iter_batched(make, |request| respond(&service, request), BatchSize::SmallInput);
    });
    group.bench_function(id("layered"), |b| {
        b.iter_batched(make, |request| respond(layered, request), BatchSize::SmallInput);
    });
}

fn layer(c: &mut Criterion) {
    let signer = Signer::new(SECRET);
    let layered =
        ServiceBuilder::new().layer(MeshagentSignatureLayer::new(SECRET)).service_fn(typed);
    let inputs: Vec<(&str, Bytes, HeaderValue)> = SIZES
        .iter()
        .map(|&(size, label)| {
            let payload = Bytes::from(event_of_size(size));
            let signature =
                HeaderValue::from_str(&signer.signature_header(&payload)).expect("header value");
            (label, payload, signature)
        })
        .collect();
    let mut group = c.benchmark_group("layer");
    for round in 0..ROUNDS {
        for (label, payload, signature) in &inputs {
            group.throughput(Throughput::Bytes(payload.len() as u64));
            let full = || request(payload, signature, Full::new(payload.clone()));
            plain_against_layered(&mut group, label, round, full, &layered);
        }
        // 1 MiB as a server receives it: in chunks, which both services copy once to join.
        let (_, payload, signature) = &inputs[inputs.len() - 1];
        group.throughput(Throughput::Bytes(payload.len() as u64));
        let streamed = || request(payload, signature, chunked(payload, 16 * 1024));
        plain_against_layered(&mut group, "1MiB_in_16KiB_chunks", round, streamed, &layered);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = layer
}
criterion_main!(benches);

//! Heap allocations per request, counted by a global allocator on the calling thread: the
//! verification core allocates nothing for a MeshAgent token, and the layer allocates only
//! the `VerifiedWebhook` extension, never a key, a setting, its future or a copy of the body. Counts (by `allocation-counter`, per thread), not
//! timings: these tests are deterministic.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Full;
use meshagent_webhooks::{
    MESHAGENT_SIGNATURE, MESHAGENT_WEBHOOK, MeshagentSignatureLayer, SignatureVerifier, Signer,
    VerifiedWebhook,
};
use tower::{Layer, Service, service_fn};

const SECRET: &str = "whsec_allocation_tests";
const PAYLOAD: &[u8] = br#"{"event": "room.started", "data": {"room_name": "standup-7", "room_url": "wss://rooms.meshagent.com/standup-7"}}"#;

/// Runs `work` and returns its result with the number of heap allocations it made on this
/// thread.
fn allocations<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let mut result = None;
    let info = allocation_counter::measure(|| result = Some(work()));
    (result.expect("the work ran"), info.count_total)
}

/// Polls a future that never waits (every body here is in memory) to completion.
fn complete<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited although nothing it reads can"),
    }
}

fn signature() -> String {
    Signer::new(SECRET).signature_header(PAYLOAD)
}

#[test]
fn verifying_a_meshagent_token_allocates_nothing() {
    let header = signature();
    let verifier = SignatureVerifier::new(SECRET);
    let rotated = SignatureVerifier::from_secrets(["whsec_old", SECRET]);
    for verifier in [&verifier, &rotated] {
        let (verified, count) = allocations(|| verifier.verify(Some(header.as_bytes()), PAYLOAD));
        assert!(verified.is_ok());
        assert_eq!(count, 0, "verify allocated");
    }
}

#[test]
fn a_rejected_digest_allocates_nothing_either() {
    let header = signature();
    let verifier = SignatureVerifier::new(SECRET);
    let (verified, count) = allocations(|| verifier.verify(Some(header.as_bytes()), b"{}"));
    assert!(verified.is_err());
    assert_eq!(count, 0, "a digest mismatch allocated");
}

/// Allocations of one request through the layer, around an inner service that allocates
/// nothing itself. The request is built before counting starts.
fn layer_allocations(request: Request<Full<Bytes>>) -> u64 {
    let mut service = MeshagentSignatureLayer::new(SECRET).layer(service_fn(
        |request: Request<Full<Bytes>>| async move {
            assert!(request.extensions().get::<VerifiedWebhook>().is_some());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        },
    ));
    // The first request on a thread also sets up thread-locals: not counted.
    let _ = complete(service.call(signed_request(Some(PAYLOAD.len()))));
    let (response, count) = allocations(|| {
        let response = complete(service.call(request)).unwrap();
        drop(response);
    });
    let () = response;
    count
}

fn signed_request(content_length: Option<usize>) -> Request<Full<Bytes>> {
    let mut request = Request::post("/webhook")
        .header(header::CONTENT_TYPE, "application/json")
        .header(MESHAGENT_SIGNATURE, signature());
    if let Some(length) = content_length {
        request = request.header(header::CONTENT_LENGTH, length);
    }
    request.body(Full::new(Bytes::from_static(PAYLOAD))).unwrap()
}

#[test]
fn the_layer_allocates_only_the_extension_and_its_delivery_record() {
    // The response future is one box. The `VerifiedWebhook` extension takes three: http's
    // extension map is a boxed hash map of boxed values, made on the first insert (an axum
    // request already has the map, for its `MatchedPath`). When anyone listens (here: the
    // `metrics` feature), the record the extractor writes the event to, for the span and the
    // metrics, is two more (the record and its own extension), and the counter's label set
    // one more.
    let count = layer_allocations(signed_request(Some(PAYLOAD.len())));
    let expected = 4 + 3 * u64::from(cfg!(feature = "metrics"));
    assert!(count <= expected, "{count} allocations for one request");
}

#[test]
fn a_missing_content_length_costs_the_header_value() {
    // The value, and at most one growth of the header map to hold it.
    let with = layer_allocations(signed_request(Some(PAYLOAD.len())));
    let without = layer_allocations(signed_request(None));
    assert!(without > with && without <= with + 2, "{without} vs {with}");
}

#[test]
fn a_header_payload_costs_its_copy_and_two_header_values_at_most() {
    // The payload copied out of the header, its `Content-Length` value, and at most two
    // growths of the header map for `Content-Length` and `Content-Type`.
    let with_body = layer_allocations(signed_request(Some(PAYLOAD.len())));
    let request = Request::post("/webhook")
        .header(MESHAGENT_WEBHOOK, std::str::from_utf8(PAYLOAD).unwrap())
        .header(MESHAGENT_SIGNATURE, signature())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let with_header = layer_allocations(request);
    assert!(with_header <= with_body + 4, "{with_header} vs {with_body}");
}

/// Allocations of one request through an axum `Router`, answer body read, counted from the
/// router call: what a server pays besides reading and writing the connection.
#[cfg(feature = "axum")]
mod through_axum {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use meshagent_webhooks::MeshagentEvent;

    use super::*;

    async fn plain(axum::Json(value): axum::Json<serde_json::Value>) -> String {
        value["event"].as_str().unwrap_or_default().to_owned()
    }

    async fn layered(event: MeshagentEvent) -> String {
        event.name().to_owned()
    }

    fn route_allocations(router: &Router, path: &str) -> u64 {
        let request = || {
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, PAYLOAD.len())
                .header(MESHAGENT_SIGNATURE, signature())
                .body(Body::from(PAYLOAD))
                .unwrap()
        };
        let answer = |request: Request<Body>| {
            let response = complete(router.clone().call(request)).unwrap();
            assert_eq!(response.status(), 200, "{path}");
            complete(response.into_body().collect()).unwrap().to_bytes()
        };
        // The first request on a thread also sets up thread-locals: not counted.
        answer(request());
        let request = request();
        let (body, count) = allocations(|| answer(request));
        assert_eq!(body, "room.started");
        count
    }

    #[test]
    fn the_layered_route_allocates_no_more_than_the_plain_json_route() {
        // Both routes build the same `Value` map; the layer's own allocations (the extension,
        // the boxed future) are no more than what `Json<Value>` spends besides. With the
        // `metrics` feature the delivery record rides along: one more, in its own extension.
        let router = Router::new()
            .route("/plain", post(plain))
            .route("/layered", post(layered).layer(MeshagentSignatureLayer::new(SECRET)));
        let plain = route_allocations(&router, "/plain");
        let layered = route_allocations(&router, "/layered");
        let record = u64::from(cfg!(feature = "metrics"));
        assert!(layered <= plain + record, "layered {layered}, plain {plain}");
    }
}

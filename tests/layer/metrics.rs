//! The `metrics` feature: every delivery through the layer (and the `MeshagentEvent`
//! extractor) counts once in `meshagent_webhooks_requests_total` with its `outcome`, `reason`
//! and `event` labels, and every verified one adds one sample to the
//! `meshagent_webhooks_payload_bytes` and `meshagent_webhooks_verify_seconds` histograms.
//!
//! Each test installs its own recorder for its own thread (`metrics::with_local_recorder`) and
//! drives an axum `Router` on a current-thread runtime inside it, so tests do not see each
//! other's metrics.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{Request, StatusCode, header};
use meshagent_webhooks::{
    MESHAGENT_SIGNATURE, MESHAGENT_WEBHOOK, MeshagentEvent, MeshagentSignatureLayer, Signer,
};
use metrics::Recorder;
use metrics_exporter_prometheus::PrometheusBuilder;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;
use tower::ServiceExt;

const SECRET: &str = "whsec_metrics_tests_93be1f";
const REQUESTS: &str = "meshagent_webhooks_requests_total";
const PAYLOAD_BYTES: &str = "meshagent_webhooks_payload_bytes";
const VERIFY_SECONDS: &str = "meshagent_webhooks_verify_seconds";

/// Runs `test` on a current-thread runtime with `recorder` as this thread's recorder.
fn with_recorder<F: Future<Output = ()>>(recorder: &dyn Recorder, test: impl FnOnce() -> F) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    metrics::with_local_recorder(recorder, || {
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), test()).await.expect("test in time")
        })
    });
}

fn app(layer: MeshagentSignatureLayer) -> Router {
    async fn handle(event: MeshagentEvent) -> String {
        event.name().to_owned()
    }
    Router::new().route("/webhook", post(handle).layer(layer))
}

async fn deliver(layer: &MeshagentSignatureLayer, request: Request<Body>) -> StatusCode {
    app(layer.clone()).oneshot(request).await.unwrap().status()
}

fn request(signature: Option<String>, body: &str) -> Request<Body> {
    let mut builder = Request::post("/webhook").header(header::CONTENT_TYPE, "application/json");
    if let Some(signature) = signature {
        builder = builder.header(MESHAGENT_SIGNATURE, signature);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

fn signed(body: &str) -> Request<Body> {
    request(Some(Signer::new(SECRET).signature_header(body.as_bytes())), body)
}

/// What one delivery recorded: the counters that moved and the histogram samples.
#[derive(Debug, PartialEq)]
struct Recorded {
    /// `(outcome, reason, event)` of each non-zero `meshagent_webhooks_requests_total`, with its
    /// increment.
    requests: Vec<([String; 3], u64)>,
    payload_bytes: Vec<f64>,
    verify_seconds: Vec<f64>,
}

/// Reads and resets everything recorded since the last call (the debugging recorder's snapshot
/// swaps counters to zero and drains histograms). Any other metric fails the test.
fn take(snapshotter: &Snapshotter) -> Recorded {
    let mut recorded =
        Recorded { requests: Vec::new(), payload_bytes: Vec::new(), verify_seconds: Vec::new() };
    for (key, _unit, _description, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = key.into_parts();
        let labels: Vec<(String, String)> =
            key.labels().map(|label| (label.key().to_owned(), label.value().to_owned())).collect();
        match (kind, key.name(), value) {
            (MetricKind::Counter, REQUESTS, DebugValue::Counter(0)) => {}
            (MetricKind::Counter, REQUESTS, DebugValue::Counter(count)) => {
                let names: Vec<&str> = labels.iter().map(|(name, _)| name.as_str()).collect();
                assert_eq!(names, ["outcome", "reason", "event"], "the counter's labels");
                let values = labels.into_iter().map(|(_, value)| value).collect::<Vec<_>>();
                recorded.requests.push((values.try_into().unwrap(), count));
            }
            (MetricKind::Histogram, name, DebugValue::Histogram(samples)) => {
                assert!(labels.is_empty(), "{name} has no labels: {labels:?}");
                let samples = samples.into_iter().map(|sample| sample.0);
                match name {
                    PAYLOAD_BYTES => recorded.payload_bytes.extend(samples),
                    VERIFY_SECONDS => recorded.verify_seconds.extend(samples),
                    other => panic!("unexpected histogram {other}"),
                }
            }
            (kind, name, value) => panic!("unexpected metric {kind:?} {name} {value:?}"),
        }
    }
    recorded
}

fn labels(outcome: &str, reason: &str, event: &str) -> [String; 3] {
    [outcome.to_owned(), reason.to_owned(), event.to_owned()]
}

/// Asserts one delivery's record: one count with these labels; for a verified payload of
/// `verified_bytes`, one sample in each histogram (a verification time under 5 s), else none.
fn assert_recorded(
    recorded: Recorded,
    (outcome, reason, event): (&str, &str, &str),
    verified_bytes: Option<usize>,
) {
    assert_eq!(recorded.requests, [(labels(outcome, reason, event), 1)], "{recorded:?}");
    match verified_bytes {
        Some(bytes) => {
            assert_eq!(recorded.payload_bytes, [bytes as f64], "{recorded:?}");
            assert_eq!(recorded.verify_seconds.len(), 1, "{recorded:?}");
            let seconds = recorded.verify_seconds[0];
            assert!((0.0..5.0).contains(&seconds), "verify_seconds {seconds}");
        }
        None => {
            assert_eq!(recorded.payload_bytes, [] as [f64; 0], "{recorded:?}");
            assert_eq!(recorded.verify_seconds, [] as [f64; 0], "{recorded:?}");
        }
    }
}

#[test]
fn each_delivery_counts_once_with_its_outcome_reason_and_event() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_recorder(&recorder, || async {
        let layer = MeshagentSignatureLayer::new(SECRET);

        let started = Signer::event_payload("room.started", &json!({"room_name": "standup"}));
        assert_eq!(deliver(&layer, signed(&started)).await, StatusCode::OK);
        let verified = Some(started.len());
        assert_recorded(take(&snapshotter), ("accepted", "none", "room.started"), verified);

        let forged = Signer::new("whsec_forger").signature_header(started.as_bytes());
        assert_eq!(deliver(&layer, request(Some(forged), &started)).await, 401);
        assert_recorded(take(&snapshotter), ("rejected", "invalid_jwt", "unknown"), None);

        let custom = Signer::event_payload("agent.custom", &json!({"n": 1}));
        assert_eq!(deliver(&layer, signed(&custom)).await, StatusCode::OK);
        let verified = Some(custom.len());
        assert_recorded(take(&snapshotter), ("accepted", "none", "unknown"), verified);

        // A room.call without its token: verified, then refused by the extractor. The event
        // could not be read, so its label is `unknown`, not `room.call`.
        let call = Signer::event_payload("room.call", &json!({"room_name": "r", "room_url": "u"}));
        assert_eq!(deliver(&layer, signed(&call)).await, StatusCode::UNPROCESSABLE_ENTITY);
        let verified = Some(call.len());
        assert_recorded(take(&snapshotter), ("rejected", "invalid_event", "unknown"), verified);
    });
}

#[test]
fn every_rejection_reason_is_its_kind() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_recorder(&recorder, || async {
        let layer = MeshagentSignatureLayer::new(SECRET).with_max_body_size(64);
        let body = Signer::event_payload("room.ended", &json!({"room_name": "standup"}));

        assert_eq!(deliver(&layer, request(None, &body)).await, 401);
        assert_recorded(take(&snapshotter), ("rejected", "missing_signature", "unknown"), None);

        let other = Signer::new(SECRET).signature_header(b"other bytes");
        assert_eq!(deliver(&layer, request(Some(other), &body)).await, 401);
        assert_recorded(take(&snapshotter), ("rejected", "digest_mismatch", "unknown"), None);

        let large = format!("{body}{}", " ".repeat(64));
        assert_eq!(deliver(&layer, signed(&large)).await, StatusCode::PAYLOAD_TOO_LARGE);
        assert_recorded(take(&snapshotter), ("rejected", "payload_too_large", "unknown"), None);

        let text = Request::post("/webhook")
            .header(MESHAGENT_SIGNATURE, Signer::new(SECRET).signature_header(body.as_bytes()))
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(body.clone()))
            .unwrap();
        assert_eq!(deliver(&layer, text).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let verified = Some(body.len());
        assert_recorded(
            take(&snapshotter),
            ("rejected", "unsupported_content_type", "unknown"),
            verified,
        );

        let array = "[1, 2]";
        assert_eq!(deliver(&layer, signed(array)).await, StatusCode::BAD_REQUEST);
        assert_recorded(
            take(&snapshotter),
            ("rejected", "invalid_request_body", "unknown"),
            Some(array.len()),
        );

        let unconfigured = MeshagentSignatureLayer::from_secrets(Vec::<String>::new());
        assert_eq!(deliver(&unconfigured, signed(&body)).await, 500);
        assert_recorded(take(&snapshotter), ("rejected", "secret_not_configured", "unknown"), None);
    });
}

#[test]
fn a_header_payload_is_measured_by_the_header_bytes_not_the_body() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_recorder(&recorder, || async {
        let layer = MeshagentSignatureLayer::new(SECRET);
        let payload = Signer::event_payload("room.ended", &json!({"room_name": "standup"}));
        let request = Request::post("/webhook")
            .header(MESHAGENT_WEBHOOK, payload.as_str())
            .header(MESHAGENT_SIGNATURE, Signer::new(SECRET).signature_header(payload.as_bytes()))
            .body(Body::from("an unsigned body that is thrown away"))
            .unwrap();
        assert_eq!(deliver(&layer, request).await, StatusCode::OK);
        let verified = Some(payload.len());
        assert_recorded(take(&snapshotter), ("accepted", "none", "room.ended"), verified);
    });
}

#[test]
fn a_prometheus_recorder_renders_the_counter_and_the_histograms() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let body = Signer::event_payload("room.started", &json!({"room_name": "standup"}));
    with_recorder(&recorder, || async {
        let layer = MeshagentSignatureLayer::new(SECRET);
        assert_eq!(deliver(&layer, signed(&body)).await, StatusCode::OK);
        assert_eq!(deliver(&layer, signed(&body)).await, StatusCode::OK);
        assert_eq!(deliver(&layer, request(None, &body)).await, 401);
    });
    let text = handle.render();
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        r#"meshagent_webhooks_requests_total{outcome="accepted",reason="none",event="room.started"} 2"#,
        r#"meshagent_webhooks_requests_total{outcome="rejected",reason="missing_signature",event="unknown"} 1"#,
        &format!("meshagent_webhooks_payload_bytes_sum {}", 2 * body.len()),
        "meshagent_webhooks_payload_bytes_count 2",
        "meshagent_webhooks_verify_seconds_count 2",
    ] {
        assert!(lines.contains(&expected), "{expected:?} is not in:\n{text}");
    }
}

#[test]
fn an_unsigned_delivery_counts_as_unverified() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_recorder(&recorder, || async {
        let layer = MeshagentSignatureLayer::dangerously_accept_unsigned().unwrap();
        let body = Signer::event_payload("room.ended", &json!({"room_name": "r"}));
        let junk = request(Some("Bearer junk".to_owned()), &body);
        assert_eq!(deliver(&layer, junk).await, StatusCode::OK);
        let accepted = Some(body.len());
        assert_recorded(take(&snapshotter), ("unverified", "none", "room.ended"), accepted);
    });
}

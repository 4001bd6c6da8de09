//! What an operator sees: a wrong secret shows as one WARN under
//! `meshagent_webhooks::rejection` with its reason (never the token, the secret or the
//! payload), a flood of forged requests as one WARN per 10 s with the count of the others, and
//! each delivery as one `meshagent_webhook` span with `event`, `outcome`, `reason`,
//! `payload_bytes`, `secret_index` and `elapsed_us`.
//!
//! The WARN test reads the global TRACE capture of `common::Capture` (installed once; it is the
//! only test here that logs to the global subscriber). The span test records span fields with
//! a small `tracing_subscriber::Layer`, as this thread's default subscriber.

#![cfg(feature = "axum")]

#[allow(dead_code, unused_imports, reason = "this binary uses part of the shared helpers")]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use common::{Capture, TestServer, recording_app, send_raw};
use http::{Request, StatusCode, header};
use meshagent_webhooks::{MESHAGENT_SIGNATURE, MeshagentEvent, MeshagentSignatureLayer, Signer};
use serde_json::{Map, Value, json};
use tower::ServiceExt;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const REJECTION_TARGET: &str = "meshagent_webhooks::rejection";

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(Capture::install_trace)
}

/// The WARN lines of the rejection target in `text`.
fn rejection_warnings(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.contains(" WARN ") && line.contains(&format!(" {REJECTION_TARGET}: ")))
        .collect()
}

#[tokio::test]
async fn a_wrong_secret_is_warned_about_once_per_interval_and_never_shows_token_secret_or_payload()
{
    let capture = capture();
    let secret = "whsec_visibility_receiver_never_logged_51c0";
    let senders_secret = "whsec_visibility_sender_never_logged_7a2e";
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(secret));
    let server = TestServer::start(app).await;
    let body = Signer::event_payload(
        "room.call",
        &json!({
            "room_name": "visibility-room-never-logged",
            "room_url": "wss://rooms.example/visibility-url-never-logged",
            "token": "visibility-participant-token-never-logged",
        }),
    );
    let forged = Signer::new(senders_secret).signature_header(body.as_bytes());
    let headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Meshagent-Signature".to_owned(), forged.clone()),
    ];
    let forge = || send_raw(server.addr, "POST", "/webhook", &headers, body.as_bytes());
    let reason = "reason=invalid jwt: signature was not made with a configured secret";

    let start = capture.text().len();
    let first = forge().await;
    assert_eq!((first.status, first.utf8()), (401, "invalid jwt"));
    let text = capture.text()[start..].to_owned();
    let warnings = rejection_warnings(&text);
    assert_eq!(warnings.len(), 1, "one WARN for the first rejection:\n{text}");
    // The delivery's span is recorded before the WARN, so the line carries its fields too.
    let span = "meshagent_webhook{outcome=\"rejected\" reason=\"invalid_jwt\"";
    for part in
        ["status=401", "kind=\"invalid_jwt\"", reason, "suppressed_since_last_warning=0", span]
    {
        assert!(warnings[0].contains(part), "{part:?} is not in {:?}", warnings[0]);
    }

    // 49 more at once: counted, not logged (each still has its DEBUG line).
    let start = capture.text().len();
    for _ in 0..49 {
        assert_eq!(forge().await.status, 401);
    }
    let text = capture.text()[start..].to_owned();
    assert_eq!(rejection_warnings(&text), [] as [&str; 0], "no WARN within the interval");
    let debug_lines = text
        .lines()
        .filter(|line| line.contains(" DEBUG ") && line.contains(REJECTION_TARGET))
        .filter(|line| line.contains("rejected webhook request") && line.contains(reason))
        .count();
    assert_eq!(debug_lines, 49, "one DEBUG per rejection:\n{text}");

    // The next interval: one WARN that counts the 49 in between.
    tokio::time::sleep(Duration::from_millis(10_200)).await;
    let start = capture.text().len();
    assert_eq!(forge().await.status, 401);
    let text = capture.text()[start..].to_owned();
    let warnings = rejection_warnings(&text);
    assert_eq!(warnings.len(), 1, "{text}");
    for part in ["rejected webhook request", "suppressed_since_last_warning=49", reason] {
        assert!(warnings[0].contains(part), "{part:?} is not in {:?}", warnings[0]);
    }
    assert!(seen.lock().unwrap().is_empty(), "no forged request reached the handler");

    let text = capture.text();
    let token = forged.strip_prefix("Bearer ").unwrap();
    let signature_segment = token.rsplit('.').next().unwrap();
    for forbidden in [
        secret,
        senders_secret,
        token,
        signature_segment,
        body.as_str(),
        "visibility-room-never-logged",
        "visibility-url-never-logged",
        "visibility-participant-token-never-logged",
    ] {
        assert!(!text.contains(forbidden), "the log shows {forbidden:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Span fields, recorded by a layer.

/// A closed `meshagent_webhook` span: its target, level and the fields that got values.
#[derive(Debug, Clone)]
struct SpanRecord {
    target: String,
    level: Level,
    fields: Map<String, Value>,
}

/// Records the fields of every `meshagent_webhook` span, from creation and `record` calls, and
/// keeps them when the span closes.
#[derive(Clone, Default)]
struct SpanFields {
    open: Arc<Mutex<HashMap<Id, SpanRecord>>>,
    closed: Arc<Mutex<Vec<SpanRecord>>>,
}

impl SpanFields {
    fn take_closed(&self) -> Vec<SpanRecord> {
        std::mem::take(&mut *self.closed.lock().unwrap())
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S> Layer<S> for SpanFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, _context: Context<'_, S>) {
        let metadata = attributes.metadata();
        if metadata.name() != "meshagent_webhook" {
            return;
        }
        let mut fields = Map::new();
        attributes.record(&mut Fields(&mut fields));
        let record =
            SpanRecord { target: metadata.target().to_owned(), level: *metadata.level(), fields };
        self.open.lock().unwrap().insert(id.clone(), record);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _context: Context<'_, S>) {
        if let Some(record) = self.open.lock().unwrap().get_mut(id) {
            values.record(&mut Fields(&mut record.fields));
        }
    }

    fn on_close(&self, id: Id, _context: Context<'_, S>) {
        if let Some(record) = self.open.lock().unwrap().remove(&id) {
            self.closed.lock().unwrap().push(record);
        }
    }
}

const NEW_SECRET: &str = "whsec_visibility_new";
const OLD_SECRET: &str = "whsec_visibility_old";

fn app() -> Router {
    async fn handle(event: MeshagentEvent) -> String {
        event.name().to_owned()
    }
    let layer = MeshagentSignatureLayer::from_secrets([NEW_SECRET, OLD_SECRET]);
    Router::new().route("/webhook", post(handle).layer(layer))
}

fn request(secret: &str, body: &str) -> Request<Body> {
    Request::post("/webhook")
        .header(header::CONTENT_TYPE, "application/json")
        .header(MESHAGENT_SIGNATURE, Signer::new(secret).signature_header(body.as_bytes()))
        .body(Body::from(body.to_owned()))
        .unwrap()
}

/// The one span the delivery of `request` closed, without `elapsed_us`, which is checked to be
/// there and under 5 s.
async fn delivery_span(spans: &SpanFields, request: Request<Body>, status: StatusCode) -> Value {
    let response = app().oneshot(request).await.unwrap();
    assert_eq!(response.status(), status);
    drop(response);
    let mut closed = spans.take_closed();
    assert_eq!(closed.len(), 1, "one span per delivery: {closed:?}");
    let SpanRecord { target, level, mut fields } = closed.remove(0);
    assert_eq!((target.as_str(), level), ("meshagent_webhooks", Level::INFO));
    let elapsed = fields.remove("elapsed_us").expect("elapsed_us is recorded");
    let elapsed = elapsed.as_u64().expect("elapsed_us is an integer");
    assert!(elapsed < 5_000_000, "elapsed_us {elapsed}");
    Value::Object(fields)
}

#[test]
fn each_delivery_span_carries_event_outcome_reason_payload_bytes_secret_index_and_elapsed_us() {
    let spans = SpanFields::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let started = Signer::event_payload("room.started", &json!({"room_name": "standup"}));
            assert_eq!(
                delivery_span(&spans, request(OLD_SECRET, &started), StatusCode::OK).await,
                json!({
                    "event": "room.started",
                    "outcome": "accepted",
                    "reason": "none",
                    "payload_bytes": started.len(),
                    "secret_index": 1,
                })
            );

            let ended = Signer::event_payload("room.ended", &json!({"room_name": "standup"}));
            assert_eq!(
                delivery_span(&spans, request(NEW_SECRET, &ended), StatusCode::OK).await,
                json!({
                    "event": "room.ended",
                    "outcome": "accepted",
                    "reason": "none",
                    "payload_bytes": ended.len(),
                    "secret_index": 0,
                })
            );

            // Refused before anything was verified: no event, size or secret to tell.
            let forged = request("whsec_forger", &started);
            assert_eq!(
                delivery_span(&spans, forged, StatusCode::UNAUTHORIZED).await,
                json!({"outcome": "rejected", "reason": "invalid_jwt"})
            );

            // Verified, then refused by the extractor: the event could not be read.
            let call = Signer::event_payload("room.call", &json!({"room_name": "r"}));
            assert_eq!(
                delivery_span(&spans, request(NEW_SECRET, &call), StatusCode::UNPROCESSABLE_ENTITY)
                    .await,
                json!({
                    "outcome": "rejected",
                    "reason": "invalid_event",
                    "payload_bytes": call.len(),
                    "secret_index": 0,
                })
            );
        });
    });
}

/// The tests that count the unsigned warning take turns: it carries nothing to tell them apart.
static UNSIGNED_WARNING: Mutex<()> = Mutex::new(());

const UNSIGNED: &str = "WARN meshagent_webhooks::config: accepting unsigned webhook deliveries";

#[test]
fn an_unsigned_layer_warns_when_made_and_each_delivery_span_says_unverified() {
    let _turn = UNSIGNED_WARNING.lock().unwrap_or_else(PoisonError::into_inner);
    let capture = capture();
    let start = capture.text().len();
    let layer = MeshagentSignatureLayer::dangerously_accept_unsigned().unwrap();
    let text = capture.text()[start..].to_owned();
    assert!(text.lines().any(|line| line.contains(UNSIGNED)), "{text}");

    let spans = SpanFields::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let ended = Signer::event_payload("room.ended", &json!({"room_name": "standup"}));
            let request = Request::post("/webhook")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(ended.clone()))
                .unwrap();
            let app = Router::new().route("/webhook", post(|| async {}).layer(layer));
            assert_eq!(app.oneshot(request).await.unwrap().status(), StatusCode::OK);
            let mut closed = spans.take_closed();
            assert_eq!(closed.len(), 1, "one span per delivery: {closed:?}");
            let mut fields = closed.remove(0).fields;
            fields.remove("elapsed_us");
            let expected =
                json!({"outcome": "unverified", "reason": "none", "payload_bytes": ended.len()});
            assert_eq!(Value::Object(fields), expected);
        });
    });
}

/// `run` checks the configuration once, before it binds: an unsigned server warns once.
#[cfg(feature = "server")]
#[test]
fn an_unsigned_server_warns_once_when_it_starts() {
    struct Nothing;
    impl meshagent_webhooks::WebhookHandler for Nothing {}

    let _turn = UNSIGNED_WARNING.lock().unwrap_or_else(PoisonError::into_inner);
    let capture = capture();
    let start = capture.text().len();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let server = meshagent_webhooks::WebhookServer::new(Nothing)
            .dangerously_accept_unsigned()
            .with_host("127.0.0.1")
            .with_port(0);
        let serving = tokio::spawn(server.run());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !capture.text()[start..].contains("listening on http://127.0.0.1:") {
            assert!(tokio::time::Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        serving.abort();
    });
    let text = capture.text()[start..].to_owned();
    assert_eq!(text.lines().filter(|line| line.contains(UNSIGNED)).count(), 1, "{text}");
}

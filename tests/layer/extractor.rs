//! `MeshagentEvent` through a real axum `Router`: typed variants, unknown events, content-type
//! and shape rejections, the answer when the layer is missing, and the values only Python's
//! `json.dumps` writes (NaN, Infinity, integers beyond 64 bits) over real TCP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Json;
use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use meshagent_webhooks::{
    MESHAGENT_SIGNATURE, MESHAGENT_WEBHOOK, MeshagentEvent, MeshagentSignatureLayer, Signer,
    VerifiedWebhook,
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{KeepAlive, TestServer};

const SECRET: &str = "whsec_extractor_tests";

/// Answers with a description of the typed event it got.
async fn describe(event: MeshagentEvent) -> String {
    match event {
        MeshagentEvent::RoomStarted(e) => format!("started {} {:?}", e.room_name, e.room_url),
        MeshagentEvent::RoomEnded(e) => format!("ended {}", e.room_name),
        MeshagentEvent::RoomCall(e) => {
            format!("call {} {} {} {:?}", e.room_name, e.room_url, e.token.expose(), e.arguments)
        }
        MeshagentEvent::StorageFileUpdated(e) => format!("updated {} {}", e.path, e.participant_id),
        MeshagentEvent::StorageFileDeleted(e) => format!("deleted {} {}", e.path, e.participant_id),
        MeshagentEvent::StorageFileMoved(e) => {
            format!("moved {} {} {}", e.source_path, e.destination_path, e.participant_id)
        }
        MeshagentEvent::Unknown(e) => format!("unknown {} {}", e.name, e.data),
        other => format!("other {}", other.name()),
    }
}

fn app() -> Router {
    Router::new().route("/webhook", post(describe)).layer(MeshagentSignatureLayer::new(SECRET))
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn signed(body: &str, content_type: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/webhook")
        .header(MESHAGENT_SIGNATURE, Signer::new(SECRET).signature_header(body.as_bytes()));
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

async fn event(name: &str, data: Value) -> (StatusCode, String) {
    let body = Signer::event_payload(name, &data);
    send(app(), signed(&body, Some("application/json"))).await
}

#[tokio::test]
async fn every_known_event_becomes_its_typed_variant() {
    let cases = [
        (
            "room.started",
            json!({"room_name": "r", "room_url": "wss://x/r"}),
            r#"started r Some("wss://x/r")"#,
        ),
        ("room.started", json!({"room_name": "r"}), "started r None"),
        ("room.ended", json!({"room_name": "r"}), "ended r"),
        (
            "room.call",
            json!({"room_name": "r", "room_url": "wss://x/r", "token": "t", "arguments": {"a": 1}}),
            r#"call r wss://x/r t Some({"a": Number(1)})"#,
        ),
        ("room.call", json!({"room_name": "r", "room_url": "u", "token": "t"}), "call r u t None"),
        (
            "storage.file.updated",
            json!({"path": "a.txt", "participant_id": "p"}),
            "updated a.txt p",
        ),
        (
            "storage.file.deleted",
            json!({"path": "a.txt", "participant_id": "p"}),
            "deleted a.txt p",
        ),
        (
            "storage.file.moved",
            json!({"source_path": "a", "destination_path": "b", "participant_id": "p"}),
            "moved a b p",
        ),
    ];
    for (name, data, expected) in cases {
        assert_eq!(event(name, data).await, (StatusCode::OK, expected.to_owned()), "{name}");
    }
}

#[tokio::test]
async fn unknown_events_are_kept_with_their_raw_data() {
    assert_eq!(
        event("agent.spawned", json!({"n": [1, 2]})).await,
        (StatusCode::OK, r#"unknown agent.spawned {"n":[1,2]}"#.to_owned())
    );
}

#[tokio::test]
async fn malformed_events_get_400_or_422() {
    let cases = [
        ("[1, 2]", StatusCode::BAD_REQUEST, "invalid request body: payload is not a JSON object"),
        ("not json", StatusCode::BAD_REQUEST, "invalid request body: payload is not valid JSON"),
        ("\u{feff}{}", StatusCode::BAD_REQUEST, "invalid request body: payload is not valid JSON"),
        (
            r#"{"data": {}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid event: `event` is missing or not a string",
        ),
        (
            r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u"}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid event: room.call: `token` is missing or not a string",
        ),
    ];
    for (body, status, reason) in cases {
        assert_eq!(
            send(app(), signed(body, Some("application/json"))).await,
            (status, reason.to_owned()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn body_payload_needs_a_json_content_type() {
    let body = Signer::event_payload("room.ended", &json!({"room_name": "r"}));
    for content_type in [Some("text/plain"), None, Some("application/jsonx")] {
        let (status, reason) = send(app(), signed(&body, content_type)).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
        assert_eq!(reason, "expected request with `Content-Type: application/json`");
    }
    for content_type in
        ["Application/JSON", "application/json; charset=utf-8", "application/vnd.x+json"]
    {
        let (status, _) = send(app(), signed(&body, Some(content_type))).await;
        assert_eq!(status, StatusCode::OK, "{content_type}");
    }
}

#[tokio::test]
async fn header_payload_needs_no_content_type() {
    let payload = Signer::event_payload("room.ended", &json!({"room_name": "from-header"}));
    let request = Request::get("/webhook")
        .header(MESHAGENT_WEBHOOK, payload.as_str())
        .header(MESHAGENT_SIGNATURE, Signer::new(SECRET).signature_header(payload.as_bytes()))
        .body(Body::empty())
        .unwrap();
    let app = Router::new()
        .route("/webhook", axum::routing::get(describe))
        .layer(MeshagentSignatureLayer::new(SECRET));
    assert_eq!(send(app, request).await, (StatusCode::OK, "ended from-header".to_owned()));
}

#[tokio::test]
async fn without_the_layer_the_extractor_answers_500_naming_it() {
    let app = Router::new().route("/webhook", post(describe));
    let body = Signer::event_payload("room.ended", &json!({"room_name": "r"}));
    let (status, reason) = send(app, signed(&body, Some("application/json"))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reason.contains("MeshagentSignatureLayer"), "{reason}");
}

#[tokio::test]
async fn the_extractor_leaves_the_body_for_other_extractors() {
    async fn both(event: MeshagentEvent, Json(body): Json<Value>) -> String {
        format!("{} {}", event.name(), body["data"]["room_name"])
    }
    async fn extension(Extension(verified): Extension<VerifiedWebhook>, body: String) -> String {
        format!("{} {}", verified.payload().len(), body.len())
    }
    let app = Router::new()
        .route("/both", post(both))
        .route("/extension", post(extension))
        .layer(MeshagentSignatureLayer::new(SECRET));
    let body = Signer::event_payload("room.ended", &json!({"room_name": "r"}));
    let mut request = signed(&body, Some("application/json"));
    *request.uri_mut() = "/both".parse().unwrap();
    assert_eq!(send(app.clone(), request).await, (StatusCode::OK, r#"room.ended "r""#.to_owned()));
    let mut request = signed(&body, Some("application/json"));
    *request.uri_mut() = "/extension".parse().unwrap();
    let expected = format!("{} {}", body.len(), body.len());
    assert_eq!(send(app, request).await, (StatusCode::OK, expected));
}

// ---------------------------------------------------------------------------------------------
// Values only Python's `json.dumps` writes.

/// Written by Python 3's `json.dumps` (MeshAgent's serialiser), e.g.
/// `python3 -c 'import json; print(json.dumps({"event": "x", "data": {"n": float("nan")}}))'`,
/// with `float("inf")`, `float("-inf")` and `2**70` for the others.
const PYTHON_NAN: &str = r#"{"event": "x", "data": {"n": NaN}}"#;
const PYTHON_INFINITY: &str = r#"{"event": "x", "data": {"n": Infinity}}"#;
const PYTHON_MINUS_INFINITY: &str = r#"{"event": "x", "data": {"n": -Infinity}}"#;
const PYTHON_2_POW_70: &str = r#"{"event": "x", "data": {"n": 1180591620717411303424}}"#;

const NAN_OR_INFINITY: &str =
    "invalid request body: payload has NaN or Infinity, which JSON cannot carry";
const BEYOND_64_BITS: &str =
    "invalid request body: payload has an integer beyond 64 bits, which would lose precision";

fn python_cases() -> [(&'static str, &'static str); 4] {
    [
        (PYTHON_NAN, NAN_OR_INFINITY),
        (PYTHON_INFINITY, NAN_OR_INFINITY),
        (PYTHON_MINUS_INFINITY, NAN_OR_INFINITY),
        (PYTHON_2_POW_70, BEYOND_64_BITS),
    ]
}

/// `/event` takes a `MeshagentEvent`, `/raw` the `VerifiedWebhook` (it answers the payload and
/// records it); both behind the layer.
async fn python_app() -> (TestServer, Arc<Mutex<Vec<Bytes>>>, Arc<AtomicUsize>) {
    let raw_seen = Arc::new(Mutex::new(Vec::new()));
    let events = Arc::new(AtomicUsize::new(0));
    let (raw, counted) = (raw_seen.clone(), events.clone());
    let app = Router::new()
        .route(
            "/event",
            post(move |_event: MeshagentEvent| async move {
                counted.fetch_add(1, Ordering::SeqCst);
                "event"
            }),
        )
        .route(
            "/raw",
            post(move |Extension(webhook): Extension<VerifiedWebhook>| async move {
                raw.lock().unwrap().push(webhook.payload().clone());
                webhook.payload().clone()
            }),
        )
        .layer(MeshagentSignatureLayer::new(SECRET));
    (TestServer::start(app).await, raw_seen, events)
}

fn python_request(path: &str, body: &str) -> Vec<u8> {
    let signature = Signer::new(SECRET).signature_header(body.as_bytes());
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn python_nan_infinity_and_big_integers_are_refused_by_the_extractor_with_400_naming_them() {
    let (server, _, events) = python_app().await;
    let mut connection = KeepAlive::connect(server.addr).await;
    for (body, reason) in python_cases() {
        let response = connection.round_trip(&python_request("/event", body)).await.unwrap();
        assert_eq!((response.status, response.text().as_str()), (400, reason), "{body}");
    }
    assert_eq!(events.load(Ordering::SeqCst), 0, "no such event reached the handler");
}

#[tokio::test]
async fn python_nan_infinity_and_big_integers_reach_a_verified_webhook_handler_byte_for_byte() {
    let (server, raw_seen, _) = python_app().await;
    let mut connection = KeepAlive::connect(server.addr).await;
    for (body, _) in python_cases() {
        let response = connection.round_trip(&python_request("/raw", body)).await.unwrap();
        assert_eq!((response.status, response.utf8()), (200, body));
    }
    let seen = raw_seen.lock().unwrap().clone();
    let expected: Vec<Bytes> = python_cases().iter().map(|(body, _)| Bytes::from(*body)).collect();
    assert_eq!(seen, expected);
}

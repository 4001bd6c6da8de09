//! The layer alone, on a plain `tower::service_fn` (no axum): each failure gets its exact
//! status and body and never reaches the inner service; accepted requests carry the signed
//! bytes. Body limits over a real TCP server too.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use meshagent_webhooks::{
    MESHAGENT_SIGNATURE, MESHAGENT_WEBHOOK, MeshagentSignatureLayer, PayloadSource,
    SignatureRejection, Signer, VerifiedWebhook,
};
use tower::{ServiceBuilder, ServiceExt, service_fn};

const SECRET: &str = "whsec_layer_tests";
const BODY: &str = r#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;

/// What the inner service saw: its body and the verified extension.
#[derive(Default)]
struct Inner {
    calls: AtomicUsize,
    body: std::sync::Mutex<Option<(Bytes, VerifiedWebhook, Option<String>)>>,
    headers: std::sync::Mutex<Option<http::HeaderMap>>,
}

async fn call<B>(
    layer: MeshagentSignatureLayer,
    request: Request<B>,
) -> (StatusCode, String, Arc<Inner>)
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let inner = Arc::new(Inner::default());
    let seen = inner.clone();
    let service = ServiceBuilder::new().layer(layer).service(service_fn(
        move |request: Request<Full<Bytes>>| {
            let seen = seen.clone();
            async move {
                seen.calls.fetch_add(1, Ordering::SeqCst);
                let content_type = request
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .map(|value| value.to_str().unwrap().to_owned());
                let verified = request.extensions().get::<VerifiedWebhook>().cloned().unwrap();
                *seen.headers.lock().unwrap() = Some(request.headers().clone());
                let body = request.into_body().collect().await.unwrap().to_bytes();
                *seen.body.lock().unwrap() = Some((body, verified, content_type));
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
            }
        },
    ));
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), inner)
}

fn signed(body: &str) -> Request<Full<Bytes>> {
    Request::post("/anything")
        .header(header::CONTENT_TYPE, "application/json")
        .header(MESHAGENT_SIGNATURE, Signer::new(SECRET).signature_header(body.as_bytes()))
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

async fn rejected(request: Request<Full<Bytes>>, status: StatusCode, reason: &str) {
    rejected_by(MeshagentSignatureLayer::new(SECRET), request, status, reason).await;
}

async fn rejected_by(
    layer: MeshagentSignatureLayer,
    request: Request<Full<Bytes>>,
    status: StatusCode,
    reason: &str,
) {
    let (got_status, body, inner) = call(layer, request).await;
    assert_eq!((got_status, body.as_str()), (status, reason));
    assert_eq!(inner.calls.load(Ordering::SeqCst), 0, "inner service was reached");
}

#[tokio::test]
async fn accepted_request_reaches_the_inner_service_with_the_signed_bytes() {
    let (status, body, inner) = call(MeshagentSignatureLayer::new(SECRET), signed(BODY)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "inner"));
    let (seen_body, verified, _) = inner.body.lock().unwrap().take().unwrap();
    assert_eq!(seen_body, BODY.as_bytes());
    assert_eq!(verified.payload(), BODY.as_bytes());
    assert_eq!(verified.source(), PayloadSource::Body);
    assert_eq!(verified.claims().secret_index(), 0);
    assert!(!format!("{verified:?}").contains("standup"));
}

#[tokio::test]
async fn each_signature_failure_gets_its_status_and_reason() {
    let mut missing = signed(BODY);
    missing.headers_mut().remove(MESHAGENT_SIGNATURE);
    rejected(missing, StatusCode::UNAUTHORIZED, "missing signature").await;

    let mut duplicated = signed(BODY);
    let value = duplicated.headers()[MESHAGENT_SIGNATURE].clone();
    duplicated.headers_mut().append(MESHAGENT_SIGNATURE, value);
    let two = "missing signature: more than one Meshagent-Signature header";
    rejected(duplicated, StatusCode::UNAUTHORIZED, two).await;

    let mut wrong_key = signed(BODY);
    let header = Signer::new("whsec_other").signature_header(BODY.as_bytes());
    wrong_key.headers_mut().insert(MESHAGENT_SIGNATURE, header.parse().unwrap());
    rejected(wrong_key, StatusCode::UNAUTHORIZED, "invalid jwt").await;

    let mut tampered = signed(BODY);
    *tampered.body_mut() = Full::new(Bytes::from(BODY.replace("42", "43")));
    rejected(tampered, StatusCode::UNAUTHORIZED, "signature does not match payload").await;
}

#[tokio::test]
async fn without_a_secret_every_request_fails_closed() {
    for layer in [
        MeshagentSignatureLayer::new(""),
        MeshagentSignatureLayer::from_secrets(Vec::<String>::new()),
    ] {
        rejected_by(
            layer,
            signed(BODY),
            StatusCode::INTERNAL_SERVER_ERROR,
            "webhook secret is not configured",
        )
        .await;
    }
}

#[tokio::test]
async fn rotation_accepts_either_secret_and_says_which() {
    let layer = MeshagentSignatureLayer::from_secrets(["whsec_next", SECRET]);
    let (status, _, inner) = call(layer, signed(BODY)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, verified, _) = inner.body.lock().unwrap().take().unwrap();
    assert_eq!(verified.claims().secret_index(), 1);
}

/// A request whose signed payload, `BODY`, is in the `Meshagent-Webhook` header, with `name:
/// value` and the unsigned `body` besides.
fn header_payload_request(
    name: header::HeaderName,
    value: &str,
    body: &'static [u8],
) -> Request<Full<Bytes>> {
    Request::post("/webhook")
        .header(MESHAGENT_WEBHOOK, BODY)
        .header(MESHAGENT_SIGNATURE, Signer::new(SECRET).signature_header(BODY.as_bytes()))
        .header(name, value)
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

#[tokio::test]
async fn header_payload_replaces_the_unsigned_body() {
    let request =
        header_payload_request(header::CONTENT_TYPE, "text/plain", b"{\"event\": \"injected\"}");
    let (status, _, inner) = call(MeshagentSignatureLayer::new(SECRET), request).await;
    assert_eq!(status, StatusCode::OK);
    let (body, verified, content_type) = inner.body.lock().unwrap().take().unwrap();
    assert_eq!(body, BODY.as_bytes());
    assert_eq!(verified.source(), PayloadSource::Header);
    assert_eq!(content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn two_payload_headers_are_refused() {
    let mut request = signed(BODY);
    request.headers_mut().append(MESHAGENT_WEBHOOK, BODY.parse().unwrap());
    request.headers_mut().append(MESHAGENT_WEBHOOK, BODY.parse().unwrap());
    rejected(request, StatusCode::BAD_REQUEST, "multiple Meshagent-Webhook headers").await;
}

#[tokio::test]
async fn custom_rejection_response_replaces_the_default() {
    let layer = MeshagentSignatureLayer::new(SECRET).with_rejection_response(|rejection| {
        let mut response = Response::new(Full::new(Bytes::from(format!(
            "{{\"error\":\"{}\"}}",
            rejection.body_text()
        ))));
        *response.status_mut() = rejection.status();
        response
    });
    let mut request = signed(BODY);
    request.headers_mut().remove(MESHAGENT_SIGNATURE);
    rejected_by(layer, request, StatusCode::UNAUTHORIZED, r#"{"error":"missing signature"}"#).await;
}

#[tokio::test]
async fn default_rejection_is_in_the_response_extensions() {
    let never = service_fn(
        |_: Request<Full<Bytes>>| -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
            panic!("the inner service must not run")
        },
    );
    let service = ServiceBuilder::new().layer(MeshagentSignatureLayer::new(SECRET)).service(never);
    let response = service.oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap();
    let rejection = response.extensions().get::<SignatureRejection>().unwrap();
    assert!(matches!(rejection, SignatureRejection::MissingSignature(_)));
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
}

/// A streamed body (no length known in advance) of `chunks` chunks of `size` bytes that
/// records whether it was ever polled.
fn streamed(
    chunks: usize,
    size: usize,
    polled: Arc<AtomicBool>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
    let body = stream::iter((0..chunks).map(move |_| {
        polled.store(true, Ordering::SeqCst);
        Ok(Frame::data(Bytes::from(vec![b' '; size])))
    }));
    StreamBody::new(body)
}

/// A body of `chunks` × `size` bytes (declared as `content_length` when given) against a
/// 1 KiB limit: 413 and the inner service never called. Returns whether the body was polled.
async fn streamed_over_the_limit(content_length: Option<&str>, chunks: usize, size: usize) -> bool {
    let polled = Arc::new(AtomicBool::new(false));
    let mut request = Request::post("/webhook");
    if let Some(length) = content_length {
        request = request.header(header::CONTENT_LENGTH, length);
    }
    let request = request
        .header(MESHAGENT_SIGNATURE, Signer::new(SECRET).signature_header(b""))
        .body(streamed(chunks, size, polled.clone()))
        .unwrap();
    let (status, body, inner) =
        call(MeshagentSignatureLayer::new(SECRET).with_max_body_size(1024), request).await;
    assert_eq!((status, body.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "payload too large"));
    assert_eq!(inner.calls.load(Ordering::SeqCst), 0);
    polled.load(Ordering::SeqCst)
}

#[tokio::test]
async fn declared_length_over_the_limit_is_refused_and_the_body_thrown_away() {
    // Refused from the head; what follows is drained so that the connection stays usable
    // (`connections/undrainable.rs` in the server suite has the cases where it is not drained).
    let polled = streamed_over_the_limit(Some("2048"), 2, 1024).await;
    assert!(polled, "the body was not drained");
}

#[tokio::test]
async fn streamed_body_over_the_limit_is_cut_off() {
    assert!(streamed_over_the_limit(None, 5, 300).await);
}

#[tokio::test]
async fn body_exactly_at_the_limit_is_accepted_and_joined_once() {
    let payload = vec![b' '; 1024];
    let request = Request::post("/webhook")
        .header(header::CONTENT_TYPE, "application/json")
        .header(MESHAGENT_SIGNATURE, Signer::new(SECRET).signature_header(&payload))
        .body(streamed(4, 256, Arc::new(AtomicBool::new(false))))
        .unwrap();
    let (status, _, inner) =
        call(MeshagentSignatureLayer::new(SECRET).with_max_body_size(1024), request).await;
    assert_eq!(status, StatusCode::OK);
    let (body, _, _) = inner.body.lock().unwrap().take().unwrap();
    assert_eq!(body, payload);
}

/// The `Content-Length` and `Transfer-Encoding` values the inner service sees when `request`
/// (signed for `BODY`) is accepted.
async fn inner_framing(request: Request<Full<Bytes>>) -> (Vec<String>, Vec<String>) {
    let (status, _, inner) = call(MeshagentSignatureLayer::new(SECRET), request).await;
    assert_eq!(status, StatusCode::OK);
    let headers = inner.headers.lock().unwrap().take().unwrap();
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    (values(header::CONTENT_LENGTH), values(header::TRANSFER_ENCODING))
}

#[tokio::test]
async fn inner_service_sees_framing_headers_that_match_the_verified_body() {
    let right = vec![BODY.len().to_string()];
    let with = |name: header::HeaderName, values: &[&str]| {
        let mut request = signed(BODY);
        for value in values {
            request.headers_mut().append(&name, value.parse().unwrap());
        }
        request
    };
    // Already right: left as is. Missing, wrong, repeated or chunked: replaced by one right
    // `Content-Length`.
    let cases = [
        with(header::CONTENT_LENGTH, &[&right[0]]),
        signed(BODY),
        with(header::CONTENT_LENGTH, &["3"]),
        with(header::CONTENT_LENGTH, &["999"]),
        with(header::CONTENT_LENGTH, &[&right[0], &right[0]]),
        with(header::TRANSFER_ENCODING, &["chunked"]),
    ];
    for request in cases {
        assert_eq!(inner_framing(request).await, (right.clone(), Vec::new()));
    }
    let header_payload = header_payload_request(header::CONTENT_LENGTH, "2", b"{}");
    assert_eq!(inner_framing(header_payload).await, (right, Vec::new()));
}

#[tokio::test]
async fn unsigned_request_is_refused_and_its_body_thrown_away_only_when_its_length_is_declared() {
    for (declared, drained) in [(Some("10"), true), (None, false)] {
        let polled = Arc::new(AtomicBool::new(false));
        let mut request =
            Request::post("/webhook").header(header::CONTENT_TYPE, "application/json");
        if let Some(length) = declared {
            request = request.header(header::CONTENT_LENGTH, length);
        }
        let request = request.body(streamed(1, 10, polled.clone())).unwrap();
        let (status, body, _) = call(MeshagentSignatureLayer::new(SECRET), request).await;
        assert_eq!((status, body.as_str()), (StatusCode::UNAUTHORIZED, "missing signature"));
        // Drained (so that the connection stays usable) when its `Content-Length` bounds what
        // is on the wire, else left unread (the connection closes); never handed on.
        assert_eq!(polled.load(Ordering::SeqCst), drained, "{declared:?}");
    }
}

mod over_tcp {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    use super::*;
    use crate::common::{
        TestServer, exchange, read_response, recording_app, send_raw, signed_json_headers,
    };

    #[tokio::test]
    async fn oversized_content_length_is_answered_without_waiting_for_the_body() {
        let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
        let server = TestServer::start(app).await;
        let signature = Signer::new(SECRET).signature_header(b"x");
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        // Declare 100 MiB, send 10 bytes, keep the connection open: the answer must come
        // anyway, so the server did not wait for (or read) the rest.
        let head = format!(
            "POST /webhook HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             Meshagent-Signature: {signature}\r\nContent-Length: 104857600\r\n\r\n0123456789"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let response =
            tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream)).await;
        let response = response.expect("answered before the body was sent");
        assert_eq!(response.status, 413);
        assert_eq!(response.text(), "payload too large");
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn chunked_body_over_the_limit_is_answered_413() {
        let (app, seen) =
            recording_app(MeshagentSignatureLayer::new(SECRET).with_max_body_size(64 * 1024));
        let server = TestServer::start(app).await;
        let signature = Signer::new(SECRET).signature_header(b"x");
        let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, " ".repeat(16 * 1024));
        let mut request = format!(
            "POST /webhook HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Meshagent-Signature: {signature}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        for _ in 0..5 {
            request.push_str(&chunk);
        }
        request.push_str("0\r\n\r\n");
        let response = exchange(server.addr, request.as_bytes()).await;
        assert_eq!(response.status, 413);
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn body_at_the_limit_over_tcp_is_accepted() {
        let limit = 64 * 1024;
        let (app, seen) =
            recording_app(MeshagentSignatureLayer::new(SECRET).with_max_body_size(limit));
        let server = TestServer::start(app).await;
        let prefix = r#"{"event": "room.ended", "data": {"room_name": "r", "pad": ""#;
        let suffix = r#""}}"#;
        let pad = "p".repeat(limit - prefix.len() - suffix.len());
        let body = format!("{prefix}{pad}{suffix}");
        assert_eq!(body.len(), limit);
        let headers = signed_json_headers(SECRET, body.as_bytes());
        let response = send_raw(server.addr, "POST", "/webhook", &headers, body.as_bytes()).await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(seen.lock().unwrap().len(), 1);

        let over = format!("{prefix}{pad}p{suffix}");
        let headers = signed_json_headers(SECRET, over.as_bytes());
        let response = send_raw(server.addr, "POST", "/webhook", &headers, over.as_bytes()).await;
        assert_eq!(response.status, 413);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_unsigned_layer_passes_deliveries_unverified_whatever_signature_they_carry() {
    let layer = MeshagentSignatureLayer::dangerously_accept_unsigned().unwrap();
    assert!(layer.is_unsigned() && layer.is_configured());
    let other = Signer::new("whsec_someone_else").signature_header(b"{}");
    for signature in [None, Some("junk"), Some("Bearer a.b.c"), Some(other.as_str())] {
        let mut request =
            Request::post("/anything").header(header::CONTENT_TYPE, "application/json");
        if let Some(signature) = signature {
            request = request.header(MESHAGENT_SIGNATURE, signature);
        }
        let request = request.body(Full::new(Bytes::from_static(BODY.as_bytes()))).unwrap();
        let (status, body, inner) = call(layer.clone(), request).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "inner"), "{signature:?}");
        let (payload, webhook, _) = inner.body.lock().unwrap().clone().unwrap();
        assert_eq!(payload, BODY.as_bytes());
        assert!(!webhook.is_verified() && !webhook.claims().is_verified(), "{signature:?}");
    }
    // Two signature headers are ignored too.
    let request = Request::post("/")
        .header(header::CONTENT_TYPE, "application/json")
        .header(MESHAGENT_SIGNATURE, "junk")
        .header(MESHAGENT_SIGNATURE, "more junk")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap();
    assert_eq!(call(layer.clone(), request).await.0, StatusCode::OK);
    // The limits still hold; a signing layer's deliveries are verified.
    let small = layer.with_max_body_size(8);
    let request = Request::post("/").body(Full::new(Bytes::from_static(BODY.as_bytes()))).unwrap();
    assert_eq!(call(small, request).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, inner) = call(MeshagentSignatureLayer::new(SECRET), signed(BODY)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(inner.body.lock().unwrap().as_ref().unwrap().1.is_verified());
}

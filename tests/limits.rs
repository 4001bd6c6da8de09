//! The built-in `WebhookServer`'s limits over real TCP: nobody holds a connection, a place
//! under the connection cap or memory for free. Each test starts a server on 127.0.0.1:0 with
//! short limits (a few hundred milliseconds), checks that the server closes or refuses what is
//! over them within a generous bound (never a tight timing), and stops the server.
//!
//! The memory tests and the 1,100-connection test are ignored in the normal run; each runs in
//! a fresh process of its own (a clean heap to measure, enough open files whatever `ulimit -n`
//! says) and prints its figures:
//! `cargo test --release --all-features --test limits -- --ignored --nocapture`.

#![cfg(feature = "server")]

mod common;
mod limits_support;
#[allow(dead_code)]
mod server_support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::Request;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, StreamBody};
use meshagent_webhooks::{
    HandlerError, MeshagentSignatureLayer, RoomCall, RoomEnded, Signer, WebhookHandler,
    WebhookServer,
};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use common::{parse_response, read_body, read_head};
use limits_support::{
    CLOSE_BOUND, ClientBody, END_HEADERS, END_STREAM, GET_ROOT_BLOCK, GOAWAY, HEADERS, PREFACE,
    PeakMemory, RawH2, assert_closed, connect, data_kib, h2_client, millis_since, ms,
    open_file_limits, rss_kib, until_closed,
};
use server_support::handlers::{Recorder, Slow, signed};
use server_support::{RawResponse, SECRET, TestServer, exchange, pairs, send, websocket_headers};

/// A limit long enough never to be what closes a connection in a test about another one.
const NEVER: Duration = Duration::from_secs(60);

const KEEP_ALIVE_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: limits\r\n\r\n";

fn room_ended(room: &str) -> Request<http_body_util::Full<Bytes>> {
    Signer::new(SECRET).request("/webhook", "room.ended", &json!({ "room_name": room }))
}

/// A signed delivery on a connection of its own, answered within the bound.
async fn deliver(server: &TestServer, room: &str) -> RawResponse {
    timeout(CLOSE_BOUND, send(server.address, room_ended(room)))
        .await
        .expect("a delivery is answered within the bound")
}

/// `GET /` on a kept-alive HTTP/1 connection: its answer, read to the end of its body.
async fn keep_alive_get(stream: &mut TcpStream) -> RawResponse {
    stream.write_all(KEEP_ALIVE_GET).await.unwrap();
    let reading = async {
        let mut response = read_head(stream).await;
        read_body(stream, &mut response).await;
        response
    };
    timeout(CLOSE_BOUND, reading).await.expect("an answer within the bound")
}

// ---------------------------------------------------------------------------------------------
// The header read timeout.

#[tokio::test]
async fn clients_that_send_nothing_a_byte_or_part_of_the_http2_preface_are_disconnected() {
    let recorder = Recorder::default();
    let server = TestServer::start(
        signed(recorder.clone()).with_header_read_timeout(ms(300)).with_idle_timeout(NEVER),
    )
    .await;
    let openings: [(&str, &[u8]); 4] = [
        ("nothing", b""),
        ("one byte of an HTTP/1 request", b"G"),
        ("one byte that could open HTTP/1 or HTTP/2", b"P"),
        ("the first 23 bytes of the HTTP/2 preface", &PREFACE[..23]),
    ];
    let mut stalled = Vec::new();
    for (what, opening) in openings {
        let mut stream = connect(server.address).await;
        stream.write_all(opening).await.unwrap();
        stalled.push((what, stream));
    }

    // Meanwhile a good delivery on another connection is answered.
    let response = deliver(&server, "meanwhile").await;
    assert_eq!(response.status, 200, "{}", response.utf8());

    for (what, mut stream) in stalled {
        let received = assert_closed(&mut stream, what).await;
        assert!(received.is_empty(), "{what}: the server answered {received:?}");
    }
    assert_eq!(recorder.calls(), [("on_room_ended", "meanwhile".to_owned())]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_http1_request_head_that_never_ends_is_cut_off_by_the_header_read_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(ms(300)).with_idle_timeout(NEVER),
    )
    .await;
    let mut stream = connect(server.address).await;
    assert_eq!(keep_alive_get(&mut stream).await.status, 200);

    stream.write_all(b"POST /webhook HTTP/1.1\r\nHost: limits\r\nMeshagent-Sig").await.unwrap();
    assert_closed(&mut stream, "a half-sent second head").await;
    assert_eq!(deliver(&server, "after").await.status, 200);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The idle timeout.

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(NEVER).with_idle_timeout(ms(500)),
    )
    .await;
    let mut stream = connect(server.address).await;
    let response = keep_alive_get(&mut stream).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), None, "kept alive");

    let received = assert_closed(&mut stream, "an idle keep-alive connection").await;
    assert!(received.is_empty(), "the server answered {received:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_http2_connection_that_sends_no_request_is_closed_after_the_header_read_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(ms(300)).with_idle_timeout(NEVER),
    )
    .await;
    // hyper's client answers the server's pings: only the server's own timers can close it.
    let (_sender, connection) = h2_client(server.address).await;
    let ended = timeout(CLOSE_BOUND, connection).await;
    assert!(ended.is_ok(), "an HTTP/2 connection without a request is still open");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_connection_without_a_request_is_closed_after_the_idle_timeout_when_that_is_shorter() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(NEVER).with_idle_timeout(ms(500)),
    )
    .await;
    let (_sender, connection) = h2_client(server.address).await;
    let http2 = timeout(CLOSE_BOUND, connection).await;
    assert!(http2.is_ok(), "an HTTP/2 connection without a request is still open");
    let mut silent = connect(server.address).await;
    let received = assert_closed(&mut silent, "an HTTP/1 connection without a request").await;
    assert!(received.is_empty(), "the server answered {received:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(NEVER).with_idle_timeout(ms(500)),
    )
    .await;
    let (mut sender, connection) = h2_client(server.address).await;
    let request = room_ended("over-h2").map(|body| body.boxed_unsync());
    let request = with_authority(request, server.address);
    let response = timeout(CLOSE_BOUND, sender.send_request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    drop(response);

    let ended = timeout(CLOSE_BOUND, connection).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection is still open");
    server.stop().await.unwrap();
}

/// HTTP/2 requests need `:scheme` and `:authority`: an absolute URI.
fn with_authority<B>(request: Request<B>, address: std::net::SocketAddr) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    parts.uri = format!("http://{address}{}", parts.uri).parse().unwrap();
    Request::from_parts(parts, body)
}

// An unfinished header block: a HEADERS frame without END_HEADERS and no CONTINUATION. The
// client cannot acknowledge the server's PING (only CONTINUATION may follow a header block), so
// the server's graceful close cannot complete either: the connection is dropped after the close
// grace of `serve.rs` (5 s) or by the HTTP/2 keep-alive, whichever comes first; the bound is
// twice `CLOSE_BOUND`.

#[tokio::test]
async fn an_http2_header_block_that_never_ends_is_closed_as_the_first_request() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(ms(300)).with_idle_timeout(NEVER),
    )
    .await;
    let mut client = RawH2::connect(server.address).await;
    client.send(HEADERS, END_STREAM, 1, &GET_ROOT_BLOCK[..3]).await;

    let closed = client.read_until_closed(2 * CLOSE_BOUND).await;
    assert!(closed.is_ok(), "an unfinished first header block: {}", closed.unwrap_err());
    assert!(client.received.contains(&GOAWAY), "frames received {:?}", client.received);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_http2_header_block_that_never_ends_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(NEVER).with_idle_timeout(ms(500)),
    )
    .await;
    let mut client = RawH2::connect(server.address).await;
    client.send(HEADERS, END_STREAM | END_HEADERS, 1, GET_ROOT_BLOCK).await;
    assert_eq!(client.wait_for_response(1).await, 0x88, "HPACK index 8 is :status 200");
    client.send(HEADERS, END_STREAM, 3, &GET_ROOT_BLOCK[..3]).await;

    let closed = client.read_until_closed(2 * CLOSE_BOUND).await;
    assert!(closed.is_ok(), "an unfinished second header block: {}", closed.unwrap_err());
    assert!(client.received.contains(&GOAWAY), "frames received {:?}", client.received);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The body timeout (the layer's).

fn slow_body_server(recorder: Recorder) -> WebhookServer<Recorder> {
    let layer = MeshagentSignatureLayer::new(SECRET).with_body_timeout(ms(500));
    WebhookServer::new(recorder)
        .with_signature_layer(layer)
        .with_header_read_timeout(ms(300))
        .with_idle_timeout(ms(500))
}

/// A signed `room.ended` body and its signature header.
fn signed_body(room: &str) -> (Bytes, String) {
    let body = Signer::event_payload("room.ended", &json!({ "room_name": room }));
    let signature = Signer::new(SECRET).signature_header(body.as_bytes());
    (Bytes::from(body), signature)
}

#[tokio::test]
async fn a_slow_http1_body_gets_408_and_its_connection_is_closed() {
    let recorder = Recorder::default();
    let server = TestServer::start(slow_body_server(recorder.clone())).await;
    let (body, signature) = signed_body("slow");
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: limits\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (mut reader, mut writer) = connect(server.address).await.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    // One byte every 100 ms: the whole body would take seconds.
    let trickle = tokio::spawn(async move {
        for byte in body.iter() {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            sleep(ms(100)).await;
        }
    });

    let received = assert_closed(&mut reader, "a slow body").await;
    let response = parse_response(&received);
    assert_eq!(response.status, 408, "{}", response.text());
    assert_eq!(response.text(), "request body timed out");
    assert_eq!(response.header("connection"), Some("close"));
    trickle.abort();
    assert!(recorder.calls().is_empty());
    assert_eq!(deliver(&server, "after").await.status, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_http2_body_gets_408_on_its_stream_and_the_connection_serves_on() {
    let recorder = Recorder::default();
    let server = TestServer::start(slow_body_server(recorder.clone())).await;
    let (body, signature) = signed_body("slow");
    let length = body.len();
    let chunks = futures_util::stream::unfold(0, move |sent| {
        let body = body.clone();
        async move {
            if sent == body.len() {
                return None;
            }
            if sent > 0 {
                sleep(ms(100)).await;
            }
            let chunk = Frame::data(body.slice(sent..=sent));
            Some((Ok::<_, Infallible>(chunk), sent + 1))
        }
    });
    let request = Request::post(format!("http://{}/webhook", server.address))
        .header(CONTENT_TYPE, "application/json")
        .header("meshagent-signature", signature)
        .header(CONTENT_LENGTH, length)
        .body(ClientBody::new(StreamBody::new(chunks)))
        .unwrap();
    let (mut sender, connection) = h2_client(server.address).await;

    let response = timeout(CLOSE_BOUND, sender.send_request(request))
        .await
        .expect("an answer within the bound")
        .expect("a response, not a reset");
    assert_eq!(response.status(), 408);
    let text = timeout(CLOSE_BOUND, response.into_body().collect()).await.unwrap().unwrap();
    assert_eq!(text.to_bytes(), "request body timed out");
    assert!(recorder.calls().is_empty());

    // The connection itself is fine: the next stream is answered.
    timeout(CLOSE_BOUND, sender.ready()).await.unwrap().unwrap();
    let next = with_authority(room_ended("next").map(|body| body.boxed_unsync()), server.address);
    let response = timeout(CLOSE_BOUND, sender.send_request(next)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(recorder.calls(), [("on_room_ended", "next".to_owned())]);
    drop(sender);
    let _ = timeout(CLOSE_BOUND, connection).await;
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The request head size.

/// A MeshAgent delivery in the `Meshagent-Webhook` header, its payload about 8 KB (the most
/// MeshAgent's own receiver takes).
fn header_delivery(room: &str) -> Vec<(String, String)> {
    let data = json!({ "room_name": room, "note": "n".repeat(8_050) });
    let payload = Signer::event_payload("room.ended", &data);
    assert!((8_000..=8_192).contains(&payload.len()), "{}", payload.len());
    let signature = Signer::new(SECRET).signature_header(payload.as_bytes());
    pairs(&[("Meshagent-Webhook", &payload), ("Meshagent-Signature", &signature)])
}

#[tokio::test]
async fn a_request_head_over_the_max_header_size_gets_431() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone()).with_max_header_size(16 * 1024)).await;
    let padding = "p".repeat(20 * 1024);

    // HTTP/1: hyper answers 431 once its buffer is full.
    let headers = pairs(&[("X-Padding", &padding)]);
    let (response, _stream) =
        timeout(CLOSE_BOUND, server_support::send_raw(server.address, "GET", "/", &headers, b""))
            .await
            .expect("an answer within the bound");
    assert_eq!(response.status, 431);

    // HTTP/2: the header list is over the limit; the stream gets 431 or is refused.
    let (mut sender, _connection) = h2_client(server.address).await;
    let request = Request::get(format!("http://{}/", server.address))
        .header("x-padding", &padding)
        .body(ClientBody::new(Empty::new()))
        .unwrap();
    match timeout(CLOSE_BOUND, sender.send_request(request)).await.expect("within the bound") {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(error) => assert!(error.to_string().contains("stream"), "{error}"),
    }

    // Under the limit, an 8 KB header payload is still a delivery.
    let response = timeout(
        CLOSE_BOUND,
        exchange(server.address, "GET", "/webhook", &header_delivery("under-16k"), b""),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.utf8());
    assert_eq!(recorder.calls(), [("on_room_ended", "under-16k".to_owned())]);
    server.stop().await.unwrap();
}

/// The setting decides, not hyper's own defaults (about 400 KiB for HTTP/1, 16 KiB for HTTP/2):
/// with the default 64 KiB a 40 KiB head is served and an 80 KiB one refused, on both.
#[tokio::test]
async fn the_default_max_header_size_admits_40_kib_and_refuses_80_kib_on_both_protocols() {
    let server = TestServer::start(signed(Recorder::default())).await;
    for (kib, expected) in [(40, 200), (80, 431)] {
        let padding = "p".repeat(kib * 1024);
        let headers = pairs(&[("X-Padding", &padding)]);
        let (response, _stream) = timeout(
            CLOSE_BOUND,
            server_support::send_raw(server.address, "GET", "/", &headers, b""),
        )
        .await
        .expect("an answer within the bound");
        assert_eq!(response.status, expected, "HTTP/1, {kib} KiB");

        let (mut sender, _connection) = h2_client(server.address).await;
        let request = Request::get(format!("http://{}/", server.address))
            .header("x-padding", &padding)
            .body(ClientBody::new(Empty::new()))
            .unwrap();
        let answer = timeout(CLOSE_BOUND, sender.send_request(request)).await.expect("bounded");
        match (answer, expected) {
            (Ok(response), _) => assert_eq!(response.status(), expected, "HTTP/2, {kib} KiB"),
            (Err(error), 431) => assert!(error.to_string().contains("stream"), "{error}"),
            (Err(error), _) => panic!("HTTP/2, {kib} KiB: {error}"),
        }
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_delivery_with_an_8_kb_header_payload_is_accepted_with_the_default_limit() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone())).await;
    let headers = header_delivery("8k-header");
    let response = timeout(CLOSE_BOUND, exchange(server.address, "GET", "/webhook", &headers, b""))
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.utf8());

    // The same over HTTP/2.
    let (mut sender, _connection) = h2_client(server.address).await;
    let mut request = Request::get(format!("http://{}/webhook", server.address));
    for (name, value) in header_delivery("8k-header-h2") {
        request = request.header(name, value);
    }
    let request = request.body(ClientBody::new(Empty::new())).unwrap();
    let response = timeout(CLOSE_BOUND, sender.send_request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        recorder.calls(),
        [("on_room_ended", "8k-header".to_owned()), ("on_room_ended", "8k-header-h2".to_owned())]
    );
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The connection cap.

type Events = Arc<Mutex<Vec<&'static str>>>;

/// `GET /` on a connection of its own, in the background; "answered" is logged when its
/// answer comes.
fn waiting_request(server: &TestServer, events: &Events) -> tokio::task::JoinHandle<RawResponse> {
    let (address, events) = (server.address, events.clone());
    tokio::spawn(async move {
        let response = exchange(address, "GET", "/", &[], b"").await;
        events.lock().unwrap().push("answered");
        response
    })
}

/// Gives a wrongly admitted request time to be answered, then logs `event`.
async fn then_log(events: &Events, event: &'static str) {
    sleep(ms(300)).await;
    events.lock().unwrap().push(event);
}

#[tokio::test]
async fn at_the_cap_the_connection_idle_longest_gives_way_to_a_new_one() {
    let server = TestServer::start(
        signed(Recorder::default())
            .with_max_connections(4)
            .with_header_read_timeout(NEVER)
            .with_idle_timeout(NEVER),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(server.address).await;
        assert_eq!(keep_alive_get(&mut stream).await.status, 200);
        held.push(stream);
        sleep(ms(20)).await;
    }
    // The first is used again: the second is now the one idle longest.
    assert_eq!(keep_alive_get(&mut held[0]).await.status, 200);

    assert_eq!(deliver(&server, "fifth").await.status, 200);
    let received = assert_closed(&mut held[1], "the connection idle longest").await;
    assert!(received.is_empty(), "it was closed between requests: {received:?}");
    for index in [0, 2, 3] {
        assert_eq!(keep_alive_get(&mut held[index]).await.status, 200, "connection {index}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn at_the_cap_a_connection_with_a_request_in_flight_is_never_closed_and_a_new_one_waits() {
    let slow = Slow::default();
    let server = TestServer::start(
        signed(slow.clone())
            .with_max_connections(1)
            .with_header_read_timeout(NEVER)
            .with_idle_timeout(NEVER),
    )
    .await;
    let started =
        Signer::new(SECRET).request("/webhook", "room.started", &json!({ "room_name": "slow" }));
    let in_flight = tokio::spawn(send(server.address, started));
    timeout(CLOSE_BOUND, slow.entered.notified()).await.expect("the handler is entered");

    let events = Events::default();
    let waiting = waiting_request(&server, &events);
    then_log(&events, "the handler was released").await;
    slow.release.notify_one();

    let response = timeout(CLOSE_BOUND, in_flight).await.expect("answered").unwrap();
    assert_eq!(response.status, 200, "the request in flight was answered, not cut");
    let response = timeout(CLOSE_BOUND, waiting).await.expect("answered").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(*events.lock().unwrap(), ["the handler was released", "answered"]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn websocket_sessions_hold_their_place_under_the_connection_cap() {
    let (echo, mut outcomes) = Echo::new();
    let server = TestServer::start(
        signed(echo)
            .with_max_connections(2)
            .with_header_read_timeout(NEVER)
            .with_idle_timeout(NEVER),
    )
    .await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let mut socket = open_call_session(&server).await;
        assert_echoes(&mut socket, &mut outcomes, 16).await;
        sessions.push(socket);
    }

    let events = Events::default();
    let third = waiting_request(&server, &events);
    then_log(&events, "one session closed").await;
    let mut closing = sessions.pop().unwrap();
    closing.close(None).await.unwrap();
    assert_eq!(next_outcome(&mut outcomes).await, "ended");

    let response = timeout(CLOSE_BOUND, third).await.expect("answered within the bound").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(*events.lock().unwrap(), ["one session closed", "answered"]);
    drop(sessions);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Websocket messages and frames.

/// Echoes every text or binary message of a `room.call` session, and reports each outcome:
/// `echoed <bytes>`, `ended`, or `failed: <error>`.
#[derive(Clone)]
struct Echo {
    outcomes: mpsc::UnboundedSender<String>,
}

impl Echo {
    fn new() -> (Self, mpsc::UnboundedReceiver<String>) {
        let (outcomes, receiver) = mpsc::unbounded_channel();
        (Self { outcomes }, receiver)
    }

    fn report(&self, outcome: String) {
        let _ = self.outcomes.send(outcome);
    }
}

impl WebhookHandler for Echo {
    async fn on_call_websocket(
        &self,
        _call: RoomCall,
        mut socket: WebSocket,
    ) -> Result<(), HandlerError> {
        while let Some(message) = socket.recv().await {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    self.report(format!("failed: {error}"));
                    return Err(error.into());
                }
            };
            let size = match &message {
                Message::Text(text) => text.len(),
                Message::Binary(data) => data.len(),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            socket.send(message).await?;
            self.report(format!("echoed {size}"));
        }
        self.report("ended".to_owned());
        Ok(())
    }
}

type ClientSocket = WebSocketStream<TcpStream>;

/// A verified `room.call` websocket session on the webhook route.
async fn open_call_session(server: &TestServer) -> ClientSocket {
    let signer = Signer::new(SECRET);
    let call = Signer::event_payload(
        "room.call",
        &json!({"room_name": "r", "room_url": "wss://x/r", "token": "t"}),
    );
    let headers = websocket_headers(&signer, &call);
    let (response, stream) = timeout(
        CLOSE_BOUND,
        server_support::send_raw(server.address, "GET", "/webhook", &headers, b""),
    )
    .await
    .expect("the handshake is answered within the bound");
    assert_eq!(response.status, 101);
    WebSocketStream::from_raw_socket(stream, Role::Client, None).await
}

async fn next_outcome(outcomes: &mut mpsc::UnboundedReceiver<String>) -> String {
    timeout(CLOSE_BOUND, outcomes.recv())
        .await
        .expect("the handler reports within the bound")
        .expect("the handler is alive")
}

/// Sends `size` bytes as one binary message and reads them back.
async fn assert_echoes(
    socket: &mut ClientSocket,
    outcomes: &mut mpsc::UnboundedReceiver<String>,
    size: usize,
) {
    socket.send(ClientMessage::binary(vec![7u8; size])).await.unwrap();
    let echo = timeout(CLOSE_BOUND, socket.next()).await.expect("the echo").unwrap().unwrap();
    assert_eq!(echo.into_data().len(), size);
    assert_eq!(next_outcome(outcomes).await, format!("echoed {size}"));
}

/// After something over a limit, the socket gives nothing back but its end: a close frame, an
/// error (reset) or the end of the stream.
async fn assert_socket_ends(socket: &mut ClientSocket) {
    let next = timeout(CLOSE_BOUND, socket.next()).await.expect("the socket ends within the bound");
    if let Some(Ok(message)) = next
        && !message.is_close()
    {
        panic!("received {message:?} after a message over the limit");
    }
}

#[tokio::test]
async fn a_websocket_message_over_the_limit_fails_the_read_and_closes_the_socket() {
    let (echo, mut outcomes) = Echo::new();
    let server = TestServer::start(signed(echo).with_max_websocket_message_size(1024)).await;
    let mut socket = open_call_session(&server).await;

    assert_echoes(&mut socket, &mut outcomes, 512).await;
    socket.send(ClientMessage::binary(vec![7u8; 2048])).await.unwrap();
    let outcome = next_outcome(&mut outcomes).await;
    assert!(outcome.starts_with("failed: ") && outcome.contains("1024"), "{outcome}");
    assert_socket_ends(&mut socket).await;

    // The place is given back: a new session works.
    let mut again = open_call_session(&server).await;
    assert_echoes(&mut again, &mut outcomes, 1024).await;
    drop(again);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_websocket_frame_over_the_limit_fails_the_read_even_when_the_message_fits() {
    let (echo, mut outcomes) = Echo::new();
    let server = TestServer::start(
        signed(echo).with_max_websocket_frame_size(1024).with_max_websocket_message_size(64 * 1024),
    )
    .await;
    let mut socket = open_call_session(&server).await;

    // 2 KiB in two frames of 1 KiB: every frame fits, so does the message.
    let first = WsFrame::message(vec![1u8; 1024], OpCode::Data(Data::Binary), false);
    let last = WsFrame::message(vec![2u8; 1024], OpCode::Data(Data::Continue), true);
    socket.send(ClientMessage::Frame(first)).await.unwrap();
    socket.send(ClientMessage::Frame(last)).await.unwrap();
    let echo = timeout(CLOSE_BOUND, socket.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo.into_data().len(), 2048);
    assert_eq!(next_outcome(&mut outcomes).await, "echoed 2048");

    // The same 2 KiB in one frame.
    socket.send(ClientMessage::binary(vec![3u8; 2048])).await.unwrap();
    let outcome = next_outcome(&mut outcomes).await;
    assert!(outcome.starts_with("failed: ") && outcome.contains("1024"), "{outcome}");
    assert_socket_ends(&mut socket).await;
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Memory and many connections (ignored: run in release, they print their figures).

/// One at a time: each runs in a process of its own, whose memory it measures.
static FRESH_PROCESS: Mutex<()> = Mutex::new(());
const CHILD: &str = "MESHAGENT_WEBHOOKS_LIMITS_TEST_CHILD";

const MIB: usize = 1024 * 1024;
const MIB_F: f64 = 1024.0 * 1024.0;

/// Runs the ignored test `name` alone in a new process of this test binary, so that its
/// figures start from a clean heap, with the soft limit on open files raised to at least
/// `files` (up to the hard limit) whatever `ulimit -n` says; prints what it printed. In that
/// process, runs `test` on a runtime of two worker threads instead.
fn in_fresh_process<F: Future<Output = ()>>(name: &str, files: u64, test: impl FnOnce() -> F) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        let (soft, _) = open_file_limits();
        assert!(soft >= files, "needs {files} open files, the soft limit is {soft}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        return runtime.block_on(test());
    }
    let _serial = FRESH_PROCESS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (soft, hard) = open_file_limits();
    let exe = std::env::current_exe().unwrap();
    let mut command = if soft < files {
        assert!(hard >= files, "{name} needs {files} open files; the hard limit is {hard}");
        let mut shell = std::process::Command::new("sh");
        let raised = hard.min(4 * files);
        shell.arg("-c").arg(format!("ulimit -n {raised} && exec \"$0\" \"$@\"")).arg(exe);
        shell
    } else {
        std::process::Command::new(exe)
    };
    let output = command
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // After `test <name> ... ` on the same line.
    for line in stdout.lines().filter_map(|line| line.find("figures: ").map(|at| &line[at..])) {
        println!("{line}");
    }
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in its own process:\n{stdout}\n{stderr}"
    );
}

/// What 500 connections cost that each send a signed head declaring `Content-Length: 1 MiB - 1`,
/// then `sent` bytes of the body, then nothing: the growth of `VmRSS` and `VmData` at their
/// peaks, in KiB, printed.
async fn stalled_bodies(sent: usize) -> (u64, u64) {
    const CONNECTIONS: usize = 500;
    const DECLARED: usize = MIB - 1;
    let server = TestServer::start(signed(Recorder::default())).await;
    let body = vec![b' '; DECLARED];
    let signature = Signer::new(SECRET).signature_header(&body);
    let mut request = format!(
        "POST /webhook HTTP/1.1\r\nHost: limits\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nContent-Length: {DECLARED}\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(&body[..sent]);
    drop(body);
    assert_eq!(deliver(&server, "warm-up").await.status, 200);

    let (rss_before, data_before) = (rss_kib(), data_kib());
    let peaks = PeakMemory::start();
    let started = Instant::now();
    let mut streams = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut stream = connect(server.address).await;
        stream.write_all(&request).await.unwrap();
        streams.push(stream);
    }
    // Every connection accepted (a later one is answered), and time to read what was sent.
    assert_eq!(deliver(&server, "during").await.status, 200);
    sleep(ms(1_500)).await;
    let (rss_peak, data_peak) = peaks.stop();
    let (rss_growth, data_growth) =
        (rss_peak.saturating_sub(rss_before), data_peak.saturating_sub(data_before));
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "figures: {CONNECTIONS} connections declaring {DECLARED} bytes and sending {sent}, held \
         for {}: VmRSS {rss_before} -> peak {rss_peak} KiB (growth {:.1} MiB, {:.1} KiB per \
         connection); VmData {data_before} -> peak {data_peak} KiB (growth {:.1} MiB, {:.1} KiB \
         per connection); {:.1} MiB received, {:.0} MiB declared",
        millis_since(started),
        mib(rss_growth),
        rss_growth as f64 / CONNECTIONS as f64,
        mib(data_growth),
        data_growth as f64 / CONNECTIONS as f64,
        (CONNECTIONS * sent) as f64 / MIB_F,
        (CONNECTIONS * DECLARED) as f64 / MIB_F,
    );

    // The clients leave: their bodies fail (400) and the connections go.
    drop(streams);
    assert_eq!(deliver(&server, "after").await.status, 200);
    server.stop().await.unwrap();
    (rss_growth, data_growth)
}

#[test]
#[ignore = "figures: cargo test --release --all-features --test limits -- --ignored --nocapture"]
fn memory_for_500_bodies_declaring_1_mib_that_send_2_bytes_stays_far_below_500_mib() {
    let name = "memory_for_500_bodies_declaring_1_mib_that_send_2_bytes_stays_far_below_500_mib";
    in_fresh_process(name, 2_048, || async {
        let (rss_growth, data_growth) = stalled_bodies(2).await;
        assert!(rss_growth < 64 * 1024, "VmRSS grew by {rss_growth} KiB");
        // Reserved, touched or not: 64 KiB a body at most before that much has arrived, far
        // from the 500 MiB that reserving the declared lengths would take.
        assert!(data_growth < 128 * 1024, "VmData grew by {data_growth} KiB");
    });
}

#[test]
#[ignore = "figures: cargo test --release --all-features --test limits -- --ignored --nocapture"]
fn memory_for_500_bodies_declaring_1_mib_that_stop_after_64_kib_follows_what_arrived() {
    let name = "memory_for_500_bodies_declaring_1_mib_that_stop_after_64_kib_follows_what_arrived";
    in_fresh_process(name, 2_048, || async {
        let (rss_growth, _) = stalled_bodies(64 * 1024 + 1).await;
        // 500 x 64 KiB arrived (31 MiB): resident memory follows them, not the 500 MiB declared.
        assert!(rss_growth < 128 * 1024, "VmRSS grew by {rss_growth} KiB");
    });
}

/// Holds every `room.ended` delivery until `bodies` of them are in the handler at once, and
/// notes the RSS then.
#[derive(Clone)]
struct Gate {
    barrier: Arc<tokio::sync::Barrier>,
    rss_when_all_held: Arc<AtomicU64>,
}

impl WebhookHandler for Gate {
    async fn on_room_ended(&self, _event: RoomEnded) -> Result<(), HandlerError> {
        let waited = timeout(Duration::from_secs(40), self.barrier.wait()).await;
        let waited = waited.map_err(|_| HandlerError::from("the bodies did not all arrive"))?;
        if waited.is_leader() {
            self.rss_when_all_held.store(rss_kib(), Ordering::SeqCst);
        }
        Ok(())
    }
}

#[test]
#[ignore = "figures: cargo test --release --all-features --test limits -- --ignored --nocapture"]
fn memory_for_300_concurrent_bodies_of_almost_1_mib_is_about_one_body_each() {
    let name = "memory_for_300_concurrent_bodies_of_almost_1_mib_is_about_one_body_each";
    in_fresh_process(name, 1_024, concurrent_bodies);
}

async fn concurrent_bodies() {
    const BODIES: usize = 300;
    const SIZE: usize = MIB - 1;
    let gate = Gate {
        barrier: Arc::new(tokio::sync::Barrier::new(BODIES)),
        rss_when_all_held: Arc::default(),
    };
    let server = TestServer::start(signed(gate.clone())).await;
    // JSON whitespace pads the body: the parsed event is small, so what is measured is the
    // server holding the bodies themselves.
    let mut body = Signer::event_payload("room.ended", &json!({"room_name": "big"})).into_bytes();
    body.resize(SIZE, b' ');
    let signature = Signer::new(SECRET).signature_header(&body);
    let mut request = format!(
        "POST /webhook HTTP/1.1\r\nHost: limits\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(&body);
    drop(body);
    let request = Arc::new(request);
    let health = timeout(CLOSE_BOUND, exchange(server.address, "GET", "/", &[], b"")).await;
    assert_eq!(health.unwrap().status, 200);

    let before = rss_kib();
    let peak = PeakMemory::start();
    let started = Instant::now();
    let mut uploads = JoinSet::new();
    for _ in 0..BODIES {
        let (request, address) = (request.clone(), server.address);
        uploads.spawn(async move {
            let mut stream = connect(address).await;
            stream.write_all(&request).await.unwrap();
            until_closed(&mut stream, Duration::from_secs(45)).await
        });
    }
    let mut answered = 0;
    while let Some(upload) = uploads.join_next().await {
        let response = parse_response(&upload.unwrap().expect("an answer"));
        assert_eq!(response.status, 200, "{}", response.text());
        answered += 1;
    }
    let elapsed = millis_since(started);
    let (peak, _) = peak.stop();
    let held = gate.rss_when_all_held.load(Ordering::SeqCst);
    let per_body = |kib: u64| kib.saturating_sub(before) as f64 * 1024.0 / BODIES as f64;
    let size = SIZE as f64;
    println!(
        "figures: {answered} concurrent bodies of {SIZE} bytes in {elapsed}: VmRSS before \
         {before} KiB, all held {held} KiB, peak {peak} KiB; growth per body {:.3} MiB per MiB \
         when all were held, {:.3} at the peak",
        per_body(held) / size,
        per_body(peak) / size,
    );
    assert_eq!(answered, BODIES);
    assert!(per_body(peak) / size < 1.3, "peak growth per body over 1.3 MiB per MiB");
    server.stop().await.unwrap();
}

/// 1,100 connections that send nothing, against the default cap of 512: the server holds at
/// most 512 open, closes each after the header read timeout, and a delivery sent after them is
/// answered once its turn comes. The listener's kernel queue takes them all (2,048): with a
/// shorter one (`WebhookServer::run` binds with tokio's default, 128) the kernel drops the
/// handshakes past it and a client that sends nothing may believe itself connected to a
/// connection the server never had. The test needs about 1,700 open files; it raises its own
/// soft limit when lower.
#[test]
#[ignore = "figures: cargo test --release --all-features --test limits -- --ignored --nocapture"]
fn eleven_hundred_silent_connections_are_all_closed_and_a_delivery_is_still_answered() {
    let name = "eleven_hundred_silent_connections_are_all_closed_and_a_delivery_is_still_answered";
    in_fresh_process(name, 2_048, silent_connections);
}

async fn silent_connections() {
    const SILENT: usize = 1_100;
    const CAP: usize = 512;
    let header_read = ms(500);
    let recorder = Recorder::default();
    let server = start_with_backlog(
        signed(recorder.clone())
            .with_max_connections(CAP)
            .with_header_read_timeout(header_read)
            .with_idle_timeout(NEVER),
        2_048,
    );

    let started = Instant::now();
    let (connected, closed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut silent = JoinSet::new();
    for _ in 0..SILENT {
        let (address, connected, closed) = (server.address, connected.clone(), closed.clone());
        silent.spawn(async move {
            let connecting = timeout(Duration::from_secs(30), TcpStream::connect(address));
            let mut stream = connecting.await.expect("connected within 30 s").unwrap();
            let connected_at = started.elapsed();
            connected.fetch_add(1, Ordering::SeqCst);
            let result = until_closed(&mut stream, Duration::from_secs(30)).await;
            closed.fetch_add(1, Ordering::SeqCst);
            (result, connected_at, started.elapsed())
        });
    }
    // The delivery goes once they are all connected: it queues behind them.
    let filling = async {
        while connected.load(Ordering::SeqCst) < SILENT as u64 {
            sleep(ms(1)).await;
        }
    };
    timeout(Duration::from_secs(10), filling).await.expect("all connected within 10 s");
    let (delivery_started, connected_then) = (Instant::now(), connected.load(Ordering::SeqCst));
    let response = timeout(Duration::from_secs(30), send(server.address, room_ended("waited")))
        .await
        .expect("the delivery is answered within 30 s");
    let delivery = millis_since(delivery_started);
    let closed_then = closed.load(Ordering::SeqCst);
    assert_eq!(response.status, 200);

    let (mut all_closed, mut last_connect, mut last_close) = (0, Duration::ZERO, Duration::ZERO);
    while let Some(result) = silent.join_next().await {
        let (result, connected_at, closed_at) = result.unwrap();
        let received = result.expect("every silent connection is closed");
        assert!(received.is_empty(), "a silent connection got {received:?}");
        all_closed += 1;
        last_connect = last_connect.max(connected_at);
        last_close = last_close.max(closed_at);
    }
    println!(
        "figures: {SILENT} silent connections (cap {CAP}, header read timeout {header_read:?}, \
         open-file soft limit {}): a delivery sent when {connected_then} were connected was \
         answered in {delivery}, after {closed_then} had been closed; the last connected after \
         {last_connect:.2?}; all {all_closed} closed {last_close:.2?} after the first connect",
        open_file_limits().0,
    );
    assert_eq!(all_closed, SILENT);
    assert_eq!(recorder.calls(), [("on_room_ended", "waited".to_owned())]);
    server.stop().await.unwrap();
}

/// Like `TestServer::start`, on a listener whose kernel queue holds `backlog` connections.
fn start_with_backlog<H: WebhookHandler>(server: WebhookServer<H>, backlog: u32) -> TestServer {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let listener = socket.listen(backlog).unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with_shutdown(listener, async move {
        let _ = stopped.await;
    }));
    TestServer { address, stop: Some(stop), task }
}

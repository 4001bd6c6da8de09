//! The built-in `WebhookServer`'s limits over real TCP: nobody holds a connection, a place
//! under the connection cap or memory for free. Each test starts a server on 127.0.0.1:0 with
//! short limits (a few hundred milliseconds), checks that the server closes or refuses what is
//! over them within a generous bound (never a tight timing), and stops the server.
//!
//! The memory tests and the 1,100-connection test are ignored in the normal run; each runs in
//! a fresh process of its own (a clean heap to measure, enough open files whatever `ulimit -n`
//! says) and prints its figures:
//! `cargo test --release --all-features --test server limits:: -- --ignored --nocapture`.

mod connection_cap;
mod head_size;
mod memory;
mod timeouts;
mod websocket;

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

use crate::common::{parse_response, read_body, read_head};
use crate::support::handlers::{Recorder, Slow, signed};
use crate::support::wire::{
    CLOSE_BOUND, ClientBody, END_HEADERS, END_STREAM, GET_ROOT_BLOCK, GOAWAY, HEADERS, PREFACE,
    PeakMemory, RawH2, assert_closed, connect, data_kib, h2_client, millis_since, ms,
    open_file_limits, rss_kib, until_closed,
};
use crate::support::{RawResponse, SECRET, TestServer, exchange, pairs, send, websocket_headers};

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

//! Helpers for the server suite: a `WebhookServer` on 127.0.0.1:0, requests for the raw
//! HTTP/1.1 client of `common` (head only, for websockets, or with the body), and recording
//! handlers.

pub(crate) mod handlers;
pub(crate) mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use meshagent_webhooks::{ServerError, Signer, WebhookHandler, WebhookServer};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) use crate::common::RawResponse;
use crate::common::{read_body, read_head};

pub(crate) const SECRET: &str = "whsec_server_tests_4e1d9a";
pub(crate) const OK_BODY: &str = r#"{"ok": true}"#;

// ---------------------------------------------------------------------------------------------
// A server on 127.0.0.1:0, stopped through a channel.

pub(crate) struct TestServer {
    pub(crate) address: SocketAddr,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) task: JoinHandle<Result<(), ServerError>>,
}

impl TestServer {
    pub(crate) async fn start<H: WebhookHandler>(server: WebhookServer<H>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_shutdown(listener, async move {
            let _ = stopped.await;
        }));
        Self { address, stop: Some(stop), task }
    }

    /// Sends the shutdown signal without waiting.
    pub(crate) fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server and returns what `serve_with_shutdown` returned.
    pub(crate) async fn stop(mut self) -> Result<(), ServerError> {
        self.signal();
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("the server stops")
            .expect("the server task does not panic")
    }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: requests go out exactly as given (vectors carry odd headers).

/// Writes `method path` with `headers` (plus Host, Content-Length when there is a body, and
/// `Connection: close` unless a Connection header is given), then reads the response head.
pub(crate) async fn send_raw(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (RawResponse, TcpStream) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\n").into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !body.is_empty() {
        request.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("connection")) {
        request.extend_from_slice(b"Connection: close\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);

    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let response = read_head(&mut stream).await;
    (response, stream)
}

/// [`send_raw`], then the body (by Content-Length).
pub(crate) async fn exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let (mut response, mut stream) = send_raw(address, method, path, headers, body).await;
    read_body(&mut stream, &mut response).await;
    // The server's bodies are text: one that is not UTF-8 fails here.
    let _: &str = response.utf8();
    response
}

/// Sends an `http::Request` (for example one built by `Signer`).
pub(crate) async fn send(address: SocketAddr, request: Request<Full<Bytes>>) -> RawResponse {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != http::header::CONTENT_LENGTH)
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    exchange(address, parts.method.as_str(), &parts.uri.to_string(), &headers, &body).await
}

pub(crate) fn pairs(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

/// The websocket handshake headers plus a header payload signed by `signer`.
pub(crate) fn websocket_headers(signer: &Signer, payload: &str) -> Vec<(String, String)> {
    pairs(&[
        ("Meshagent-Webhook", payload),
        ("Meshagent-Signature", &signer.signature_header(payload.as_bytes())),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ])
}

// ---------------------------------------------------------------------------------------------
// The shared vectors (loaded by `common::vectors_json`), through the whole stack.

pub(crate) fn vector_headers(vector: &Value) -> Vec<(String, String)> {
    vector["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
        .collect()
}

/// The handler method a verified event goes to.
pub(crate) fn method_for(event: &str) -> &'static str {
    match event {
        "room.started" => "on_room_started",
        "room.ended" => "on_room_ended",
        "room.call" => "on_call",
        "storage.file.updated" => "on_storage_file_updated",
        "storage.file.deleted" => "on_storage_file_deleted",
        "storage.file.moved" => "on_storage_file_moved",
        _ => "on_unknown",
    }
}

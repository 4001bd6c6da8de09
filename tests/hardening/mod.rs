//! Shared by the hardening tests (the `hostile` and `load` suites, `hostile_logs.rs`):
//! the secret, hand-built JWTs, raw HTTP requests, a server that counts the bytes it reads and
//! its live connections, and the lists of hostile cases with the exact answer each must get.

pub(crate) mod cases;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use meshagent_webhooks::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{
    RawResponse, Seen, TestServer, exchange, parse_response, send_raw, signed_json_headers,
};

/// The receiver's secret in every hardening test.
pub(crate) const SECRET: &str = "whsec_hardening_3c9f1e7a5b2d4c6e8f0a1b3c5d7e9f1a";
/// A key the attacker controls.
pub(crate) const ATTACKER_KEY: &str = "attacker-controlled-key-9d8c7b6a";
/// Appears in every payload built here, so the log test can look for payload content.
pub(crate) const PAYLOAD_MARKER: &str = "hardening-payload-marker-5e2a";
/// A `room.call` participant token that must never be logged.
pub(crate) const PARTICIPANT_TOKEN: &str = "participant-token-hardening-b71c";

/// The canonical JOSE header PyJWT writes.
pub(crate) const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn sha256_hex(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

/// HMAC of `input` under `key` with the hash named by `alg` (`HS256`, `HS384`, `HS512`).
pub(crate) fn hmac(alg: &str, key: &[u8], input: &[u8]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], input: &[u8]) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        "HS256" => run::<Hmac<Sha256>>(key, input),
        "HS384" => run::<Hmac<Sha384>>(key, input),
        "HS512" => run::<Hmac<Sha512>>(key, input),
        other => panic!("no HMAC for {other}"),
    }
}

/// `header_segment.claims_segment.signature` with the segments given as already-encoded
/// text, signed with HMAC-`alg` under `key` over exactly those segments.
pub(crate) fn sign_segments(header: &str, claims: &str, alg: &str, key: &[u8]) -> String {
    let input = format!("{header}.{claims}");
    let signature = b64(hmac(alg, key, input.as_bytes()));
    format!("{input}.{signature}")
}

/// A token with the canonical header and `claims`, signed by the receiver's secret.
pub(crate) fn secret_jwt(claims: &Value) -> String {
    Signer::new(SECRET).token_for_claims(claims)
}

/// `{"sha256": <digest of payload>}` plus `extra` members.
pub(crate) fn claims_for(payload: &[u8], extra: &[(&str, Value)]) -> Value {
    let mut claims = serde_json::Map::new();
    claims.insert("sha256".to_owned(), Value::String(sha256_hex(payload)));
    for (name, value) in extra {
        claims.insert((*name).to_owned(), value.clone());
    }
    Value::Object(claims)
}

/// A `room.ended` payload carrying a unique id and the payload marker.
pub(crate) fn event_body(id: &str) -> String {
    Signer::event_payload(
        "room.ended",
        &json!({"room_name": format!("{PAYLOAD_MARKER}-{id}"), "id": id}),
    )
}

/// A raw HTTP/1.1 request: the request line, `Host`, the headers exactly as given (bytes, so
/// duplicates and non-UTF-8 values are possible), `Connection: close` unless `keep_alive`, a
/// `Content-Length` of the body unless one is among the headers or `Transfer-Encoding` is,
/// then the body.
pub(crate) fn raw_request(
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n").into_bytes();
    if !keep_alive {
        request.extend_from_slice(b"Connection: close\r\n");
    }
    let mut framed = false;
    for (name, value) in headers {
        framed |= name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    if !framed {
        request.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    request
}

/// `POST /webhook` with a JSON content type, the given `Meshagent-Signature` value and body.
pub(crate) fn signed_post(signature: &[u8], body: &[u8]) -> Vec<u8> {
    raw_request(
        "POST",
        "/webhook",
        &[("Content-Type", b"application/json"), ("Meshagent-Signature", signature)],
        body,
        false,
    )
}

/// Sends a correctly signed event with a fresh id: the server must answer 200 and the
/// handler must see exactly that id, once.
pub(crate) async fn assert_still_serves(addr: SocketAddr, seen: &Seen, after: &str) {
    let id = format!("control-after-{after}");
    let body = event_body(&id);
    let headers = signed_json_headers(SECRET, body.as_bytes());
    let before = seen.lock().unwrap().len();
    let response = send_raw(addr, "POST", "/webhook", &headers, body.as_bytes()).await;
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "ok"),
        "the server still serves a valid request after {after}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), before + 1, "after {after}");
    assert_eq!(seen[before].1["id"], id.as_str(), "after {after}");
}

/// Sends one case's raw bytes and checks the answer; the handler must be reached exactly
/// when the case expects 200. Then checks the server still serves.
pub(crate) async fn run_case(addr: SocketAddr, seen: &Seen, case: &cases::Case) -> RawResponse {
    let before = seen.lock().unwrap().len();
    let response = exchange(addr, &case.request).await;
    let after = seen.lock().unwrap().len();
    assert_eq!(response.status, case.status, "{}: status (body {:?})", case.name, response.text());
    if let Some(body) = case.body {
        assert_eq!(response.text(), body, "{}: body", case.name);
    }
    let reached = usize::from(case.status == 200);
    assert_eq!(after - before, reached, "{}: handler calls", case.name);
    if let Some(id) = &case.seen_id {
        let seen = seen.lock().unwrap();
        assert_eq!(seen[before].1["id"], id.as_str(), "{}: the signed payload", case.name);
    }
    assert_still_serves(addr, seen, &case.name).await;
    response
}

/// Counters kept by a [`CountingServer`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Bytes the HTTP server read from all its sockets.
    pub(crate) bytes_read: AtomicU64,
    /// Connections accepted.
    pub(crate) accepted: AtomicUsize,
    /// Connections whose socket is still open on the server side.
    pub(crate) live: AtomicUsize,
}

/// A listener that counts what the server reads and how many connections are open.
pub(crate) struct CountingListener {
    listener: TcpListener,
    counters: Arc<Counters>,
}

impl axum::serve::Listener for CountingListener {
    type Io = CountingStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    self.counters.accepted.fetch_add(1, Ordering::SeqCst);
                    self.counters.live.fetch_add(1, Ordering::SeqCst);
                    let stream = CountingStream { stream, counters: self.counters.clone() };
                    return (stream, addr);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A server-side socket that counts the bytes read from it and its own lifetime.
pub(crate) struct CountingStream {
    stream: TcpStream,
    counters: Arc<Counters>,
}

impl Drop for CountingStream {
    fn drop(&mut self) {
        self.counters.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.counters.bytes_read.fetch_add(read as u64, Ordering::SeqCst);
        polled
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A real server on 127.0.0.1:0 with [`Counters`]; it stops when dropped.
pub(crate) struct CountingServer {
    pub(crate) addr: SocketAddr,
    pub(crate) counters: Arc<Counters>,
    server: TestServer,
}

impl CountingServer {
    pub(crate) async fn start(app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let counters = Arc::new(Counters::default());
        let listener = CountingListener { listener, counters: counters.clone() };
        let server = TestServer::serve(listener, app);
        Self { addr: server.addr, counters, server }
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.counters.bytes_read.load(Ordering::SeqCst)
    }

    pub(crate) fn live(&self) -> usize {
        self.counters.live.load(Ordering::SeqCst)
    }

    /// Waits (up to `within`) until no more than `at_most` connections are open.
    pub(crate) async fn wait_live_at_most(&self, at_most: usize, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        while self.live() > at_most && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.live()
    }
}

/// Splits a byte stream holding several HTTP/1.1 responses framed by `Content-Length`.
pub(crate) fn split_responses(mut raw: &[u8]) -> Vec<RawResponse> {
    let mut responses = Vec::new();
    while let Some(head_end) = raw.windows(4).position(|window| window == b"\r\n\r\n") {
        let head = parse_response(&raw[..head_end + 4]);
        let length: usize = head
            .header("content-length")
            .and_then(|value| value.parse().ok())
            .unwrap_or(raw.len() - head_end - 4);
        let end = (head_end + 4 + length).min(raw.len());
        responses.push(parse_response(&raw[..end]));
        raw = &raw[end..];
    }
    responses
}

/// Resident memory of this process, in KiB (`VmRSS`), and its high-water mark (`VmHWM`).
pub(crate) fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Open file descriptors of this process (sockets included).
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

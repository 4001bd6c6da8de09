//! Shared helpers: the SDK vectors, a recording axum app, a real server on 127.0.0.1:0 that
//! stops when dropped, and a raw HTTP/1.1 client that sends bytes exactly as given.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// One request built with MeshAgent's Python SDK, with the answer this crate must give.
#[derive(Debug, Clone, Deserialize)]
pub struct Vector {
    pub name: String,
    pub secret: Option<String>,
    pub method: String,
    pub path: String,
    pub headers: serde_json::Map<String, Value>,
    pub body: Option<String>,
    pub event: Option<String>,
    pub data: Option<Value>,
    #[serde(rename = "crate")]
    pub expected: Expected,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    pub expect: String,
    pub status: u16,
    pub reason: Option<String>,
}

impl Vector {
    pub fn headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    pub fn body_bytes(&self) -> Vec<u8> {
        self.body.clone().unwrap_or_default().into_bytes()
    }

    pub fn is_websocket_upgrade(&self) -> bool {
        self.headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("upgrade"))
    }

    /// The layer this vector's receiver is configured with (`null` secret = none at all).
    pub fn layer(&self) -> MeshagentSignatureLayer {
        match &self.secret {
            Some(secret) => MeshagentSignatureLayer::new(secret.as_str()),
            None => MeshagentSignatureLayer::from_secrets(Vec::<String>::new()),
        }
    }
}

/// The shared vectors: `../shared/vectors/vectors.json` when present, else the copy under
/// `tests/data/`.
pub fn vectors() -> Vec<Vector> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/vectors/vectors.json");
    let path = if shared.exists() {
        shared
    } else {
        root.join("tests/data/vectors.json")
    };
    let text = std::fs::read_to_string(&path).expect("vectors file is readable");
    let file: Value = serde_json::from_str(&text).expect("vectors file is JSON");
    let vectors: Vec<Vector> =
        serde_json::from_value(file["vectors"].clone()).expect("vectors have the expected shape");
    assert_eq!(vectors.len(), 67, "the SDK vector set has 67 requests");
    vectors
}

/// What the handler saw: event name and raw data, in order.
pub type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// `POST`/`GET /webhook` (and `/hooks/other`) → records the event, answers `ok`.
pub fn recording_app(layer: MeshagentSignatureLayer) -> (Router, Seen) {
    let seen = Seen::default();
    async fn record(State(seen): State<Seen>, event: MeshagentEvent) -> &'static str {
        seen.lock()
            .unwrap()
            .push((event.name().to_owned(), event.data().clone()));
        "ok"
    }
    let app = Router::new()
        .route("/webhook", post(record).get(record))
        .route("/hooks/other", post(record))
        .layer(layer)
        .with_state(seen.clone());
    (app, seen)
}

/// A real server on 127.0.0.1:0; it stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `METHOD PATH HTTP/1.1` with exactly `headers` (plus Host, Content-Length and
/// `Connection: close`) and `body`, and reads the whole response.
pub async fn send_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    exchange(addr, &request).await
}

/// Writes `request` as is and reads the response until the server closes the connection.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    read_response(&mut stream).await
}

pub async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("response within 20 s")
        .expect("read response");
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("response has a head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|window| window == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        body.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    body
}

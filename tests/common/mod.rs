//! Shared helpers: the SDK vectors, a recording axum app, a real server on 127.0.0.1:0 that
//! stops when dropped, a raw HTTP/1.1 client that sends bytes exactly as given, and a tracing
//! capture.

mod capture;
mod keep_alive;
mod raw_http;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer, Signer};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub(crate) use capture::Capture;
pub(crate) use keep_alive::{EXCHANGE_TIMEOUT, KeepAlive, read_one_response};
pub(crate) use raw_http::{
    RawResponse, exchange, parse_response, read_body, read_head, read_response, send_raw,
};

/// One request built with MeshAgent's Python SDK, with the answer this crate must give.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Vector {
    pub(crate) name: String,
    pub(crate) secret: Option<String>,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: serde_json::Map<String, Value>,
    pub(crate) body: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) data: Option<Value>,
    #[serde(rename = "crate")]
    pub(crate) expected: Expected,
    /// What MeshAgent's Python receiver answered.
    pub(crate) python: Expected,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Expected {
    pub(crate) expect: String,
    pub(crate) status: u16,
    pub(crate) reason: Option<String>,
}

impl Vector {
    pub(crate) fn headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    pub(crate) fn body_bytes(&self) -> Vec<u8> {
        self.body.clone().unwrap_or_default().into_bytes()
    }

    pub(crate) fn is_websocket_upgrade(&self) -> bool {
        self.headers.keys().any(|name| name.eq_ignore_ascii_case("upgrade"))
    }

    /// The layer this vector's receiver is configured with (`null` secret = none at all).
    pub(crate) fn layer(&self) -> MeshagentSignatureLayer {
        match &self.secret {
            Some(secret) => MeshagentSignatureLayer::new(secret.as_str()),
            None => MeshagentSignatureLayer::from_secrets(Vec::<String>::new()),
        }
    }
}

/// The shared vectors as JSON: `../shared/vectors/vectors.json` when present, else the copy
/// under `tests/data/`.
pub(crate) fn vectors_json() -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/vectors/vectors.json");
    let path = if shared.exists() { shared } else { root.join("tests/data/vectors.json") };
    let text = std::fs::read_to_string(&path).expect("vectors file is readable");
    let file: Value = serde_json::from_str(&text).expect("vectors file is JSON");
    file["vectors"].as_array().expect("the vectors are a list").clone()
}

/// The shared vectors, typed; there are 67.
pub(crate) fn vectors() -> Vec<Vector> {
    let vectors: Vec<Vector> = serde_json::from_value(Value::Array(vectors_json()))
        .expect("vectors have the expected shape");
    assert_eq!(vectors.len(), 67, "the SDK vector set has 67 requests");
    vectors
}

/// `Content-Type: application/json` and a `Meshagent-Signature` for `body` under `secret`.
pub(crate) fn signed_json_headers(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Meshagent-Signature".to_owned(), Signer::new(secret).signature_header(body)),
    ]
}

/// What the handler saw: event name and raw data, in order.
pub(crate) type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// `POST`/`GET /webhook` (and `/hooks/other`) → records the event, answers `ok`.
pub(crate) fn recording_app(layer: MeshagentSignatureLayer) -> (Router, Seen) {
    let seen = Seen::default();
    async fn record(State(seen): State<Seen>, event: MeshagentEvent) -> &'static str {
        seen.lock().unwrap().push((event.name().to_owned(), event.data().clone()));
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
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        Self::serve(listener, app)
    }

    /// Serves `app` on `listener` (already bound) until dropped.
    pub(crate) fn serve<L>(listener: L, app: Router) -> Self
    where
        L: axum::serve::Listener<Addr = SocketAddr>,
    {
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
        Self { addr, stop: Some(stop), task }
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

/// The full name libtest lists for the test `name` of `module` (pass `module_path!()`): what
/// `--exact` needs when a test re-runs itself in a child process of its test binary, where a
/// test of a suite is listed as `module::name`.
pub(crate) fn test_path(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_binary, path)) => format!("{path}::{name}"),
        None => name.to_owned(),
    }
}

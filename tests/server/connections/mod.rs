//! Connections over real TCP (127.0.0.1:0), against an `axum::serve` app with the layer on its
//! route and against the built-in `WebhookServer`: a refused delivery whose body can be drained
//! costs nothing to the next delivery on the same keep-alive connection (raw HTTP/1.1, hyper's
//! pooled client, curl); one that cannot be drained is answered `Connection: close` without
//! waiting for the body; HTTP/2 never gets a `Connection` header; the size limit covers the
//! `Meshagent-Webhook` header and a body cut by an outer limit. (The values that only Python's
//! `json.dumps` writes are with the extractor tests, in the `layer` suite.)
//!
//! Every network wait is bounded. The soak run is ignored:
//! `cargo test --all-features --test server connections:: -- --ignored --nocapture`.

mod curl;
mod keep_alive;
mod payload_limits;
mod pooled;
mod undrainable;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use http::{Request, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer, Signer, WebhookServer};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;

use crate::common::{KeepAlive, RawResponse, read_one_response, recording_app};
use crate::support::OK_BODY;
use crate::support::handlers::Recorder;

const SECRET: &str = "whsec_connections_7d2e9b41c6a8";
const MIB: usize = 1024 * 1024;
/// The layer drains at most this much of a refused body; more closes the connection.
const DRAIN_LIMIT: usize = 4 * MIB;

// ---------------------------------------------------------------------------------------------
// The two servers under test.

/// A running server and what its handler received.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// The body of a successful delivery.
    ok_body: &'static str,
    delivered: Box<dyn Fn() -> Vec<String> + Send + Sync>,
    _running: Running,
}

enum Running {
    Axum(#[allow(dead_code)] crate::common::TestServer),
    Builtin(crate::support::TestServer),
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Builtin(server) = self {
            server.signal();
        }
    }
}

impl Target {
    /// `axum::serve` with the layer on the webhook route and a `MeshagentEvent` handler that
    /// records each event and answers `ok`.
    async fn axum(layer: MeshagentSignatureLayer) -> Self {
        let (app, seen) = recording_app(layer);
        let server = crate::common::TestServer::start(app).await;
        let delivered = move || {
            let seen = seen.lock().unwrap();
            seen.iter().map(|(_, data)| data["room_name"].as_str().unwrap().to_owned()).collect()
        };
        Self {
            name: "axum::serve app",
            addr: server.addr,
            ok_body: "ok",
            delivered: Box::new(delivered),
            _running: Running::Axum(server),
        }
    }

    /// The built-in `WebhookServer` (HTTP/1 and h2c) with a recording handler.
    async fn builtin(layer: MeshagentSignatureLayer) -> Self {
        let recorder = Recorder::default();
        let server = crate::support::TestServer::start(
            WebhookServer::new(recorder.clone()).with_signature_layer(layer),
        )
        .await;
        let delivered = move || {
            let calls = recorder.calls();
            calls
                .into_iter()
                .filter(|(method, _)| *method == "on_room_ended")
                .map(|(_, room)| room)
                .collect()
        };
        Self {
            name: "built-in WebhookServer",
            addr: server.address,
            ok_body: OK_BODY,
            delivered: Box::new(delivered),
            _running: Running::Builtin(server),
        }
    }

    /// Both servers, each with the layer `layer` builds.
    async fn both(layer: impl Fn() -> MeshagentSignatureLayer) -> [Self; 2] {
        [Self::axum(layer()).await, Self::builtin(layer()).await]
    }

    fn delivered(&self) -> Vec<String> {
        (self.delivered)()
    }
}

// ---------------------------------------------------------------------------------------------
// Deliveries: one request and the answer it must get.

#[derive(Clone, Debug)]
struct Delivery {
    label: String,
    method: &'static str,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// The room name a good delivery carries: it must reach the handler once.
    id: Option<String>,
    status: u16,
    answer: String,
}

impl Delivery {
    /// A `room.ended` for room `id`, signed as MeshAgent signs.
    fn good(id: &str, ok_body: &str) -> Self {
        let body = Signer::event_payload("room.ended", &json!({ "room_name": id }));
        Self {
            label: format!("good delivery {id}"),
            method: "POST",
            headers: signed_headers(body.as_bytes()),
            body: Bytes::from(body),
            id: Some(id.to_owned()),
            status: 200,
            answer: ok_body.to_owned(),
        }
    }

    /// 2 MiB (over the 1 MiB limit, under the drain limit), declared and sent, with a valid
    /// token: 413 before the body is read, then drained.
    fn oversized() -> Self {
        let body = big_bodies().oversized.clone();
        let mut headers = vec![content_type()];
        headers.push(("Meshagent-Signature".to_owned(), big_bodies().oversized_signature.clone()));
        Self::refused("oversized 2 MiB body", headers, body, 413, "payload too large")
    }

    /// 200 KB signed with another secret: 401 `invalid jwt`, then drained.
    fn forged() -> Self {
        let body = big_bodies().forged.clone();
        let signature = Signer::new("whsec_not_the_receivers").signature_header(&body);
        let headers = vec![content_type(), ("Meshagent-Signature".to_owned(), signature)];
        Self::refused("forged token with a 200 KB body", headers, body, 401, "invalid jwt")
    }

    /// 3 MiB without a signature: 401 `missing signature`, then drained.
    fn unsigned() -> Self {
        let body = big_bodies().unsigned.clone();
        let headers = vec![content_type()];
        Self::refused("unsigned 3 MiB body", headers, body, 401, "missing signature")
    }

    fn refused(
        label: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
        status: u16,
        answer: &str,
    ) -> Self {
        let (label, answer) = (label.to_owned(), answer.to_owned());
        Self { label, method: "POST", headers, body, id: None, status, answer }
    }

    /// The request as HTTP/1.1 bytes, keep-alive (no `Connection` header).
    fn raw(&self) -> Vec<u8> {
        let mut request =
            format!("{} /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n", self.method).into_bytes();
        for (name, value) in &self.headers {
            request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        request
            .extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        request.extend_from_slice(&self.body);
        request
    }

    /// The request for hyper's client.
    fn http(&self, addr: SocketAddr) -> Request<Full<Bytes>> {
        let mut request =
            Request::builder().method(self.method).uri(format!("http://{addr}/webhook"));
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request.body(Full::new(self.body.clone())).unwrap()
    }

    /// Whether `answer` is the one this delivery must get, with no `Connection` header.
    fn verdict(&self, answer: &Answer) -> Result<(), String> {
        let expected = (self.status, self.answer.as_str(), None);
        let got = (answer.status, answer.body.as_str(), answer.connection.as_deref());
        if got == expected {
            Ok(())
        } else {
            Err(format!("{}: got {got:?}, expected {expected:?}", self.label))
        }
    }
}

/// The bodies of the refused deliveries, built (and the oversized one signed) once.
struct BigBodies {
    oversized: Bytes,
    oversized_signature: String,
    forged: Bytes,
    unsigned: Bytes,
}

fn big_bodies() -> &'static BigBodies {
    static BODIES: OnceLock<BigBodies> = OnceLock::new();
    BODIES.get_or_init(|| {
        let oversized = Bytes::from(vec![b'o'; 2 * MIB]);
        let oversized_signature = Signer::new(SECRET).signature_header(&oversized);
        BigBodies {
            oversized,
            oversized_signature,
            forged: Bytes::from(vec![b'f'; 200_000]),
            unsigned: Bytes::from(vec![b'u'; 3 * MIB]),
        }
    })
}

fn content_type() -> (String, String) {
    ("Content-Type".to_owned(), "application/json".to_owned())
}

fn signed_headers(body: &[u8]) -> Vec<(String, String)> {
    vec![
        content_type(),
        ("Meshagent-Signature".to_owned(), Signer::new(SECRET).signature_header(body)),
    ]
}

/// Oversized → good, forged → good, unsigned → good; the good ones are `{tag}-1..3`.
fn keep_alive_sequence(tag: &str, ok_body: &str) -> Vec<Delivery> {
    vec![
        Delivery::oversized(),
        Delivery::good(&format!("{tag}-1"), ok_body),
        Delivery::forged(),
        Delivery::good(&format!("{tag}-2"), ok_body),
        Delivery::unsigned(),
        Delivery::good(&format!("{tag}-3"), ok_body),
    ]
}

fn ids(sequence: &[Delivery]) -> Vec<String> {
    sequence.iter().filter_map(|delivery| delivery.id.clone()).collect()
}

/// What came back, from the raw client or hyper's.
#[derive(Debug)]
struct Answer {
    status: u16,
    connection: Option<String>,
    body: String,
}

impl From<&RawResponse> for Answer {
    fn from(response: &RawResponse) -> Self {
        Self {
            status: response.status,
            connection: response.header("connection").map(str::to_owned),
            body: response.text(),
        }
    }
}

/// Sends `sequence` over one raw keep-alive connection; the first failure, if any.
async fn run_keep_alive(addr: SocketAddr, sequence: &[Delivery]) -> Result<(), String> {
    let mut connection = KeepAlive::connect(addr).await;
    for delivery in sequence {
        let response = connection
            .round_trip(&delivery.raw())
            .await
            .map_err(|error| format!("{}: {error}", delivery.label))?;
        delivery.verdict(&Answer::from(&response))?;
    }
    Ok(())
}

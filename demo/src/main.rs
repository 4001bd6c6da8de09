//! Run with: `cargo run -p meshagent-webhooks-demo` (from a clone of meshagent-webhooks)
//!
//! No set-up. Starts the built-in `WebhookServer` on a free 127.0.0.1 port with a throwaway
//! secret, sends it every event type signed the way MeshAgent signs them, then a forged
//! request (wrong secret), a tampered one, an unsigned one and an oversized one, then a good
//! one again: all through one pooled keep-alive client, as MeshAgent's sender does, so a
//! rejection must never cost the next delivery. Prints what was accepted and rejected, and
//! exits 0 only if every answer is the expected one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::StreamExt;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use meshagent_webhooks::{
    Forgery, HandlerError, MeshagentEvent, RoomCall, Signer, WebhookHandler, WebhookServer,
};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Remembers which handler method each delivery reached (clones share what they remember).
#[derive(Default, Clone)]
struct Recorder {
    reached: Arc<Mutex<Vec<&'static str>>>,
}

impl Recorder {
    fn take(&self) -> String {
        std::mem::take(&mut *self.reached.lock().unwrap()).join(", ")
    }
}

impl WebhookHandler for Recorder {
    async fn on_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
        let method = match event {
            MeshagentEvent::RoomStarted(_) => "on_room_started",
            MeshagentEvent::RoomEnded(_) => "on_room_ended",
            MeshagentEvent::RoomCall(_) => "on_call",
            MeshagentEvent::StorageFileUpdated(_) => "on_storage_file_updated",
            MeshagentEvent::StorageFileDeleted(_) => "on_storage_file_deleted",
            MeshagentEvent::StorageFileMoved(_) => "on_storage_file_moved",
            _ => "on_unknown",
        };
        self.reached.lock().unwrap().push(method);
        Ok(())
    }

    async fn on_call_websocket(
        &self,
        _call: RoomCall,
        mut socket: WebSocket,
    ) -> Result<(), HandlerError> {
        self.reached.lock().unwrap().push("on_call_websocket");
        socket.send(Message::Text("connected".into())).await?;
        Ok(())
    }
}

/// One row of the table.
struct Outcome {
    case: String,
    expected: u16,
    got: u16,
    detail: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let secret = throwaway_secret();
    let recorder = Recorder::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhook", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        WebhookServer::new(recorder.clone()).with_secret(secret.as_str()).serve_with_shutdown(
            listener,
            async move {
                let _ = stopped.await;
            },
        ),
    );
    println!("WebhookServer listening on {url}\n");

    // One connection at most, reused for every delivery, like MeshAgent's aiohttp session.
    let client =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1).build_http::<Full<Bytes>>();
    let signer = Signer::new(&secret);
    let mut outcomes = Vec::new();

    let events = [
        (
            "room.started",
            json!({"room_name": "standup", "room_url": "wss://example/rooms/standup"}),
        ),
        ("room.ended", json!({"room_name": "standup"})),
        (
            "room.call",
            json!({"room_name": "standup", "room_url": "wss://example/rooms/standup", "token": "participant-token"}),
        ),
        ("storage.file.updated", json!({"path": "notes.md", "participant_id": "p-1"})),
        ("storage.file.deleted", json!({"path": "old.md", "participant_id": "p-1"})),
        (
            "storage.file.moved",
            json!({"source_path": "a.md", "destination_path": "b.md", "participant_id": "p-1"}),
        ),
        ("agent.custom (unknown)", json!({"anything": true})),
    ];
    for (event, data) in events {
        let event_name = event.split(' ').next().unwrap_or(event);
        let request = signer.request(&url, event_name, &data);
        outcomes.push(post(&client, event, 200, request, &recorder).await?);
    }
    outcomes.push(websocket_call(&url, &signer, &recorder).await?);

    let data = json!({"room_name": "standup"});
    let forgeries = [
        ("forged (wrong secret)", Forgery::WrongSecret),
        ("tampered body", Forgery::TamperedBody),
        ("unsigned", Forgery::MissingSignature),
    ];
    for (case, forgery) in forgeries {
        let request = signer.forged_request(forgery, &url, "room.ended", &data);
        outcomes.push(post(&client, case, 401, request, &recorder).await?);
    }
    let huge = json!({"room_name": "x".repeat(1024 * 1024 + 1)});
    let request = signer.request(&url, "room.ended", &huge);
    outcomes.push(post(&client, "oversized (> 1 MiB)", 413, request, &recorder).await?);
    let request = signer.request(&url, "room.ended", &data);
    outcomes.push(post(&client, "room.ended (after those)", 200, request, &recorder).await?);

    let _ = stop.send(());
    server.await??;

    println!("     {:<24} {:>8} {:>4}  handled by / reason", "delivery", "expected", "got");
    let mut failures = 0;
    for outcome in &outcomes {
        let mark = if outcome.got == outcome.expected { "ok" } else { "FAIL" };
        failures += usize::from(outcome.got != outcome.expected);
        println!(
            "{mark:<4} {:<24} {:>8} {:>4}  {}",
            outcome.case, outcome.expected, outcome.got, outcome.detail
        );
    }
    println!("\n{} of {} answers as expected", outcomes.len() - failures, outcomes.len());
    if failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Sends one request and notes the status and, for an accepted one, which method ran.
async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    case: &str,
    expected: u16,
    request: Request<Full<Bytes>>,
    recorder: &Recorder,
) -> Result<Outcome, Error> {
    let response = client.request(request).await?;
    let got = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    let detail =
        if got == 200 { recorder.take() } else { String::from_utf8_lossy(&body).into_owned() };
    Ok(Outcome { case: case.to_owned(), expected, got, detail })
}

/// `room.call` as MeshAgent delivers it to a websocket: a GET upgrade with the signed payload
/// in the `Meshagent-Webhook` header.
async fn websocket_call(url: &str, signer: &Signer, recorder: &Recorder) -> Result<Outcome, Error> {
    let data = json!({"room_name": "standup", "room_url": "wss://example/rooms/standup", "token": "participant-token"});
    let payload = Signer::event_payload("room.call", &data);
    let mut request = url.replacen("http://", "ws://", 1).into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("meshagent-webhook", payload.parse()?);
    headers.insert("meshagent-signature", signer.signature_header(payload.as_bytes()).parse()?);

    let (mut socket, response) = tokio_tungstenite::connect_async(request).await?;
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next()).await?;
    let greeting = match first {
        Some(Ok(message)) => message.into_text()?.to_string(),
        _ => String::from("(no message)"),
    };
    Ok(Outcome {
        case: "room.call (websocket)".to_owned(),
        expected: 101,
        got: response.status().as_u16(),
        detail: format!("{} (said {greeting:?})", recorder.take()),
    })
}

/// A secret for this run only, from the standard library's per-process random keys. Use a
/// real secret from MeshAgent in production.
fn throwaway_secret() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |time| time.as_nanos());
    let mut secret = String::from("whsec_demo_");
    for _ in 0..2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        secret.push_str(&format!("{:016x}", hasher.finish()));
    }
    secret
}

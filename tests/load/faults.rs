//! Faults through a layered axum app on a real server (127.0.0.1 only):
//!
//! * clients that go away mid-body, mid-response and around a websocket upgrade: the server
//!   keeps serving and its connections, tasks, descriptors and memory come back down;
//! * 256 concurrent uploads of 1 MiB, each held by its handler until all are in: peak memory
//!   against 256 × 1 MiB.
//!
//! The normal run keeps a small hang-up run; the long one is ignored:
//! `cargo test --release --all-features --test load faults:: -- --ignored --nocapture`.
//!
//! The tests take `SERIAL` so that memory and descriptor figures are not mixed up.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use crate::common::recording_app;
use crate::hardening::{
    CountingServer, SECRET, assert_still_serves, memory_kib, open_fds, raw_request,
};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer, Signer, VerifiedWebhook};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

const MIB: usize = 1024 * 1024;

static BIG_RESPONSE: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(vec![b'x'; 8 * MIB]));

/// `/webhook` records events; `/big` answers 8 MiB; `/ws` upgrades a verified `room.call`
/// and holds the socket until the client goes; `open_sockets` counts those held.
fn fault_app() -> (Router, crate::common::Seen, Arc<AtomicUsize>) {
    let (recording, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let open_sockets = Arc::new(AtomicUsize::new(0));
    async fn big(_: MeshagentEvent) -> Bytes {
        BIG_RESPONSE.clone()
    }
    async fn upgrade(
        State(open): State<Arc<AtomicUsize>>,
        ws: WebSocketUpgrade,
        event: MeshagentEvent,
    ) -> Response {
        assert_eq!(event.name(), "room.call");
        ws.on_upgrade(move |mut socket| async move {
            open.fetch_add(1, Ordering::SeqCst);
            while let Some(Ok(_)) = socket.recv().await {}
            open.fetch_sub(1, Ordering::SeqCst);
        })
    }
    let faults = Router::new()
        .route("/big", post(big))
        .route("/ws", get(upgrade))
        .layer(MeshagentSignatureLayer::new(SECRET))
        .with_state(open_sockets.clone());
    (recording.merge(faults), seen, open_sockets)
}

fn signed_post(path: &str, body: &[u8], declared: Option<usize>) -> Vec<u8> {
    let signature = Signer::new(SECRET).signature_header(body);
    let length = declared.unwrap_or(body.len()).to_string();
    raw_request(
        "POST",
        path,
        &[
            ("Content-Type", b"application/json"),
            ("Meshagent-Signature", signature.as_bytes()),
            ("Content-Length", length.as_bytes()),
        ],
        body,
        true,
    )
}

fn upgrade_request() -> Vec<u8> {
    let payload = Signer::event_payload(
        "room.call",
        &json!({"room_name": "r", "room_url": "wss://x/r", "token": crate::hardening::PARTICIPANT_TOKEN}),
    );
    let signature = Signer::new(SECRET).signature_header(payload.as_bytes());
    raw_request(
        "GET",
        "/ws",
        &[
            ("Meshagent-Webhook", payload.as_bytes()),
            ("Meshagent-Signature", signature.as_bytes()),
            ("Connection", b"Upgrade"),
            ("Upgrade", b"websocket"),
            ("Sec-WebSocket-Version", b"13"),
            ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        b"",
        true,
    )
}

/// Connects, writes `bytes`, reads up to `read` bytes (bounded by 5 s), then drops the socket
/// (with a reset when `reset`).
async fn hang_up(addr: SocketAddr, bytes: &[u8], read: usize, reset: bool) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    if reset {
        stream.set_zero_linger().unwrap();
    }
    stream.write_all(bytes).await.unwrap();
    let mut received = vec![0u8; read];
    let mut filled = 0;
    while filled < read {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut received[filled..]))
            .await
        {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => filled += n,
        }
    }
    received.truncate(filled);
    received
}

async fn disconnects(rounds: usize) {
    let _serial = crate::SERIAL.lock().await;
    let (app, seen, open_sockets) = fault_app();
    let server = CountingServer::start(app).await;
    let runtime = tokio::runtime::Handle::current().metrics();
    let body = crate::hardening::event_body("fault");
    let big = signed_post("/big", body.as_bytes(), None);
    let upgrade = upgrade_request();
    let partial = {
        let mut request = signed_post("/webhook", body.as_bytes(), Some(100_000));
        request.truncate(request.len() - 10);
        request
    };
    // One of each first, so lazy buffers exist before the baseline.
    let head = hang_up(server.addr, &upgrade, 12, false).await;
    assert_eq!(&head, b"HTTP/1.1 101");
    assert_eq!(hang_up(server.addr, &big, 12, false).await, b"HTTP/1.1 200");
    assert_still_serves(server.addr, &seen, "warm-up").await;
    server.wait_live_at_most(0, Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_sockets.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (rss_before, _) = memory_kib();
    let fds_before = open_fds();
    let tasks_before = runtime.num_alive_tasks();

    let started = Instant::now();
    let mut upgraded = 0;
    for round in 0..rounds {
        let reset = round % 2 == 1;
        // Mid-body: 100,000 bytes declared, a few hundred sent.
        hang_up(server.addr, &partial, 0, reset).await;
        // Before the answer is read, and mid-response (8 MiB answer, 64 KiB read).
        hang_up(server.addr, &big, 0, reset).await;
        let got = hang_up(server.addr, &big, 64 * 1024, reset).await;
        assert!(got.starts_with(b"HTTP/1.1 200"), "round {round}");
        // Around the websocket upgrade: before the 101 is read, and right after it.
        hang_up(server.addr, &upgrade, 0, reset).await;
        let got = hang_up(server.addr, &upgrade, 12, reset).await;
        assert_eq!(&got, b"HTTP/1.1 101", "round {round}");
        upgraded += 1;
    }
    let elapsed = started.elapsed();
    let live = server.wait_live_at_most(0, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while (open_sockets.load(Ordering::SeqCst) > 0 || runtime.num_alive_tasks() > tasks_before)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (rss_after, _) = memory_kib();
    let fds_after = open_fds();
    let tasks_after = runtime.num_alive_tasks();
    println!(
        "faults: {rounds} rounds x 5 hang-ups ({upgraded} after an upgrade) in {elapsed:.2?}; \
         server connections accepted {}, open after {live}; websockets open after {}; tasks \
         {tasks_before} -> {tasks_after}; fds {fds_before} -> {fds_after}; RSS {rss_before} \
         KiB -> {rss_after} KiB",
        server.counters.accepted.load(Ordering::SeqCst),
        open_sockets.load(Ordering::SeqCst),
    );
    assert_eq!(live, 0, "connections left open");
    assert_eq!(open_sockets.load(Ordering::SeqCst), 0, "websockets left open");
    assert!(tasks_after <= tasks_before, "tasks {tasks_before} -> {tasks_after}");
    assert!(fds_after <= fds_before, "descriptors {fds_before} -> {fds_after}");
    assert!(rss_after < rss_before + 64 * 1024, "RSS {rss_before} -> {rss_after} KiB");
    assert_eq!(seen.lock().unwrap().len(), 1, "no partial body reached the handler");
    assert_still_serves(server.addr, &seen, "clients hanging up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_hanging_up_mid_body_mid_response_or_mid_upgrade_leak_nothing() {
    disconnects(40).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full fault run: cargo test --release --all-features --test load faults:: -- --ignored --nocapture"]
async fn clients_hanging_up_2000_rounds_leak_nothing() {
    disconnects(2_000).await;
}

/// Resets the kernel's peak-RSS mark of this process (`VmHWM`), when allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_of_256_concurrent_1_mib_uploads_is_about_256_mib() {
    const UPLOADS: usize = 256;
    let _serial = crate::SERIAL.lock().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(UPLOADS));
    // Every handler holds its verified payload until all 256 are in memory at once.
    async fn hold(
        Extension(barrier): Extension<Arc<tokio::sync::Barrier>>,
        Extension(webhook): Extension<VerifiedWebhook>,
    ) -> String {
        let waited = tokio::time::timeout(Duration::from_secs(60), barrier.wait()).await;
        assert!(waited.is_ok(), "all uploads in flight together");
        webhook.payload().len().to_string()
    }
    let app = Router::new()
        .route("/upload", post(hold))
        .layer(MeshagentSignatureLayer::new(SECRET))
        .layer(Extension(barrier));
    let server = CountingServer::start(app).await;
    let prefix = r#"{"event": "room.ended", "data": {"room_name": "r", "pad": ""#;
    let suffix = r#""}}"#;
    let body = format!("{prefix}{}{suffix}", "p".repeat(MIB - prefix.len() - suffix.len()));
    assert_eq!(body.len(), MIB);
    let signature = Signer::new(SECRET).signature_header(body.as_bytes());
    let request = Arc::new(raw_request(
        "POST",
        "/upload",
        &[("Content-Type", b"application/json"), ("Meshagent-Signature", signature.as_bytes())],
        body.as_bytes(),
        false,
    ));
    drop(body);

    let (rss_before, _) = memory_kib();
    let reset = reset_peak();
    let peak = Arc::new(AtomicUsize::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = std::thread::spawn({
        let (peak, sampling) = (peak.clone(), sampling.clone());
        move || {
            while sampling.load(Ordering::SeqCst) {
                peak.fetch_max(memory_kib().0 as usize, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let started = Instant::now();
    let mut uploads = JoinSet::new();
    for _ in 0..UPLOADS {
        let request = request.clone();
        let addr = server.addr;
        uploads.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(&request).await.unwrap();
            crate::common::read_response(&mut stream).await
        });
    }
    let mut ok = 0;
    while let Some(response) = uploads.join_next().await {
        let response = response.unwrap();
        assert_eq!((response.status, response.text()), (200, MIB.to_string()));
        ok += 1;
    }
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::SeqCst);
    sampler.join().unwrap();
    let (rss_after, hwm) = memory_kib();
    let sampled = peak.load(Ordering::SeqCst) as u64;
    let peak_kib = if reset { hwm.max(sampled) } else { sampled };
    let growth = peak_kib.saturating_sub(rss_before);
    let budget = (UPLOADS * MIB / 1024) as u64;
    println!(
        "memory: {ok} concurrent uploads of 1 MiB in {elapsed:.2?}; RSS before {rss_before} KiB, \
         peak {peak_kib} KiB (VmHWM {} , sampled {sampled}), after {rss_after} KiB; peak growth \
         {growth} KiB = {:.2} x (256 x 1 MiB = {budget} KiB)",
        if reset { "reset" } else { "not resettable" },
        growth as f64 / budget as f64,
    );
    assert_eq!(ok, UPLOADS);
    assert!(growth < 2 * budget, "peak growth {growth} KiB over 2 x {budget} KiB");
}

/// Clients that send part of a request head and then nothing (slowloris): each holds only its
/// own connection; the server keeps serving, and the connections go when the clients do.
/// `axum::serve` sets no header-read timeout (hyper's needs a timer), so the figure printed
/// is how many were still open after 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_request_heads_hold_only_their_own_connections() {
    const CLIENTS: usize = 100;
    let _serial = crate::SERIAL.lock().await;
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = CountingServer::start(app).await;
    let mut slow = Vec::new();
    for _ in 0..CLIENTS {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nMeshagent-Sig")
            .await
            .unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = server.live();
    assert_still_serves(server.addr, &seen, "100 partial heads").await;
    drop(slow);
    let live = server.wait_live_at_most(0, Duration::from_secs(5)).await;
    println!(
        "slowloris: {CLIENTS} partial heads, {held} connections still open after 2 s (no \
         header-read timeout), {live} open after the clients left"
    );
    assert_eq!(live, 0);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

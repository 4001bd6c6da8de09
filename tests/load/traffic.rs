//! Load through a layered axum app on a real server (127.0.0.1 only): signed events over
//! concurrent keep-alive connections with 1 in 10 forged. Every signed event reaches the
//! handler exactly once (counted by its id), every forged one is refused, no connection
//! error.
//!
//! The normal run sends 2,000 events over 16 connections; the full run (100,000 over 64) is
//! ignored: `cargo test --release --all-features --test load traffic:: -- --ignored --nocapture`.
//! Faults (hang-ups, peak memory) are in `faults.rs`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::recording_app;
use crate::hardening::{CountingServer, SECRET, memory_kib};
use bytes::Bytes;
use http::header::HOST;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use meshagent_webhooks::{Forgery, MeshagentSignatureLayer, Signer};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    accepted: usize,
    rejected: BTreeMap<String, usize>,
    unexpected: Vec<String>,
}

/// Event `i`: signed, or (1 in 10) forged in one of three ways; with the answer it must get.
fn request_for(
    signer: &Signer,
    i: usize,
) -> (http::Request<http_body_util::Full<Bytes>>, u16, &'static str) {
    let data = json!({"room_name": "load", "id": format!("ev-{i:06}")});
    let (mut request, status, body) = if i % 10 == 9 {
        match (i / 10) % 3 {
            0 => (
                signer.forged_request(Forgery::WrongSecret, "/webhook", "room.ended", &data),
                401,
                "invalid jwt",
            ),
            1 => (
                signer.forged_request(Forgery::TamperedBody, "/webhook", "room.ended", &data),
                401,
                "signature does not match payload",
            ),
            _ => (
                signer.forged_request(Forgery::MissingSignature, "/webhook", "room.ended", &data),
                401,
                "missing signature",
            ),
        }
    } else {
        (signer.request("/webhook", "room.ended", &data), 200, "ok")
    };
    request.headers_mut().insert(HOST, http::HeaderValue::from_static("127.0.0.1"));
    (request, status, body)
}

/// One keep-alive connection sending events `first, first + step, …` below `events`, one at
/// a time.
async fn client(
    addr: SocketAddr,
    first: usize,
    step: usize,
    events: usize,
) -> Result<Tally, String> {
    let signer = Signer::new(SECRET);
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let mut tally = Tally::default();
    for i in (first..events).step_by(step) {
        let (request, status, body) = request_for(&signer, i);
        sender.ready().await.map_err(|e| format!("event {i}: not ready: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("event {i}: {e}"))?;
        let got_status = response.status().as_u16();
        let got_body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("event {i}: body: {e}"))?
            .to_bytes();
        if (got_status, got_body.as_ref()) != (status, body.as_bytes()) {
            tally
                .unexpected
                .push(format!("event {i}: {got_status} {got_body:?}, expected {status} {body}"));
        } else if status == 200 {
            tally.accepted += 1;
        } else {
            *tally.rejected.entry(body.to_owned()).or_default() += 1;
        }
    }
    drop(sender);
    driver.await.map_err(|e| e.to_string())?.map_err(|e| format!("connection: {e}"))?;
    Ok(tally)
}

async fn run_load(events: usize, connections: usize) {
    let _serial = crate::SERIAL.lock().await;
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = CountingServer::start(app).await;
    let (rss_before, _) = memory_kib();
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for first in 0..connections {
        clients.spawn(client(server.addr, first, connections, events));
    }
    let mut total = Tally::default();
    let mut errors = Vec::new();
    while let Some(joined) = clients.join_next().await {
        match joined.expect("client task") {
            Ok(tally) => {
                total.accepted += tally.accepted;
                for (reason, count) in tally.rejected {
                    *total.rejected.entry(reason).or_default() += count;
                }
                total.unexpected.extend(tally.unexpected);
            }
            Err(error) => errors.push(error),
        }
    }
    let elapsed = started.elapsed();
    let live = server.wait_live_at_most(0, Duration::from_secs(5)).await;
    let (rss_after, _) = memory_kib();

    let forged = (0..events).filter(|i| i % 10 == 9).count();
    let signed = events - forged;
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (_, data) in seen.lock().unwrap().iter() {
        *by_id.entry(data["id"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
    }
    let rejected: usize = total.rejected.values().sum();
    println!(
        "load: {events} events ({signed} signed, {forged} forged) over {connections} keep-alive \
         connections in {elapsed:.2?} ({:.0} req/s); handler saw {} distinct ids; accepted \
         {}, rejected {rejected} {:?}; connection errors {}; unexpected answers {}; server \
         accepted {} connections, {live} open after; RSS {rss_before} KiB -> {rss_after} KiB",
        events as f64 / elapsed.as_secs_f64(),
        by_id.len(),
        total.accepted,
        total.rejected,
        errors.len(),
        total.unexpected.len(),
        server.counters.accepted.load(Ordering::SeqCst),
    );
    assert!(errors.is_empty(), "connection errors: {:?}", &errors[..errors.len().min(5)]);
    assert!(
        total.unexpected.is_empty(),
        "{:?}",
        &total.unexpected[..total.unexpected.len().min(5)]
    );
    assert_eq!(total.accepted, signed);
    assert_eq!(rejected, forged);
    for i in 0..events {
        let count = by_id.get(&format!("ev-{i:06}")).copied().unwrap_or(0);
        let expected = usize::from(i % 10 != 9);
        assert_eq!(count, expected, "event {i} reached the handler {count} times");
    }
    assert_eq!(by_id.values().sum::<usize>(), signed, "nothing else reached the handler");
    assert_eq!(server.counters.accepted.load(Ordering::SeqCst), connections);
    assert_eq!(live, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_2000_events_over_16_connections_one_in_ten_forged() {
    run_load(2_000, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full load run: cargo test --release --all-features --test load traffic:: -- --ignored --nocapture"]
async fn load_100000_events_over_64_connections_one_in_ten_forged() {
    run_load(100_000, 64).await;
}

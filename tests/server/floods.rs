//! The built-in server under connection floods: no one keeps a delivery out. MeshAgent's sender
//! does not retry, so a delivery kept waiting behind hostile connections is lost.
//!
//! Each test runs the server in a child process of this test binary, under `ulimit -n 1024`,
//! with its defaults except the timeouts the flood names, and floods it from this process
//! over 127.0.0.1. During the flood, a fresh delivery and `GET /` are answered within 1 s at
//! several moments; in the end every hostile connection has been closed by the server and the
//! server's open files are back where they started; its peak RSS stays bounded. The normal
//! run has short versions; the long ones, with the default timeouts, are ignored:
//! `cargo test --release --all-features --test server floods:: -- --ignored --nocapture --test-threads=1`.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http::Request;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use meshagent_webhooks::{MeshagentSignatureLayer, Signer, WebhookHandler, WebhookServer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;

use crate::support::wire::{ClientBody, PREFACE, h2_client, ms, open_file_limits, until_closed};
use crate::support::{SECRET, exchange, send};

/// Set in the child: the server's header read timeout, idle timeout and minimum-rate grace,
/// in milliseconds.
const SERVER_ENV: &str = "MESHAGENT_FLOOD_SERVER";

/// What the server's process may open, as a small deployment would have it.
const SERVER_FILES: u64 = 1024;

/// What the flood side needs open: a thousand hostile connections and the probes, with room.
const FLOOD_FILES: u64 = 4 * SERVER_FILES;

/// Set when the flood side runs again with its open-file limit raised.
const FLOOD_SIDE_ENV: &str = "MESHAGENT_FLOOD_SIDE";

/// The bound on a probe's answer during a flood.
const PROBE_BOUND: Duration = Duration::from_secs(1);

/// The bound within which the server closes everything once the flood stops.
const END_BOUND: Duration = Duration::from_secs(20);

/// One flood test at a time: each has a machine's worth of connections.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The server's timeouts for one flood.
#[derive(Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
    min_rate_grace: Duration,
}

const DEFAULTS: Timeouts = Timeouts {
    header_read: Duration::from_secs(30),
    idle: Duration::from_secs(60),
    min_rate_grace: Duration::from_secs(5),
};

const SHORT: Timeouts =
    Timeouts { header_read: ms(2_000), idle: ms(2_000), min_rate_grace: ms(1_000) };

struct Nothing;
impl WebhookHandler for Nothing {}

/// The server child, as the test `name` sees it from the flood side.
struct ServerProcess {
    child: Child,
    address: SocketAddr,
    files_at_start: usize,
    timeouts: Timeouts,
}

impl ServerProcess {
    /// How long the server may take to close what the flood left: its longest timeout, and
    /// [`END_BOUND`].
    fn closing_bound(&self) -> Duration {
        END_BOUND + self.timeouts.idle.max(self.timeouts.header_read)
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let line = status.lines().find_map(|line| line.strip_prefix(field)).unwrap_or("0 kB");
        line.trim().trim_end_matches("kB").trim().parse().unwrap_or(0)
    }

    /// User and system CPU time so far, in milliseconds.
    fn cpu_ms(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks * 10
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, Iterator::count)
    }

    /// Waits until the server holds no more files than when it started.
    async fn assert_all_closed(&self, what: &str) {
        let waiting = async {
            while self.open_files() > self.files_at_start {
                sleep(ms(50)).await;
            }
        };
        if timeout(self.closing_bound(), waiting).await.is_err() {
            panic!("{what}: the server still holds {} files", self.open_files());
        }
    }
}

/// Runs `flood` against a server child with `timeouts`; in the child (same test, `SERVER_ENV`
/// set), serves instead.
fn flood_test<F, Fut>(name: &str, timeouts: Timeouts, flood: F)
where
    F: FnOnce(Arc<ServerProcess>) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Ok(config) = std::env::var(SERVER_ENV) {
        return serve(&config);
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (soft, hard) = open_file_limits();
    if soft < FLOOD_FILES {
        // Run again, the flood side with its soft limit raised (up to the hard limit).
        assert!(hard >= FLOOD_FILES, "the flood side needs {FLOOD_FILES} open files ({hard})");
        assert!(std::env::var_os(FLOOD_SIDE_ENV).is_none(), "ulimit -n did not raise the limit");
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {FLOOD_FILES} && exec \"$0\" \"$@\""))
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", &crate::common::test_path(module_path!(), name)])
            .args(["--include-ignored", "--nocapture", "--test-threads=1"])
            .env(FLOOD_SIDE_ENV, "1")
            .status()
            .unwrap();
        assert!(status.success(), "{name} with {FLOOD_FILES} open files failed");
        return;
    }
    let config = [timeouts.header_read, timeouts.idle, timeouts.min_rate_grace]
        .map(|limit| limit.as_millis().to_string())
        .join(",");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {SERVER_FILES} && exec \"$0\" \"$@\""))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", &crate::common::test_path(module_path!(), name)])
        .args(["--include-ignored", "--nocapture", "--test-threads=1"])
        .env(SERVER_ENV, config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = lines
        .by_ref()
        .find_map(|line| Some(line.unwrap().split_once("flood server on ")?.1.to_owned()))
        .expect("the server child prints its address");
    std::thread::spawn(move || lines.for_each(drop));
    let address = address.parse().unwrap();
    let mut server = ServerProcess { child, address, files_at_start: 0, timeouts };
    server.files_at_start = server.open_files();
    let server = Arc::new(server);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(flood(server.clone()));
    println!("figures: server peak RSS {} MiB", server.status_kib("VmHWM:") / 1024);
    assert!(server.status_kib("VmHWM:") < 256 * 1024, "the server's RSS stays bounded");
    let mut server = Arc::into_inner(server).expect("the flood is over");
    drop(server.child.stdin.take());
    assert!(server.child.wait().unwrap().success(), "the server child stops cleanly");
}

/// The child: the server on 127.0.0.1 with the flood's timeouts, until stdin closes.
fn serve(config: &str) {
    let limits: Vec<Duration> =
        config.split(',').map(|millis| ms(millis.parse().unwrap())).collect();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // As `WebhookServer::run` binds: an accept queue of 1,024.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let listener = socket.listen(1024).unwrap();
        println!("flood server on {}", listener.local_addr().unwrap());
        let layer = MeshagentSignatureLayer::new(SECRET).with_min_body_rate(500, limits[2]);
        let server = WebhookServer::new(Nothing)
            .with_signature_layer(layer)
            .with_header_read_timeout(limits[0])
            .with_idle_timeout(limits[1]);
        let stdin_closed = tokio::task::spawn_blocking(|| {
            std::io::stdin().lines().for_each(drop);
        });
        server.serve_with_shutdown(listener, async { drop(stdin_closed.await) }).await.unwrap();
    });
}

fn delivery(room: &str) -> Request<http_body_util::Full<Bytes>> {
    Signer::new(SECRET).request("/webhook", "room.ended", &json!({ "room_name": room }))
}

/// A fresh delivery and `GET /`, each on a new connection, both answered 200 within
/// [`PROBE_BOUND`]; how long the slower took.
async fn probe(address: SocketAddr, moment: &str) -> Duration {
    let started = Instant::now();
    let answers = async {
        tokio::join!(send(address, delivery(moment)), exchange(address, "GET", "/", &[], b""))
    };
    let (delivered, health) = timeout(PROBE_BOUND, answers)
        .await
        .unwrap_or_else(|_| panic!("{moment}: a delivery and GET / answered within 1 s"));
    assert_eq!((delivered.status, health.status), (200, 200), "{moment}");
    started.elapsed()
}

/// Probes `times` times, `every` apart, while the flood goes on; prints the latencies.
async fn probes(address: SocketAddr, flood: &str, times: u32, every: Duration) {
    let mut latencies = Vec::new();
    for moment in 1..=times {
        sleep(every).await;
        latencies.push(probe(address, &format!("{flood}, probe {moment}")).await);
    }
    println!("figures: {flood}: probes answered in {latencies:.1?}");
}

/// Connects, for the flood side, within [`END_BOUND`].
async fn connect(address: SocketAddr) -> TcpStream {
    timeout(END_BOUND, TcpStream::connect(address)).await.expect("connects").expect("connects")
}

// ---------------------------------------------------------------------------------------------
// (a) Keep-alive clients pinging below the idle timeout.

async fn pinging_clients(server: Arc<ServerProcess>, clients: usize, every: Duration, probed: u32) {
    let (address, closing) = (server.address, server.closing_bound());
    let flooding = CancellationToken::new();
    let closed_by_server = Arc::new(AtomicU64::new(0));
    let mut pingers = JoinSet::new();
    for _ in 0..clients {
        let (flooding, closed_by_server) = (flooding.clone(), closed_by_server.clone());
        pingers.spawn(async move {
            loop {
                let mut stream = connect(address).await;
                // Ping until the server closes the connection, then come back, as an attacker
                // holding places would.
                loop {
                    let ping = async {
                        stream.write_all(b"GET / HTTP/1.1\r\nHost: flood\r\n\r\n").await.ok()?;
                        let mut answer = [0u8; 256];
                        let read = stream.read(&mut answer).await.ok()?;
                        (read > 0).then_some(())
                    };
                    if ping.await.is_none() {
                        closed_by_server.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    tokio::select! {
                        () = sleep(every) => {}
                        () = flooding.cancelled() => {
                            // The flood is over: hold the connection until the server closes it.
                            until_closed(&mut stream, closing).await.expect("closed by the server");
                            return;
                        }
                    }
                }
                if flooding.is_cancelled() {
                    return;
                }
            }
        });
    }
    sleep(ms(500)).await;
    probes(
        address,
        &format!("{clients} keep-alive clients pinging every {every:?}"),
        probed,
        every,
    )
    .await;
    flooding.cancel();
    while let Some(pinger) = pingers.join_next().await {
        pinger.unwrap();
    }
    println!(
        "figures: {clients} pinging clients: {} of their connections closed by the server to \
         make room",
        closed_by_server.load(Ordering::SeqCst)
    );
    server.assert_all_closed("pinging clients").await;
}

#[test]
fn keep_alive_clients_pinging_below_the_idle_timeout_keep_no_delivery_out() {
    flood_test(
        "keep_alive_clients_pinging_below_the_idle_timeout_keep_no_delivery_out",
        SHORT,
        |server| pinging_clients(server, 520, ms(1_000), 4),
    );
}

#[test]
#[ignore = "110 s: cargo test --release --all-features --test server floods:: -- --ignored --nocapture"]
fn keep_alive_clients_pinging_every_50_s_keep_no_delivery_out_for_110_s() {
    flood_test(
        "keep_alive_clients_pinging_every_50_s_keep_no_delivery_out_for_110_s",
        DEFAULTS,
        |server| pinging_clients(server, 520, Duration::from_secs(50), 2),
    );
}

// ---------------------------------------------------------------------------------------------
// (b) Silent, half-preface and slow-body connections at once.

async fn mixed_flood(server: Arc<ServerProcess>, grace: Duration, probed: u32, every: Duration) {
    let address = server.address;
    let mut hostile = JoinSet::new();
    for kind in (0..1000).map(|index| index / 200) {
        hostile.spawn(async move {
            // 200 slow bodies with a valid token, far below the minimum rate.
            if kind == 4 {
                return slow_body(address, grace).await;
            }
            let mut stream = connect(address).await;
            // 600 silent, 200 with 23 bytes of the HTTP/2 preface.
            if kind == 3 {
                let _ = stream.write_all(&PREFACE[..23]).await;
            }
            until_closed(&mut stream, END_BOUND + DEFAULTS.header_read).await.expect("closed");
            0
        });
    }
    probes(address, "600 silent + 200 half-preface + 200 slow-body connections", probed, every)
        .await;
    let mut returns = 0;
    while let Some(connection) = hostile.join_next().await {
        returns += connection.unwrap();
    }
    println!("figures: slow bodies: all 200 answered 408; {returns} came back after giving way");
    server.assert_all_closed("mixed flood").await;
}

/// A signed delivery's head with the first byte of its body, then two more bytes, 3/10 of the
/// minimum rate's `grace` apart, then nothing: answered 408 and closed after about `grace`,
/// long before the 30 s body timeout. (It stops writing so that no byte arrives as the 408 is
/// sent: unread bytes would turn the server's close into a reset, which can throw the answer
/// away.) A connection closed before its head was read was idle, and gave way at the cap:
/// the client comes back, as an attacker would; how many times it did.
async fn slow_body(address: SocketAddr, grace: Duration) -> u32 {
    let (parts, body) = delivery("slow").into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let mut head = "POST /webhook HTTP/1.1\r\nHost: flood\r\n".to_owned();
    for (name, value) in &parts.headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    let mut first = format!("{head}\r\n").into_bytes();
    first.push(body[0]);
    for returns in 0.. {
        let mut stream = connect(address).await;
        let mut written = stream.write_all(&first).await.is_ok();
        for byte in &body[1..3] {
            sleep(grace * 3 / 10).await;
            written = written && stream.write_all(&[*byte]).await.is_ok();
        }
        let received = until_closed(&mut stream, grace + END_BOUND).await.unwrap();
        if received.is_empty() && returns < 100 {
            continue;
        }
        let answer = String::from_utf8_lossy(&received);
        assert!(written && answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
        return returns;
    }
    unreachable!()
}

#[test]
fn silent_half_preface_and_slow_body_connections_at_once_keep_no_delivery_out() {
    flood_test(
        "silent_half_preface_and_slow_body_connections_at_once_keep_no_delivery_out",
        SHORT,
        |server| mixed_flood(server, SHORT.min_rate_grace, 3, ms(300)),
    );
}

#[test]
#[ignore = "40 s: cargo test --release --all-features --test server floods:: -- --ignored --nocapture"]
fn silent_half_preface_and_slow_body_connections_keep_no_delivery_out_with_the_defaults() {
    flood_test(
        "silent_half_preface_and_slow_body_connections_keep_no_delivery_out_with_the_defaults",
        DEFAULTS,
        |server| mixed_flood(server, DEFAULTS.min_rate_grace, 6, Duration::from_secs(4)),
    );
}

// ---------------------------------------------------------------------------------------------
// (c) HTTP/2 streams whose bodies never finish.

async fn unfinished_streams(server: Arc<ServerProcess>, probed: u32, every: Duration) {
    let address = server.address;
    let answered = Arc::new(AtomicU64::new(0));
    let mut connections = JoinSet::new();
    for _ in 0..20 {
        let answered = answered.clone();
        connections.spawn(async move {
            let (sender, connection) = h2_client(address).await;
            let mut streams = JoinSet::new();
            for _ in 0..200 {
                let (mut sender, answered) = (sender.clone(), answered.clone());
                streams.spawn(async move {
                    let (mut parts, _) = delivery("never").into_parts();
                    parts.uri = format!("http://{address}/webhook").parse().unwrap();
                    let never = StreamBody::new(stream::pending::<Result<Frame<Bytes>, _>>());
                    let request = Request::from_parts(parts, ClientBody::new(never));
                    // Streams opened before the client has the server's SETTINGS may pass its
                    // limit of concurrent streams: those are refused, as HTTP/2 says.
                    match sender.send_request(request).await {
                        Ok(response) => assert_eq!(response.status(), 408),
                        Err(error) => assert!(format!("{error:?}").contains("REFUSED_STREAM")),
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                });
            }
            while let Some(stream) = streams.join_next().await {
                stream.unwrap();
            }
            drop(sender);
            let closing = timeout(END_BOUND, connection).await;
            closing.expect("the server closes the idle HTTP/2 connection").unwrap().ok();
        });
    }
    probes(address, "20 HTTP/2 connections x 200 unfinished streams", probed, every).await;
    while let Some(connection) = connections.join_next().await {
        connection.unwrap();
    }
    println!(
        "figures: unfinished HTTP/2 streams answered 408 or refused: {}",
        answered.load(Ordering::SeqCst)
    );
    assert_eq!(answered.load(Ordering::SeqCst), 4_000);
    server.assert_all_closed("unfinished HTTP/2 streams").await;
}

#[test]
fn http2_streams_whose_bodies_never_finish_keep_no_delivery_out() {
    flood_test("http2_streams_whose_bodies_never_finish_keep_no_delivery_out", SHORT, |server| {
        unfinished_streams(server, 3, ms(300))
    });
}

#[test]
#[ignore = "60 s: cargo test --release --all-features --test server floods:: -- --ignored --nocapture"]
fn http2_streams_whose_bodies_never_finish_keep_no_delivery_out_with_the_defaults() {
    flood_test(
        "http2_streams_whose_bodies_never_finish_keep_no_delivery_out_with_the_defaults",
        DEFAULTS,
        |server| unfinished_streams(server, 6, Duration::from_secs(3)),
    );
}

// ---------------------------------------------------------------------------------------------
// (d) Silent connections re-opened as fast as the server closes them.

async fn reopened_silent(server: Arc<ServerProcess>, clients: usize, probed: u32, every: Duration) {
    let address = server.address;
    let flooding = CancellationToken::new();
    let opened = Arc::new(AtomicU64::new(0));
    let mut silent = JoinSet::new();
    for _ in 0..clients {
        let (flooding, opened) = (flooding.clone(), opened.clone());
        silent.spawn(async move {
            loop {
                let mut stream = connect(address).await;
                opened.fetch_add(1, Ordering::SeqCst);
                let bound = END_BOUND + DEFAULTS.header_read;
                until_closed(&mut stream, bound).await.expect("closed by the server");
                if flooding.is_cancelled() {
                    return;
                }
            }
        });
    }
    probes(address, &format!("{clients} silent connections re-opened"), probed, every).await;
    flooding.cancel();
    while let Some(client) = silent.join_next().await {
        client.unwrap();
    }
    println!("figures: silent connections opened in all: {}", opened.load(Ordering::SeqCst));
    server.assert_all_closed("re-opened silent connections").await;
}

#[test]
fn silent_connections_reopened_as_fast_as_they_are_closed_keep_no_delivery_out() {
    flood_test(
        "silent_connections_reopened_as_fast_as_they_are_closed_keep_no_delivery_out",
        SHORT,
        |server| reopened_silent(server, 600, 4, ms(500)),
    );
}

#[test]
#[ignore = "95 s: cargo test --release --all-features --test server floods:: -- --ignored --nocapture"]
fn silent_connections_reopened_for_95_s_keep_no_delivery_out_with_the_defaults() {
    flood_test(
        "silent_connections_reopened_for_95_s_keep_no_delivery_out_with_the_defaults",
        DEFAULTS,
        |server| reopened_silent(server, 600, 19, Duration::from_secs(5)),
    );
}

// ---------------------------------------------------------------------------------------------
// (e) Forged requests whose chunked bodies are millions of one-byte chunks.

/// A forged delivery whose chunked body is `chunks` one-byte chunks, written as fast as the
/// server reads: its answer, and whether the whole body could be written.
async fn crumbs(address: SocketAddr, chunks: usize) -> (String, bool) {
    let stream = connect(address).await;
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let head = "POST /webhook HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\n\
                    Meshagent-Signature: Bearer forged.forged.forged\r\n\
                    Transfer-Encoding: chunked\r\n\r\n";
        writer.write_all(head.as_bytes()).await.ok()?;
        let piece = b"1\r\nx\r\n".repeat(10_000);
        for _ in 0..chunks / 10_000 {
            writer.write_all(&piece).await.ok()?;
        }
        writer.write_all(b"0\r\n\r\n").await.ok()
    });
    let received = until_closed(&mut reader, END_BOUND).await.expect("closed by the server");
    let whole_body_written = writing.await.unwrap().is_some();
    (String::from_utf8_lossy(&received).into_owned(), whole_body_written)
}

async fn forged_crumbs(server: Arc<ServerProcess>) {
    let address = server.address;
    let cpu_before = server.cpu_ms();
    let mut forged = JoinSet::new();
    for _ in 0..4 {
        forged.spawn(crumbs(address, 4_000_000));
    }
    probes(address, "4 forged requests of 4,000,000 one-byte chunks", 3, ms(100)).await;
    while let Some(result) = forged.join_next().await {
        let (answer, whole_body_written) = result.unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
        assert!(!whole_body_written, "the server stopped reading long before the end");
    }
    println!(
        "figures: 4 forged requests of 4,000,000 one-byte chunks and 6 probes cost the server \
         {} ms of CPU in all",
        server.cpu_ms() - cpu_before
    );
    server.assert_all_closed("forged one-byte chunks").await;
}

#[test]
fn forged_requests_in_millions_of_one_byte_chunks_are_cut_off_early() {
    flood_test(
        "forged_requests_in_millions_of_one_byte_chunks_are_cut_off_early",
        SHORT,
        forged_crumbs,
    );
}

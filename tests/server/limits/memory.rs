//! Memory and many connections (ignored: run in release, they print their figures). Each test
//! runs in a fresh process of its own.

use super::*;

/// One at a time: each runs in a process of its own, whose memory it measures.
static FRESH_PROCESS: Mutex<()> = Mutex::new(());
const CHILD: &str = "MESHAGENT_WEBHOOKS_LIMITS_TEST_CHILD";

const MIB: usize = 1024 * 1024;
const MIB_F: f64 = 1024.0 * 1024.0;

/// Runs the ignored test `name` alone in a new process of this test binary, so that its
/// figures start from a clean heap, with the soft limit on open files raised to at least
/// `files` (up to the hard limit) whatever `ulimit -n` says; prints what it printed. In that
/// process, runs `test` on a runtime of two worker threads instead.
fn in_fresh_process<F: Future<Output = ()>>(name: &str, files: u64, test: impl FnOnce() -> F) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        let (soft, _) = open_file_limits();
        assert!(soft >= files, "needs {files} open files, the soft limit is {soft}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        return runtime.block_on(test());
    }
    let _serial = FRESH_PROCESS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (soft, hard) = open_file_limits();
    let exe = std::env::current_exe().unwrap();
    let mut command = if soft < files {
        assert!(hard >= files, "{name} needs {files} open files; the hard limit is {hard}");
        let mut shell = std::process::Command::new("sh");
        let raised = hard.min(4 * files);
        shell.arg("-c").arg(format!("ulimit -n {raised} && exec \"$0\" \"$@\"")).arg(exe);
        shell
    } else {
        std::process::Command::new(exe)
    };
    let output = command
        .args(["--exact", &crate::common::test_path(module_path!(), name)])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // After `test <name> ... ` on the same line.
    for line in stdout.lines().filter_map(|line| line.find("figures: ").map(|at| &line[at..])) {
        println!("{line}");
    }
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in its own process:\n{stdout}\n{stderr}"
    );
}

/// What 500 connections cost that each send a signed head declaring `Content-Length: 1 MiB - 1`,
/// then `sent` bytes of the body, then nothing: the growth of `VmRSS` and `VmData` at their
/// peaks, in KiB, printed.
async fn stalled_bodies(sent: usize) -> (u64, u64) {
    const CONNECTIONS: usize = 500;
    const DECLARED: usize = MIB - 1;
    let server = TestServer::start(signed(Recorder::default())).await;
    let body = vec![b' '; DECLARED];
    let signature = Signer::new(SECRET).signature_header(&body);
    let mut request = format!(
        "POST /webhook HTTP/1.1\r\nHost: limits\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nContent-Length: {DECLARED}\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(&body[..sent]);
    drop(body);
    assert_eq!(deliver(&server, "warm-up").await.status, 200);

    let (rss_before, data_before) = (rss_kib(), data_kib());
    let peaks = PeakMemory::start();
    let started = Instant::now();
    let mut streams = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut stream = connect(server.address).await;
        stream.write_all(&request).await.unwrap();
        streams.push(stream);
    }
    // Every connection accepted (a later one is answered), and time to read what was sent.
    assert_eq!(deliver(&server, "during").await.status, 200);
    sleep(ms(1_500)).await;
    let (rss_peak, data_peak) = peaks.stop();
    let (rss_growth, data_growth) =
        (rss_peak.saturating_sub(rss_before), data_peak.saturating_sub(data_before));
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "figures: {CONNECTIONS} connections declaring {DECLARED} bytes and sending {sent}, held \
         for {}: VmRSS {rss_before} -> peak {rss_peak} KiB (growth {:.1} MiB, {:.1} KiB per \
         connection); VmData {data_before} -> peak {data_peak} KiB (growth {:.1} MiB, {:.1} KiB \
         per connection); {:.1} MiB received, {:.0} MiB declared",
        millis_since(started),
        mib(rss_growth),
        rss_growth as f64 / CONNECTIONS as f64,
        mib(data_growth),
        data_growth as f64 / CONNECTIONS as f64,
        (CONNECTIONS * sent) as f64 / MIB_F,
        (CONNECTIONS * DECLARED) as f64 / MIB_F,
    );

    // The clients leave: their bodies fail (400) and the connections go.
    drop(streams);
    assert_eq!(deliver(&server, "after").await.status, 200);
    server.stop().await.unwrap();
    (rss_growth, data_growth)
}

#[test]
#[ignore = "figures: cargo test --release --all-features --test server limits:: -- --ignored --nocapture"]
fn memory_for_500_bodies_declaring_1_mib_that_send_2_bytes_stays_far_below_500_mib() {
    let name = "memory_for_500_bodies_declaring_1_mib_that_send_2_bytes_stays_far_below_500_mib";
    in_fresh_process(name, 2_048, || async {
        let (rss_growth, data_growth) = stalled_bodies(2).await;
        assert!(rss_growth < 64 * 1024, "VmRSS grew by {rss_growth} KiB");
        // Reserved, touched or not: 64 KiB a body at most before that much has arrived, far
        // from the 500 MiB that reserving the declared lengths would take.
        assert!(data_growth < 128 * 1024, "VmData grew by {data_growth} KiB");
    });
}

#[test]
#[ignore = "figures: cargo test --release --all-features --test server limits:: -- --ignored --nocapture"]
fn memory_for_500_bodies_declaring_1_mib_that_stop_after_64_kib_follows_what_arrived() {
    let name = "memory_for_500_bodies_declaring_1_mib_that_stop_after_64_kib_follows_what_arrived";
    in_fresh_process(name, 2_048, || async {
        let (rss_growth, _) = stalled_bodies(64 * 1024 + 1).await;
        // 500 x 64 KiB arrived (31 MiB): resident memory follows them, not the 500 MiB declared.
        assert!(rss_growth < 128 * 1024, "VmRSS grew by {rss_growth} KiB");
    });
}

/// Holds every `room.ended` delivery until `bodies` of them are in the handler at once, and
/// notes the RSS then.
#[derive(Clone)]
struct Gate {
    barrier: Arc<tokio::sync::Barrier>,
    rss_when_all_held: Arc<AtomicU64>,
}

impl WebhookHandler for Gate {
    async fn on_room_ended(&self, _event: RoomEnded) -> Result<(), HandlerError> {
        let waited = timeout(Duration::from_secs(40), self.barrier.wait()).await;
        let waited = waited.map_err(|_| HandlerError::from("the bodies did not all arrive"))?;
        if waited.is_leader() {
            self.rss_when_all_held.store(rss_kib(), Ordering::SeqCst);
        }
        Ok(())
    }
}

#[test]
#[ignore = "figures: cargo test --release --all-features --test server limits:: -- --ignored --nocapture"]
fn memory_for_300_concurrent_bodies_of_almost_1_mib_is_about_one_body_each() {
    let name = "memory_for_300_concurrent_bodies_of_almost_1_mib_is_about_one_body_each";
    in_fresh_process(name, 1_024, concurrent_bodies);
}

async fn concurrent_bodies() {
    const BODIES: usize = 300;
    const SIZE: usize = MIB - 1;
    let gate = Gate {
        barrier: Arc::new(tokio::sync::Barrier::new(BODIES)),
        rss_when_all_held: Arc::default(),
    };
    let server = TestServer::start(signed(gate.clone())).await;
    // JSON whitespace pads the body: the parsed event is small, so what is measured is the
    // server holding the bodies themselves.
    let mut body = Signer::event_payload("room.ended", &json!({"room_name": "big"})).into_bytes();
    body.resize(SIZE, b' ');
    let signature = Signer::new(SECRET).signature_header(&body);
    let mut request = format!(
        "POST /webhook HTTP/1.1\r\nHost: limits\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(&body);
    drop(body);
    let request = Arc::new(request);
    let health = timeout(CLOSE_BOUND, exchange(server.address, "GET", "/", &[], b"")).await;
    assert_eq!(health.unwrap().status, 200);

    let before = rss_kib();
    let peak = PeakMemory::start();
    let started = Instant::now();
    let mut uploads = JoinSet::new();
    for _ in 0..BODIES {
        let (request, address) = (request.clone(), server.address);
        uploads.spawn(async move {
            let mut stream = connect(address).await;
            stream.write_all(&request).await.unwrap();
            until_closed(&mut stream, Duration::from_secs(45)).await
        });
    }
    let mut answered = 0;
    while let Some(upload) = uploads.join_next().await {
        let response = parse_response(&upload.unwrap().expect("an answer"));
        assert_eq!(response.status, 200, "{}", response.text());
        answered += 1;
    }
    let elapsed = millis_since(started);
    let (peak, _) = peak.stop();
    let held = gate.rss_when_all_held.load(Ordering::SeqCst);
    let per_body = |kib: u64| kib.saturating_sub(before) as f64 * 1024.0 / BODIES as f64;
    let size = SIZE as f64;
    println!(
        "figures: {answered} concurrent bodies of {SIZE} bytes in {elapsed}: VmRSS before \
         {before} KiB, all held {held} KiB, peak {peak} KiB; growth per body {:.3} MiB per MiB \
         when all were held, {:.3} at the peak",
        per_body(held) / size,
        per_body(peak) / size,
    );
    assert_eq!(answered, BODIES);
    assert!(per_body(peak) / size < 1.3, "peak growth per body over 1.3 MiB per MiB");
    server.stop().await.unwrap();
}

/// 1,100 connections that send nothing, against the default cap of 512: the server holds at
/// most 512 open, closes each after the header read timeout, and a delivery sent after them is
/// answered once its turn comes. The listener's kernel queue takes them all (2,048): with a
/// shorter one (tokio's `TcpListener::bind` gives 128, `WebhookServer::run` 1,024) the kernel
/// drops the handshakes past it, and a client that sends nothing may believe itself connected
/// to a connection the server never had. The test needs about 1,700 open files; it raises its
/// own soft limit when lower.
#[test]
#[ignore = "figures: cargo test --release --all-features --test server limits:: -- --ignored --nocapture"]
fn eleven_hundred_silent_connections_are_all_closed_and_a_delivery_is_still_answered() {
    let name = "eleven_hundred_silent_connections_are_all_closed_and_a_delivery_is_still_answered";
    in_fresh_process(name, 2_048, silent_connections);
}

async fn silent_connections() {
    const SILENT: usize = 1_100;
    const CAP: usize = 512;
    let header_read = ms(500);
    let recorder = Recorder::default();
    let server = start_with_backlog(
        signed(recorder.clone())
            .with_max_connections(CAP)
            .with_header_read_timeout(header_read)
            .with_idle_timeout(NEVER),
        2_048,
    );

    let started = Instant::now();
    let (connected, closed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut silent = JoinSet::new();
    for _ in 0..SILENT {
        let (address, connected, closed) = (server.address, connected.clone(), closed.clone());
        silent.spawn(async move {
            let connecting = timeout(Duration::from_secs(30), TcpStream::connect(address));
            let mut stream = connecting.await.expect("connected within 30 s").unwrap();
            let connected_at = started.elapsed();
            connected.fetch_add(1, Ordering::SeqCst);
            let result = until_closed(&mut stream, Duration::from_secs(30)).await;
            closed.fetch_add(1, Ordering::SeqCst);
            (result, connected_at, started.elapsed())
        });
    }
    // The delivery goes once they are all connected: it queues behind them.
    let filling = async {
        while connected.load(Ordering::SeqCst) < SILENT as u64 {
            sleep(ms(1)).await;
        }
    };
    timeout(Duration::from_secs(10), filling).await.expect("all connected within 10 s");
    let (delivery_started, connected_then) = (Instant::now(), connected.load(Ordering::SeqCst));
    let response = timeout(Duration::from_secs(30), send(server.address, room_ended("waited")))
        .await
        .expect("the delivery is answered within 30 s");
    let delivery = millis_since(delivery_started);
    let closed_then = closed.load(Ordering::SeqCst);
    assert_eq!(response.status, 200);

    let (mut all_closed, mut last_connect, mut last_close) = (0, Duration::ZERO, Duration::ZERO);
    while let Some(result) = silent.join_next().await {
        let (result, connected_at, closed_at) = result.unwrap();
        let received = result.expect("every silent connection is closed");
        assert!(received.is_empty(), "a silent connection got {received:?}");
        all_closed += 1;
        last_connect = last_connect.max(connected_at);
        last_close = last_close.max(closed_at);
    }
    println!(
        "figures: {SILENT} silent connections (cap {CAP}, header read timeout {header_read:?}, \
         open-file soft limit {}): a delivery sent when {connected_then} were connected was \
         answered in {delivery}, after {closed_then} had been closed; the last connected after \
         {last_connect:.2?}; all {all_closed} closed {last_close:.2?} after the first connect",
        open_file_limits().0,
    );
    assert_eq!(all_closed, SILENT);
    assert_eq!(recorder.calls(), [("on_room_ended", "waited".to_owned())]);
    server.stop().await.unwrap();
}

/// Like `TestServer::start`, on a listener whose kernel queue holds `backlog` connections.
fn start_with_backlog<H: WebhookHandler>(server: WebhookServer<H>, backlog: u32) -> TestServer {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let listener = socket.listen(backlog).unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with_shutdown(listener, async move {
        let _ = stopped.await;
    }));
    TestServer { address, stop: Some(stop), task }
}

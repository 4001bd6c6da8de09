//! Load benchmark: the plain `Json<serde_json::Value>` route against the layered route
//! (`MeshagentSignatureLayer` + `MeshagentEvent`) in one server process, under the same load.
//!
//! Run with: `cargo run --release --example load`
//!
//! The example starts itself again as the server (`--serve`: one axum server on 127.0.0.1:0
//! with both routes, exiting when its stdin closes), then drives it with its own keep-alive
//! HTTP/1.1 connections that write prebuilt requests, so the client costs less than the server
//! and the server sets the rate. For the 112-byte event and a 1 MiB event it alternates plain
//! and layered rounds (ABBA order, `--rounds` of each), and prints each round, then the
//! medians: requests per second, server CPU per request (utime + stime of the server from
//! `/proc/<pid>/stat`), and the ratios the performance goals are stated in. It stops by itself
//! (about 80 seconds with the defaults) and exits non-zero if any request is not answered 200.
//!
//! Options (defaults in brackets): `--secs S` per round [0.5], `--rounds N` per route and size
//! [31], `--small-conns C` [32], `--large-conns C` [4], `--server-threads T` [1],
//! `--client-threads T` [1]. Linux only (it reads `/proc`).
//!
//! Client: `--client wrk` drives the rounds with `wrk` (Debian's package `wrk`; whole seconds
//! per round, at least 1) instead of the built-in client, as an independent check of the
//! ratios. `wrk` checks statuses, not bodies; any non-2xx answer still fails the run.
//!
//! Calibration: `--calibrate-ns N` serves the plain handler plus N nanoseconds of busy work on
//! the second route instead of the layer, and prints the same figures. `--calibrate-ns 0`
//! measures two identical routes (the noise floor of the ratio on this machine), and a value
//! near the layer's own cost shows what that much extra work per request costs here.

#[path = "../benches/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bytes::Bytes;
use http::HeaderValue;
use meshagent_webhooks::{MESHAGENT_SIGNATURE, MeshagentEvent, MeshagentSignatureLayer, Signer};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use common::SECRET;

/// Longest a single request may take before the run is declared broken.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Warm-up before the measured rounds of each size, per route.
const WARM_UP: Duration = Duration::from_secs(1);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse(std::env::args().skip(1))?;
    if options.serve {
        serve(options.server_threads, options.calibrate_ns)
    } else {
        drive(&options)
    }
}

#[derive(Debug)]
struct Options {
    serve: bool,
    secs: f64,
    rounds: usize,
    small_conns: usize,
    large_conns: usize,
    server_threads: usize,
    client_threads: usize,
    /// Serve the plain handler plus this much busy work instead of the layered route.
    calibrate_ns: Option<u64>,
    /// Drive the rounds with `wrk` instead of the built-in client.
    wrk: bool,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Self {
            serve: false,
            secs: 0.5,
            rounds: 31,
            small_conns: 32,
            large_conns: 4,
            server_threads: 1,
            client_threads: 1,
            calibrate_ns: None,
            wrk: false,
        };
        while let Some(arg) = args.next() {
            if arg == "--serve" {
                options.serve = true;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
            let number = || {
                value
                    .parse::<f64>()
                    .map_err(|_| format!("{arg}: not a number: {value}"))
            };
            let count = || {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{arg}: not a whole number: {value}"))
            };
            match arg.as_str() {
                "--secs" => options.secs = number()?,
                "--rounds" => options.rounds = count()?,
                "--small-conns" => options.small_conns = count()?,
                "--large-conns" => options.large_conns = count()?,
                "--server-threads" => options.server_threads = count()?,
                "--client-threads" => options.client_threads = count()?,
                "--client" => match value.as_str() {
                    "own" => options.wrk = false,
                    "wrk" => options.wrk = true,
                    _ => return Err(format!("--client: own or wrk, not {value}")),
                },
                "--calibrate-ns" => {
                    let nanos = value
                        .parse::<u64>()
                        .map_err(|_| format!("{arg}: not a whole number: {value}"))?;
                    options.calibrate_ns = Some(nanos);
                }
                _ => return Err(format!("unknown option {arg}")),
            }
        }
        let valid = options.secs > 0.0 && options.secs <= 60.0;
        let counts = [
            options.rounds,
            options.small_conns,
            options.large_conns,
            options.server_threads,
            options.client_threads,
        ];
        if !valid || counts.iter().any(|&count| count == 0 || count > 256) {
            return Err("--secs must be in (0, 60]; counts in 1..=256".to_owned());
        }
        Ok(options)
    }
}

// ---------------------------------------------------------------------------------------------
// The server (child process).

async fn plain(Json(value): Json<serde_json::Value>) -> String {
    value["event"].as_str().unwrap_or_default().to_owned()
}

async fn layered(event: MeshagentEvent) -> String {
    event.name().to_owned()
}

/// The plain handler after `nanos` of busy work: what that much extra work per request costs.
async fn plain_after_busy_work(nanos: u64, value: Json<serde_json::Value>) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_nanos(nanos) {
        std::hint::spin_loop();
    }
    plain(value).await
}

fn serve(threads: usize, calibrate_ns: Option<u64>) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let second = match calibrate_ns {
            Some(nanos) => post(move |value| plain_after_busy_work(nanos, value)),
            None => post(layered).layer(MeshagentSignatureLayer::new(SECRET)),
        };
        let app = Router::new()
            .route("/plain", post(plain))
            .route("/layered", second);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let mut stdout = std::io::stdout();
        writeln!(stdout, "port {port}")?;
        stdout.flush()?;
        // The driver closes our stdin when it is done (or dies): stop then.
        let stop = async {
            let mut sink = Vec::new();
            let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// The driver (parent process).

/// The server child; closing its stdin stops it.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(
        threads: usize,
        calibrate_ns: Option<u64>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["--serve", "--server-threads", &threads.to_string()]);
        if let Some(nanos) = calibrate_ns {
            command.args(["--calibrate-ns", &nanos.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("server said {line:?}"))?;
        Ok(Self { child, port })
    }

    /// CPU time the server has used so far (all threads, user + system), in seconds.
    fn cpu_seconds(&self, ticks_per_second: f64) -> Result<f64, Box<dyn std::error::Error>> {
        cpu_seconds(
            &format!("/proc/{}/stat", self.child.id()),
            ticks_per_second,
            false,
        )
    }

    fn stop(mut self) -> Result<(), Box<dyn std::error::Error>> {
        drop(self.child.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("server exited with {status}").into());
        }
        Ok(())
    }
}

/// utime + stime from a `/proc/.../stat` file, in seconds; with `children`, also the CPU time
/// of the children that have ended (the `wrk` runs: the server is never waited for before the
/// end).
fn cpu_seconds(
    path: &str,
    ticks_per_second: f64,
    children: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string(path)?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let after_comm = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: f64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: f64 = fields.get(12).ok_or("no stime")?.parse()?;
    let mut ticks = utime + stime;
    if children {
        let cutime: f64 = fields.get(13).ok_or("no cutime")?.parse()?;
        let cstime: f64 = fields.get(14).ok_or("no cstime")?.parse()?;
        ticks += cutime + cstime;
    }
    Ok(ticks / ticks_per_second)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Plain,
    Layered,
}

impl Route {
    fn path(self) -> &'static str {
        match self {
            Self::Plain => "/plain",
            Self::Layered => "/layered",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Layered => "layered",
        }
    }
}

/// One body size under test: its signed bytes and how many connections drive it.
struct Workload {
    label: &'static str,
    body: Bytes,
    signature: HeaderValue,
    conns: usize,
}

impl Workload {
    /// Where this run keeps the workload's `wrk` script (removed when the run ends).
    fn wrk_script_path(&self) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "meshagent-load-{}-{}.lua",
            std::process::id(),
            self.body.len()
        ))
    }

    /// A `wrk` script that sends this workload's request (method, headers and body).
    fn wrk_script(&self) -> Result<String, Box<dyn std::error::Error>> {
        let body = std::str::from_utf8(&self.body)?;
        let signature = self.signature.to_str()?;
        // Lua long brackets take the JSON as it is, as long as it never contains the closing
        // bracket.
        if body.contains("]==]") || signature.contains("]==]") {
            return Err("the body contains a Lua long-bracket terminator".into());
        }
        Ok(format!(
            "wrk.method = \"POST\"\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.headers[\"{MESHAGENT_SIGNATURE}\"] = [==[{signature}]==]\n\
             wrk.body = [==[{body}]==]\n"
        ))
    }
}

/// One measured round.
#[derive(Debug, Clone, Copy)]
struct Round {
    requests: u64,
    per_second: f64,
    server_cpu_per_request: f64,
    server_utilisation: f64,
    client_utilisation: f64,
}

fn drive(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let ticks = clock_ticks_per_second();
    let server = Server::start(options.server_threads, options.calibrate_ns)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.client_threads)
        .enable_all()
        .build()?;
    let signer = Signer::new(SECRET);
    let workloads = [
        (common::small_event(), "112 B", options.small_conns),
        (
            common::event_of_size(1024 * 1024),
            "1 MiB",
            options.large_conns,
        ),
    ]
    .map(|(body, label, conns)| Workload {
        label,
        signature: HeaderValue::from_str(&signer.signature_header(&body))
            .unwrap_or_else(|_| unreachable!("a token is a valid header value")),
        body: Bytes::from(body),
        conns,
    });

    println!("machine: {}", machine());
    println!(
        "server pid {} on 127.0.0.1:{}: {} worker thread(s); client: {}; {} s rounds",
        server.child.id(),
        server.port,
        options.server_threads,
        if options.wrk {
            "wrk, 1 thread".to_owned()
        } else {
            format!("{} worker thread(s)", options.client_threads)
        },
        if options.wrk {
            options.secs.ceil().max(1.0)
        } else {
            options.secs
        },
    );
    if let Some(nanos) = options.calibrate_ns {
        println!(
            "calibration: the route labelled \"layered\" is the plain handler plus {nanos} ns of busy work, not the layer"
        );
    }
    let round_time = Duration::from_secs_f64(options.secs);
    let mut summaries = Vec::new();
    for workload in &workloads {
        for route in [Route::Plain, Route::Layered] {
            runtime.block_on(load(server.port, route, workload, WARM_UP))?;
        }
        let mut rounds: Vec<(Route, Round)> = Vec::new();
        let mut hash_seconds = Vec::new();
        for index in 0..options.rounds {
            // ABBA: plain first in even rounds, layered first in odd ones, so drift cancels.
            let order = if index % 2 == 0 {
                [Route::Plain, Route::Layered]
            } else {
                [Route::Layered, Route::Plain]
            };
            for route in order {
                let before = server.cpu_seconds(ticks)?;
                let client_before = cpu_seconds("/proc/self/stat", ticks, true)?;
                let started = Instant::now();
                let requests = if options.wrk {
                    wrk_round(server.port, route, workload, round_time)?
                } else {
                    runtime.block_on(load(server.port, route, workload, round_time))?
                };
                let elapsed = started.elapsed().as_secs_f64();
                let cpu = server.cpu_seconds(ticks)? - before;
                let client_cpu = cpu_seconds("/proc/self/stat", ticks, true)? - client_before;
                let round = Round {
                    requests,
                    per_second: requests as f64 / elapsed,
                    server_cpu_per_request: cpu / requests.max(1) as f64,
                    server_utilisation: cpu / elapsed,
                    client_utilisation: client_cpu / elapsed,
                };
                println!(
                    "{:>6} {:<7} round {}: {:>7} requests, {:>9.1} req/s, server CPU {:>8.2} µs/req ({:>3.0}% of a core; client {:>3.0}%)",
                    workload.label,
                    route.label(),
                    index + 1,
                    round.requests,
                    round.per_second,
                    round.server_cpu_per_request * 1e6,
                    round.server_utilisation * 100.0,
                    round.client_utilisation * 100.0,
                );
                rounds.push((route, round));
            }
            hash_seconds.push(time_sha256(&workload.body));
        }
        summaries.push(Summary::new(workload, &rounds, &hash_seconds));
    }
    server.stop()?;
    for workload in &workloads {
        let _ = std::fs::remove_file(workload.wrk_script_path());
    }

    println!();
    println!("| Body | Route | req/s (median) | server CPU µs/req (median) |");
    println!("|---|---|---:|---:|");
    for summary in &summaries {
        for (route, per_second, cpu) in [
            ("plain", summary.plain_per_second, summary.plain_cpu),
            ("layered", summary.layered_per_second, summary.layered_cpu),
        ] {
            println!(
                "| {} | {route} | {per_second:.0} | {:.2} |",
                summary.label,
                cpu * 1e6
            );
        }
    }
    println!();
    for summary in &summaries {
        summary.print_ratios();
    }
    if let (None, [small, large]) = (options.calibrate_ns, summaries.as_slice()) {
        let verdict = |met: bool| if met { "met" } else { "missed" };
        println!();
        println!(
            "goal: 112 B layered ≥ 0.95× plain requests/s: {:.3}× ({})",
            small.throughput_ratio,
            verdict(small.throughput_ratio >= 0.95),
        );
        let added = large.added_cpu / large.sha256;
        println!(
            "goal: 1 MiB added CPU ≤ 1.1× one SHA-256 pass: {added:.2}× ({})",
            verdict(added <= 1.1),
        );
    }
    Ok(())
}

/// CPU count, model and whether it has SHA extensions, from `/proc/cpuinfo`.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim());
    let sha_ni = cpuinfo
        .lines()
        .any(|line| line.starts_with("flags") && line.split_whitespace().any(|f| f == "sha_ni"));
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "{cpus} CPUs, {model}, SHA-NI {}",
        if sha_ni { "yes" } else { "no" }
    )
}

/// Medians of one body size, and the ratios between the routes.
struct Summary {
    label: &'static str,
    /// Body size, bytes.
    bytes: usize,
    plain_per_second: f64,
    layered_per_second: f64,
    plain_cpu: f64,
    layered_cpu: f64,
    /// Median of the per-pair ratios (round i layered / round i plain).
    throughput_ratio: f64,
    /// Median of the per-pair CPU differences (layered − plain), seconds per request.
    added_cpu: f64,
    /// One SHA-256 pass over the body, timed in this process between rounds (median).
    sha256: f64,
}

impl Summary {
    fn new(workload: &Workload, rounds: &[(Route, Round)], hash_seconds: &[f64]) -> Self {
        let of = |route: Route| -> Vec<Round> {
            rounds
                .iter()
                .filter(|(which, _)| *which == route)
                .map(|(_, round)| *round)
                .collect()
        };
        let (plain, layered) = (of(Route::Plain), of(Route::Layered));
        let pairs = plain.iter().zip(&layered);
        Self {
            label: workload.label,
            bytes: workload.body.len(),
            plain_per_second: median(plain.iter().map(|round| round.per_second)),
            layered_per_second: median(layered.iter().map(|round| round.per_second)),
            plain_cpu: median(plain.iter().map(|round| round.server_cpu_per_request)),
            layered_cpu: median(layered.iter().map(|round| round.server_cpu_per_request)),
            throughput_ratio: median(
                pairs
                    .clone()
                    .map(|(plain, layered)| layered.per_second / plain.per_second),
            ),
            added_cpu: median(pairs.map(|(plain, layered)| {
                layered.server_cpu_per_request - plain.server_cpu_per_request
            })),
            sha256: median(hash_seconds.iter().copied()),
        }
    }

    fn print_ratios(&self) {
        println!(
            "{}: layered/plain requests/s = {:.3} (median of per-pair ratios); server CPU per request {:.2} → {:.2} µs ({:+.2} µs, ×{:.3})",
            self.label,
            self.throughput_ratio,
            self.plain_cpu * 1e6,
            self.layered_cpu * 1e6,
            self.added_cpu * 1e6,
            self.layered_cpu / self.plain_cpu,
        );
        // For a small body the fixed cost dominates: a ratio to its hash says nothing.
        if self.bytes < 64 * 1024 {
            return;
        }
        println!(
            "{}: added CPU per request = {:.2}× one SHA-256 pass over the body ({:.2} µs, timed in this run)",
            self.label,
            self.added_cpu / self.sha256,
            self.sha256 * 1e6,
        );
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

/// Median time of one SHA-256 pass over `body` (seconds), over a few passes.
fn time_sha256(body: &[u8]) -> f64 {
    let passes = (64 * 1024 * 1024 / body.len().max(1)).clamp(5, 10_000);
    median((0..passes).map(|_| {
        let started = Instant::now();
        std::hint::black_box(Sha256::digest(std::hint::black_box(body)));
        started.elapsed().as_secs_f64()
    }))
}

/// One round driven by `wrk` (one thread, `workload.conns` connections, whole seconds);
/// returns how many requests it completed. Fails on any non-2xx answer or socket error.
fn wrk_round(
    port: u16,
    route: Route,
    workload: &Workload,
    duration: Duration,
) -> Result<u64, Box<dyn std::error::Error>> {
    let script = workload.wrk_script_path();
    if !script.exists() {
        std::fs::write(&script, workload.wrk_script()?)?;
    }
    let seconds = duration.as_secs_f64().ceil().max(1.0);
    let output = Command::new("wrk")
        .args(["-t1", "-c", &workload.conns.to_string(), "-d"])
        .arg(format!("{seconds}s"))
        .args(["--timeout", "30s", "-s"])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}{}", route.path()))
        .output()
        .map_err(|error| format!("wrk could not run (apt-get install wrk): {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk on {}: {text}", route.path()).into());
    }
    let requests = text
        .lines()
        .find_map(|line| line.trim().split_once(" requests in "))
        .and_then(|(count, _)| count.parse().ok())
        .ok_or_else(|| format!("no request count in wrk's output: {text}"))?;
    Ok(requests)
}

/// Sends `workload` to `route` over `workload.conns` keep-alive connections for `duration`;
/// returns how many requests were answered 200.
async fn load(
    port: u16,
    route: Route,
    workload: &Workload,
    duration: Duration,
) -> Result<u64, Box<dyn std::error::Error>> {
    let deadline = tokio::time::Instant::now() + duration;
    let request = request_bytes(port, route, workload);
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(workload.conns);
    for _ in 0..workload.conns {
        let request = request.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            connection(port, route, request, deadline, &done).await
        }));
    }
    for task in tasks {
        task.await.map_err(|error| error.to_string())??;
    }
    Ok(done.load(Ordering::Relaxed))
}

/// The whole request, head and body, as MeshAgent sends it: built once, written as is. The
/// plain route gets the same bytes (the signature header is ignored there), so the routes
/// differ only in what the server does with them.
fn request_bytes(port: u16, route: Route, workload: &Workload) -> Bytes {
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{MESHAGENT_SIGNATURE}: ",
        route.path(),
        workload.body.len(),
    );
    let mut request = Vec::with_capacity(head.len() + 256 + workload.body.len());
    request.extend_from_slice(head.as_bytes());
    request.extend_from_slice(workload.signature.as_bytes());
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(&workload.body);
    Bytes::from(request)
}

/// One keep-alive connection sending `request` until `deadline`, one at a time. The client is
/// a few lines over a TCP stream (one write, usually one read per request) so that it costs
/// far less than the server and the server is what limits the rate.
async fn connection(
    port: u16,
    route: Route,
    request: Bytes,
    deadline: tokio::time::Instant,
    done: &AtomicU64,
) -> Result<(), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|error| format!("connect: {error}"))?;
    stream
        .set_nodelay(true)
        .map_err(|error| format!("nodelay: {error}"))?;
    let mut buffer = Vec::with_capacity(1024);
    while tokio::time::Instant::now() < deadline {
        let exchange = async {
            stream
                .write_all(&request)
                .await
                .map_err(|error| format!("write: {error}"))?;
            read_response(&mut stream, &mut buffer).await
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("{} did not answer in time", route.path()))??;
        if status != 200 || body != b"room.started" {
            return Err(format!(
                "{} answered {status}: {}",
                route.path(),
                String::from_utf8_lossy(&body)
            ));
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads one HTTP/1.1 response with a `Content-Length`; returns its status and body.
async fn read_response(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    buffer.clear();
    loop {
        if let Some(end_of_head) = find(buffer, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buffer[..end_of_head])
                .map_err(|_| "response head is not UTF-8".to_owned())?;
            let status = head
                .get(9..12)
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| format!("bad status line: {head:?}"))?;
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .ok_or("response has no Content-Length")?;
            let total = end_of_head + 4 + length;
            while buffer.len() < total {
                read_more(stream, buffer).await?;
            }
            if buffer.len() > total {
                return Err("server sent more than one response".to_owned());
            }
            return Ok((status, buffer[end_of_head + 4..].to_vec()));
        }
        read_more(stream, buffer).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    buffer.reserve(1024);
    match stream.read_buf(buffer).await {
        Ok(0) => Err("server closed the connection".to_owned()),
        Ok(_) => Ok(()),
        Err(error) => Err(format!("read: {error}")),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

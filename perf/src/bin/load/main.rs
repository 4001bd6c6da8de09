//! Load benchmark: the plain `Json<serde_json::Value>` route against the layered route
//! (`MeshagentSignatureLayer` + `MeshagentEvent`) in one server process, under the same load,
//! with two routes between them that take the layered route's cost apart:
//!
//! - `identity`: the plain route behind tower's `Identity` layer, which does nothing: what axum
//!   charges for any layer on a route;
//! - `floor`: the identity route after the two hashes every verifier must compute (HMAC-SHA256
//!   of the token's signing input, SHA-256 of the body), then the plain route's parse: the least
//!   any verifying route can cost under this load.
//!
//! Run with: `cargo run --release -p meshagent-webhooks-perf --bin load` (options after `--`:
//! `cargo run --release -p meshagent-webhooks-perf --bin load -- --rounds 150`).
//!
//! The binary starts itself again as the server (`--serve`: one axum server on 127.0.0.1:0
//! with the four routes, exiting when its stdin closes), then drives it with its own
//! keep-alive HTTP/1.1 connections that write prebuilt requests, so the client costs less than
//! the server and the server sets the rate. For the 112-byte event and a 1 MiB event it
//! alternates the routes (plain, identity, floor, layered, then the reverse; `--rounds` of
//! each), and prints each round, then the medians: requests per second, server CPU per request
//! (utime + stime of the server from `/proc/<pid>/stat`), the ratios the performance goals are
//! stated in, and the ratios between the other routes. Each median of per-round ratios comes
//! with its 95% confidence interval (distribution-free, from the ranks), and a goal is called
//! met or missed only when its whole interval lies on one side of it; otherwise the run does
//! not decide it. It stops by itself (about 130 s with the defaults) and exits non-zero if any
//! request is not answered 200.
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
//! the layered route's path instead of the layer, and prints the same figures. `--calibrate-ns
//! 0` measures identical routes (the noise floor of the ratio on this machine), and a value near
//! the layer's own cost shows what that much extra work per request costs here.
//!
//! Files: `server.rs` (the server child; the routes are in the library's `routes`), `client.rs`
//! (the load), `report.rs` (the summaries and what is printed), `stats.rs` (medians, 95%
//! intervals and verdicts).

mod client;
mod report;
mod server;
mod stats;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use meshagent_webhooks::Signer;
use meshagent_webhooks_perf::{SECRET, event_of_size, small_event};

use client::{Route, Workload, load, wrk_round};
use report::{Round, Summary, machine, time_sha256};
use server::{Calibration, Server, clock_ticks_per_second, cpu_seconds, serve};
use stats::{Interval, verdict};

/// Warm-up before the measured rounds of each size, per route.
const WARM_UP: Duration = Duration::from_secs(1);

/// Printed for `--help` and after an unknown option.
const USAGE: &str = "usage: cargo run --release -p meshagent-webhooks-perf --bin load -- \
[--secs S] [--rounds N] [--small-conns C] [--large-conns C] [--server-threads T] \
[--client-threads T] [--client own|wrk] [--calibrate-ns N]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse(std::env::args().skip(1))?;
    if options.serve { serve(options.server_threads, options.calibration) } else { drive(&options) }
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
    /// What `/layered` serves.
    calibration: Calibration,
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
            calibration: Calibration::None,
            wrk: false,
        };
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            if arg == "--serve" {
                options.serve = true;
                continue;
            }
            if arg == "--calibrate-floor" {
                return Err(
                    "--calibrate-floor was removed: every run now serves the floor at /floor"
                        .to_owned(),
                );
            }
            let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
            let number =
                || value.parse::<f64>().map_err(|_| format!("{arg}: not a number: {value}"));
            let count = || {
                value.parse::<usize>().map_err(|_| format!("{arg}: not a whole number: {value}"))
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
                    options.calibration = Calibration::BusyNs(nanos);
                }
                _ => return Err(format!("unknown option {arg}; {USAGE}")),
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

fn drive(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let ticks = clock_ticks_per_second();
    let server = Server::start(options.server_threads, options.calibration)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.client_threads)
        .enable_all()
        .build()?;
    let signer = Signer::new(SECRET);
    let workloads = [
        (small_event(), "112 B", options.small_conns),
        (event_of_size(1024 * 1024), "1 MiB", options.large_conns),
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
        if options.wrk { options.secs.ceil().max(1.0) } else { options.secs },
    );
    if let Some(description) = options.calibration.describe() {
        println!("{description}");
    }
    let round_time = Duration::from_secs_f64(options.secs);
    let mut summaries = Vec::new();
    for workload in &workloads {
        for route in Route::ALL {
            runtime.block_on(load(server.port, route, workload, WARM_UP))?;
        }
        let mut rounds: Vec<(Route, Round)> = Vec::new();
        let mut hash_seconds = Vec::new();
        for index in 0..options.rounds {
            // Plain first in even rounds, layered first in odd ones, so drift cancels.
            let mut order = Route::ALL;
            if index % 2 == 1 {
                order.reverse();
            }
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
                    "{:>6} {:<8} round {}: {:>7} requests, {:>9.1} req/s, server CPU {:>8.2} µs/req ({:>3.0}% of a core; client {:>3.0}%)",
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
        for route in Route::ALL {
            let medians = summary.medians(route);
            println!(
                "| {} | {} | {:.0} | {:.2} |",
                summary.label,
                route.label(),
                medians.per_second,
                medians.cpu * 1e6
            );
        }
    }
    println!();
    for summary in &summaries {
        summary.print_ratios();
    }
    if let (Calibration::None, [small, large]) = (options.calibration, summaries.as_slice()) {
        let goal = small.comparison(Route::Layered, Route::Floor);
        println!();
        println!(
            "goal: 112 B layered ≥ 0.95× floor requests/s: {:.3}× ({})",
            goal.throughput,
            verdict(goal.throughput_interval, 0.95, true),
        );
        let goal = large.comparison(Route::Layered, Route::Floor);
        let floor = large.medians(Route::Floor).cpu;
        let ratio = large.medians(Route::Layered).cpu / floor;
        // The interval of the per-round CPU differences, as a ratio to the floor's median.
        let interval = goal
            .added_cpu_interval
            .map(|added| Interval { low: 1.0 + added.low / floor, high: 1.0 + added.high / floor });
        println!(
            "goal: 1 MiB layered ≤ 1.05× floor server CPU per request: {ratio:.3}× ({})",
            verdict(interval, 1.05, false),
        );
    }
    Ok(())
}

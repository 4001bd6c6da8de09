//! [`MeshagentEvent::from_json`] per event type, next to `serde_json::from_slice::<Value>` of
//! the same bytes (what a plain `Json<serde_json::Value>` route does).
//!
//! Each comparison runs [`ROUNDS`] times with its sides alternating; ids end in the
//! round (`event/from_json/room.call/r2`).
//!
//! Run with: `cargo bench -p meshagent-webhooks-perf --bench event` (see BENCHMARKS.md for the
//! figures).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use meshagent_webhooks::MeshagentEvent;

use meshagent_webhooks_perf::{ROUNDS, config, round_label, typed_events};

fn from_json(c: &mut Criterion) {
    let events = typed_events();
    for (name, payload) in &events {
        let event = MeshagentEvent::from_json(payload).expect("the benchmark event parses");
        assert_eq!(event.name(), *name);
    }
    let mut group = c.benchmark_group("event");
    for round in 0..ROUNDS {
        for (name, payload) in &events {
            let id = |side: &str| BenchmarkId::new(format!("{side}/{name}"), round_label(round));
            group.throughput(Throughput::Bytes(payload.len() as u64));
            group.bench_function(id("from_json"), |b| {
                b.iter(|| MeshagentEvent::from_json(black_box(payload)).is_ok());
            });
            group.bench_function(id("serde_json_value"), |b| {
                b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(payload)).is_ok());
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = from_json
}
criterion_main!(benches);

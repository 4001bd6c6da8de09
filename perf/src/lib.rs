//! What the benchmarks (`benches/`) and the binaries (`load`, `route_counts`) share, so that
//! they all measure the same bytes and the same routes.
//!
//! Every payload is what MeshAgent would send: Python's `json.dumps` of
//! `{"event": ..., "data": {...}}` ([`Signer::event_payload`]). The larger ones carry one long
//! ASCII `notes` string in `data`: the cheapest JSON to parse, so the hash is as large a share
//! of the work as it can be (the least favourable case for the layer).
//!
//! [`routes`] holds the four routes of the load benchmark and the in-process router.

pub mod routes;

use std::convert::Infallible;
use std::time::Duration;

use criterion::Criterion;
use futures_util::FutureExt;
use http::{Request, Response};
use meshagent_webhooks::Signer;
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

/// The secret every benchmark signs and verifies with.
pub const SECRET: &str = "whsec_bench_5b1f0c9e2d7a4e83b6c4f1a2d9e07c35";

/// Every comparison is measured this many times in one run, its sides alternating (ids end in
/// `/r1`, `/r2`, ...), so that a change in background load hits both sides. Read the medians.
pub const ROUNDS: usize = 3;

/// Short measurements, repeated [`ROUNDS`] times, rather than one long one per benchmark.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
        .nresamples(20_000)
}

/// Runs one request through `service` to completion (every body here is in memory, so
/// nothing waits); the answer must be 200.
pub fn respond<S, B, R>(service: &S, request: Request<B>) -> Response<R>
where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible> + Clone,
{
    let response = service
        .clone()
        .oneshot(request)
        .now_or_never()
        .expect("nothing here waits")
        .unwrap_or_else(|never| match never {});
    assert_eq!(response.status(), 200);
    response
}

/// The id suffix of round `round` (0-based).
pub fn round_label(round: usize) -> String {
    format!("r{}", round + 1)
}

/// The body sizes of the cost-versus-size table, with their labels.
pub const SIZES: [(usize, &str); 5] = [
    (112, "112B"),
    (1024, "1KiB"),
    (16 * 1024, "16KiB"),
    (256 * 1024, "256KiB"),
    (1024 * 1024, "1MiB"),
];

/// The small event: a `room.started` of exactly 112 bytes.
pub fn small_event() -> Vec<u8> {
    event_of_size(112)
}

/// A `room.started` event of exactly `size` bytes (at least 112).
///
/// # Panics
///
/// When `size` is below 112.
pub fn event_of_size(size: usize) -> Vec<u8> {
    let room = json!({
        "room_name": "standup-7",
        "room_url": "wss://rooms.meshagent.com/standup-7",
    });
    let base = Signer::event_payload("room.started", &room).into_bytes();
    if size == base.len() {
        return base;
    }
    let mut data = room;
    data["notes"] = Value::String(String::new());
    let overhead = Signer::event_payload("room.started", &data).len();
    assert!(size >= overhead, "no event of {size} bytes");
    data["notes"] = Value::String(filler(size - overhead));
    let payload = Signer::event_payload("room.started", &data).into_bytes();
    assert_eq!(payload.len(), size);
    payload
}

/// `len` bytes of plain ASCII text (no byte JSON would escape).
fn filler(len: usize) -> String {
    const TEXT: &[u8] = b"the quick brown fox jumps over the lazy dog 0123456789 ";
    TEXT.iter().copied().cycle().take(len).map(char::from).collect()
}

/// One realistic payload per event type, named by the event.
pub fn typed_events() -> Vec<(&'static str, Vec<u8>)> {
    let events = [
        (
            "room.started",
            json!({"room_name": "standup-7", "room_url": "wss://rooms.meshagent.com/standup-7"}),
        ),
        ("room.ended", json!({"room_name": "standup-7"})),
        (
            "room.call",
            json!({
                "room_name": "standup-7",
                "room_url": "wss://rooms.meshagent.com/standup-7",
                "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLW5vdC1jaGVja2Vk",
                "arguments": {"agent": "assistant", "voice": "alloy"},
            }),
        ),
        (
            "storage.file.updated",
            json!({"path": "reports/2025/q3.md", "participant_id": "p_8f2c41"}),
        ),
        (
            "storage.file.deleted",
            json!({"path": "reports/2025/q3.md", "participant_id": "p_8f2c41"}),
        ),
        (
            "storage.file.moved",
            json!({
                "source_path": "drafts/q3.md",
                "destination_path": "reports/2025/q3.md",
                "participant_id": "p_8f2c41",
            }),
        ),
        ("agent.custom", json!({"anything": [1, 2, 3], "nested": {"ok": true}})),
    ];
    events
        .into_iter()
        .map(|(name, data)| (name, Signer::event_payload(name, &data).into_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use meshagent_webhooks::MeshagentEvent;

    use super::*;

    #[test]
    fn events_have_the_sizes_they_are_labelled_with() {
        assert_eq!(small_event().len(), 112);
        for (size, label) in SIZES {
            let event = event_of_size(size);
            assert_eq!(event.len(), size, "{label}");
            let parsed = MeshagentEvent::from_json(&event).expect("the event parses");
            assert_eq!(parsed.name(), "room.started", "{label}");
        }
    }

    #[test]
    fn every_typed_event_parses_under_its_name() {
        for (name, payload) in typed_events() {
            let event = MeshagentEvent::from_json(&payload).expect("the event parses");
            assert_eq!(event.name(), name);
        }
    }
}

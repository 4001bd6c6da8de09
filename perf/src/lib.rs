//! What the load run's server and client share, so that they measure the same bytes and the
//! same routes.
//!
//! Every payload is what MeshAgent would send: Python's `json.dumps` of
//! `{"event": ..., "data": {...}}` ([`Signer::event_payload`]). The larger ones carry one long
//! ASCII `notes` string in `data`: the cheapest JSON to parse, so the hash is as large a share
//! of the work as it can be (the least favourable case for the layer).
//!
//! [`routes`] holds the four routes of the load run.

pub mod routes;

use meshagent_webhooks::Signer;
use serde_json::{Value, json};

/// The secret every benchmark signs and verifies with.
pub const SECRET: &str = "whsec_bench_5b1f0c9e2d7a4e83b6c4f1a2d9e07c35";

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

#[cfg(test)]
mod tests {
    use meshagent_webhooks::MeshagentEvent;

    use super::*;

    #[test]
    fn events_have_the_sizes_they_are_labelled_with() {
        assert_eq!(small_event().len(), 112);
        for (size, label) in [(112, "112 B"), (1024 * 1024, "1 MiB")] {
            let event = event_of_size(size);
            assert_eq!(event.len(), size, "{label}");
            let parsed = MeshagentEvent::from_json(&event).expect("the event parses");
            assert_eq!(parsed.name(), "room.started", "{label}");
        }
    }
}

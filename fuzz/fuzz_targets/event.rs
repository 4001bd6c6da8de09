//! Fuzzes event parsing: `MeshagentEvent::from_json` on arbitrary bytes.
//!
//! Oracles: nothing panics; an accepted payload is a JSON object whose `event` is the parsed
//! name; an event serializes to JSON that deserializes to the same event; `Debug`/`Display` of
//! events and rejections never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshagent_webhooks::MeshagentEvent;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    match MeshagentEvent::from_json(data) {
        Ok(event) => {
            let value: Value = serde_json::from_slice(data).expect("accepted payloads are JSON");
            let object = value.as_object().expect("accepted payloads are objects");
            assert_eq!(
                object.get("event").and_then(Value::as_str),
                Some(event.name())
            );
            let _ = format!("{event:?}");
            let json = serde_json::to_value(&event).expect("events serialize");
            let back: MeshagentEvent = serde_json::from_value(json).expect("and deserialize");
            assert_eq!(back, event);
        }
        Err(rejection) => {
            assert!(rejection.status().is_client_error());
            let _ = format!("{rejection} {rejection:?} {}", rejection.body_text());
        }
    }
});

//! `Debug` and `Display` of everything the crate hands out never show the secret, a JWT, a
//! participant token or payload content (issue 5, README "Nothing secret leaks").
//!
//! `every_event_debug_hides_payload_values` fails on the current code: the typed event
//! structs print their field values (`room_name`, `room_url`, `arguments`, paths,
//! participant ids). The fix is in the hardening report (redact the values in
//! `debug_fields!`, `src/event/types.rs`).

use crate::hardening::{PARTICIPANT_TOKEN, SECRET};
use meshagent_webhooks::{
    MeshagentEvent, MeshagentSignatureLayer, SignatureVerifier, Signer, WebhookSecret,
};
use serde_json::json;

/// A value per field, each unique, so any leak is found.
const VALUES: [&str; 8] = [
    "value-room-name-1d2c",
    "wss://value-room-url-3e4f/r?key=value-url-key-5a6b",
    "value-path-7c8d",
    "value-participant-9e0f",
    "value-source-path-1a2b",
    "value-destination-path-3c4d",
    "value-argument-secret-5e6f",
    "value-unknown-data-7a8b",
];

fn events() -> Vec<MeshagentEvent> {
    let [room, url, path, participant, source, destination, argument, unknown] = VALUES;
    let payloads = [
        ("room.started", json!({"room_name": room, "room_url": url})),
        ("room.ended", json!({"room_name": room})),
        (
            "room.call",
            json!({"room_name": room, "room_url": url, "token": PARTICIPANT_TOKEN,
                   "arguments": {"api_key": argument}}),
        ),
        ("storage.file.updated", json!({"path": path, "participant_id": participant})),
        ("storage.file.deleted", json!({"path": path, "participant_id": participant})),
        (
            "storage.file.moved",
            json!({"source_path": source, "destination_path": destination,
                   "participant_id": participant}),
        ),
        ("x.unknown", json!({"value": unknown})),
    ];
    payloads
        .iter()
        .map(|(name, data)| {
            let payload = Signer::event_payload(name, data);
            MeshagentEvent::from_json(payload.as_bytes()).expect("a valid event")
        })
        .collect()
}

#[test]
fn every_event_debug_hides_the_participant_token() {
    for event in events() {
        let text = format!("{event:?}");
        assert!(!text.contains(PARTICIPANT_TOKEN), "{text}");
    }
}

#[test]
fn every_event_debug_hides_payload_values() {
    let mut leaks = Vec::new();
    for event in events() {
        let text = format!("{event:?}");
        for value in VALUES {
            if text.contains(value) {
                leaks.push(format!("{}: {value}", event.name()));
            }
        }
    }
    assert!(leaks.is_empty(), "event Debug shows payload values: {leaks:#?}");
}

#[test]
fn layer_verifier_secret_signer_and_rejections_hide_secret_material() {
    let payload = Signer::event_payload("room.ended", &json!({"room_name": VALUES[0]}));
    let header = Signer::new(SECRET).signature_header(payload.as_bytes());
    let token = header.trim_start_matches("Bearer ");
    let verifier = SignatureVerifier::new(SECRET);
    let claims = verifier.verify(Some(header.as_bytes()), payload.as_bytes()).unwrap();
    let mut formatted = vec![
        format!("{:?}", MeshagentSignatureLayer::new(SECRET)),
        format!("{:?}", MeshagentSignatureLayer::from_secrets([SECRET, "whsec_other"])),
        format!("{verifier:?}"),
        format!("{:?}", WebhookSecret::from(SECRET)),
        format!("{:?}", Signer::new(SECRET)),
        format!("{claims:?}"),
    ];
    for (signature, body) in [
        (Some(header.as_bytes()), b"{}".as_slice()),
        (Some(b"Bearer x.y.z".as_slice()), payload.as_bytes()),
        (None, payload.as_bytes()),
    ] {
        let rejection = verifier.verify(signature, body).unwrap_err();
        formatted.push(format!(
            "{rejection} {rejection:?} {} {:?}",
            rejection.body_text(),
            rejection.to_response().body()
        ));
    }
    let rejection =
        MeshagentEvent::from_json(payload.replace("room_name", "room").as_bytes()).unwrap_err();
    formatted.push(format!("{rejection} {rejection:?} {}", rejection.body_text()));
    for text in &formatted {
        for needle in [SECRET, token, VALUES[0], PARTICIPANT_TOKEN] {
            assert!(!text.contains(needle), "{text:?} shows {needle:?}");
        }
    }
}

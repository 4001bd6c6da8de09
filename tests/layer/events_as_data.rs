//! Events are data: every payload MeshAgent's SDK signed and the crate accepts reads into a
//! `MeshagentEvent` that serializes back to the same JSON and deserializes to the same event;
//! the constructors build the events the parser reads; the participant token is redacted in
//! `Debug` and serialized as itself; and a handler is unit-tested with a constructed event,
//! without HTTP.

use meshagent_webhooks::{
    MeshagentEvent, ParticipantToken, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted,
    StorageFileMoved, StorageFileUpdated, UnknownEvent,
};
use serde_json::{Value, json};

/// The payload a vector delivers: its `Meshagent-Webhook` header when it has one, else its body.
fn payload(vector: &crate::common::Vector) -> String {
    vector
        .headers()
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("meshagent-webhook"))
        .map_or_else(|| vector.body.clone().unwrap_or_default(), |(_, value)| value)
}

#[test]
fn every_accepted_sdk_payload_round_trips_through_meshagent_event() {
    let accepted: Vec<_> = crate::common::vectors()
        .into_iter()
        .filter(|vector| vector.expected.expect == "accept")
        .collect();
    assert_eq!(accepted.len(), 27, "the SDK vector set accepts 27 requests");
    let mut header_payloads = 0;
    for vector in &accepted {
        let name = &vector.name;
        let payload = payload(vector);
        if Some(&payload) != vector.body.as_ref() {
            header_payloads += 1;
        }
        let event = MeshagentEvent::from_json(payload.as_bytes())
            .unwrap_or_else(|rejection| panic!("{name}: {rejection}"));
        let parsed: Value = serde_json::from_str(&payload).unwrap();

        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value, parsed, "{name}: serializes back to the payload");
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            serde_json::to_string(&parsed).unwrap(),
            "{name}: the same members in the same order"
        );
        assert_eq!(serde_json::from_value::<MeshagentEvent>(value).unwrap(), event, "{name}");
        assert_eq!(serde_json::from_str::<MeshagentEvent>(&payload).unwrap(), event, "{name}");

        assert_eq!(Some(event.name()), vector.event.as_deref(), "{name}: the event name");
        assert_eq!(Some(event.data()), vector.data, "{name}: the data");
    }
    assert_eq!(header_payloads, 3, "websocket_room_call and the two header_payload_* vectors");
}

#[test]
fn constructors_build_the_events_the_parser_reads() {
    let parse = |payload: Value| MeshagentEvent::from_json(payload.to_string().as_bytes()).unwrap();

    assert_eq!(
        MeshagentEvent::from(RoomStarted::new("standup")),
        parse(json!({"event": "room.started", "data": {"room_name": "standup"}}))
    );
    let mut started = RoomStarted::new("standup");
    started.room_url = Some("wss://rooms.example/standup".to_owned());
    assert_eq!(
        MeshagentEvent::from(started),
        parse(
            json!({"event": "room.started", "data": {"room_name": "standup", "room_url": "wss://rooms.example/standup"}})
        )
    );
    assert_eq!(
        MeshagentEvent::from(RoomEnded::new("standup")),
        parse(json!({"event": "room.ended", "data": {"room_name": "standup"}}))
    );
    assert_eq!(
        MeshagentEvent::from(RoomCall::new("standup", "wss://rooms.example/standup", "t0k")),
        parse(
            json!({"event": "room.call", "data": {"room_name": "standup", "room_url": "wss://rooms.example/standup", "token": "t0k"}})
        )
    );
    let mut call = RoomCall::new("standup", "wss://rooms.example/standup", "t0k");
    call.arguments = json!({"agent": "notes-bot"}).as_object().cloned();
    assert_eq!(
        MeshagentEvent::from(call),
        parse(
            json!({"event": "room.call", "data": {"room_name": "standup", "room_url": "wss://rooms.example/standup", "token": "t0k", "arguments": {"agent": "notes-bot"}}})
        )
    );
    assert_eq!(
        MeshagentEvent::from(StorageFileUpdated::new("notes/a.md", "p-1")),
        parse(
            json!({"event": "storage.file.updated", "data": {"path": "notes/a.md", "participant_id": "p-1"}})
        )
    );
    assert_eq!(
        MeshagentEvent::from(StorageFileDeleted::new("notes/a.md", "p-1")),
        parse(
            json!({"event": "storage.file.deleted", "data": {"path": "notes/a.md", "participant_id": "p-1"}})
        )
    );
    assert_eq!(
        MeshagentEvent::from(StorageFileMoved::new("a.md", "b.md", "p-1")),
        parse(
            json!({"event": "storage.file.moved", "data": {"source_path": "a.md", "destination_path": "b.md", "participant_id": "p-1"}})
        )
    );
    assert_eq!(
        MeshagentEvent::from(UnknownEvent::new("agent.custom", json!({"n": [1, 2]}))),
        parse(json!({"event": "agent.custom", "data": {"n": [1, 2]}}))
    );
    assert_eq!(
        MeshagentEvent::from(UnknownEvent::new("agent.custom", Value::Null)),
        parse(json!({"event": "agent.custom"}))
    );

    // Fields the type does not name are kept: an event that has one is a different event.
    assert_ne!(
        MeshagentEvent::from(RoomEnded::new("standup")),
        parse(json!({"event": "room.ended", "data": {"room_name": "standup", "region": "eu"}}))
    );
}

#[test]
fn the_participant_token_is_redacted_in_debug_and_serialized_as_itself() {
    let token = ParticipantToken::new("eyJ.participant.secret-part");
    assert_eq!(format!("{token:?}"), "ParticipantToken(<redacted>)");
    assert_eq!(serde_json::to_string(&token).unwrap(), r#""eyJ.participant.secret-part""#);
    let back: ParticipantToken = serde_json::from_str(r#""eyJ.participant.secret-part""#).unwrap();
    assert_eq!(back, token);
    assert_eq!(back.expose(), "eyJ.participant.secret-part");

    let call = RoomCall::new("standup", "wss://rooms.example/standup", token);
    let event = MeshagentEvent::from(call.clone());
    for debug in [format!("{call:?}"), format!("{call:#?}"), format!("{event:?}")] {
        assert!(!debug.contains("secret-part"), "{debug}");
        assert!(debug.contains("token: <redacted>"), "{debug}");
    }
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"event":"room.call","data":{"room_name":"standup","room_url":"wss://rooms.example/standup","token":"eyJ.participant.secret-part"}}"#
    );
}

/// A handler as an app writes it: it takes the extractor's type and returns a body.
async fn on_webhook(event: MeshagentEvent) -> String {
    match event {
        MeshagentEvent::RoomCall(call) => {
            format!("joining {} at {}", call.room_name, call.room_url)
        }
        MeshagentEvent::RoomStarted(room) => format!("room {} started", room.room_name),
        other => format!("ignored {}", other.name()),
    }
}

#[tokio::test]
async fn a_handler_is_unit_tested_with_a_constructed_event_and_no_http() {
    let call = RoomCall::new("standup", "wss://rooms.example/standup", "t0k");
    assert_eq!(on_webhook(call.into()).await, "joining standup at wss://rooms.example/standup");
    assert_eq!(on_webhook(RoomStarted::new("retro").into()).await, "room retro started");
    assert_eq!(on_webhook(RoomEnded::new("retro").into()).await, "ignored room.ended");
    let custom = UnknownEvent::new("agent.custom", json!({}));
    assert_eq!(on_webhook(custom.into()).await, "ignored agent.custom");
}

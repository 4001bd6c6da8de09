//! From verified payload bytes to a [`MeshagentEvent`] (steps 8–9 of the policy).

use serde_json::{Map, Value};

use super::envelope::{Envelope, EventMember};
use super::types::{
    MeshagentEvent, ParticipantToken, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted,
    StorageFileMoved, StorageFileUpdated, UnknownEvent,
};
use crate::rejection::{EventRejection, InvalidEvent};

impl MeshagentEvent {
    /// Parses a payload (already verified) into an event.
    ///
    /// The extractor calls this on the bytes the layer verified; call it yourself when you
    /// verify with [`SignatureVerifier`](crate::SignatureVerifier) outside tower.
    ///
    /// # Errors
    ///
    /// [`InvalidRequestBody`](EventRejection::InvalidRequestBody) (400) when the payload is not
    /// a JSON object; [`InvalidEvent`](EventRejection::InvalidEvent) (422) when `event` is not a
    /// string or a known event lacks a required field. Messages name fields, never values.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentEvent;
    ///
    /// let rejection = MeshagentEvent::from_json(br#"{"event": "room.call", "data": {}}"#).unwrap_err();
    /// assert_eq!(rejection.body_text(), "invalid event: room.call: `room_name` is missing or not a string");
    /// ```
    pub fn from_json(payload: &[u8]) -> Result<Self, EventRejection> {
        let envelope = Envelope::parse(payload)?;
        let Some(EventMember::Name(name)) = envelope.event else {
            return Err(InvalidEvent::with_detail("`event` is missing or not a string").into());
        };
        let data = envelope.data.unwrap_or(Value::Null);
        Ok(match name.as_ref() {
            "room.started" => {
                let fields = Fields::new("room.started", &data)?;
                Self::RoomStarted(RoomStarted {
                    room_name: fields.required("room_name")?,
                    room_url: fields.optional("room_url")?,
                    data,
                })
            }
            "room.ended" => {
                let fields = Fields::new("room.ended", &data)?;
                Self::RoomEnded(RoomEnded {
                    room_name: fields.required("room_name")?,
                    data,
                })
            }
            "room.call" => {
                let fields = Fields::new("room.call", &data)?;
                Self::RoomCall(RoomCall {
                    room_name: fields.required("room_name")?,
                    room_url: fields.required("room_url")?,
                    token: ParticipantToken::new(fields.required("token")?),
                    arguments: fields.optional_object("arguments")?,
                    data,
                })
            }
            "storage.file.updated" => {
                let fields = Fields::new("storage.file.updated", &data)?;
                Self::StorageFileUpdated(StorageFileUpdated {
                    path: fields.required("path")?,
                    participant_id: fields.required("participant_id")?,
                    data,
                })
            }
            "storage.file.deleted" => {
                let fields = Fields::new("storage.file.deleted", &data)?;
                Self::StorageFileDeleted(StorageFileDeleted {
                    path: fields.required("path")?,
                    participant_id: fields.required("participant_id")?,
                    data,
                })
            }
            "storage.file.moved" => {
                let fields = Fields::new("storage.file.moved", &data)?;
                Self::StorageFileMoved(StorageFileMoved {
                    source_path: fields.required("source_path")?,
                    destination_path: fields.required("destination_path")?,
                    participant_id: fields.required("participant_id")?,
                    data,
                })
            }
            _ => Self::Unknown(UnknownEvent {
                name: name.into_owned(),
                data,
            }),
        })
    }
}

/// The `data` object of a known event, with field readers whose errors name the event and the
/// field.
struct Fields<'a> {
    event: &'static str,
    data: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(event: &'static str, data: &'a Value) -> Result<Self, InvalidEvent> {
        match data {
            Value::Object(data) => Ok(Self { event, data }),
            _ => Err(InvalidEvent::with_detail(format!(
                "{event}: `data` is missing or not an object"
            ))),
        }
    }

    fn required(&self, field: &'static str) -> Result<String, InvalidEvent> {
        match self.data.get(field) {
            Some(Value::String(text)) => Ok(text.clone()),
            _ => Err(self.invalid(field, "is missing or not a string")),
        }
    }

    fn optional(&self, field: &'static str) -> Result<Option<String>, InvalidEvent> {
        match self.data.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(self.invalid(field, "is not a string")),
        }
    }

    fn optional_object(
        &self,
        field: &'static str,
    ) -> Result<Option<Map<String, Value>>, InvalidEvent> {
        match self.data.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(object)) => Ok(Some(object.clone())),
            Some(_) => Err(self.invalid(field, "is not an object or null")),
        }
    }

    fn invalid(&self, field: &'static str, problem: &'static str) -> InvalidEvent {
        InvalidEvent::with_detail(format!("{}: `{field}` {problem}", self.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(payload: &str) -> String {
        MeshagentEvent::from_json(payload.as_bytes()).map_or_else(
            |rejection| rejection.body_text(),
            |event| event.name().to_owned(),
        )
    }

    #[test]
    fn known_events_parse_into_their_variants() {
        assert_eq!(
            reason(r#"{"event": "room.started", "data": {"room_name": "r", "room_url": "u"}}"#),
            "room.started"
        );
        assert_eq!(
            reason(r#"{"event": "room.started", "data": {"room_name": "r"}}"#),
            "room.started"
        );
        assert_eq!(
            reason(
                r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u", "token": "t", "arguments": null}}"#
            ),
            "room.call"
        );
        assert_eq!(
            reason(
                r#"{"event": "storage.file.moved", "data": {"source_path": "a", "destination_path": "b", "participant_id": "p", "extra": 1}}"#
            ),
            "storage.file.moved"
        );
    }

    #[test]
    fn unknown_events_keep_name_and_data() {
        let event = MeshagentEvent::from_json(br#"{"event": "x.y", "data": [1]}"#).unwrap();
        assert_eq!(event.name(), "x.y");
        assert_eq!(event.data(), &serde_json::json!([1]));
        let bare = MeshagentEvent::from_json(br#"{"event": "x.y"}"#).unwrap();
        assert_eq!(bare.data(), &Value::Null);
    }

    #[test]
    fn malformed_payloads_get_precise_reasons() {
        assert_eq!(reason("[]"), "invalid request body");
        assert_eq!(reason("nope"), "invalid request body");
        assert_eq!(reason("\u{feff}{}"), "invalid request body");
        assert_eq!(
            reason(r#"{"data": {}}"#),
            "invalid event: `event` is missing or not a string"
        );
        assert_eq!(
            reason(r#"{"event": 1}"#),
            "invalid event: `event` is missing or not a string"
        );
        assert_eq!(
            reason(r#"{"event": "room.ended", "data": "standup"}"#),
            "invalid event: room.ended: `data` is missing or not an object"
        );
        assert_eq!(
            reason(r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u"}}"#),
            "invalid event: room.call: `token` is missing or not a string"
        );
        assert_eq!(
            reason(
                r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u", "token": "t", "arguments": 3}}"#
            ),
            "invalid event: room.call: `arguments` is not an object or null"
        );
        assert_eq!(
            reason(r#"{"event": "room.started", "data": {"room_name": "r", "room_url": 5}}"#),
            "invalid event: room.started: `room_url` is not a string"
        );
    }

    #[test]
    fn rejections_never_echo_values() {
        let rejection = MeshagentEvent::from_json(
            br#"{"event": "room.call", "data": {"room_name": "r", "room_url": 7, "token": "SECRET-TOKEN"}}"#,
        )
        .unwrap_err();
        assert!(!rejection.to_string().contains("SECRET-TOKEN"));
        assert!(!format!("{rejection:?}").contains("SECRET-TOKEN"));
    }

    #[test]
    fn deep_nesting_is_a_bad_request_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(reason(&deep), "invalid request body");
    }
}

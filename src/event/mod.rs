//! Typed MeshAgent events: [`MeshagentEvent`] and its payload structs.
//!
//! A delivery is `{"event": "<name>", "data": {...}}`. The known events get typed variants;
//! any other name is kept as [`MeshagentEvent::Unknown`] with its raw `data`, so a new MeshAgent
//! event never breaks a receiver. Events are data too: `Clone`, `PartialEq`, and `Serialize` /
//! `Deserialize` as MeshAgent's own JSON (fields the types do not name are kept), so they can
//! go to a queue, a database or a fixture; each payload struct has a constructor for tests.
//!
//! Required fields (extra fields are kept; every listed field is a string):
//!
//! | Event | Variant | Fields |
//! |---|---|---|
//! | `room.started` | [`RoomStarted`] | `room_name`; `room_url` optional (the docs omit it) |
//! | `room.ended` | [`RoomEnded`] | `room_name` |
//! | `room.call` | [`RoomCall`] | `room_name`, `room_url`, `token`; `arguments` an optional object or null |
//! | `storage.file.updated` | [`StorageFileUpdated`] | `path`, `participant_id` |
//! | `storage.file.deleted` | [`StorageFileDeleted`] | `path`, `participant_id` |
//! | `storage.file.moved` | [`StorageFileMoved`] | `source_path`, `destination_path`, `participant_id` |
//!
//! Python's `json.dumps`, which MeshAgent sends with, also writes `NaN`, `Infinity` and
//! integers of any size. JSON has none of them and `serde_json::Value` cannot hold them without
//! loss, so such a payload is refused with 400 and a body that names the value; the verified
//! bytes stay available as [`VerifiedWebhook::payload`](crate::VerifiedWebhook::payload) for a
//! handler that wants to parse them another way.

#[cfg(feature = "axum")]
mod extract;
mod payloads;

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub(crate) use self::payloads::present;
use self::payloads::{Canonical, Payload, has_float};
pub use self::payloads::{
    ParticipantToken, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted, StorageFileMoved,
    StorageFileUpdated, UnknownEvent,
};
use crate::rejection::{EventRejection, InvalidEvent, InvalidRequestBody, UnsupportedContentType};
use crate::signature::verified::PayloadSource;

/// A verified MeshAgent webhook event.
///
/// With the `axum` feature it is an extractor: it reads the payload that
/// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer) verified and never the body, so
/// it can stand in any argument position. It answers 500 when the layer is missing, 415 for a
/// body payload without a JSON `Content-Type` (`application/json` or `application/*+json`), 400
/// when the payload is not a JSON object, and 422 when the event is malformed
/// ([`EventRejection`]).
///
/// `Debug` shows the event and its field names, never their values: payloads can carry
/// personal data and tokens, and `Debug` output ends up in logs.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::post};
/// use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer, RoomEnded};
///
/// async fn handle(event: MeshagentEvent) {
///     match event {
///         MeshagentEvent::RoomStarted(room) => println!("started {}", room.room_name),
///         MeshagentEvent::RoomCall(call) => println!("call into {}", call.room_url),
///         other => println!("{} {}", other.name(), other.data()),
///     }
/// }
///
/// let app: Router = Router::new().route(
///     "/webhook",
///     post(handle).layer(MeshagentSignatureLayer::new("whsec_example")),
/// );
///
/// // As data: MeshAgent's own JSON, both ways.
/// let event = MeshagentEvent::from(RoomEnded::new("standup"));
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!(json, serde_json::json!({"event": "room.ended", "data": {"room_name": "standup"}}));
/// assert_eq!(serde_json::from_value::<MeshagentEvent>(json).unwrap(), event);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MeshagentEvent {
    /// `room.started`
    RoomStarted(RoomStarted),
    /// `room.ended`
    RoomEnded(RoomEnded),
    /// `room.call`: a handoff with a room URL and a participant token.
    RoomCall(RoomCall),
    /// `storage.file.updated`
    StorageFileUpdated(StorageFileUpdated),
    /// `storage.file.deleted`
    StorageFileDeleted(StorageFileDeleted),
    /// `storage.file.moved`
    StorageFileMoved(StorageFileMoved),
    /// Any other event name, kept with its raw `data`.
    Unknown(UnknownEvent),
}

/// `$on_known` for a known event's payload struct (bound to `$known`), `$on_unknown` for an
/// unknown event (bound to `$unknown`).
macro_rules! known_events {
    ($event:expr, $known:ident => $on_known:expr, $unknown:ident => $on_unknown:expr) => {
        match $event {
            MeshagentEvent::RoomStarted($known) => $on_known,
            MeshagentEvent::RoomEnded($known) => $on_known,
            MeshagentEvent::RoomCall($known) => $on_known,
            MeshagentEvent::StorageFileUpdated($known) => $on_known,
            MeshagentEvent::StorageFileDeleted($known) => $on_known,
            MeshagentEvent::StorageFileMoved($known) => $on_known,
            MeshagentEvent::Unknown($unknown) => $on_unknown,
        }
    };
}

impl MeshagentEvent {
    /// The event name as sent on the wire, e.g. `room.started`.
    pub fn name(&self) -> &str {
        known_events!(self, event => event.label(), unknown => &unknown.name)
    }

    /// The event name for known events, `unknown` for the others: a bounded set, for metrics.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn label(&self) -> &'static str {
        known_events!(self, event => event.label(), _unknown => "unknown")
    }

    /// The `data` member: the typed fields and every other field that came with them (`null`
    /// when an unknown event had none).
    pub fn data(&self) -> Value {
        known_events!(self, event => Value::Object(event.to_data()), unknown => unknown.data.clone())
    }

    /// Parses a payload (already verified) into an event.
    ///
    /// The extractor calls this on the bytes the layer verified; call it yourself on bytes you
    /// verified another way ([`SignatureVerifier::verify_event`](crate::SignatureVerifier::verify_event)
    /// does both).
    ///
    /// # Errors
    ///
    /// [`InvalidRequestBody`](EventRejection::InvalidRequestBody) (400) when the payload is not
    /// a JSON object or holds `NaN`, `Infinity` or an integer beyond 64 bits;
    /// [`InvalidEvent`](EventRejection::InvalidEvent) (422) when `event` is not a string or a
    /// known event lacks a required field. Messages name fields, never values.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentEvent;
    ///
    /// let rejection = MeshagentEvent::from_json(br#"{"event": "room.call", "data": {}}"#).unwrap_err();
    /// assert_eq!(rejection.body_text(), "invalid event: room.call: `room_name` is missing or not a string");
    /// let rejection = MeshagentEvent::from_json(br#"{"event": "x", "data": {"n": NaN}}"#).unwrap_err();
    /// assert_eq!(rejection.body_text(), "invalid request body: payload has NaN or Infinity, which JSON cannot carry");
    /// ```
    pub fn from_json(payload: &[u8]) -> Result<Self, EventRejection> {
        let invalid = |detail: &'static str| InvalidRequestBody::with_detail(detail);
        // One UTF-8 check for the whole payload, not one per string (measured: 900
        // instructions a request).
        let text = std::str::from_utf8(payload).ok();
        if let Some(event) = text.and_then(Self::from_canonical) {
            return Ok(event);
        }
        let Some(value) = text.and_then(|text| serde_json::from_str(text).ok()) else {
            return Err(
                invalid(python_only_value(payload).unwrap_or("payload is not valid JSON")).into()
            );
        };
        if has_float(&value)
            && let Some(lossy) = python_only_value(payload)
        {
            return Err(invalid(lossy).into());
        }
        match value {
            Value::Object(members) => Ok(Self::from_members(members)?),
            _ => Err(invalid("payload is not a JSON object").into()),
        }
    }

    /// A known event as MeshAgent sends it, read by serde's derive straight from the text
    /// instead of through a `Value` map: 306 – 315 against 530 – 550 ns for a 112 B
    /// `room.started` (criterion), +3% requests per second on the load run's layered route
    /// (layered / floor, median of the runs: 0.969 in five without it, 1.000 in seven with it).
    /// `None` for anything else, which the general way reads and words.
    fn from_canonical(text: &str) -> Option<Self> {
        if !text.trim_ascii_start().starts_with('{') {
            return None;
        }
        let event = match serde_json::from_str(text).ok()? {
            Canonical::RoomStarted(event) => Self::RoomStarted(event),
            Canonical::RoomEnded(event) => Self::RoomEnded(event),
            Canonical::RoomCall(event) => Self::RoomCall(event),
            Canonical::StorageFileUpdated(event) => Self::StorageFileUpdated(event),
            Canonical::StorageFileDeleted(event) => Self::StorageFileDeleted(event),
            Canonical::StorageFileMoved(event) => Self::StorageFileMoved(event),
            Canonical::Other => return None,
        };
        let has_float = known_events!(&event, event => event.has_float(), _unknown => true);
        let lossy = has_float && python_only_value(text.as_bytes()).is_some();
        (!lossy).then_some(event)
    }

    /// The event from the members of a payload object.
    fn from_members(members: Map<String, Value>) -> Result<Self, InvalidEvent> {
        let (mut name, mut data) = (None, Value::Null);
        for (member, value) in members {
            match member.as_str() {
                "event" => name = Some(value),
                "data" => data = value,
                _ => {}
            }
        }
        let Some(Value::String(name)) = name else {
            return Err(InvalidEvent::with_detail("`event` is missing or not a string"));
        };
        Ok(match name.as_str() {
            RoomStarted::EVENT => Self::RoomStarted(typed(data)?),
            RoomEnded::EVENT => Self::RoomEnded(typed(data)?),
            RoomCall::EVENT => Self::RoomCall(typed(data)?),
            StorageFileUpdated::EVENT => Self::StorageFileUpdated(typed(data)?),
            StorageFileDeleted::EVENT => Self::StorageFileDeleted(typed(data)?),
            StorageFileMoved::EVENT => Self::StorageFileMoved(typed(data)?),
            _ => Self::Unknown(UnknownEvent::new(name, data)),
        })
    }
}

/// The payload struct of a known event from its `data`, which must be an object.
fn typed<P: Payload>(data: Value) -> Result<P, InvalidEvent> {
    match data {
        Value::Object(data) => P::from_data(data),
        _ => Err(InvalidEvent::with_detail(format!(
            "{}: `data` is missing or not an object",
            P::EVENT
        ))),
    }
}

const NAN_OR_INFINITY: &str = "payload has NaN or Infinity, which JSON cannot carry";
const BEYOND_64_BITS: &str = "payload has an integer beyond 64 bits, which would lose precision";

/// The first value outside strings that Python's `json.dumps` writes and JSON cannot carry
/// without loss: `NaN`, `Infinity`, `-Infinity`, or an integer beyond 64 bits.
fn python_only_value(payload: &[u8]) -> Option<&'static str> {
    let mut at = 0;
    while let Some(&byte) = payload.get(at) {
        let rest = payload.get(at..).unwrap_or_default();
        match byte {
            b'"' => at = string_end(payload, at + 1),
            b'N' | b'I' if rest.starts_with(b"NaN") || rest.starts_with(b"Infinity") => {
                return Some(NAN_OR_INFINITY);
            }
            b'-' | b'0'..=b'9' => {
                let numeric = |b: &u8| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-');
                let len = 1 + rest.iter().skip(1).take_while(|b| numeric(b)).count();
                let number = rest.get(..len).unwrap_or_default();
                at += len;
                let integer =
                    number != b"-" && !number.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
                let text = std::str::from_utf8(number).unwrap_or_default();
                if integer && text.parse::<i64>().is_err() && text.parse::<u64>().is_err() {
                    return Some(BEYOND_64_BITS);
                }
            }
            _ => at += 1,
        }
    }
    None
}

/// The index after the closing quote of a string that starts at `at`.
fn string_end(payload: &[u8], mut at: usize) -> usize {
    while let Some(&byte) = payload.get(at) {
        at += if byte == b'\\' { 2 } else { 1 };
        if byte == b'"' {
            break;
        }
    }
    at
}

/// A body payload needs a JSON `Content-Type` (`application/json` or
/// `application/*+json`, case-insensitive, parameters allowed); a header payload needs none.
pub(crate) fn check_content_type(
    source: PayloadSource,
    headers: &HeaderMap,
) -> Result<(), UnsupportedContentType> {
    let value = headers.get(CONTENT_TYPE);
    // What MeshAgent sends, answered without splitting the value.
    if source == PayloadSource::Header
        || value.is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"application/json"))
    {
        return Ok(());
    }
    let value = value.and_then(|value| value.to_str().ok()).unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    json.then_some(()).ok_or_else(UnsupportedContentType::new)
}

impl Serialize for MeshagentEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("event", self.name())?;
        map.serialize_entry("data", &self.data())?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for MeshagentEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_members(Map::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// `MeshagentEvent::from(RoomStarted::new("r"))` and so on.
macro_rules! from_payload {
    ($($variant:ident($payload:ident)),+) => {$(
        impl From<$payload> for MeshagentEvent {
            fn from(event: $payload) -> Self {
                Self::$variant(event)
            }
        }
    )+};
}
from_payload! {
    RoomStarted(RoomStarted), RoomEnded(RoomEnded), RoomCall(RoomCall),
    StorageFileUpdated(StorageFileUpdated), StorageFileDeleted(StorageFileDeleted),
    StorageFileMoved(StorageFileMoved), Unknown(UnknownEvent)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reason(payload: &str) -> String {
        MeshagentEvent::from_json(payload.as_bytes())
            .map_or_else(|rejection| rejection.body_text(), |event| event.name().to_owned())
    }

    #[test]
    fn the_common_case_reads_the_event_the_general_way_reads() {
        // (payload, whether the common case takes it as it is)
        for (payload, common) in [
            (r#"{"event": "room.started", "data": {"room_name": "r", "room_url": "u"}}"#, true),
            (r#"{"data": {"room_name": "r\u00e9"}, "event": "room\u002estarted"}"#, true),
            (r#"{"event": "room.ended", "data": {"room_name": "r"}, "v": [1]}"#, false),
            (
                r#"{"event": "room.ended", "data": {"room_name": "r"}, "v": 18446744073709551616}"#,
                false,
            ),
            (
                r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u", "token": "t", "arguments": {"n": -3, "s": "a"}}}"#,
                true,
            ),
            (
                r#"{"event": "room.started", "data": {"room_name": "r", "x": [1, {"y": null}]}}"#,
                true,
            ),
            (r#"{"event": "x.y", "data": {"n": [1, "a", null]}}"#, false),
            (r#"{"event": "room.ended", "data": {"room_name": "r", "t": [0.5, -1e-7]}}"#, true),
            (r#"{"event": "room.ended", "data": {"room_name": "r", "n": 1e400}}"#, false),
            (
                r#"{"event": "room.ended", "data": {"room_name": "r", "n": [18446744073709551616]}}"#,
                false,
            ),
            (r#"{"event": "room.started", "data": {"room_name": "r", "room_url": null}}"#, true),
            (
                r#"{"event": "room.started", "data": {"room_name": "r", "room_url": null, "x": 1}}"#,
                false,
            ),
            (
                r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u", "token": "t", "arguments": {"f": 2.5}}}"#,
                true,
            ),
            (
                r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u", "token": "t", "arguments": {"n": 1180591620717411303424}}}"#,
                false,
            ),
            (r#"{"event": "room.started", "data": {"room_name": "a", "room_name": "b"}}"#, false),
            (r#"{"event": "room.ended", "data": {"room_name": "a"}, "event": "x.y"}"#, false),
            (r#"{"event": "room.started", "data": ["r"]}"#, false),
            (r#"{"event": "room.started", "data": {"room_url": "u"}}"#, false),
            (r#"{"event": "room.started"}"#, false),
            (r#"["room.started", {"room_name": "r"}]"#, false),
        ] {
            let fast = MeshagentEvent::from_canonical(payload);
            assert_eq!(fast.is_some(), common, "{payload}");
            let members = serde_json::from_str(payload).ok();
            let general = members.and_then(|members| MeshagentEvent::from_members(members).ok());
            if let Some(fast) = fast {
                assert_eq!(Some(fast), general, "{payload}");
            }
        }
    }

    #[test]
    fn known_events_parse_into_their_variants_and_others_are_kept() {
        for (payload, name) in [
            (
                r#"{"event": "room.started", "data": {"room_name": "r", "room_url": "u"}}"#,
                "room.started",
            ),
            (
                r#"{"event": "room.started", "data": {"room_name": "r", "room_url": null}}"#,
                "room.started",
            ),
            (
                r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u", "token": "t", "arguments": null}}"#,
                "room.call",
            ),
            (
                r#"{"event": "storage.file.moved", "data": {"source_path": "a", "destination_path": "b", "participant_id": "p", "x": 1}}"#,
                "storage.file.moved",
            ),
            (r#"{"event": "room.ended", "data": {"room_name": "a"}, "event": "x.y"}"#, "x.y"),
        ] {
            assert_eq!(reason(payload), name, "{payload}");
        }
        let event = MeshagentEvent::from_json(br#"{"event": "x.y", "data": [1]}"#).unwrap();
        assert_eq!((event.name(), event.data()), ("x.y", json!([1])));
        let bare = MeshagentEvent::from_json(br#"{"event": "x.y"}"#).unwrap();
        assert_eq!(bare.data(), Value::Null);
    }

    #[test]
    fn malformed_payloads_get_precise_reasons_that_never_echo_values() {
        let missing_event = "invalid event: `event` is missing or not a string";
        for (payload, expected) in [
            ("[]", "invalid request body: payload is not a JSON object"),
            ("nope", "invalid request body: payload is not valid JSON"),
            ("\u{feff}{}", "invalid request body: payload is not valid JSON"),
            (
                r#"{"event": "x", "other": "\ud800"}"#,
                "invalid request body: payload is not valid JSON",
            ),
            (r#"{"data": {}}"#, missing_event),
            (r#"{"event": 1}"#, missing_event),
            (
                r#"{"event": "room.ended", "data": "standup"}"#,
                "invalid event: room.ended: `data` is missing or not an object",
            ),
            (
                r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u"}}"#,
                "invalid event: room.call: `token` is missing or not a string",
            ),
            (
                r#"{"event": "room.call", "data": {"room_name": "r", "room_url": "u", "token": "t", "arguments": 3}}"#,
                "invalid event: room.call: `arguments` is not an object or null",
            ),
            (
                r#"{"event": "room.started", "data": {"room_name": "r", "room_url": 5}}"#,
                "invalid event: room.started: `room_url` is not a string",
            ),
            (
                r#"{"event": "room.call", "data": {"room_name": "SECRET", "room_url": 7, "token": "SECRET"}}"#,
                "invalid event: room.call: `room_url` is missing or not a string",
            ),
        ] {
            assert_eq!(reason(payload), expected, "{payload}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(reason(&deep), "invalid request body: payload is not valid JSON");
    }

    #[test]
    fn values_python_writes_and_json_cannot_carry_are_refused_by_name() {
        let nan = format!("invalid request body: {NAN_OR_INFINITY}");
        let big = format!("invalid request body: {BEYOND_64_BITS}");
        for (data, expected) in [
            ("NaN", &nan),
            ("Infinity", &nan),
            ("[1, -Infinity]", &nan),
            ("1180591620717411303424", &big),
            ("[2.5, 18446744073709551616]", &big),
            ("-9223372036854775809", &big),
        ] {
            let payload = format!(r#"{{"event": "x", "data": {data}}}"#);
            assert_eq!(reason(&payload), *expected, "{payload}");
        }
        for fine in [
            "18446744073709551615",
            "-9223372036854775808",
            "1e300",
            "[2.5, \"NaN 1180591620717411303424 \\\" Infinity\"]",
        ] {
            let payload = format!(r#"{{"event": "x", "data": {fine}}}"#);
            assert_eq!(reason(&payload), "x", "{payload}");
        }
    }

    #[test]
    fn events_serialize_back_to_the_json_they_came_from() {
        for payload in [
            json!({"event": "room.started", "data": {"room_name": "r", "x": [1, {"y": null}], "room_url": null}}),
            json!({"event": "room.call", "data": {"room_name": "r", "room_url": "u", "token": "t", "arguments": {"a": 1}}}),
            json!({"event": "storage.file.deleted", "data": {"path": "p", "participant_id": "i"}}),
            json!({"event": "agent.custom", "data": {"anything": [1, "two"]}}),
        ] {
            let event = MeshagentEvent::from_json(payload.to_string().as_bytes()).unwrap();
            assert_eq!(serde_json::to_value(&event).unwrap(), payload);
            assert_eq!(serde_json::from_value::<MeshagentEvent>(payload).unwrap(), event);
        }
        let mut call = RoomCall::new("r", "u", ParticipantToken::new("t"));
        call.arguments = Some(Map::new());
        assert_eq!(
            serde_json::to_string(&MeshagentEvent::from(call)).unwrap(),
            r#"{"event":"room.call","data":{"room_name":"r","room_url":"u","token":"t","arguments":{}}}"#
        );
        let wrong =
            serde_json::from_value::<MeshagentEvent>(json!({"event": "room.ended", "data": {}}));
        assert_eq!(
            wrong.unwrap_err().to_string(),
            "invalid event: room.ended: `room_name` is missing or not a string"
        );
    }

    #[test]
    fn json_content_types_are_recognised() {
        let json = |content_type: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
            check_content_type(PayloadSource::Body, &headers).is_ok()
        };
        for yes in [
            "application/json",
            "APPLICATION/Json",
            "Application/JSON; charset=utf-8",
            "application/cloudevents+json",
            "application/CloudEvents+JSON",
        ] {
            assert!(json(yes), "{yes}");
        }
        for no in ["application/+jsonx", "text/plain", "application/jsonx", "text/json", "json"] {
            assert!(!json(no), "{no}");
        }
        assert!(check_content_type(PayloadSource::Body, &HeaderMap::new()).is_err());
        assert!(check_content_type(PayloadSource::Header, &HeaderMap::new()).is_ok());
    }
}

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

pub use self::payloads::{
    ParticipantToken, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted, StorageFileMoved,
    StorageFileUpdated, UnknownEvent,
};
use self::payloads::{Payload, has_float};
use crate::python_json;
use crate::rejection::{
    EventRejection, InvalidEvent, InvalidRequestBody, Rejection, SignatureRejection,
    UnsupportedContentType,
};
use crate::signature::{PayloadSource, SignatureVerifier};

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
    #[cfg(feature = "axum")]
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
        let Ok(value) = serde_json::from_slice::<Value>(payload) else {
            let lossy = python_json::python_only_value(payload);
            return Err(invalid(lossy.unwrap_or("payload is not valid JSON")).into());
        };
        // `serde_json` reads an integer beyond 64 bits as a float: only then is the text scanned.
        if has_float(&value)
            && let Some(lossy) = python_json::python_only_value(payload)
        {
            return Err(invalid(lossy).into());
        }
        match value {
            Value::Object(members) => Ok(Self::from_members(members)?),
            _ => Err(invalid("payload is not a JSON object").into()),
        }
    }

    /// A delivery's event, by the rule the extractor and
    /// [`SignatureVerifier::verify_event`] share: a body payload needs a JSON `Content-Type`,
    /// then the payload is parsed.
    pub(crate) fn from_delivery(
        payload: &[u8],
        source: PayloadSource,
        headers: &HeaderMap,
    ) -> Result<Self, EventRejection> {
        check_content_type(source, headers)?;
        Self::from_json(payload)
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

/// A body payload needs a JSON `Content-Type` (`application/json` or
/// `application/*+json`, case-insensitive, parameters allowed); a header payload needs none.
fn check_content_type(
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

impl SignatureVerifier {
    /// Verifies a whole delivery received outside tower (a queue consumer, another framework)
    /// with the rules of [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer) and the
    /// [`MeshagentEvent`] extractor: headers and body in, the verified event out. The payload is
    /// the `Meshagent-Webhook` header when present, else `body`, which then needs a JSON
    /// `Content-Type`. No size limit is applied: the body is already in memory.
    ///
    /// # Errors
    ///
    /// Any [`Rejection`]: the signature's (401, 500) or the event's (415, 400, 422).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{MeshagentEvent, SignatureVerifier, Signer};
    ///
    /// let request = Signer::new("whsec_example").request(
    ///     "/webhook",
    ///     "room.ended",
    ///     &serde_json::json!({"room_name": "standup-42"}),
    /// );
    /// let body = request.body().clone();
    /// # let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(body)).unwrap().unwrap().to_bytes();
    /// let event = SignatureVerifier::new("whsec_example")
    ///     .verify_event(request.headers(), &body)
    ///     .unwrap();
    /// assert!(matches!(event, MeshagentEvent::RoomEnded(ended) if ended.room_name == "standup-42"));
    /// ```
    pub fn verify_event(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<MeshagentEvent, Rejection> {
        let (token, header_payload) = self.check_head(headers)?;
        let (payload, source) = match header_payload {
            Some(value) => (value.as_bytes(), PayloadSource::Header),
            None => (body, PayloadSource::Body),
        };
        token.check_payload(payload).map_err(SignatureRejection::from)?;
        Ok(MeshagentEvent::from_delivery(payload, source, headers)?)
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reason(payload: &str) -> String {
        MeshagentEvent::from_json(payload.as_bytes())
            .map_or_else(|rejection| rejection.body_text(), |event| event.name().to_owned())
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
        let nan = "invalid request body: payload has NaN or Infinity, which JSON cannot carry";
        let big = "invalid request body: payload has an integer beyond 64 bits, which would lose precision";
        for (data, expected) in [
            ("NaN", nan),
            ("Infinity", nan),
            ("[1, -Infinity]", nan),
            ("1180591620717411303424", big),
            ("[2.5, 18446744073709551616]", big),
            ("-9223372036854775809", big),
        ] {
            let payload = format!(r#"{{"event": "x", "data": {data}}}"#);
            assert_eq!(reason(&payload), expected, "{payload}");
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

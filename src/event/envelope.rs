//! The top level of a payload, `{"event": ..., "data": ...}`, read without building a map.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::rejection::InvalidRequestBody;

/// The `event` and `data` members of a payload's top-level object (`None` when absent). Like
/// Python's `json.loads`, a repeated member keeps its last value. Other members are parsed (so
/// the payload is valid JSON exactly when `serde_json::Value` says so) and dropped.
#[derive(Debug, Default)]
pub(super) struct Envelope<'a> {
    pub(super) event: Option<EventMember<'a>>,
    pub(super) data: Option<Value>,
}

/// The `event` member: its name when it is a string (borrowed from the payload when it has no
/// escapes), or the fact that it is something else.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum EventMember<'a> {
    Name(Cow<'a, str>),
    NotAString,
}

impl<'a> Envelope<'a> {
    /// Reads the envelope of `payload`, or says why it is not a JSON object.
    pub(super) fn parse(payload: &'a [u8]) -> Result<Self, InvalidRequestBody> {
        let not_json = || InvalidRequestBody::with_detail("payload is not valid JSON");
        // Validated once here, so that the parser reads `str` and checks nothing twice.
        let text = std::str::from_utf8(payload).map_err(|_| not_json())?;
        serde_json::from_str(text).map_err(|_| {
            // Only the error path pays for a second look.
            if serde_json::from_str::<Value>(text).is_ok() {
                InvalidRequestBody::with_detail("payload is not a JSON object")
            } else {
                not_json()
            }
        })
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
        let mut envelope = Envelope::default();
        while let Some(member) = map.next_key::<Member>()? {
            match member {
                Member::Event => envelope.event = Some(map.next_value()?),
                Member::Data => envelope.data = Some(map.next_value()?),
                Member::Other => {
                    map.next_value::<Value>()?;
                }
            }
        }
        Ok(envelope)
    }
}

impl<'de> Deserialize<'de> for EventMember<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EventMemberVisitor)
    }
}

/// Takes a string as the event's name; anything else is read in full (as `Value` would read
/// it, so the same payloads are refused) and noted as not a string.
struct EventMemberVisitor;

impl<'de> Visitor<'de> for EventMemberVisitor {
    type Value = EventMember<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(EventMember::Name(Cow::Borrowed(name)))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(EventMember::Name(Cow::Owned(name.to_owned())))
    }

    fn visit_string<E: de::Error>(self, name: String) -> Result<Self::Value, E> {
        Ok(EventMember::Name(Cow::Owned(name)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(EventMember::NotAString)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(EventMember::NotAString)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(EventMember::NotAString)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(EventMember::NotAString)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(EventMember::NotAString)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Value>()?.is_some() {}
        Ok(EventMember::NotAString)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<String, Value>()?.is_some() {}
        Ok(EventMember::NotAString)
    }
}

/// A top-level member name, compared after unescaping (`"\u0065vent"` is `event`).
enum Member {
    Event,
    Data,
    Other,
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(MemberVisitor)
    }
}

struct MemberVisitor;

impl Visitor<'_> for MemberVisitor {
    type Value = Member;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Member, E> {
        Ok(match name {
            "event" => Member::Event,
            "data" => Member::Data,
            _ => Member::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The event name (`Err(())` when not a string) and `data` of `payload`.
    fn members(payload: &str) -> (Option<Result<String, ()>>, Option<Value>) {
        let envelope = Envelope::parse(payload.as_bytes()).unwrap();
        let event = envelope.event.map(|event| match event {
            EventMember::Name(name) => Ok(name.into_owned()),
            EventMember::NotAString => Err(()),
        });
        (event, envelope.data)
    }

    fn name(name: &str) -> Option<Result<String, ()>> {
        Some(Ok(name.to_owned()))
    }

    fn detail(payload: &[u8]) -> String {
        let rejection = Envelope::parse(payload).unwrap_err();
        rejection.detail().unwrap_or_default().to_owned()
    }

    #[test]
    fn event_and_data_are_read_and_other_members_dropped() {
        assert_eq!(
            members(r#"{"event": "room.ended", "x": [1, {"y": null}], "data": {"a": 1}}"#),
            (name("room.ended"), Some(json!({"a": 1})))
        );
        assert_eq!(members("{}"), (None, None));
        for not_a_string in [
            "7",
            "-1.5",
            "true",
            "null",
            "[1, [2]]",
            r#"{"a": {"b": 1}}"#,
        ] {
            let payload = format!(r#"{{"event": {not_a_string}}}"#);
            assert_eq!(members(&payload), (Some(Err(())), None), "{payload}");
        }
    }

    #[test]
    fn repeated_members_keep_the_last_value_like_python() {
        assert_eq!(
            members(r#"{"event": "a", "data": 1, "event": "b", "data": 2}"#),
            (name("b"), Some(json!(2)))
        );
    }

    #[test]
    fn event_names_are_borrowed_unless_escaped() {
        let plain = Envelope::parse(br#"{"event": "room.ended"}"#).unwrap();
        assert!(matches!(
            plain.event,
            Some(EventMember::Name(Cow::Borrowed("room.ended")))
        ));
        let escaped = Envelope::parse(br#"{"event": "room\u002eended"}"#).unwrap();
        assert_eq!(
            escaped.event,
            Some(EventMember::Name(Cow::Owned("room.ended".to_owned())))
        );
    }

    #[test]
    fn member_names_are_compared_unescaped() {
        assert_eq!(
            members(r#"{"\u0065vent": "room.ended", "d\u0061ta": null}"#),
            (name("room.ended"), Some(Value::Null))
        );
        assert_eq!(members(r#"{"Event": "room.ended"}"#), (None, None));
    }

    #[test]
    fn what_serde_json_value_refuses_is_refused() {
        for payload in [
            r#"{"event": "x", "other": 1e999}"#,
            r#"{"event": 1e999}"#,
            r#"{"event": [1e999]}"#,
            r#"{"event": {"a": 1e999}}"#,
            r#"{"event": {"a": "\ud800"}}"#,
            r#"{"event": "x", "other": "\ud800"}"#,
            r#"{"event": "x"} x"#,
            r#"{"event": "x",}"#,
            "",
        ] {
            assert!(serde_json::from_str::<Value>(payload).is_err(), "{payload}");
            assert!(
                detail(payload.as_bytes()).contains("not valid JSON"),
                "{payload}"
            );
        }
        let deep = format!(r#"{{"other": {}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(detail(deep.as_bytes()).contains("not valid JSON"));
        assert!(detail(b"{\"event\": \"\xff\"}").contains("not valid JSON"));
    }

    #[test]
    fn json_that_is_not_an_object_is_named_as_such() {
        for payload in ["[]", "[1, 2]", "\"event\"", "null", "7"] {
            assert!(
                detail(payload.as_bytes()).contains("not a JSON object"),
                "{payload}"
            );
        }
    }
}

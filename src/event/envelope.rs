//! The top level of a payload, `{"event": ..., "data": ...}`, read without building a map.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::rejection::InvalidRequestBody;

/// The `event` and `data` members of a payload's top-level object, as JSON values (`None` when
/// absent). Like Python's `json.loads`, a repeated member keeps its last value. Other members
/// are parsed (so the payload is valid JSON exactly when `serde_json::Value` says so) and
/// dropped.
#[derive(Debug, Default)]
pub(super) struct Envelope {
    pub(super) event: Option<Value>,
    pub(super) data: Option<Value>,
}

impl Envelope {
    /// Reads the envelope of `payload`, or says why it is not a JSON object.
    pub(super) fn parse(payload: &[u8]) -> Result<Self, InvalidRequestBody> {
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

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut envelope = Envelope::default();
        while let Some(member) = map.next_key::<Member>()? {
            let value = map.next_value::<Value>()?;
            match member {
                Member::Event => envelope.event = Some(value),
                Member::Data => envelope.data = Some(value),
                Member::Other => {}
            }
        }
        Ok(envelope)
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

    fn members(payload: &str) -> (Option<Value>, Option<Value>) {
        let envelope = Envelope::parse(payload.as_bytes()).unwrap();
        (envelope.event, envelope.data)
    }

    fn detail(payload: &[u8]) -> String {
        let rejection = Envelope::parse(payload).unwrap_err();
        rejection.detail().unwrap_or_default().to_owned()
    }

    #[test]
    fn event_and_data_are_read_and_other_members_dropped() {
        assert_eq!(
            members(r#"{"event": "room.ended", "x": [1, {"y": null}], "data": {"a": 1}}"#),
            (Some(json!("room.ended")), Some(json!({"a": 1})))
        );
        assert_eq!(members("{}"), (None, None));
        assert_eq!(members(r#"{"event": 7}"#), (Some(json!(7)), None));
    }

    #[test]
    fn repeated_members_keep_the_last_value_like_python() {
        assert_eq!(
            members(r#"{"event": "a", "data": 1, "event": "b", "data": 2}"#),
            (Some(json!("b")), Some(json!(2)))
        );
    }

    #[test]
    fn member_names_are_compared_unescaped() {
        assert_eq!(
            members(r#"{"\u0065vent": "room.ended", "d\u0061ta": null}"#),
            (Some(json!("room.ended")), Some(Value::Null))
        );
        assert_eq!(members(r#"{"Event": "room.ended"}"#), (None, None));
    }

    #[test]
    fn what_serde_json_value_refuses_is_refused() {
        for payload in [
            r#"{"event": "x", "other": 1e999}"#,
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

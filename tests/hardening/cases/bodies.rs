//! Correctly signed bodies that are hostile to the JSON parser: they pass the signature and
//! reach `MeshagentEvent`, which must answer precisely (400 / 422 / 200), never panic.

use meshagent_webhooks::Signer;

use super::{BEYOND_64_BITS, Case, NAN_OR_INFINITY, NOT_JSON, NOT_OBJECT, case};
use crate::hardening::{PAYLOAD_MARKER, SECRET, event_body, signed_post};

const OK: &str = "ok";

/// Name, body, status, reason, and the `data.id` the handler must see when accepted.
type BodyCase = (&'static str, Vec<u8>, u16, &'static str, Option<&'static str>);

/// `{"event": "x.hostile", "marker": …, "data": <data>}`.
fn envelope(data: &str) -> Vec<u8> {
    format!(r#"{{"event": "x.hostile", "marker": "{PAYLOAD_MARKER}", "data": {data}}}"#)
        .into_bytes()
}

/// `data` of a `room.ended` with 100,000 distinct keys, a room name and an id.
fn hundred_thousand_keys() -> Vec<u8> {
    let mut body = String::from(r#"{"event": "room.ended", "data": {"#);
    for index in 0..100_000u32 {
        body.push_str(&format!("\"{index:x}\":0,"));
    }
    body.push_str(&format!(r#""room_name": "{PAYLOAD_MARKER}", "id": "many-keys"}}}}"#));
    assert!(body.len() < 1024 * 1024, "{}", body.len());
    body.into_bytes()
}

/// Every hostile signed body, with its answer.
pub(crate) fn body_cases() -> Vec<Case> {
    let digits = format!("9{}", "0".repeat(9_999));
    let invalid_utf8 = [
        br#"{"event": "room.ended", "data": {"room_name": ""#.as_slice(),
        b"\xff\xfe\xc0\xaf",
        br#""}}"#,
    ]
    .concat();
    let duplicates = format!(r#"{{{}"k": 1}}"#, r#""k": 0, "#.repeat(100_000));
    let no_name = format!(r#"{{"event": 12, "marker": "{PAYLOAD_MARKER}", "data": {{}}}}"#);
    #[rustfmt::skip]
    let bodies: Vec<BodyCase> = vec![
        ("invalid_utf8", invalid_utf8, 400, NOT_JSON, None),
        ("lone_surrogate_escape", envelope(r#"{"s": "\ud800"}"#), 400, NOT_JSON, None),
        ("utf8_bom", [b"\xef\xbb\xbf".as_slice(), event_body("bom").as_bytes()].concat(), 400, NOT_JSON, None),
        ("nested_arrays_10000", envelope(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))), 400, NOT_JSON, None),
        ("nested_objects_10000", envelope(&format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000))), 400, NOT_JSON, None),
        ("nested_arrays_100", envelope(&format!("{}{}", "[".repeat(100), "]".repeat(100))), 200, OK, None),
        ("integer_10000_digits", envelope(&format!(r#"{{"n": {digits}}}"#)), 400, BEYOND_64_BITS, None),
        ("fraction_10000_digits", envelope(&format!(r#"{{"n": 0.{digits}}}"#)), 200, OK, None),
        ("exponent_overflow", envelope(r#"{"n": 1e999999}"#), 400, NOT_JSON, None),
        ("exponent_underflow", envelope(r#"{"n": 1e-999999}"#), 200, OK, None),
        ("nan_literal", envelope(r#"{"n": NaN}"#), 400, NAN_OR_INFINITY, None),
        ("keys_100000", hundred_thousand_keys(), 200, OK, Some("many-keys")),
        ("duplicate_keys_100000", envelope(&duplicates), 200, OK, None),
        ("array_200000_items", envelope(&format!("[{}0]", "0,".repeat(200_000))), 200, OK, None),
        ("escapes_100000", envelope(&format!(r#""{}""#, r"\u0000".repeat(100_000))), 200, OK, None),
        ("not_json", format!("not json {PAYLOAD_MARKER}").into_bytes(), 400, NOT_JSON, None),
        ("empty_body", Vec::new(), 400, NOT_JSON, None),
        ("json_array", format!(r#"["{PAYLOAD_MARKER}"]"#).into_bytes(), 400, NOT_OBJECT, None),
        ("json_string", format!(r#""{PAYLOAD_MARKER}""#).into_bytes(), 400, NOT_OBJECT, None),
        ("trailing_garbage", [event_body("garbage").as_bytes(), b"}"].concat(), 400, NOT_JSON, None),
        ("nul_bytes", vec![0; 64], 400, NOT_JSON, None),
        ("event_not_a_string", no_name.into_bytes(), 422, "invalid event: `event` is missing or not a string", None),
    ];
    bodies
        .into_iter()
        .map(|(name, body, status, reason, id)| {
            let signature = Signer::new(SECRET).signature_header(&body);
            let mut case =
                case(name, signed_post(signature.as_bytes(), &body), status, Some(reason));
            case.seen_id = id.map(str::to_owned);
            case
        })
        .collect()
}

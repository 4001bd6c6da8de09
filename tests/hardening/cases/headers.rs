//! Attacks through the headers: duplicates, non-UTF-8 bytes, sizes, and the header payload
//! (`Meshagent-Webhook`) against the body.

use meshagent_webhooks::Signer;
use serde_json::json;

use super::{Case, INVALID_JWT, MISMATCH, NOT_JSON, TWO_SIGNATURES, WRONG_SCHEME, case};
use crate::hardening::{
    ATTACKER_KEY, PAYLOAD_MARKER, SECRET, event_body, raw_request, signed_post,
};

fn signature(payload: &[u8]) -> String {
    Signer::new(SECRET).signature_header(payload)
}

fn post(headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    raw_request("POST", "/webhook", headers, body, false)
}

/// `GET /webhook` carrying `payload` in `Meshagent-Webhook`, signed with `signature`.
fn get(payload: &[u8], signature: &[u8]) -> Vec<u8> {
    let headers: &[(&str, &[u8])] =
        &[("Meshagent-Webhook", payload), ("Meshagent-Signature", signature)];
    raw_request("GET", "/webhook", headers, b"", false)
}

fn accepted(name: &str, request: Vec<u8>, id: &str) -> Case {
    let mut case = case(name, request, 200, Some("ok"));
    case.seen_id = Some(id.to_owned());
    case
}

/// Every header attack, with its answer.
pub(crate) fn header_cases() -> Vec<Case> {
    let json: &[u8] = b"application/json";
    let mut cases = Vec::new();

    // Two signature headers: ambiguous, so refused even when both are valid.
    let body = event_body("hdr-duplicate");
    let valid = signature(body.as_bytes());
    let forged = Signer::new(ATTACKER_KEY).signature_header(body.as_bytes());
    for (name, second) in
        [("duplicate_signature_same", &valid), ("duplicate_signature_forged", &forged)]
    {
        let headers: &[(&str, &[u8])] = &[
            ("Content-Type", json),
            ("Meshagent-Signature", valid.as_bytes()),
            ("Meshagent-Signature", second.as_bytes()),
        ];
        cases.push(case(name, post(headers, body.as_bytes()), 401, Some(TWO_SIGNATURES)));
    }

    // Bytes outside ASCII (obs-text) in the signature header.
    let body = event_body("hdr-non-utf8");
    let valid = signature(body.as_bytes()).into_bytes();
    let token = &valid[7..];
    #[rustfmt::skip]
    let values: [(&str, Vec<u8>, &'static str); 6] = [
        ("signature_trailing_0xff", [&valid[..], b"\xff"].concat(), INVALID_JWT),
        ("signature_token_latin1", b"Bearer \xe9\xe8\xe0.\xff.\xfe".to_vec(), INVALID_JWT),
        ("signature_token_overlong_utf8", [b"Bearer \xc0\xae\xc0\xae", token].concat(), INVALID_JWT),
        ("signature_0xff_before_scheme", [b"\xff", &valid[..]].concat(), WRONG_SCHEME),
        ("signature_nbsp_separator", [b"Bearer\xa0", token].concat(), WRONG_SCHEME),
        ("signature_utf8_nbsp_separator", [b"Bearer\xc2\xa0", token].concat(), WRONG_SCHEME),
    ];
    for (name, value, reason) in values {
        cases.push(case(name, signed_post(&value, body.as_bytes()), 401, Some(reason)));
    }

    // Big headers: a 64 KiB signature is refused by the verifier; a 64 KiB unrelated header
    // does not matter.
    let token_64k = format!("Bearer {}", "A".repeat(64 * 1024));
    let request = signed_post(token_64k.as_bytes(), body.as_bytes());
    cases.push(case("signature_64_kib", request, 401, Some(INVALID_JWT)));
    let body = event_body("hdr-64k-unrelated");
    let padding = "x".repeat(64 * 1024);
    let signed = signature(body.as_bytes());
    let headers: &[(&str, &[u8])] = &[
        ("Content-Type", json),
        ("X-Padding", padding.as_bytes()),
        ("Meshagent-Signature", signed.as_bytes()),
    ];
    cases.push(accepted(
        "unrelated_64_kib_header",
        post(headers, body.as_bytes()),
        "hdr-64k-unrelated",
    ));

    // The header payload: not JSON, not UTF-8, huge.
    let not_json = format!("not json {{ {PAYLOAD_MARKER}");
    let request = get(not_json.as_bytes(), signature(not_json.as_bytes()).as_bytes());
    cases.push(case("webhook_header_not_json_signed", request, 400, Some(NOT_JSON)));
    let other = signature(event_body("hdr-other").as_bytes());
    let request = get(not_json.as_bytes(), other.as_bytes());
    cases.push(case("webhook_header_not_json_unsigned", request, 401, Some(MISMATCH)));
    let non_utf8 =
        [br#"{"event": "room.ended", "data": {"room_name": ""#.as_slice(), b"\xff\xfe", br#""}}"#]
            .concat();
    let request = get(&non_utf8, signature(&non_utf8).as_bytes());
    cases.push(case("webhook_header_non_utf8_signed", request, 400, Some(NOT_JSON)));
    let data =
        json!({"room_name": PAYLOAD_MARKER, "id": "hdr-256-kib", "pad": "p".repeat(256 * 1024)});
    let big = Signer::event_payload("room.ended", &data);
    let request = get(big.as_bytes(), signature(big.as_bytes()).as_bytes());
    cases.push(accepted("webhook_header_256_kib_signed", request, "hdr-256-kib"));
    let data = json!({"room_name": PAYLOAD_MARKER, "pad": "p".repeat(1024 * 1024)});
    let megabyte = Signer::event_payload("room.ended", &data);
    let request = get(megabyte.as_bytes(), signature(megabyte.as_bytes()).as_bytes());
    // hyper refuses a head over its buffer (about 400 KiB) before any service runs.
    cases.push(case("webhook_header_1_mib", request, 431, None));

    // The header payload against the body: the handler only ever sees the signed bytes.
    let header_payload = event_body("hdr-signed-header");
    let body_payload = event_body("hdr-unsigned-body");
    let for_header = signature(header_payload.as_bytes());
    let for_body = signature(body_payload.as_bytes());
    for (name, signed, status) in [
        ("webhook_header_with_other_body", &for_header, 200),
        ("webhook_header_with_signed_body", &for_body, 401),
    ] {
        let headers: &[(&str, &[u8])] = &[
            ("Content-Type", json),
            ("Meshagent-Webhook", header_payload.as_bytes()),
            ("Meshagent-Signature", signed.as_bytes()),
        ];
        let request = post(headers, body_payload.as_bytes());
        cases.push(match status {
            200 => accepted(name, request, "hdr-signed-header"),
            _ => case(name, request, status, Some(MISMATCH)),
        });
    }
    let headers: &[(&str, &[u8])] = &[
        ("Meshagent-Webhook", header_payload.as_bytes()),
        ("Meshagent-Webhook", body_payload.as_bytes()),
        ("Meshagent-Signature", for_header.as_bytes()),
    ];
    let request = raw_request("GET", "/webhook", headers, b"", false);
    cases.push(case(
        "two_webhook_headers",
        request,
        400,
        Some("multiple Meshagent-Webhook headers"),
    ));
    // The body of a header-payload request is dropped unread: 100 MiB declared, none sent.
    let payload = event_body("hdr-body-never-sent");
    let signed = signature(payload.as_bytes());
    let headers: &[(&str, &[u8])] = &[
        ("Meshagent-Webhook", payload.as_bytes()),
        ("Meshagent-Signature", signed.as_bytes()),
        ("Content-Length", b"104857600"),
    ];
    let request = post(headers, b"");
    cases.push(accepted("webhook_header_body_declared_never_sent", request, "hdr-body-never-sent"));
    cases
}

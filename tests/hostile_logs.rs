//! Captures every tracing event at TRACE level (the crate's, axum's, hyper's) while all the
//! hostile cases of the hostile suite (`jwt_inputs`, `http_inputs`), a websocket upgrade and
//! clients hanging up go through a real server, then checks that no line contains the secret,
//! a JWT, a room.call participant token, a payload or its digest. `Debug` and `Display` of what the
//! crate hands out are checked the same way.
//!
//! One test in this binary: it installs the global subscriber.

#![cfg(feature = "axum")]

#[allow(dead_code, unused_imports, reason = "this binary uses part of the shared helpers")]
mod common;
#[allow(dead_code, reason = "this binary uses part of the hardening helpers")]
mod hardening;

use common::{Capture, TestServer, exchange, recording_app};
use hardening::cases::{body_cases, header_cases, jwt_cases};
use hardening::{
    ATTACKER_KEY, PARTICIPANT_TOKEN, PAYLOAD_MARKER, SECRET, raw_request, run_case, sha256_hex,
};
use meshagent_webhooks::{
    MeshagentEvent, MeshagentSignatureLayer, SignatureVerifier, Signer, WebhookSecret,
};
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// The secret material and payload content of one raw request: every signature token, every
/// `Meshagent-Webhook` value, the body and its digest.
fn needles_of(request: &[u8]) -> Vec<String> {
    let mut needles = Vec::new();
    let head_end =
        request.windows(4).position(|window| window == b"\r\n\r\n").unwrap_or(request.len());
    for line in request[..head_end].split(|&byte| byte == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let value = String::from_utf8_lossy(value).into_owned();
        if name.eq_ignore_ascii_case(b"meshagent-signature") {
            let token = value.rsplit(' ').next().unwrap_or_default();
            if token.len() > 20 {
                needles.push(token.to_owned());
            }
        }
        if name.eq_ignore_ascii_case(b"meshagent-webhook") && value.len() > 20 {
            needles.push(value);
        }
    }
    let body = request.get(head_end + 4..).unwrap_or_default();
    if body.len() > 20 {
        needles.push(String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        needles.push(sha256_hex(body));
    }
    needles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_trace_line_contains_secrets_tokens_or_payloads_across_the_hostile_cases() {
    let capture = Capture::install_trace();

    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = TestServer::start(app).await;
    let mut forbidden: Vec<String> =
        [SECRET, ATTACKER_KEY, PARTICIPANT_TOKEN, PAYLOAD_MARKER].map(str::to_owned).to_vec();
    let cases = [jwt_cases(), header_cases(), body_cases()].concat();
    for case in &cases {
        run_case(server.addr, &seen, case).await;
        forbidden.extend(needles_of(&case.request));
    }

    // A room.call with a participant token, accepted then forged; a client hanging up
    // mid-body.
    let call = Signer::event_payload(
        "room.call",
        &json!({"room_name": PAYLOAD_MARKER, "room_url": "wss://x/r", "token": PARTICIPANT_TOKEN}),
    );
    for key in [SECRET, ATTACKER_KEY] {
        let signature = Signer::new(key).signature_header(call.as_bytes());
        let request = raw_request(
            "POST",
            "/webhook",
            &[("Content-Type", b"application/json"), ("Meshagent-Signature", signature.as_bytes())],
            call.as_bytes(),
            false,
        );
        exchange(server.addr, &request).await;
        forbidden.extend(needles_of(&request));
    }
    let signature = Signer::new(SECRET).signature_header(call.as_bytes());
    let mut partial = raw_request(
        "POST",
        "/webhook",
        &[
            ("Content-Type", b"application/json"),
            ("Meshagent-Signature", signature.as_bytes()),
            ("Content-Length", b"100000"),
        ],
        call.as_bytes(),
        true,
    );
    partial.truncate(partial.len() - 20);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&partial).await.unwrap();
    drop(stream);
    hardening::assert_still_serves(server.addr, &seen, "a hang-up").await;

    // What the crate formats: layer, verifier, secret, signer, events, rejections.
    let event = MeshagentEvent::from_json(call.as_bytes()).unwrap();
    let rejection =
        SignatureVerifier::new(SECRET).verify(Some(signature.as_bytes()), b"{}").unwrap_err();
    let formatted = [
        format!("{:?}", MeshagentSignatureLayer::new(SECRET)),
        format!("{:?}", SignatureVerifier::new(SECRET)),
        format!("{:?}", WebhookSecret::from(SECRET)),
        format!("{:?}", Signer::new(SECRET)),
        format!("{rejection} {rejection:?} {}", rejection.body_text()),
        format!("{event:?}"),
    ];
    for text in &formatted {
        for needle in [SECRET, PARTICIPANT_TOKEN, signature.trim_start_matches("Bearer ")] {
            assert!(!text.contains(needle), "{text:?} shows {needle:?}");
        }
    }

    let logs = capture.text();
    println!(
        "{} cases, {} log lines, {} forbidden strings",
        cases.len(),
        logs.lines().count(),
        forbidden.len()
    );
    assert!(logs.contains("rejected webhook request"));
    if std::env::var_os("HARDENING_DUMP_LOGS").is_some() {
        std::fs::write(std::env::temp_dir().join("hostile_logs.txt"), &logs).unwrap();
    }
    let rejections = logs.matches("rejected webhook request").count();
    let refused = cases.iter().filter(|case| case.status != 200).count();
    assert!(rejections >= refused - 10, "{rejections} rejections logged for {refused} refusals");
    for needle in &forbidden {
        assert!(
            !logs.contains(needle.as_str()),
            "a log line contains {:?}",
            &needle[..needle.len().min(80)]
        );
    }
}

//! Captures every tracing event at TRACE level (the crate's, axum's, hyper's) while signed,
//! forged and malformed requests go through a real server, then checks that no line contains
//! a secret, a token, a room.call participant token or payload content.
//!
//! One test in this binary: it installs the global subscriber.

#![cfg(feature = "axum")]

#[allow(dead_code, unused_imports, reason = "this binary uses part of the shared helpers")]
mod common;

use common::{Capture, TestServer, recording_app, send_raw, vectors};
use meshagent_webhooks::{MeshagentSignatureLayer, Signer};
use serde_json::json;

#[tokio::test]
async fn no_log_line_contains_secrets_tokens_or_payloads() {
    let capture = Capture::install_trace();

    let mut forbidden: Vec<String> = Vec::new();
    for vector in vectors() {
        let (app, _) = recording_app(vector.layer());
        let server = TestServer::start(app).await;
        let body = vector.body_bytes();
        let response =
            send_raw(server.addr, &vector.method, &vector.path, &vector.headers(), &body).await;
        assert!(response.status >= 200, "{}", vector.name);
        if let Some(secret) = vector.secret.as_ref().filter(|secret| !secret.is_empty()) {
            forbidden.push(secret.clone());
        }
        for (name, value) in vector.headers() {
            if name.eq_ignore_ascii_case("meshagent-signature") {
                let token = value.trim().trim_start_matches("Bearer").trim();
                if token.len() > 20 {
                    forbidden.push(token.to_owned());
                }
            }
            if name.eq_ignore_ascii_case("meshagent-webhook") {
                forbidden.push(value.clone());
            }
        }
        if body.len() > 16 {
            forbidden.push(String::from_utf8_lossy(&body).into_owned());
        }
    }

    // Requests made here: signed, forged, tampered, a room.call with a participant token.
    let secret = "whsec_logs_never_show_this";
    let (app, _) = recording_app(MeshagentSignatureLayer::new(secret).with_max_body_size(4096));
    let server = TestServer::start(app).await;
    let participant_token = "participant-token-never-logged";
    let call = Signer::event_payload(
        "room.call",
        &json!({"room_name": "payload-room-name", "room_url": "wss://x/r", "token": participant_token}),
    );
    let signature = Signer::new(secret).signature_header(call.as_bytes());
    let forged = Signer::new("whsec_attacker").signature_header(call.as_bytes());
    let cases: Vec<(Option<&str>, String)> = vec![
        (Some(&signature), call.clone()),
        (Some(&forged), call.clone()),
        (Some(&signature), call.replace("payload-room-name", "payload-room-nam3")),
        (None, call.clone()),
        (Some(&signature), format!("{call}{}", " ".repeat(5000))),
    ];
    for (header, body) in cases {
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if let Some(header) = header {
            headers.push(("Meshagent-Signature".to_owned(), header.to_owned()));
        }
        send_raw(server.addr, "POST", "/webhook", &headers, body.as_bytes()).await;
    }
    forbidden.extend(
        [
            secret,
            participant_token,
            "payload-room-name",
            signature.trim_start_matches("Bearer "),
            forged.trim_start_matches("Bearer "),
        ]
        .map(str::to_owned),
    );

    let logs = capture.text();
    assert!(
        logs.contains("rejected webhook request"),
        "the capture saw the crate's rejection events"
    );
    assert!(logs.lines().count() > 100, "TRACE captured hyper's events too");
    for needle in &forbidden {
        assert!(!logs.contains(needle.as_str()), "a log line contains {needle:?}");
    }
}

//! JWT attacks over real TCP against a server built from `MeshagentSignatureLayer` and
//! `MeshagentEvent`: algorithm confusion, attacker keys in the header, broken structure and
//! encodings, wrong claim types. Each gets 401 with its exact reason, never reaches the
//! handler, and the server answers a valid signed request with 200 right after.

use crate::common::{TestServer, recording_app};
use crate::hardening::cases::jwt_cases;
use crate::hardening::{
    SECRET, assert_still_serves, claims_for, event_body, run_case, secret_jwt, signed_post,
};
use meshagent_webhooks::{MeshagentSignatureLayer, SignatureVerifier};
use serde_json::json;

#[tokio::test]
async fn every_jwt_attack_gets_401_with_its_reason_and_the_server_keeps_serving() {
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = TestServer::start(app).await;
    let cases = jwt_cases();
    assert!(cases.len() > 90, "{} cases", cases.len());
    for case in &cases {
        run_case(server.addr, &seen, case).await;
    }
    let accepted = cases.iter().filter(|case| case.status == 200).count();
    println!("{} JWT cases, {accepted} accepted controls", cases.len());
}

/// The same tokens straight through the verifier: the reason over HTTP is the verifier's.
#[test]
fn the_verifier_gives_the_same_reasons_without_http() {
    let verifier = SignatureVerifier::new(SECRET);
    for case in jwt_cases() {
        let text = case.request.as_slice();
        let head_end = text.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let body = &text[head_end + 4..];
        let signature = text[..head_end]
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(b"Meshagent-Signature: "))
            .map(|value| value.strip_suffix(b"\r").unwrap_or(value))
            .unwrap();
        let reason = verifier
            .verify(Some(signature), body)
            .map_or_else(|rejection| rejection.body_text(), |_| "ok".to_owned());
        assert_eq!(Some(reason.as_str()), case.body, "{}", case.name);
    }
}

async fn megabyte_token(token: String) {
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = TestServer::start(app).await;
    let body = event_body("megabyte-token");
    let request = signed_post(format!("Bearer {token}").as_bytes(), body.as_bytes());
    let response = crate::common::exchange(server.addr, &request).await;
    // hyper refuses a head larger than its buffer (about 400 KiB) before any service runs.
    assert_eq!(response.status, 431, "{}", response.text());
    assert!(seen.lock().unwrap().is_empty());
    assert_still_serves(server.addr, &seen, "a megabyte-long token").await;
}

#[tokio::test]
async fn a_megabyte_of_base64_as_token_is_refused_with_431() {
    megabyte_token("A".repeat(1024 * 1024)).await;
}

#[tokio::test]
async fn a_megabyte_long_well_formed_signed_token_is_refused_with_431() {
    let body = event_body("megabyte-token");
    let token = secret_jwt(&claims_for(body.as_bytes(), &[("pad", json!("p".repeat(768 * 1024)))]));
    assert!(token.len() > 1024 * 1024);
    megabyte_token(token).await;
}

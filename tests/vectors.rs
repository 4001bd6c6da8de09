//! Every request MeshAgent's own Python SDK built (`../shared/vectors/vectors.json`), sent byte
//! for byte over real TCP to an axum server made of `MeshagentSignatureLayer` and
//! `MeshagentEvent`. The websocket-upgrade vectors are answered by the built-in server
//! (`tests/server.rs`).

mod common;

use common::{TestServer, recording_app, send_raw, vectors};

#[tokio::test]
async fn every_sdk_vector_gets_the_crate_answer_over_tcp() {
    let mut checked = 0;
    for vector in vectors().iter().filter(|vector| !vector.is_websocket_upgrade()) {
        let (app, seen) = recording_app(vector.layer());
        let server = TestServer::start(app).await;
        let response = send_raw(
            server.addr,
            &vector.method,
            &vector.path,
            &vector.headers(),
            &vector.body_bytes(),
        )
        .await;
        let name = &vector.name;
        assert_eq!(response.status, vector.expected.status, "{name}: body {:?}", response.text());
        if let Some(reason) = &vector.expected.reason {
            assert!(
                response.text().contains(reason.as_str()),
                "{name}: body {:?} lacks {reason:?}",
                response.text()
            );
        }
        let seen = seen.lock().unwrap().clone();
        if vector.expected.expect == "accept" {
            let event = vector.event.clone().expect("accepted vectors name their event");
            let data = vector.data.clone().expect("accepted vectors carry their data");
            assert_eq!(seen, vec![(event, data)], "{name}: handler saw the wrong event");
            assert_eq!(response.text(), "ok", "{name}");
        } else {
            assert!(seen.is_empty(), "{name}: a rejected request reached the handler");
        }
        checked += 1;
    }
    assert_eq!(checked, 62, "all vectors but the 5 websocket upgrades were sent");
}

#[tokio::test]
async fn accepted_vectors_are_the_ones_the_policy_accepts() {
    let accepted: Vec<String> = vectors()
        .into_iter()
        .filter(|vector| vector.expected.expect == "accept")
        .map(|vector| vector.name)
        .collect();
    // A guard against a silently changed vector file: these are the policy's deliberate
    // differences from the Python receiver.
    for name in [
        "body_compact_signed_over_raw_bytes",
        "room_started_without_room_url",
        "token_trailing_space",
        "header_payload_overrides_body",
    ] {
        assert!(accepted.iter().any(|accepted| accepted == name), "{name}");
    }
    assert!(!accepted.iter().any(|name| name == "body_compact_signed_by_python"));
}

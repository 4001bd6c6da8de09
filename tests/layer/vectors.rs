//! Every request MeshAgent's own Python SDK built (`../shared/vectors/vectors.json`), sent byte
//! for byte over real TCP to an axum server made of `MeshagentSignatureLayer` and
//! `MeshagentEvent`. The websocket-upgrade vectors are answered by the built-in server
//! (`serve.rs` in the server suite).

use std::convert::Infallible;

use crate::common::{Expected, TestServer, Vector, recording_app, send_raw, vectors};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use meshagent_webhooks::{MeshagentSignatureLayer, SignatureVerifier, Signer};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower::{ServiceExt, service_fn};

#[tokio::test]
async fn every_sdk_vector_gets_the_crate_answer_over_tcp() {
    every_vector_gets(|vector| vector.layer(), |vector| &vector.expected).await;
}

/// Refused by the crate only because it hashes the raw bytes where Python hashes
/// `json.dumps(json.loads(body))`.
fn differs_only_by_the_digest_rule(vector: &Vector) -> bool {
    vector.python.status == 200
        && vector.expected.status == 401
        && vector.expected.reason.as_deref() == Some("signature does not match payload")
}

#[tokio::test]
async fn with_the_python_digest_the_vectors_python_accepts_for_its_digest_alone_pass_too() {
    let python: Vec<String> = vectors()
        .into_iter()
        .filter(differs_only_by_the_digest_rule)
        .map(|vector| vector.name)
        .collect();
    assert_eq!(python, ["body_compact_signed_by_python"]);
    every_vector_gets(
        |vector| vector.layer().with_python_digest(),
        |vector| {
            if differs_only_by_the_digest_rule(vector) { &vector.python } else { &vector.expected }
        },
    )
    .await;
}

async fn every_vector_gets(
    layer: impl Fn(&Vector) -> MeshagentSignatureLayer,
    answer: impl for<'a> Fn(&'a Vector) -> &'a Expected,
) {
    let mut checked = 0;
    for vector in vectors().iter().filter(|vector| !vector.is_websocket_upgrade()) {
        let expected = answer(vector);
        let (app, seen) = recording_app(layer(vector));
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
        assert_eq!(response.status, expected.status, "{name}: body {:?}", response.text());
        if let Some(reason) = &expected.reason {
            assert!(
                response.text().contains(reason.as_str()),
                "{name}: body {:?} lacks {reason:?}",
                response.text()
            );
        }
        let seen = seen.lock().unwrap().clone();
        if expected.expect == "accept" {
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

/// A case of `tests/data/python_digest_cases.json`, built with Python's `json` module by
/// `tests/data/python_digest_cases.py` (see there to regenerate).
#[derive(Deserialize)]
struct PythonCase {
    name: String,
    signed: String,
    body_hex: String,
    python_accepts: bool,
}

fn python_cases() -> Vec<PythonCase> {
    #[derive(Deserialize)]
    struct File {
        cases: Vec<PythonCase>,
    }
    let text = include_str!("../data/python_digest_cases.json");
    serde_json::from_str::<File>(text).unwrap().cases
}

#[tokio::test]
async fn the_python_digest_accepts_exactly_what_python_accepts_and_the_default_only_the_signed_bytes()
 {
    let cases = python_cases();
    assert!(cases.len() >= 30 && cases.iter().filter(|case| case.python_accepts).count() >= 15);
    for case in cases {
        let (name, body) = (&case.name, hex::decode(&case.body_hex).unwrap());
        let header = Signer::new("k").signature_header(case.signed.as_bytes());
        let raw = body == case.signed.as_bytes();
        let verify = |verifier: SignatureVerifier| verifier.verify(Some(header.as_bytes()), &body);
        let python = verify(SignatureVerifier::new("k").with_python_digest());
        let accepts = raw || case.python_accepts;
        assert_eq!(python.is_ok(), accepts, "{name}: python digest {python:?}");
        assert_eq!(verify(SignatureVerifier::new("k")).is_ok(), raw, "{name}: default");
        if let Ok(claims) = python {
            let signed = hex::encode(Sha256::digest(case.signed.as_bytes()));
            assert_eq!(claims.sha256(), signed, "{name}");
        }
        // The same answer through the layer.
        for (layer, accepts) in [
            (MeshagentSignatureLayer::new("k").with_python_digest(), accepts),
            (MeshagentSignatureLayer::new("k"), raw),
        ] {
            let inner = service_fn(|_: Request<Full<Bytes>>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            });
            let request = Request::post("/webhook")
                .header("content-type", "application/json")
                .header("meshagent-signature", &header)
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap();
            let response = tower::Layer::layer(&layer, inner).oneshot(request).await.unwrap();
            let expected = if accepts { 200 } else { 401 };
            assert_eq!(response.status(), expected, "{name}");
        }
    }
}

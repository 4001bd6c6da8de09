//! The signer against MeshAgent's own sender: byte-exact payloads and headers for every vector
//! that `send_webhook` produced, and round trips through the layer.

use axum::body::Body;
use http::StatusCode;
use http_body_util::BodyExt;
use meshagent_webhooks::{Forgery, MeshagentSignatureLayer, Signer};
use serde_json::json;
use tower::ServiceExt;

use crate::common::{recording_app, vectors};

/// Accepted vectors that `send_webhook` did not produce as is: tokens built by hand with extra
/// claims or another JOSE header, and a body from a non-Python sender.
const NOT_FROM_SEND_WEBHOOK: [&str; 6] = [
    "claims_exp_future",
    "claims_iat_past",
    "claims_iss_present",
    "claims_nbf_past",
    "jwt_header_without_typ",
    "body_compact_signed_over_raw_bytes",
];

#[test]
fn signer_reproduces_every_payload_and_header_meshagent_sent() {
    let mut checked = 0;
    for vector in vectors() {
        if vector.expected.expect != "accept"
            || NOT_FROM_SEND_WEBHOOK.contains(&vector.name.as_str())
        {
            continue;
        }
        let headers = vector.headers();
        let header = |wanted: &str| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .map(|(_, value)| value.trim().to_owned())
        };
        let sent = header("Meshagent-Webhook").unwrap_or_else(|| vector.body.clone().unwrap());
        let payload =
            Signer::event_payload(vector.event.as_deref().unwrap(), vector.data.as_ref().unwrap());
        assert_eq!(payload, sent, "{}: payload differs", vector.name);
        let secret = vector.secret.clone().unwrap();
        assert_eq!(
            Some(Signer::new(&secret).signature_header(payload.as_bytes())),
            header("Meshagent-Signature"),
            "{}: header differs",
            vector.name
        );
        checked += 1;
    }
    assert_eq!(checked, 21);
}

#[test]
fn payload_text_matches_python_for_hard_characters_and_floats() {
    let data = json!({
        "name": "café 🚀 \u{7f}\u{1} tab\t \"q\" back\\ a/b",
        "floats": [100000.0, 1e-7, 1e16, 1.5e300, -0.0, 0.1, 12345.678],
        "ints": [0, -1, 18446744073709551615u64],
        "nested": {"z": null, "a": [true, false]},
    });
    assert_eq!(
        Signer::event_payload("room.call", &data),
        concat!(
            r#"{"event": "room.call", "data": {"name": "caf\u00e9 \ud83d\ude80 \u007f\u0001 tab\t \"q\" back\\ a/b", "#,
            r#""floats": [100000.0, 1e-07, 1e+16, 1.5e+300, -0.0, 0.1, 12345.678], "#,
            r#""ints": [0, -1, 18446744073709551615], "nested": {"z": null, "a": [true, false]}}}"#
        )
    );
}

async fn status_of(
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> (StatusCode, String) {
    let (app, _) = recording_app(MeshagentSignatureLayer::new("whsec_signer"));
    let response = app.oneshot(request.map(Body::new)).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn signed_requests_pass_and_forgeries_fail_with_their_reasons() {
    let signer = Signer::new("whsec_signer");
    let data = json!({"room_name": "r"});
    assert_eq!(
        status_of(signer.request("/webhook", "room.ended", &data)).await,
        (StatusCode::OK, "ok".to_owned())
    );
    let other = Signer::new("whsec_someone_else");
    assert_eq!(
        status_of(other.request("/webhook", "room.ended", &data)).await,
        (StatusCode::UNAUTHORIZED, "invalid jwt".to_owned())
    );
    for (forgery, reason) in [
        (Forgery::WrongSecret, "invalid jwt"),
        (Forgery::TamperedBody, "signature does not match payload"),
        (Forgery::MissingSignature, "missing signature"),
    ] {
        let request = signer.forged_request(forgery, "/webhook", "room.ended", &data);
        assert_eq!(
            status_of(request).await,
            (StatusCode::UNAUTHORIZED, reason.to_owned()),
            "{forgery:?}"
        );
    }
}

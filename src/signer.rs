//! Signing webhooks the way MeshAgent does, for tests and local sending.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::Full;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::python_json;
use crate::secret::WebhookSecret;
use crate::signature::MESHAGENT_SIGNATURE;
use crate::signature::jwt::{PYJWT_HEADER_SEGMENT, hs256};

/// Signs payloads exactly as MeshAgent's `send_webhook` does: `Meshagent-Signature: Bearer <jwt>`
/// where the JWT is HS256 with the JOSE header `{"alg":"HS256","typ":"JWT"}` and the single claim
/// `{"sha256":"<lowercase hex SHA-256 of the payload>"}`. The same payload and secret always
/// give the same header, as with MeshAgent.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::Signer;
///
/// let signer = Signer::new("whsec_shared_5b1f0c9e2d7a4e83b6c4f1a2d9e07c35");
/// let body = Signer::event_payload("room.ended", &serde_json::json!({"room_name": "standup-42"}));
/// assert_eq!(body, r#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#);
/// assert!(signer.signature_header(body.as_bytes()).ends_with("-L4"));
/// ```
#[derive(Clone)]
pub struct Signer {
    key: WebhookSecret,
}

/// A ready-made broken request, for testing rejection paths.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{Forgery, Signer};
///
/// let request = Signer::new("whsec_example").forged_request(
///     Forgery::MissingSignature,
///     "/webhook",
///     "room.ended",
///     &serde_json::json!({"room_name": "r"}),
/// );
/// assert!(request.headers().get("meshagent-signature").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forgery {
    /// Signed with another secret: answered 401 `invalid jwt`.
    WrongSecret,
    /// Signed, then one byte of the body changed: 401 `signature does not match payload`.
    TamperedBody,
    /// No `Meshagent-Signature` header: 401 `missing signature`.
    MissingSignature,
}

impl Signer {
    /// A signer for `secret` (its UTF-8 bytes, as MeshAgent uses them).
    ///
    /// MeshAgent refuses to sign with an empty secret, and a receiver built from this crate
    /// refuses to verify with one; tokens made with an empty secret are accepted by neither.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self { key: WebhookSecret::new(secret) }
    }

    /// The JWT for `payload` (without the `Bearer ` prefix).
    pub fn token(&self, payload: &[u8]) -> String {
        let digest = hex::encode(Sha256::digest(payload));
        self.token_for_claims(&serde_json::json!({ "sha256": digest }))
    }

    /// The `Meshagent-Signature` value for `payload`: `Bearer <jwt>`.
    pub fn signature_header(&self, payload: &[u8]) -> String {
        format!("Bearer {}", self.token(payload))
    }

    /// A JWT with arbitrary `claims` (serialized compactly, in the order given), signed HS256
    /// with the header MeshAgent's tokens have. For testing claim checks: expired tokens, audiences, ….
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("whsec_example");
    /// let expired = signer.token_for_claims(&serde_json::json!({"sha256": "00", "exp": 1}));
    /// let rejection = SignatureVerifier::new("whsec_example")
    ///     .verify(Some(format!("Bearer {expired}").as_bytes()), b"{}")
    ///     .unwrap_err();
    /// assert_eq!(rejection.body_text(), "invalid jwt");
    /// ```
    pub fn token_for_claims(&self, claims: &Value) -> String {
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{PYJWT_HEADER_SEGMENT}.{claims}");
        let signature = URL_SAFE_NO_PAD.encode(hs256(&self.key, signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    /// `Bearer ` + [`token_for_claims`](Self::token_for_claims).
    pub fn signature_header_for_claims(&self, claims: &Value) -> String {
        format!("Bearer {}", self.token_for_claims(claims))
    }

    /// The payload text MeshAgent sends for `event` and `data`: Python's
    /// `json.dumps({"event": event, "data": data})`, byte for byte (`", "` and `": "`
    /// separators, non-ASCII as lowercase `\uXXXX`, floats in Python's `repr` form, members in
    /// the order of `data`).
    ///
    /// Integers beyond 64 bits are not representable in `serde_json::Value` (without its
    /// `arbitrary_precision` feature) and come out as floats.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::Signer;
    ///
    /// let body = Signer::event_payload("room.ended", &serde_json::json!({"room_name": "café"}));
    /// assert_eq!(body, r#"{"event": "room.ended", "data": {"room_name": "caf\u00e9"}}"#);
    /// ```
    pub fn event_payload(event: &str, data: &Value) -> String {
        python_json::dumps(&serde_json::json!({ "event": event, "data": data }))
    }

    /// A complete signed `POST` request as MeshAgent sends it: `Content-Type: application/json`,
    /// `Meshagent-Signature`, `Content-Length`, and the [`event_payload`](Self::event_payload)
    /// body.
    ///
    /// # Panics
    ///
    /// When `uri` is not a valid URI.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::Signer;
    ///
    /// let request = Signer::new("whsec_example").request(
    ///     "/webhook",
    ///     "room.started",
    ///     &serde_json::json!({"room_name": "r", "room_url": "wss://example/r"}),
    /// );
    /// assert_eq!(request.method(), "POST");
    /// assert_eq!(request.headers()["content-type"], "application/json");
    /// ```
    pub fn request(&self, uri: &str, event: &str, data: &Value) -> Request<Full<Bytes>> {
        self.payload_request(uri, Self::event_payload(event, data))
    }

    /// A signed request like [`request`](Self::request) for a payload written by hand, sent
    /// byte for byte (integers beyond 64 bits, spacing and key order kept).
    ///
    /// # Panics
    ///
    /// When `uri` is not a valid URI.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let payload = r#"{"event": "agent.count", "data": {"n": 18446744073709551616}}"#;
    /// let request = Signer::new("whsec_example").payload_request("/webhook", payload);
    /// let signature = request.headers()["meshagent-signature"].as_bytes();
    /// let verifier = SignatureVerifier::new("whsec_example");
    /// assert!(verifier.verify(Some(signature), payload.as_bytes()).is_ok());
    /// ```
    pub fn payload_request(&self, uri: &str, payload: impl Into<Vec<u8>>) -> Request<Full<Bytes>> {
        let payload = payload.into();
        let signature = self.signature_header(&payload);
        build_request(uri, payload, Some(signature))
    }

    /// A request like [`request`](Self::request), broken as `forgery` says.
    ///
    /// # Panics
    ///
    /// When `uri` is not a valid URI.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{Forgery, Signer};
    ///
    /// let data = serde_json::json!({"room_name": "r"});
    /// let request = Signer::new("k").forged_request(Forgery::TamperedBody, "/", "room.ended", &data);
    /// assert!(request.headers().contains_key("meshagent-signature"));
    /// ```
    pub fn forged_request(
        &self,
        forgery: Forgery,
        uri: &str,
        event: &str,
        data: &Value,
    ) -> Request<Full<Bytes>> {
        self.forged_payload_request(forgery, uri, Self::event_payload(event, data))
    }

    /// A request like [`payload_request`](Self::payload_request), broken as `forgery` says
    /// ([`Forgery::TamperedBody`] flips the case of the payload's third byte).
    ///
    /// # Panics
    ///
    /// When `uri` is not a valid URI.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{Forgery, Signer};
    ///
    /// let payload = r#"{"event": "room.ended", "data": {"room_name": "r"}}"#;
    /// let request = Signer::new("k").forged_payload_request(Forgery::TamperedBody, "/", payload);
    /// assert!(request.headers().contains_key("meshagent-signature"));
    /// ```
    pub fn forged_payload_request(
        &self,
        forgery: Forgery,
        uri: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Request<Full<Bytes>> {
        let mut payload = payload.into();
        let signature = match forgery {
            Forgery::WrongSecret => {
                Some(Signer::new(b"not the configured secret").signature_header(&payload))
            }
            Forgery::TamperedBody => {
                let signature = self.signature_header(&payload);
                // `"event"` opens MeshAgent's payloads: this flips a letter of the key's name.
                if let Some(byte) = payload.get_mut(2) {
                    *byte ^= 0x20;
                }
                Some(signature)
            }
            Forgery::MissingSignature => None,
        };
        build_request(uri, payload, signature)
    }
}

fn build_request(uri: &str, body: Vec<u8>, signature: Option<String>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len());
    if let Some(signature) = signature {
        builder = builder.header(
            MESHAGENT_SIGNATURE,
            HeaderValue::from_str(&signature)
                .unwrap_or_else(|_| unreachable!("base64url tokens are valid header values")),
        );
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|error| panic!("invalid webhook request URI {uri:?}: {error}"))
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_sdk_worked_example() {
        let signer = Signer::new("whsec_shared_5b1f0c9e2d7a4e83b6c4f1a2d9e07c35");
        let body = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
        assert_eq!(
            signer.signature_header(body),
            "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaGEyNTYiOiI2ODFkNjc1YzQ1MTQ1NzYyZTIyNzg5MzNkYTYzYTYwMGFjNDdjY2MxNzk5MGZjMGJmNjUzNzBlMGM5NmFlNjI2In0.jHppVYYmYV3JnQGtPhpATwpweUSHe1O4n6yZpa6W-L4"
        );
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", Signer::new("whsec_x")), "Signer(<redacted>)");
    }
}

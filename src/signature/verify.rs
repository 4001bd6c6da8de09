//! The verification core, pure (no I/O): secrets + `Meshagent-Signature` + payload bytes →
//! verified claims or a rejection. The header rules and the bearer token are here; the token
//! itself is read in [`jwt`](super::jwt).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::jwt;
use super::verified::{DigestRule, VerifiedClaims, VerifiedToken};
use crate::rejection::{
    DuplicatePayloadHeader, MissingSignature, SecretNotConfigured, SignatureRejection,
};
use crate::secret::WebhookSecret;

/// `Meshagent-Signature`: the header carrying `Bearer <jwt>`.
pub const MESHAGENT_SIGNATURE: HeaderName = HeaderName::from_static("meshagent-signature");

/// `Meshagent-Webhook`: the header that carries the payload in header-payload and websocket
/// deliveries (it then replaces the body).
pub const MESHAGENT_WEBHOOK: HeaderName = HeaderName::from_static("meshagent-webhook");

/// Checks MeshAgent signatures: the core behind
/// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer), usable on its own with any
/// HTTP stack.
///
/// A request passes when `Meshagent-Signature` is `Bearer <jwt>`, the JWT is HS256 over one of
/// the configured secrets, its registered claims pass (`exp`, `nbf`, `iat` with the leeway; no
/// `aud`; string `sub`/`jti`/`iss`), and its `sha256` claim is the lowercase hex SHA-256 of the
/// raw payload bytes (compared in constant time). Cloning is cheap. Without a usable secret it
/// fails closed: every call returns [`SignatureRejection::SecretNotConfigured`].
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{Signer, SignatureVerifier};
///
/// let payload = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
/// let header = Signer::new("whsec_example").signature_header(payload);
///
/// let verifier = SignatureVerifier::from_secrets(["whsec_next", "whsec_example"]);
/// let claims = verifier.verify(Some(header.as_bytes()), payload).unwrap();
/// assert_eq!(claims.secret_index(), 1);
///
/// let forged = verifier.verify(Some(header.as_bytes()), b"{}").unwrap_err();
/// assert_eq!(forged.body_text(), "signature does not match payload");
/// ```
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    keys: Arc<[WebhookSecret]>,
    leeway_secs: u64,
    rule: DigestRule,
}

impl SignatureVerifier {
    /// A verifier for one secret. An empty secret makes it fail closed.
    pub fn new(secret: impl Into<WebhookSecret>) -> Self {
        Self::from_secrets([secret.into()])
    }

    /// A verifier that accepts tokens signed by any of `secrets`, for rotation; the verified
    /// claims say which one matched ([`VerifiedClaims::secret_index`], the position in this
    /// list). No secret, or any empty one, makes it fail closed.
    pub fn from_secrets<I>(secrets: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<WebhookSecret>,
    {
        let keys = secrets.into_iter().map(Into::into).collect();
        Self { keys, leeway_secs: 0, rule: DigestRule::Raw }
    }

    /// A verifier that checks nothing: no secret, no token, any `Meshagent-Signature` ignored.
    pub(crate) fn unsigned() -> Self {
        Self { rule: DigestRule::Unsigned, ..Self::from_secrets(None::<WebhookSecret>) }
    }

    /// Tolerance for `exp`, `nbf` and `iat` (whole seconds; default 0, like PyJWT).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = leeway.as_secs();
        self
    }

    /// Also accepts a payload when the `sha256` claim is the digest of Python's
    /// `json.dumps(json.loads(payload))` (what MeshAgent's Python receiver hashes), computed
    /// only when the raw bytes do not match. See
    /// [`MeshagentSignatureLayer::with_python_digest`](crate::MeshagentSignatureLayer::with_python_digest).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let header = Signer::new("k").signature_header(br#"{"event": "x", "data": {}}"#);
    /// let compacted = br#"{"event":"x","data":{}}"#;
    /// assert!(SignatureVerifier::new("k").verify(Some(header.as_bytes()), compacted).is_err());
    /// let python = SignatureVerifier::new("k").with_python_digest();
    /// assert!(python.verify(Some(header.as_bytes()), compacted).is_ok());
    /// ```
    #[must_use]
    pub fn with_python_digest(mut self) -> Self {
        if self.rule == DigestRule::Raw {
            self.rule = DigestRule::RawOrPython;
        }
        self
    }

    /// Whether it accepts unsigned deliveries (checks nothing).
    pub(crate) fn is_unsigned(&self) -> bool {
        self.rule == DigestRule::Unsigned
    }

    /// Whether at least one secret is set and none is empty (or the layer was made to accept
    /// unsigned deliveries). When false every request fails closed.
    pub fn is_configured(&self) -> bool {
        self.rule == DigestRule::Unsigned
            || (!self.keys.is_empty() && self.keys.iter().all(|key| !key.is_empty()))
    }

    /// Verifies one payload: `signature` is the raw value of the request's single
    /// `Meshagent-Signature` header (`None` when absent), `payload` the bytes that were signed
    /// (the body, or the `Meshagent-Webhook` header value).
    ///
    /// # Errors
    ///
    /// [`SecretNotConfigured`](SignatureRejection::SecretNotConfigured) (500),
    /// [`MissingSignature`](SignatureRejection::MissingSignature),
    /// [`InvalidJwt`](SignatureRejection::InvalidJwt) or
    /// [`DigestMismatch`](SignatureRejection::DigestMismatch) (all 401).
    pub fn verify(
        &self,
        signature: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<VerifiedClaims, SignatureRejection> {
        Ok(self.verify_token(signature)?.check_payload(payload)?)
    }

    /// From the headers alone: configuration, the one `Meshagent-Signature`,
    /// its token and claims, and the one `Meshagent-Webhook` (the payload, when present).
    pub(crate) fn check_head<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<(VerifiedToken, Option<&'a HeaderValue>), SignatureRejection> {
        let signature = match header_once(headers, &MESHAGENT_SIGNATURE) {
            Ok(signature) => signature,
            // Unsigned, any number of them is ignored.
            Err(Repeated) if self.is_unsigned() => None,
            Err(Repeated) => {
                let detail = "more than one Meshagent-Signature header";
                return Err(MissingSignature::with_detail(detail).into());
            }
        };
        let token = self.verify_token(signature.map(HeaderValue::as_bytes))?;
        let payload =
            header_once(headers, &MESHAGENT_WEBHOOK).map_err(|_| DuplicatePayloadHeader::new())?;
        Ok((token, payload))
    }

    /// The configuration, the header, the JWT and its claims (nothing when unsigned).
    fn verify_token(&self, signature: Option<&[u8]>) -> Result<VerifiedToken, SignatureRejection> {
        if self.rule == DigestRule::Unsigned {
            return Ok(VerifiedToken { digest: None, secret_index: 0, rule: self.rule });
        }
        if !self.is_configured() {
            return Err(SecretNotConfigured::new().into());
        }
        let token = bearer_token(signature.ok_or_else(MissingSignature::new)?)?;
        let (secret_index, digest) = jwt::decode(token, &self.keys, unix_now, self.leeway_secs)?;
        Ok(VerifiedToken { digest, secret_index, rule: self.rule })
    }
}

/// A header the request has more than once.
#[derive(Debug)]
pub(super) struct Repeated;

/// The value of `name` when the request has it once, `None` when it has none.
pub(super) fn header_once<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, Repeated> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() { Err(Repeated) } else { Ok(first) }
}

/// The token of a `Meshagent-Signature` value: surrounding whitespace is ignored (as HTTP
/// does), then the value must start with exactly `Bearer ` and have something after it.
fn bearer_token(value: &[u8]) -> Result<&[u8], MissingSignature> {
    let value = value.trim_ascii();
    match value.strip_prefix(b"Bearer ") {
        Some(token) => Ok(token),
        None if value == b"Bearer" => {
            Err(MissingSignature::with_detail("no token after `Bearer `"))
        }
        None => Err(MissingSignature::with_detail(
            "the value must start with exactly `Bearer ` (capital B, one space)",
        )),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::Signer;

    const SECRET: &str = "whsec_shared_5b1f0c9e2d7a4e83b6c4f1a2d9e07c35";
    const BODY: &[u8] = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
    /// From the protocol document's worked example (MeshAgent's own SDK).
    const HEADER: &str = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaGEyNTYiOiI2ODFkNjc1YzQ1MTQ1NzYyZTIyNzg5MzNkYTYzYTYwMGFjNDdjY2MxNzk5MGZjMGJmNjUzNzBlMGM5NmFlNjI2In0.jHppVYYmYV3JnQGtPhpATwpweUSHe1O4n6yZpa6W-L4";

    fn reason(result: Result<VerifiedClaims, SignatureRejection>) -> String {
        result.map_or_else(|rejection| rejection.body_text(), |_| "ok".to_owned())
    }

    #[test]
    fn the_sdk_worked_example_verifies() {
        let claims = SignatureVerifier::new(SECRET).verify(Some(HEADER.as_bytes()), BODY).unwrap();
        assert_eq!(
            claims.sha256(),
            "681d675c45145762e2278933da63a600ac47ccc17990fc0bf65370e0c96ae626"
        );
    }

    #[test]
    fn each_failure_gets_its_reason() {
        let verifier = SignatureVerifier::new(SECRET);
        let verify =
            |header: &str, body: &[u8]| reason(verifier.verify(Some(header.as_bytes()), body));
        let wrong_scheme =
            "missing signature: the value must start with exactly `Bearer ` (capital B, one space)";
        assert_eq!(reason(verifier.verify(None, BODY)), "missing signature");
        assert_eq!(verify(&HEADER.replace("Bearer", "bearer"), BODY), wrong_scheme);
        assert_eq!(verify(&HEADER.replace("Bearer ", "Bearer\t"), BODY), wrong_scheme);
        assert_eq!(verify("Bearer ", BODY), "missing signature: no token after `Bearer `");
        assert_eq!(verify(&HEADER.replace("Bearer ", "Bearer  "), BODY), "invalid jwt");
        assert_eq!(verify(&HEADER.replace("-L4", "-L5"), BODY), "invalid jwt");
        assert_eq!(verify(HEADER, b"{}"), "signature does not match payload");
        assert_eq!(verify(&format!("  {HEADER} \t"), BODY), "ok");
        let other = SignatureVerifier::new("whsec_other");
        assert_eq!(reason(other.verify(Some(HEADER.as_bytes()), BODY)), "invalid jwt");
    }

    #[test]
    fn an_unconfigured_verifier_fails_closed() {
        let none: [&str; 0] = [];
        for verifier in [
            SignatureVerifier::new(""),
            SignatureVerifier::from_secrets(none),
            SignatureVerifier::from_secrets([SECRET, ""]),
        ] {
            assert_eq!(
                reason(verifier.verify(Some(HEADER.as_bytes()), BODY)),
                "webhook secret is not configured"
            );
            assert_eq!(reason(verifier.verify(None, BODY)), "webhook secret is not configured");
        }
    }

    #[test]
    fn digits_differing_anywhere_or_in_case_do_not_match() {
        let signer = Signer::new(SECRET);
        let digest = hex::encode(Sha256::digest(BODY));
        let verifier = SignatureVerifier::new(SECRET);
        let mut spellings = vec![digest.to_uppercase()];
        for position in [0, 31, 63] {
            let mut other = digest.clone().into_bytes();
            other[position] = if other[position] == b'0' { b'1' } else { b'0' };
            spellings.push(String::from_utf8(other).unwrap());
        }
        for claimed in spellings {
            let header =
                signer.signature_header_for_claims(&serde_json::json!({ "sha256": claimed }));
            assert_eq!(
                reason(verifier.verify(Some(header.as_bytes()), BODY)),
                "signature does not match payload"
            );
        }
    }
}

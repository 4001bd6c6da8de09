//! The verification core: secrets + `Meshagent-Signature` value + payload bytes → verified
//! claims or a rejection. Pure: no I/O, no allocation of keys per call.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::Mac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::token::{self, RegisteredClaims, TokenClaims};
use crate::WebhookSecret;
use crate::rejection::{
    DigestMismatch, InvalidJwt, MissingSignature, SecretNotConfigured, SignatureRejection,
};

/// The scheme prefix of `Meshagent-Signature`: exactly `Bearer ` (capital B, one space).
const BEARER: &[u8] = b"Bearer ";

/// Checks MeshAgent signatures: the verification core behind
/// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer), usable on its own with any
/// HTTP stack.
///
/// It accepts a request when `Meshagent-Signature` is `Bearer <jwt>`, the JWT is HS256 over one
/// of the configured secrets, its registered claims pass (`exp`, `nbf`, `iat` with the leeway;
/// no `aud`; string `sub`/`jti`/`iss`), and its `sha256` claim is the lowercase hex SHA-256 of
/// the raw payload bytes (compared in constant time).
///
/// Cloning is cheap (the keys are shared). Without a usable secret it fails closed: every call
/// returns [`SignatureRejection::SecretNotConfigured`].
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{Signer, SignatureVerifier};
///
/// let payload = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
/// let header = Signer::new("whsec_example").signature_header(payload);
///
/// let verifier = SignatureVerifier::new("whsec_example");
/// let claims = verifier.verify(Some(header.as_bytes()), payload).unwrap();
/// assert_eq!(claims.secret_index(), 0);
///
/// let forged = verifier.verify(Some(header.as_bytes()), b"{}").unwrap_err();
/// assert_eq!(forged.body_text(), "signature does not match payload");
/// ```
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    keys: Arc<[WebhookSecret]>,
    leeway_secs: u64,
}

impl SignatureVerifier {
    /// A verifier for one secret. An empty secret makes it fail closed.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::SignatureVerifier;
    ///
    /// assert!(SignatureVerifier::new("whsec_example").is_configured());
    /// assert!(!SignatureVerifier::new("").is_configured());
    /// ```
    pub fn new(secret: impl Into<WebhookSecret>) -> Self {
        Self::from_secrets([secret.into()])
    }

    /// A verifier that accepts tokens signed by any of `secrets`, for rotation. The verified
    /// claims say which one matched ([`VerifiedClaims::secret_index`], the position in this
    /// list). No secret, or any empty one, makes it fail closed.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let verifier = SignatureVerifier::from_secrets(["whsec_new", "whsec_old"]);
    /// let header = Signer::new("whsec_old").signature_header(b"{}");
    /// let claims = verifier.verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.secret_index(), 1);
    /// ```
    pub fn from_secrets<I>(secrets: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<WebhookSecret>,
    {
        Self {
            keys: secrets.into_iter().map(Into::into).collect(),
            leeway_secs: 0,
        }
    }

    /// A verifier with no secret: it rejects everything with 500
    /// `webhook secret is not configured`.
    pub(crate) fn unconfigured() -> Self {
        Self::from_secrets(std::iter::empty::<WebhookSecret>())
    }

    /// Tolerance for `exp`, `nbf` and `iat` (whole seconds; default 0, like PyJWT).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use meshagent_webhooks::SignatureVerifier;
    ///
    /// let verifier = SignatureVerifier::new("whsec_example").with_leeway(Duration::from_secs(30));
    /// # let _ = verifier;
    /// ```
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = leeway.as_secs();
        self
    }

    /// Whether at least one secret is set and none is empty. When false every request fails
    /// closed.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::SignatureVerifier;
    ///
    /// assert!(!SignatureVerifier::from_secrets(["ok", ""]).is_configured());
    /// ```
    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty() && self.keys.iter().all(|key| !key.is_empty())
    }

    /// Verifies one request: `signature` is the raw value of its single `Meshagent-Signature`
    /// header (`None` when absent), `payload` the bytes that were signed (the body, or the
    /// `Meshagent-Webhook` header value).
    ///
    /// # Errors
    ///
    /// [`SecretNotConfigured`](SignatureRejection::SecretNotConfigured) (500),
    /// [`MissingSignature`](SignatureRejection::MissingSignature),
    /// [`InvalidJwt`](SignatureRejection::InvalidJwt) or
    /// [`DigestMismatch`](SignatureRejection::DigestMismatch) (all 401).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::SignatureVerifier;
    ///
    /// let verifier = SignatureVerifier::new("whsec_example");
    /// let rejection = verifier.verify(Some(b"bearer abc"), b"{}").unwrap_err();
    /// assert_eq!(rejection.body_text(), "missing signature");
    /// ```
    pub fn verify(
        &self,
        signature: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<VerifiedClaims, SignatureRejection> {
        let token = self.verify_token(signature)?;
        token.check_digest(&Sha256::digest(payload).into())
    }

    /// Steps before the payload is needed: configuration, the header, the JWT and its claims.
    pub(crate) fn verify_token(
        &self,
        signature: Option<&[u8]>,
    ) -> Result<VerifiedToken, SignatureRejection> {
        self.verify_token_at(signature, unix_now)
    }

    /// [`verify_token`](Self::verify_token) with the clock given (read only when the token has
    /// a time claim).
    pub(crate) fn verify_token_at(
        &self,
        signature: Option<&[u8]>,
        now: impl FnOnce() -> u64,
    ) -> Result<VerifiedToken, SignatureRejection> {
        if !self.is_configured() {
            return Err(SecretNotConfigured::new().into());
        }
        let token = bearer_token(signature.ok_or_else(MissingSignature::new)?)?;
        let split = token::split(token)?;
        let secret_index = self
            .keys
            .iter()
            .position(|key| {
                let mut mac = key.hmac();
                mac.update(split.signing_input);
                mac.verify_slice(&split.signature).is_ok()
            })
            .ok_or_else(|| {
                InvalidJwt::with_detail("signature was not made with a configured secret")
            })?;
        let claims = token::parse_claims(split.claims_segment, now, self.leeway_secs)?;
        Ok(VerifiedToken {
            claims,
            secret_index,
        })
    }
}

/// Extracts the token from a `Meshagent-Signature` value: surrounding whitespace is ignored (as
/// HTTP does), then the value must start with exactly `Bearer ` and have something after it.
fn bearer_token(value: &[u8]) -> Result<&[u8], MissingSignature> {
    let value = value.trim_ascii();
    match value.strip_prefix(BEARER) {
        Some(token) if !token.is_empty() => Ok(token),
        _ => Err(MissingSignature::new()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// A token whose signature and claims passed; what is left is comparing its digest.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedToken {
    claims: TokenClaims,
    secret_index: usize,
}

impl VerifiedToken {
    /// Compares the `sha256` claim with the lowercase hex of `digest`, in constant time.
    pub(crate) fn check_digest(
        self,
        digest: &[u8; 32],
    ) -> Result<VerifiedClaims, SignatureRejection> {
        let hex = lowercase_hex(digest);
        let matches = self
            .claims
            .digest
            .is_some_and(|claimed| same_digits(&claimed, &hex));
        if !matches {
            return Err(DigestMismatch::new().into());
        }
        Ok(VerifiedClaims {
            sha256: hex,
            registered: self.claims.registered,
            secret_index: self.secret_index,
        })
    }
}

/// The 64 lowercase hex digits of a digest, computed without a table or a branch so that the
/// compiler turns them into a few vector operations.
fn lowercase_hex(digest: &[u8; 32]) -> [u8; 64] {
    let mut hex = [0u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
        pair[0] = hex_digit(byte >> 4);
        pair[1] = hex_digit(byte & 0x0F);
    }
    hex
}

/// `0`–`9`, `a`–`f` for a nibble: above 9, `9 - nibble` wraps around and its top bit adds the
/// 39 that separate `'9' + 1` from `'a'`.
fn hex_digit(nibble: u8) -> u8 {
    nibble + b'0' + (9u8.wrapping_sub(nibble) >> 7) * 39
}

/// Whether two 64-digit hex strings are equal, in constant time: the digits are compared as
/// eight words whose differences are OR-ed together, and only that one word is tested (with
/// `subtle`), so the time does not depend on where they differ.
fn same_digits(claimed: &[u8; 64], computed: &[u8; 64]) -> bool {
    let difference = claimed
        .chunks_exact(8)
        .zip(computed.chunks_exact(8))
        .fold(0u64, |difference, (claimed, computed)| {
            difference | (word(claimed) ^ word(computed))
        });
    bool::from(difference.ct_eq(&0))
}

fn word(bytes: &[u8]) -> u64 {
    u64::from_ne_bytes(bytes.try_into().unwrap_or_default())
}

/// The claims of a verified `Meshagent-Signature` token, put in the request extensions by
/// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer).
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{SignatureVerifier, Signer};
///
/// let header = Signer::new("whsec_example").signature_header(b"{}");
/// let claims = SignatureVerifier::new("whsec_example")
///     .verify(Some(header.as_bytes()), b"{}")
///     .unwrap();
/// assert_eq!(
///     claims.sha256(),
///     "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
/// );
/// assert_eq!(claims.expires_at(), None);
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedClaims {
    sha256: [u8; 64],
    registered: Option<Box<RegisteredClaims>>,
    secret_index: usize,
}

impl VerifiedClaims {
    /// The `sha256` claim: lowercase hex SHA-256 of the payload.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("k");
    /// let claims = serde_json::json!({
    ///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ///     "exp": 253402300799u64, "nbf": 1, "iat": 2, "iss": "meshagent", "sub": "s", "jti": "j",
    /// });
    /// let header = signer.signature_header_for_claims(&claims);
    /// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.sha256().len(), 64);
    /// ```
    pub fn sha256(&self) -> &str {
        std::str::from_utf8(&self.sha256).unwrap_or_else(|_| unreachable!("hex is ASCII"))
    }

    /// Which configured secret signed the token: its position in the list given to
    /// [`SignatureVerifier::from_secrets`] or
    /// [`MeshagentSignatureLayer::from_secrets`](crate::MeshagentSignatureLayer::from_secrets)
    /// (0 with a single secret).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("k");
    /// let claims = serde_json::json!({
    ///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ///     "exp": 253402300799u64, "nbf": 1, "iat": 2, "iss": "meshagent", "sub": "s", "jti": "j",
    /// });
    /// let header = signer.signature_header_for_claims(&claims);
    /// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.secret_index(), 0);
    /// ```
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }

    /// The `exp` claim, in seconds since 1970, when present.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("k");
    /// let claims = serde_json::json!({
    ///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ///     "exp": 253402300799u64, "nbf": 1, "iat": 2, "iss": "meshagent", "sub": "s", "jti": "j",
    /// });
    /// let header = signer.signature_header_for_claims(&claims);
    /// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.expires_at(), Some(253402300799));
    /// ```
    pub fn expires_at(&self) -> Option<u64> {
        self.registered
            .as_ref()
            .and_then(|claims| claims.expires_at)
    }

    /// The `nbf` claim, in seconds since 1970, when present.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("k");
    /// let claims = serde_json::json!({
    ///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ///     "exp": 253402300799u64, "nbf": 1, "iat": 2, "iss": "meshagent", "sub": "s", "jti": "j",
    /// });
    /// let header = signer.signature_header_for_claims(&claims);
    /// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.not_before(), Some(1));
    /// ```
    pub fn not_before(&self) -> Option<u64> {
        self.registered
            .as_ref()
            .and_then(|claims| claims.not_before)
    }

    /// The `iat` claim, in seconds since 1970, when present.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("k");
    /// let claims = serde_json::json!({
    ///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ///     "exp": 253402300799u64, "nbf": 1, "iat": 2, "iss": "meshagent", "sub": "s", "jti": "j",
    /// });
    /// let header = signer.signature_header_for_claims(&claims);
    /// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.issued_at(), Some(2));
    /// ```
    pub fn issued_at(&self) -> Option<u64> {
        self.registered.as_ref().and_then(|claims| claims.issued_at)
    }

    /// The `iss` claim, when present.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("k");
    /// let claims = serde_json::json!({
    ///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ///     "exp": 253402300799u64, "nbf": 1, "iat": 2, "iss": "meshagent", "sub": "s", "jti": "j",
    /// });
    /// let header = signer.signature_header_for_claims(&claims);
    /// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.issuer(), Some("meshagent"));
    /// ```
    pub fn issuer(&self) -> Option<&str> {
        self.registered
            .as_ref()
            .and_then(|claims| claims.issuer.as_deref())
    }

    /// The `sub` claim, when present.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("k");
    /// let claims = serde_json::json!({
    ///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ///     "exp": 253402300799u64, "nbf": 1, "iat": 2, "iss": "meshagent", "sub": "s", "jti": "j",
    /// });
    /// let header = signer.signature_header_for_claims(&claims);
    /// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.subject(), Some("s"));
    /// ```
    pub fn subject(&self) -> Option<&str> {
        self.registered
            .as_ref()
            .and_then(|claims| claims.subject.as_deref())
    }

    /// The `jti` claim, when present.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let signer = Signer::new("k");
    /// let claims = serde_json::json!({
    ///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ///     "exp": 253402300799u64, "nbf": 1, "iat": 2, "iss": "meshagent", "sub": "s", "jti": "j",
    /// });
    /// let header = signer.signature_header_for_claims(&claims);
    /// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
    /// assert_eq!(claims.token_id(), Some("j"));
    /// ```
    pub fn token_id(&self) -> Option<&str> {
        self.registered
            .as_ref()
            .and_then(|claims| claims.token_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signer;

    const SECRET: &str = "whsec_shared_5b1f0c9e2d7a4e83b6c4f1a2d9e07c35";
    const BODY: &[u8] = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
    /// From the protocol document's worked example (MeshAgent's own SDK).
    const HEADER: &str = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaGEyNTYiOiI2ODFkNjc1YzQ1MTQ1NzYyZTIyNzg5MzNkYTYzYTYwMGFjNDdjY2MxNzk5MGZjMGJmNjUzNzBlMGM5NmFlNjI2In0.jHppVYYmYV3JnQGtPhpATwpweUSHe1O4n6yZpa6W-L4";

    #[test]
    fn lowercase_hex_agrees_with_the_hex_crate_for_every_byte() {
        for first in 0..=255u8 {
            let mut digest = [first; 32];
            digest[31] = first.wrapping_mul(31).wrapping_add(7);
            let ours = lowercase_hex(&digest);
            assert_eq!(&ours[..], hex::encode(digest).as_bytes());
        }
    }

    fn reason(result: Result<VerifiedClaims, SignatureRejection>) -> String {
        result.map_or_else(|rejection| rejection.body_text(), |_| "ok".to_owned())
    }

    #[test]
    fn digits_differing_anywhere_are_not_the_same() {
        let digits = *b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert!(same_digits(&digits, &digits));
        for position in 0..64 {
            for flip in [1u8, 0x20, 0x80] {
                let mut other = digits;
                other[position] ^= flip;
                assert!(!same_digits(&digits, &other), "{position} {flip}");
            }
        }
    }

    #[test]
    fn the_sdk_worked_example_verifies() {
        let claims = SignatureVerifier::new(SECRET)
            .verify(Some(HEADER.as_bytes()), BODY)
            .unwrap();
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
        assert_eq!(reason(verifier.verify(None, BODY)), "missing signature");
        assert_eq!(
            verify(&HEADER.replace("Bearer", "bearer"), BODY),
            "missing signature"
        );
        assert_eq!(
            verify(&HEADER.replace("Bearer ", "Bearer\t"), BODY),
            "missing signature"
        );
        assert_eq!(verify("Bearer ", BODY), "missing signature");
        assert_eq!(
            verify(&HEADER.replace("Bearer ", "Bearer  "), BODY),
            "invalid jwt"
        );
        assert_eq!(verify(&HEADER.replace("-L4", "-L5"), BODY), "invalid jwt");
        assert_eq!(verify(HEADER, b"{}"), "signature does not match payload");
        assert_eq!(verify(&format!("  {HEADER} \t"), BODY), "ok");
        let other = SignatureVerifier::new("whsec_other");
        assert_eq!(
            reason(other.verify(Some(HEADER.as_bytes()), BODY)),
            "invalid jwt"
        );
    }

    #[test]
    fn an_unconfigured_verifier_fails_closed_before_reading_anything() {
        for verifier in [
            SignatureVerifier::new(""),
            SignatureVerifier::unconfigured(),
            SignatureVerifier::from_secrets([SECRET, ""]),
        ] {
            assert_eq!(
                reason(verifier.verify(Some(HEADER.as_bytes()), BODY)),
                "webhook secret is not configured"
            );
            assert_eq!(
                reason(verifier.verify(None, BODY)),
                "webhook secret is not configured"
            );
        }
    }

    #[test]
    fn rotation_reports_which_secret_matched() {
        let verifier = SignatureVerifier::from_secrets(["whsec_next", SECRET]);
        let claims = verifier.verify(Some(HEADER.as_bytes()), BODY).unwrap();
        assert_eq!(claims.secret_index(), 1);
    }

    #[test]
    fn uppercase_hex_digest_does_not_match() {
        let signer = Signer::new(SECRET);
        let digest = hex::encode(Sha256::digest(BODY)).to_uppercase();
        let header = signer.signature_header_for_claims(&serde_json::json!({ "sha256": digest }));
        let verifier = SignatureVerifier::new(SECRET);
        assert_eq!(
            reason(verifier.verify(Some(header.as_bytes()), BODY)),
            "signature does not match payload"
        );
    }

    #[test]
    fn time_claims_use_the_clock_and_the_leeway() {
        let signer = Signer::new(SECRET);
        let digest = hex::encode(Sha256::digest(BODY));
        let header = signer
            .signature_header_for_claims(&serde_json::json!({ "sha256": digest, "exp": 100 }));
        let strict = SignatureVerifier::new(SECRET);
        let lenient = strict.clone().with_leeway(Duration::from_secs(10));
        assert!(
            strict
                .verify_token_at(Some(header.as_bytes()), || 99)
                .is_ok()
        );
        assert!(
            strict
                .verify_token_at(Some(header.as_bytes()), || 100)
                .is_err()
        );
        assert!(
            lenient
                .verify_token_at(Some(header.as_bytes()), || 109)
                .is_ok()
        );
        assert!(
            lenient
                .verify_token_at(Some(header.as_bytes()), || 110)
                .is_err()
        );
    }
}

//! What verification yields: a token that passed, its claims, and the verified payload the
//! layer hands to the inner service.

use std::fmt;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::jwt::constant_time_eq;
use crate::python_json;
use crate::rejection::DigestMismatch;

/// Where the signed payload came from: it decides whether a JSON `Content-Type` is needed.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{PayloadSource, SignatureVerifier, Signer};
///
/// // A websocket delivery carries its payload in a header, where no content type applies.
/// let payload = r#"{"event": "room.ended", "data": {"room_name": "r"}}"#;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("meshagent-webhook", payload.parse().unwrap());
/// let signature = Signer::new("k").signature_header(payload.as_bytes());
/// headers.insert("meshagent-signature", signature.parse().unwrap());
/// assert!(SignatureVerifier::new("k").verify_event(&headers, b"").is_ok());
/// # let _ = PayloadSource::Header;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadSource {
    /// The request body (a normal POST delivery).
    Body,
    /// The `Meshagent-Webhook` header (header-payload and websocket deliveries); the original
    /// body was discarded.
    Header,
}

/// A verified webhook payload, put in the request extensions by
/// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer).
///
/// The bytes are the ones that were signed, shared with the request body (no copy). `Debug`
/// shows only their length.
///
/// # Example
///
/// ```
/// use axum::Extension;
/// use meshagent_webhooks::{PayloadSource, VerifiedWebhook};
///
/// async fn handler(Extension(webhook): Extension<VerifiedWebhook>) -> String {
///     assert!(matches!(webhook.source(), PayloadSource::Body | PayloadSource::Header));
///     format!("{} verified bytes, secret #{}", webhook.payload().len(), webhook.claims().secret_index())
/// }
/// # let _ = handler;
/// ```
#[derive(Clone)]
pub struct VerifiedWebhook {
    payload: Bytes,
    source: PayloadSource,
    claims: VerifiedClaims,
}

impl VerifiedWebhook {
    pub(crate) fn new(payload: Bytes, source: PayloadSource, claims: VerifiedClaims) -> Self {
        Self { payload, source, claims }
    }

    /// The verified payload bytes, exactly as signed.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Where the payload came from.
    pub fn source(&self) -> PayloadSource {
        self.source
    }

    /// The verified token's claims.
    pub fn claims(&self) -> &VerifiedClaims {
        &self.claims
    }

    /// Whether a signature was checked: `false` only behind a layer made with
    /// [`dangerously_accept_unsigned`](crate::MeshagentSignatureLayer::dangerously_accept_unsigned),
    /// where anyone could have sent the payload.
    pub fn is_verified(&self) -> bool {
        self.claims.verified
    }
}

impl fmt::Debug for VerifiedWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedWebhook")
            .field("payload_len", &self.payload.len())
            .field("source", &self.source)
            .field("secret_index", &self.claims.secret_index())
            .field("verified", &self.claims.verified)
            .finish_non_exhaustive()
    }
}

/// Which payloads a token's `sha256` claim vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigestRule {
    /// The raw payload bytes (the default).
    Raw,
    /// The raw bytes, else Python's `json.dumps(json.loads(payload))`.
    RawOrPython,
    /// Nothing is checked: there is no token (unsigned deliveries).
    Unsigned,
}

/// A token whose signature and claims passed; what is left is comparing its digest.
#[derive(Debug)]
pub(crate) struct VerifiedToken {
    /// The `sha256` claim when it is 64 bytes long; any other length can never match.
    pub(super) digest: Option<[u8; 64]>,
    pub(super) secret_index: usize,
    pub(super) rule: DigestRule,
}

impl VerifiedToken {
    /// Checks the payload against the claim by the token's rule; `digest` is the SHA-256 of
    /// `payload`. The Python text is only made when the raw digest does not match.
    pub(crate) fn check(
        self,
        payload: &[u8],
        digest: &[u8; 32],
    ) -> Result<VerifiedClaims, DigestMismatch> {
        let (verified, claims) = self.check_digest(digest);
        match self.rule {
            DigestRule::Unsigned => Ok(VerifiedClaims { verified: false, ..claims }),
            _ if verified => Ok(claims),
            DigestRule::RawOrPython => python_json::redump(payload)
                .map(|text| self.check_digest(&Sha256::digest(text).into()))
                .and_then(|(verified, claims)| verified.then_some(claims))
                .ok_or_else(DigestMismatch::new),
            DigestRule::Raw => Err(DigestMismatch::new()),
        }
    }

    /// [`check`](Self::check) with the SHA-256 of `payload`.
    pub(crate) fn check_payload(self, payload: &[u8]) -> Result<VerifiedClaims, DigestMismatch> {
        self.check(payload, &Sha256::digest(payload).into())
    }

    /// Whether the `sha256` claim is the lowercase hex of `digest` (compared in constant time),
    /// and the claims for that digest.
    fn check_digest(&self, digest: &[u8; 32]) -> (bool, VerifiedClaims) {
        let mut hex = [0u8; 64];
        hex::encode_to_slice(digest, &mut hex)
            .unwrap_or_else(|_| unreachable!("32 bytes are 64 hex digits"));
        let matches = self.digest.is_some_and(|claimed| constant_time_eq::<8>(&claimed, &hex));
        (matches, VerifiedClaims { sha256: hex, secret_index: self.secret_index, verified: true })
    }
}

/// What a verified `Meshagent-Signature` token says, in the request extensions (inside
/// [`VerifiedWebhook`](crate::VerifiedWebhook)): the payload's digest and which secret signed
/// it. (Registered claims such as `exp` are checked when a token has them, as PyJWT does;
/// MeshAgent's tokens have none.)
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{SignatureVerifier, Signer};
///
/// let header = Signer::new("whsec_old").signature_header(b"{}");
/// let verifier = SignatureVerifier::from_secrets(["whsec_new", "whsec_old"]);
/// let claims = verifier.verify(Some(header.as_bytes()), b"{}").unwrap();
/// assert_eq!(claims.sha256(), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
/// assert_eq!(claims.secret_index(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedClaims {
    sha256: [u8; 64],
    secret_index: usize,
    verified: bool,
}

impl VerifiedClaims {
    /// The `sha256` claim: lowercase hex SHA-256 of the payload (with
    /// [`with_python_digest`](crate::MeshagentSignatureLayer::with_python_digest), possibly of
    /// Python's text of it). Unsigned: the SHA-256 of the payload, vouched for by nobody.
    pub fn sha256(&self) -> &str {
        std::str::from_utf8(&self.sha256).unwrap_or_else(|_| unreachable!("hex is ASCII"))
    }

    /// Which configured secret signed the token: its position in the list given to
    /// [`SignatureVerifier::from_secrets`](super::SignatureVerifier::from_secrets) (0 with one secret; with
    /// [`from_env`](crate::MeshagentSignatureLayer::from_env), 1 is the previous secret).
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }

    /// Whether a token was checked; `false` for unsigned deliveries (see
    /// [`VerifiedWebhook::is_verified`]).
    pub fn is_verified(&self) -> bool {
        self.verified
    }
}

//! What verification yields: a token that passed, its claims, and the verified payload the
//! layer hands to the inner service.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::rejection::DigestMismatch;
use crate::telemetry::Delivery;

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
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) delivery: Option<Arc<Delivery>>,
}

impl VerifiedWebhook {
    pub(crate) fn new(
        payload: Bytes,
        source: PayloadSource,
        claims: VerifiedClaims,
        delivery: Option<Arc<Delivery>>,
    ) -> Self {
        Self { payload, source, claims, delivery }
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
}

impl fmt::Debug for VerifiedWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedWebhook")
            .field("payload_len", &self.payload.len())
            .field("source", &self.source)
            .field("secret_index", &self.claims.secret_index())
            .finish_non_exhaustive()
    }
}

/// A token whose signature and claims passed; what is left is comparing its digest.
#[derive(Debug)]
pub(crate) struct VerifiedToken {
    /// The `sha256` claim when it is 64 bytes long; any other length can never match.
    pub(super) digest: Option<[u8; 64]>,
    pub(super) secret_index: usize,
}

impl VerifiedToken {
    /// Compares the `sha256` claim with the lowercase hex of `digest`, in constant time.
    pub(crate) fn check_digest(self, digest: &[u8; 32]) -> Result<VerifiedClaims, DigestMismatch> {
        let mut hex = [0u8; 64];
        hex::encode_to_slice(digest, &mut hex)
            .unwrap_or_else(|_| unreachable!("32 bytes are 64 hex digits"));
        let matches =
            self.digest.is_some_and(|claimed| bool::from(words(&claimed).ct_eq(&words(&hex))));
        if !matches {
            return Err(DigestMismatch::new());
        }
        Ok(VerifiedClaims { sha256: hex, secret_index: self.secret_index })
    }

    /// [`check_digest`](Self::check_digest) of the SHA-256 of `payload`.
    pub(crate) fn check_payload(self, payload: &[u8]) -> Result<VerifiedClaims, DigestMismatch> {
        self.check_digest(&Sha256::digest(payload).into())
    }
}

/// The 64 digits as eight words, so that `subtle` compares them in eight steps, not 64
/// (measured: 1,000 instructions a request).
fn words(hex: &[u8; 64]) -> [u64; 8] {
    let (words, _) = hex.as_chunks::<8>();
    std::array::from_fn(|at| u64::from_ne_bytes(words[at]))
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
}

impl VerifiedClaims {
    /// The `sha256` claim: lowercase hex SHA-256 of the payload.
    pub fn sha256(&self) -> &str {
        std::str::from_utf8(&self.sha256).unwrap_or_else(|_| unreachable!("hex is ASCII"))
    }

    /// Which configured secret signed the token: its position in the list given to
    /// [`SignatureVerifier::from_secrets`](super::SignatureVerifier::from_secrets) (0 with one secret; with
    /// [`from_env`](crate::MeshagentSignatureLayer::from_env), 1 is the previous secret).
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }
}

//! What verification yields: a token that passed, its claims, and the verified payload the
//! layer hands to the inner service.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
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
    pub(crate) delivery: Arc<Delivery>,
}

impl VerifiedWebhook {
    pub(crate) fn new(
        payload: Bytes,
        source: PayloadSource,
        claims: VerifiedClaims,
        delivery: Arc<Delivery>,
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

/// The registered claims a token may carry besides `sha256`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RegisteredClaims {
    pub(super) expires_at: Option<u64>,
    pub(super) not_before: Option<u64>,
    pub(super) issued_at: Option<u64>,
    pub(super) issuer: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) token_id: Option<String>,
}

/// A token whose signature and claims passed; what is left is comparing its digest.
#[derive(Debug)]
pub(crate) struct VerifiedToken {
    /// The `sha256` claim when it is 64 bytes long; any other length can never match.
    pub(super) digest: Option<[u8; 64]>,
    /// The registered claims, when there are any (boxed: MeshAgent sends none).
    pub(super) registered: Option<Box<RegisteredClaims>>,
    pub(super) secret_index: usize,
}

impl VerifiedToken {
    /// Compares the `sha256` claim with the lowercase hex of `digest`, in constant time.
    pub(crate) fn check_digest(self, digest: &[u8; 32]) -> Result<VerifiedClaims, DigestMismatch> {
        let mut hex = [0u8; 64];
        hex::encode_to_slice(digest, &mut hex)
            .unwrap_or_else(|_| unreachable!("32 bytes are 64 hex digits"));
        let matches = self.digest.is_some_and(|claimed| bool::from(claimed.ct_eq(&hex)));
        if !matches {
            return Err(DigestMismatch::new());
        }
        Ok(VerifiedClaims {
            sha256: hex,
            registered: self.registered,
            secret_index: self.secret_index,
        })
    }
}

/// The claims of a verified `Meshagent-Signature` token, in the request extensions (inside
/// [`VerifiedWebhook`](crate::VerifiedWebhook)). Times are seconds since 1970.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{SignatureVerifier, Signer};
///
/// let signer = Signer::new("k");
/// let claims = serde_json::json!({
///     "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
///     "exp": 253402300799u64, "iss": "meshagent",
/// });
/// let header = signer.signature_header_for_claims(&claims);
/// let claims = SignatureVerifier::new("k").verify(Some(header.as_bytes()), b"{}").unwrap();
/// assert_eq!(claims.sha256(), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
/// assert_eq!(claims.expires_at(), Some(253402300799));
/// assert_eq!(claims.issuer(), Some("meshagent"));
/// assert_eq!((claims.secret_index(), claims.subject()), (0, None));
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedClaims {
    sha256: [u8; 64],
    registered: Option<Box<RegisteredClaims>>,
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

    fn registered(&self) -> Option<&RegisteredClaims> {
        self.registered.as_deref()
    }

    /// The `exp` claim, when present.
    pub fn expires_at(&self) -> Option<u64> {
        self.registered()?.expires_at
    }

    /// The `nbf` claim, when present.
    pub fn not_before(&self) -> Option<u64> {
        self.registered()?.not_before
    }

    /// The `iat` claim, when present.
    pub fn issued_at(&self) -> Option<u64> {
        self.registered()?.issued_at
    }

    /// The `iss` claim, when present.
    pub fn issuer(&self) -> Option<&str> {
        self.registered()?.issuer.as_deref()
    }

    /// The `sub` claim, when present.
    pub fn subject(&self) -> Option<&str> {
        self.registered()?.subject.as_deref()
    }

    /// The `jti` claim, when present.
    pub fn token_id(&self) -> Option<&str> {
        self.registered()?.token_id.as_deref()
    }
}

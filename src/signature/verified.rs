//! What the layer hands to the inner service: the verified payload and its claims.

use std::fmt;

use bytes::Bytes;

use super::VerifiedClaims;

/// Where the signed payload came from.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::PayloadSource;
///
/// assert_ne!(PayloadSource::Body, PayloadSource::Header);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadSource {
    /// The request body (a normal POST delivery).
    Body,
    /// The `Meshagent-Webhook` header (header-payload and websocket deliveries); the original
    /// body was dropped unread.
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
/// use meshagent_webhooks::VerifiedWebhook;
///
/// async fn handler(Extension(webhook): Extension<VerifiedWebhook>) -> String {
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
        Self {
            payload,
            source,
            claims,
        }
    }

    /// The verified payload bytes, exactly as signed.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::Extension;
    /// use meshagent_webhooks::{PayloadSource, VerifiedWebhook};
    ///
    /// async fn handler(Extension(webhook): Extension<VerifiedWebhook>) {
    ///     let bytes: &bytes::Bytes = webhook.payload();
    ///     # let _ = bytes;
    /// }
    /// # let _ = handler;
    /// ```
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Where the payload came from.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::Extension;
    /// use meshagent_webhooks::{PayloadSource, VerifiedWebhook};
    ///
    /// async fn handler(Extension(webhook): Extension<VerifiedWebhook>) {
    ///     assert!(matches!(webhook.source(), PayloadSource::Body | PayloadSource::Header));
    /// }
    /// # let _ = handler;
    /// ```
    pub fn source(&self) -> PayloadSource {
        self.source
    }

    /// The verified token's claims.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::Extension;
    /// use meshagent_webhooks::{PayloadSource, VerifiedWebhook};
    ///
    /// async fn handler(Extension(webhook): Extension<VerifiedWebhook>) {
    ///     println!("signed by secret #{}", webhook.claims().secret_index());
    /// }
    /// # let _ = handler;
    /// ```
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

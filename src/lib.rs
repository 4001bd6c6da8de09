#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod event;
mod python_json;
pub mod rejection;
mod secret;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
pub mod signature;
mod signer;

use http::HeaderName;

pub use event::{
    MeshagentEvent, ParticipantToken, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted,
    StorageFileMoved, StorageFileUpdated, UnknownEvent,
};
pub use rejection::{
    BodyReadFailed, DigestMismatch, DuplicatePayloadHeader, EventRejection, InvalidEvent,
    InvalidJwt, InvalidRequestBody, MissingSignature, MissingSignatureLayer, PayloadTooLarge,
    SecretNotConfigured, SignatureRejection, UnsupportedContentType,
};
pub use secret::{ConfigError, SECRET_ENV_VAR, WebhookSecret};
#[cfg(feature = "server")]
pub use server::{HandlerError, ServerError, WebhookHandler, WebhookServer};
pub use signature::{
    MeshagentSignature, MeshagentSignatureLayer, PayloadSource, SignatureVerifier, VerifiedClaims,
    VerifiedWebhook,
};
pub use signer::{Forgery, Signer};

/// `Meshagent-Signature`: the header carrying `Bearer <jwt>`.
///
/// # Example
///
/// ```
/// assert_eq!(meshagent_webhooks::MESHAGENT_SIGNATURE, "meshagent-signature");
/// ```
pub const MESHAGENT_SIGNATURE: HeaderName = HeaderName::from_static("meshagent-signature");

/// `Meshagent-Webhook`: the header that carries the payload in header-payload and websocket
/// deliveries (it then replaces the body).
///
/// # Example
///
/// ```
/// assert_eq!(meshagent_webhooks::MESHAGENT_WEBHOOK, "meshagent-webhook");
/// ```
pub const MESHAGENT_WEBHOOK: HeaderName = HeaderName::from_static("meshagent-webhook");

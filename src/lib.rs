// The README is the crate's guide; its `WebhookServer` example needs the `server` feature
// (docs.rs builds with every feature), so without it a short summary stands in.
#![cfg_attr(feature = "server", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "server"),
    doc = "Receive MeshAgent webhooks safely in any axum or tower app: a signature-verifying \
           tower layer ([`MeshagentSignatureLayer`]), a typed event extractor \
           ([`MeshagentEvent`]) and a [`Signer`]. The full guide is this page built with the \
           `server` feature, as on docs.rs."
)]
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
mod telemetry;

pub use event::{
    MeshagentEvent, ParticipantToken, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted,
    StorageFileMoved, StorageFileUpdated, UnknownEvent,
};
pub use rejection::{
    BodyReadFailed, BodyTimeout, DigestMismatch, DuplicatePayloadHeader, EventRejection,
    InvalidEvent, InvalidJwt, InvalidRequestBody, MissingSignature, MissingSignatureLayer,
    PayloadTooLarge, Rejection, SecretNotConfigured, SignatureRejection, UnsupportedContentType,
};
pub use secret::{ConfigError, PREVIOUS_SECRET_ENV_VAR, SECRET_ENV_VAR, WebhookSecret};
#[cfg(feature = "server")]
pub use server::{HandlerError, ServerError, WebhookHandler, WebhookServer};
pub use signature::{
    MESHAGENT_SIGNATURE, MESHAGENT_WEBHOOK, MeshagentSignature, MeshagentSignatureLayer,
    PayloadSource, SignatureVerifier, VerifiedClaims, VerifiedWebhook,
};
pub use signer::{Forgery, Signer};

//! The signer, property tests and hostile inputs: the signer against MeshAgent's own sender,
//! any payload with any secret, JWT and HTTP attacks over real TCP, and `Debug`/`Display`
//! that show nothing secret.

#[cfg(feature = "axum")]
#[path = "../common/mod.rs"]
#[allow(dead_code, unused_imports, reason = "this binary uses part of the shared helpers")]
mod common;
#[cfg(feature = "axum")]
#[path = "../hardening/mod.rs"]
#[allow(dead_code, reason = "this binary uses part of the hardening helpers")]
mod hardening;

#[cfg(feature = "axum")]
mod debug_output;
#[cfg(feature = "axum")]
mod http_inputs;
#[cfg(feature = "axum")]
mod jwt_inputs;
mod properties;
#[cfg(feature = "axum")]
mod signer;

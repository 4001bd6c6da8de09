//! The layer and the extractor, in process and over real TCP: the layer alone on a
//! `tower::service_fn`, `MeshagentEvent` in an axum `Router`, every SDK vector, events as
//! data, the rejection hook, the README's quick start and the `metrics` feature.

#[cfg(feature = "axum")]
#[path = "../common/mod.rs"]
#[allow(dead_code, unused_imports, reason = "this binary uses part of the shared helpers")]
mod common;

#[cfg(feature = "axum")]
mod events_as_data;
#[cfg(feature = "axum")]
mod extractor;
#[cfg(all(feature = "axum", feature = "metrics"))]
mod metrics;
mod readme;
#[cfg(feature = "axum")]
mod rejection_hook;
#[cfg(feature = "axum")]
mod signature;
#[cfg(feature = "axum")]
mod vectors;

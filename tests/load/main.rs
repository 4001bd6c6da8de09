//! Load and faults through a layered axum app on a real server (127.0.0.1 only). The tests
//! measure this process (memory, descriptors, tasks), so they take [`SERIAL`] one at a time.

#![cfg(feature = "axum")]

#[path = "../common/mod.rs"]
#[allow(dead_code, unused_imports, reason = "this binary uses part of the shared helpers")]
mod common;
#[path = "../hardening/mod.rs"]
#[allow(dead_code, unused_imports, reason = "this binary uses part of the hardening helpers")]
mod hardening;

mod faults;
mod traffic;

/// Held by every test here, so that memory and descriptor figures are not mixed up.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

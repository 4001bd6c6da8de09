//! The built-in `WebhookServer` and the CLI over real TCP: routes, handler failures, shutdown
//! and configuration; keep-alive after rejections; every limit; connection floods.

#![cfg(feature = "server")]

#[path = "../common/mod.rs"]
#[allow(dead_code, unused_imports, reason = "this binary uses part of the shared helpers")]
mod common;
mod support;

#[cfg(feature = "cli")]
mod cli;
mod connections;
mod floods;
mod limits;
mod serve;

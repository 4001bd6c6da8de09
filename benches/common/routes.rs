//! The handlers of the load benchmark's routes (`examples/load/`), shared with
//! `benches/route.rs`, which runs the same routes in process.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use meshagent_webhooks::{MESHAGENT_SIGNATURE, MeshagentEvent};
use sha2::{Digest, Sha256};

use super::SECRET;

/// The route a user would write without this crate: `Json<serde_json::Value>`, answers with
/// the event name.
pub(crate) async fn plain(Json(value): Json<serde_json::Value>) -> String {
    value["event"].as_str().unwrap_or_default().to_owned()
}

/// The same answer from the verified event (behind `MeshagentSignatureLayer`).
pub(crate) async fn layered(event: MeshagentEvent) -> String {
    event.name().to_owned()
}

/// The plain handler after `nanos` of busy work: what that much extra work per request costs.
pub(crate) async fn plain_after_busy_work(nanos: u64, value: Json<serde_json::Value>) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_nanos(nanos) {
        std::hint::spin_loop();
    }
    plain(value).await
}

/// The HMAC key, prepared once, as a verifier keeps it.
static KEY: LazyLock<Hmac<Sha256>> = LazyLock::new(|| {
    Hmac::new_from_slice(SECRET.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
});

/// The plain handler's work after the two hashes every verifier computes: HMAC-SHA256 of the
/// token's signing input (with the key prepared once) and SHA-256 of the body. Their results
/// are kept from the optimiser, not checked. The body is parsed as `Json<Value>` parses it,
/// minus its content-type check: the least any verifying route can cost.
pub(crate) async fn plain_after_hashes(headers: HeaderMap, body: Bytes) -> Result<String, String> {
    let token = headers
        .get(MESHAGENT_SIGNATURE)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .ok_or("no signature")?;
    let dot = token
        .iter()
        .rposition(|&byte| byte == b'.')
        .ok_or("no dot")?;
    let mut mac = KEY.clone();
    mac.update(&token[..dot]);
    std::hint::black_box(mac.finalize());
    std::hint::black_box(Sha256::digest(&body));
    let value = Json::<serde_json::Value>::from_bytes(&body).map_err(|error| error.body_text())?;
    Ok(plain(value).await)
}

//! The four routes of the load run (the `load` binary).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use meshagent_webhooks::{MESHAGENT_SIGNATURE, MeshagentEvent, MeshagentSignatureLayer};
use sha2::{Digest, Sha256};
use tower::layer::util::Identity;

use crate::SECRET;

/// The four routes in one `Router`: `/plain`, `/identity` (the plain
/// handler behind tower's `Identity` layer), `/floor` (that route after the two hashes every
/// verifier computes) and `/layered` (`MeshagentSignatureLayer` + `MeshagentEvent`).
pub fn router() -> Router {
    router_with(post(layered).layer(MeshagentSignatureLayer::new(SECRET)))
}

/// The same routes with `at_layered` at `/layered` (the load benchmark's calibrations put
/// another route there).
pub fn router_with(at_layered: MethodRouter) -> Router {
    Router::new()
        .route("/plain", post(plain))
        .route("/identity", post(plain).layer(Identity::new()))
        .route("/floor", post(plain_after_hashes).layer(Identity::new()))
        .route("/layered", at_layered)
}

/// The route a user would write without this crate: `Json<serde_json::Value>`, answers with
/// the event name.
pub async fn plain(Json(value): Json<serde_json::Value>) -> String {
    value["event"].as_str().unwrap_or_default().to_owned()
}

/// The same answer from the verified event (behind `MeshagentSignatureLayer`).
pub async fn layered(event: MeshagentEvent) -> String {
    event.name().to_owned()
}

/// The plain handler after `nanos` of busy work: what that much extra work per request costs.
pub async fn plain_after_busy_work(nanos: u64, value: Json<serde_json::Value>) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_nanos(nanos) {
        std::hint::spin_loop();
    }
    plain(value).await
}

/// The HMAC key, prepared once, as a verifier keeps it.
static KEY: LazyLock<Hmac<Sha256>> = LazyLock::new(|| {
    Hmac::<Sha256>::new_from_slice(SECRET.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
});

/// The plain handler's work after the two hashes every verifier computes: HMAC-SHA256 of the
/// token's signing input (with the key prepared once) and SHA-256 of the body. Their results
/// are kept from the optimiser, not checked. The body is parsed as `Json<Value>` parses it,
/// minus its content-type check: the least any verifying route can cost.
pub async fn plain_after_hashes(headers: HeaderMap, body: Bytes) -> Result<String, String> {
    let token = headers
        .get(MESHAGENT_SIGNATURE)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .ok_or("no signature")?;
    let dot = token.iter().rposition(|&byte| byte == b'.').ok_or("no dot")?;
    let mut mac = KEY.clone();
    mac.update(&token[..dot]);
    std::hint::black_box(mac.finalize());
    std::hint::black_box(Sha256::digest(&body));
    let value = Json::<serde_json::Value>::from_bytes(&body).map_err(|error| error.body_text())?;
    Ok(plain(value).await)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use futures_util::FutureExt;
    use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    use http::{HeaderValue, Request, Response};
    use http_body_util::BodyExt;
    use meshagent_webhooks::Signer;
    use tower::{Service, ServiceExt};

    use super::*;
    use crate::small_event;

    /// A POST of `payload` to `path` with the headers MeshAgent sends, in one chunk (as hyper
    /// hands a small body over).
    fn signed_request(path: &str, payload: &Bytes, signature: &HeaderValue) -> Request<Body> {
        let mut request =
            Request::post(path).body(Body::from(payload.clone())).expect("valid request");
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(payload.len()));
        headers.insert(MESHAGENT_SIGNATURE, signature.clone());
        request
    }

    /// Sends one request through `router` and reads the whole answer, which must be 200.
    fn answer(router: &Router, request: Request<Body>) -> Bytes {
        respond(router, request)
            .into_body()
            .collect()
            .now_or_never()
            .expect("the answer is ready")
            .expect("the answer body")
            .to_bytes()
    }

    /// Runs one request through `service` to completion (every body here is in memory, so
    /// nothing waits); the answer must be 200.
    fn respond<S, B, R>(service: &S, request: Request<B>) -> Response<R>
    where
        S: Service<Request<B>, Response = Response<R>, Error = Infallible> + Clone,
    {
        let response = service
            .clone()
            .oneshot(request)
            .now_or_never()
            .expect("nothing here waits")
            .unwrap_or_else(|never| match never {});
        assert_eq!(response.status(), 200);
        response
    }

    #[test]
    fn every_route_answers_the_event_name() {
        let router = router();
        let payload = Bytes::from(small_event());
        let signature = HeaderValue::from_str(&Signer::new(SECRET).signature_header(&payload))
            .expect("a token is a valid header value");
        for path in ["/plain", "/identity", "/floor", "/layered"] {
            let body = answer(&router, signed_request(path, &payload, &signature));
            assert_eq!(body, "room.started", "{path}");
        }
    }
}

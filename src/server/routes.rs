//! The axum routes: the webhook endpoint (event dispatch and websocket deliveries) and the
//! health check.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, UPGRADE};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::LengthLimitError;

use super::WebhookHandler;
use super::tasks::{InFlight, Outcome, run_isolated};
use crate::{MESHAGENT_WEBHOOK, MeshagentEvent, MeshagentSignatureLayer};

/// The body of every success, byte for byte what MeshAgent's Python server sends.
const OK_BODY: &str = r#"{"ok": true}"#;

/// What every request to the webhook route shares.
pub(crate) struct Shared<H> {
    pub(crate) handler: Arc<H>,
    pub(crate) in_flight: Arc<InFlight>,
    /// `Some(body limit)` in unsigned mode (no signature layer in front of the route).
    pub(crate) unsigned_limit: Option<usize>,
}

/// The webhook route alone: GET and POST (and HEAD, through GET) on `path`, with `layer` in
/// front of the endpoint when there is one. Other methods get 405 before the layer runs.
pub(crate) fn webhook_router<H: WebhookHandler>(
    path: &str,
    shared: Shared<H>,
    layer: Option<MeshagentSignatureLayer>,
) -> Router {
    let endpoint = get(webhook::<H>).post(webhook::<H>);
    let endpoint = match layer {
        Some(layer) => endpoint.route_layer(layer),
        None => endpoint,
    };
    Router::new().route(path, endpoint.with_state(Arc::new(shared)))
}

/// `GET /`: 200 `{"ok": true}`.
pub(crate) async fn health() -> Response {
    ok()
}

async fn webhook<H: WebhookHandler>(
    State(shared): State<Arc<Shared<H>>>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if parts.headers.contains_key(UPGRADE) {
        return websocket(shared, parts, body).await;
    }
    let event = match read_event(&shared, &mut parts, body).await {
        Ok(event) => event,
        Err(rejection) => return rejection,
    };
    let name = event.name().to_owned();
    let handler = shared.handler.clone();
    let guard = shared.in_flight.enter();
    match run_isolated(&name, guard, async move { handler.on_event(event).await }).await {
        Outcome::Done => ok(),
        Outcome::Failed => failed(),
    }
}

/// Policy step 10: an `Upgrade` request must be a GET websocket handshake carrying a verified
/// `room.call`; the handler then gets the call and the socket.
async fn websocket<H: WebhookHandler>(
    shared: Arc<Shared<H>>,
    mut parts: Parts,
    body: Body,
) -> Response {
    if parts.method != Method::GET {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "websocket deliveries must use GET",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let call = match read_event(&shared, &mut parts, body).await {
        Ok(MeshagentEvent::RoomCall(call)) => call,
        Ok(other) => {
            tracing::debug!(
                target: "meshagent_webhooks::server",
                event = other.name(),
                "refused a websocket delivery that is not room.call"
            );
            return text(
                StatusCode::BAD_REQUEST,
                "only room.call can be delivered over a websocket",
            );
        }
        Err(rejection) => return rejection,
    };
    let handler = shared.handler.clone();
    let guard = shared.in_flight.enter();
    upgrade
        .on_failed_upgrade(|error| {
            tracing::warn!(
                target: "meshagent_webhooks::server",
                %error,
                "websocket upgrade failed"
            );
        })
        .on_upgrade(move |socket| async move {
            let session = async move { handler.on_call_websocket(call, socket).await };
            run_isolated("room.call", guard, session).await;
        })
}

/// The event: from the layer's verified payload, or, in unsigned mode, from the
/// `Meshagent-Webhook` header or the body. A failure is the rejection's response.
async fn read_event<H>(
    shared: &Shared<H>,
    parts: &mut Parts,
    body: Body,
) -> Result<MeshagentEvent, Response> {
    let Some(limit) = shared.unsigned_limit else {
        return MeshagentEvent::from_request_parts(parts, &())
            .await
            .map_err(IntoResponse::into_response);
    };
    let payload = match parts.headers.get(MESHAGENT_WEBHOOK) {
        Some(value) => Bytes::copy_from_slice(value.as_bytes()),
        None => match axum::body::to_bytes(body, limit).await {
            Ok(payload) => payload,
            Err(error) if is_over_limit(&error) => {
                return Err(text(StatusCode::PAYLOAD_TOO_LARGE, "payload too large"));
            }
            Err(_) => {
                return Err(text(StatusCode::BAD_REQUEST, "failed to read request body"));
            }
        },
    };
    MeshagentEvent::from_json(&payload).map_err(IntoResponse::into_response)
}

fn is_over_limit(error: &axum::Error) -> bool {
    std::error::Error::source(error).is_some_and(|cause| cause.is::<LengthLimitError>())
}

fn ok() -> Response {
    let mut response = Response::new(Body::from(OK_BODY));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn failed() -> Response {
    text(StatusCode::INTERNAL_SERVER_ERROR, "webhook handler failed")
}

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

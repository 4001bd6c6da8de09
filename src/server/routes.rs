//! The axum routes: the webhook endpoint (event dispatch and websocket deliveries) and the
//! health check. Each handler call runs in its own task, tracked for a graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{ALLOW, CONTENT_TYPE, UPGRADE};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::task::TaskTracker;

use super::handler::{HandlerError, WebhookHandler};
use crate::event::MeshagentEvent;
use crate::signature::{MeshagentSignatureLayer, VerifiedWebhook};

/// The tracing target of the server's own events.
pub(super) const TARGET: &str = "meshagent_webhooks::server";

/// The body of every success, byte for byte what MeshAgent's Python server sends.
const OK_BODY: &str = r#"{"ok": true}"#;

/// One place under the server's connection cap, held by a connection and carried by each of
/// its requests, so that a websocket session that outlives the connection keeps it.
#[derive(Debug, Clone)]
pub(super) struct ConnectionPermit(#[allow(dead_code)] pub(super) Arc<OwnedSemaphorePermit>);

/// The largest websocket message and frame a `room.call` session receives.
#[derive(Debug, Clone, Copy)]
pub(super) struct WebsocketLimits {
    pub(super) message: usize,
    pub(super) frame: usize,
}

/// What every request to the webhook route shares.
pub(super) struct Shared<H> {
    handler: Arc<H>,
    /// Handler calls and websocket sessions, for the graceful shutdown.
    pub(super) tasks: TaskTracker,
    websocket: WebsocketLimits,
}

impl<H> Shared<H> {
    pub(super) fn new(handler: Arc<H>, websocket: WebsocketLimits) -> Self {
        Self { handler, tasks: TaskTracker::new(), websocket }
    }
}

impl<H> Clone for Shared<H> {
    fn clone(&self) -> Self {
        Self { handler: self.handler.clone(), tasks: self.tasks.clone(), websocket: self.websocket }
    }
}

/// The webhook route alone: GET and POST (and HEAD, through GET) on `path`, with `layer` in
/// front of them. Other methods get 405 before the layer runs.
pub(super) fn webhook_route<H, S>(
    path: &str,
    shared: Shared<H>,
    layer: MeshagentSignatureLayer,
) -> Router<S>
where
    H: WebhookHandler,
    S: Clone + Send + Sync + 'static,
{
    let endpoint = get(webhook::<H>).post(webhook::<H>).route_layer(layer).with_state(shared);
    Router::new().route(path, endpoint)
}

/// `GET /`, and every delivery handled: 200 `{"ok": true}`.
pub(super) async fn ok() -> Response {
    ([(CONTENT_TYPE, "application/json")], OK_BODY).into_response()
}

async fn webhook<H: WebhookHandler>(State(shared): State<Shared<H>>, request: Request) -> Response {
    let (mut parts, _verified_body) = request.into_parts();
    if parts.headers.contains_key(UPGRADE) {
        return websocket(shared, parts).await;
    }
    let event = match MeshagentEvent::from_request_parts(&mut parts, &()).await {
        Ok(event) => event,
        Err(rejection) => return rejection.into_response(),
    };
    let name = event.name().to_owned();
    let handler = shared.handler.clone();
    let verified =
        parts.extensions.get::<VerifiedWebhook>().is_none_or(VerifiedWebhook::is_verified);
    let call = async move {
        if verified {
            handler.on_event(event).await
        } else {
            handler.on_unverified_event(event).await
        }
    };
    if run_isolated(&shared.tasks, &name, call).await {
        ok().await
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "webhook handler failed").into_response()
    }
}

/// An `Upgrade` request must be a GET websocket handshake carrying a verified
/// `room.call`; the handler then gets the call and the socket.
async fn websocket<H: WebhookHandler>(shared: Shared<H>, mut parts: Parts) -> Response {
    if parts.method != Method::GET {
        let refusal = (StatusCode::METHOD_NOT_ALLOWED, "websocket deliveries must use GET");
        let mut response = refusal.into_response();
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let call = match MeshagentEvent::from_request_parts(&mut parts, &()).await {
        Ok(MeshagentEvent::RoomCall(call)) => call,
        Ok(_) => {
            let refusal =
                (StatusCode::BAD_REQUEST, "only room.call can be delivered over a websocket");
            return refusal.into_response();
        }
        Err(rejection) => return rejection.into_response(),
    };
    // The session counts as a connection for as long as it lasts.
    let permit = parts.extensions.remove::<ConnectionPermit>();
    let Shared { handler, tasks, websocket } = shared;
    upgrade
        .max_message_size(websocket.message)
        .max_frame_size(websocket.frame)
        .on_failed_upgrade(|error| {
            tracing::warn!(target: TARGET, %error, "websocket upgrade failed");
        })
        .on_upgrade(move |socket| async move {
            let session = async move { handler.on_call_websocket(call, socket).await };
            run_isolated(&tasks, "room.call", session).await;
            drop(permit);
        })
}

/// Runs `call` in its own tracked task, so that an error or a panic is contained and logged
/// (the cause, never the payload). Whether it succeeded.
async fn run_isolated<F>(tasks: &TaskTracker, event: &str, call: F) -> bool
where
    F: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let cause = match tasks.spawn(call).await {
        Ok(Ok(())) => return true,
        Ok(Err(error)) => error.to_string(),
        // The panic message is not logged: it may quote the payload. The panic hook has
        // already reported it.
        Err(join_error) if join_error.is_panic() => "panicked".to_owned(),
        Err(_) => "was cancelled".to_owned(),
    };
    tracing::error!(target: TARGET, event, error = %cause, "webhook handler failed");
    false
}

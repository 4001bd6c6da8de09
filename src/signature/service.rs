//! [`MeshagentSignature`]: the service that verifies each request.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use super::future::{ResponseFuture, verify_then_call};
use super::layer::{BoxError, Config, MeshagentSignatureLayer, ResponseBody};
use crate::secret::WebhookSecret;
use crate::telemetry::Observer;

/// Verifies MeshAgent webhook signatures, then calls the inner service with the verified
/// bytes as the body (`Request<Full<Bytes>>`, with a [`VerifiedWebhook`](crate::VerifiedWebhook)
/// in its extensions). Made by [`MeshagentSignatureLayer`]; see the
/// [module docs](crate::signature).
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use meshagent_webhooks::MeshagentSignature;
/// use tower::{ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let service = MeshagentSignature::new(
///     service_fn(|request: Request<Full<Bytes>>| async move {
///         Ok::<_, std::convert::Infallible>(Response::new(request.into_body()))
///     }),
///     "whsec_example",
/// );
/// let response = service.oneshot(Request::new(Full::new(Bytes::from("{}")))).await.unwrap();
/// assert_eq!(response.status(), 401);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MeshagentSignature<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> MeshagentSignature<S> {
    /// Wraps `inner`, verifying with `secret`.
    pub fn new(inner: S, secret: impl Into<WebhookSecret>) -> Self {
        MeshagentSignatureLayer::new(secret).layer(inner)
    }

    /// A [`MeshagentSignatureLayer`] for `secret`.
    pub fn layer(secret: impl Into<WebhookSecret>) -> MeshagentSignatureLayer {
        MeshagentSignatureLayer::new(secret)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Layer<S> for MeshagentSignatureLayer {
    type Service = MeshagentSignature<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MeshagentSignature { inner, config: self.config.clone() }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MeshagentSignature<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone may not be ready: keep the ready one for this call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let observer = Observer::start();
        let span = observer.span.clone();
        let verified = verify_then_call(self.config.clone(), observer, request, inner);
        // A disabled span is not entered on every poll: it costs instructions on every request.
        if span.is_disabled() {
            ResponseFuture { inner: Box::pin(verified) }
        } else {
            ResponseFuture { inner: Box::pin(verified.instrument(span)) }
        }
    }
}

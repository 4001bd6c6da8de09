//! The response future of [`MeshagentSignature`](super::MeshagentSignature): what happens to a
//! request, from its head to the answer.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, TRANSFER_ENCODING};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, Version};
use http_body::Body;
use http_body_util::{Either, Full};
use tower_service::Service;

use super::body::{BodyReader, DRAIN_LIMIT, IncomingBody};
use super::layer::{BoxError, Config, ResponseBody};
use super::verified::{PayloadSource, VerifiedClaims, VerifiedToken, VerifiedWebhook};
use super::verify::header_once;
use crate::rejection::{
    EventRejection, PayloadTooLarge, Rejection, SignatureRejection, trace_rejection,
};
use crate::telemetry::Observer;

type BoxedResponse<R, E> =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody<R>>, E>> + Send>>;

/// The response future of [`MeshagentSignature`](super::MeshagentSignature): reads and
/// verifies the request, drains what is left of a refused body, then answers with the inner
/// service or the rejection. Its output's body is a [`ResponseBody`](super::ResponseBody).
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use meshagent_webhooks::MeshagentSignature;
/// use meshagent_webhooks::signature::{ResponseBody, ResponseFuture};
/// use tower::{Service, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut service = MeshagentSignature::new(
///     service_fn(|_: http::Request<Full<Bytes>>| async {
///         Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
///     }),
///     "whsec_example",
/// );
/// let future: ResponseFuture<Full<Bytes>, Infallible> =
///     service.call(http::Request::new(Full::new(Bytes::new())));
/// let response: http::Response<ResponseBody<Full<Bytes>>> = future.await.unwrap();
/// assert_eq!(response.status(), 401);
/// # }
/// ```
pub struct ResponseFuture<R, E> {
    pub(super) inner: BoxedResponse<R, E>,
}

impl<R, E> Future for ResponseFuture<R, E> {
    type Output = Result<Response<ResponseBody<R>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<R, E> fmt::Debug for ResponseFuture<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Put in a request's extensions by a server that counts the requests on each connection
/// (the built-in one): called when the layer refuses the request, before it drains the body.
/// A refused request does not protect its connection: an attacker whose bodies trickle in
/// cannot hold places under the connection cap without a token.
#[derive(Clone)]
pub(crate) struct Refused(pub(crate) Arc<dyn Fn() + Send + Sync>);

/// One request through the layer: the head checked, the body read and verified (or drained
/// when refused), then the inner service called or the rejection answered.
pub(super) async fn verify_then_call<S, B, R>(
    config: Arc<Config>,
    observer: Observer,
    request: Request<B>,
    mut inner: S,
) -> Result<Response<ResponseBody<R>>, S::Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<R>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    let (request, body) = request.into_parts();
    let mut body = pin!(body);
    let declared = content_length(&request.headers);
    let at_least = declared.unwrap_or(0).max(body.size_hint().lower());
    let exact = declared.or(body.size_hint().exact());
    let http1 = request.version < Version::HTTP_2;
    // A client waiting for `100 Continue` has sent no body: there is nothing to drain.
    let mut unread = request.headers.contains_key(EXPECT) || at_least > DRAIN_LIMIT;
    let mut incoming = IncomingBody::new(body.as_mut(), config.body_pace);
    let limit = config.max_body_size;
    let outcome = match config.verifier.check_head(&request.headers) {
        Err(rejection) => Err(rejection),
        Ok((token, Some(value))) => verify_header_payload(token, value.as_bytes(), limit),
        Ok(_) if at_least > limit as u64 => Err(too_large("declared length is over the limit")),
        Ok((token, None)) => {
            let mut reader = BodyReader::new(exact, limit);
            match reader.read(&mut incoming).await {
                Ok(()) => {
                    let (payload, digest) = reader.finish();
                    let claims = token.check(&payload, &digest).map_err(SignatureRejection::from);
                    claims.map(|claims| (payload, PayloadSource::Body, claims))
                }
                // Over the limit: the rest is drained below, so that the answer is read.
                Err(rejection @ SignatureRejection::PayloadTooLarge(_)) => Err(rejection),
                // Broken, cut off, too slow or in too many pieces: the connection goes.
                Err(rejection) => {
                    unread = true;
                    Err(rejection)
                }
            }
        }
    };
    if outcome.is_err()
        && let Some(Refused(refused)) = request.extensions.get()
    {
        refused();
    }
    // HTTP/2 resets the stream of a body left unread; HTTP/1 needs it drained or closed, and
    // only a body framed by its `Content-Length` is drained.
    if http1 && !unread && !incoming.is_end_stream() {
        unread = declared.is_none() || !incoming.drain().await;
    }
    let close = http1 && unread && !incoming.is_end_stream();
    let mut answer = Answer { config, observer, close };
    match outcome {
        Err(rejection) => Ok(answer.refuse(rejection)),
        Ok((payload, source, claims)) => {
            let request = into_verified_request(
                request,
                declared,
                payload,
                source,
                claims,
                &mut answer.observer,
            );
            let response = inner.call(request).await?;
            Ok(answer.pass(response))
        }
    }
}

/// A payload that came in the `Meshagent-Webhook` header (the body, unsigned, is thrown away):
/// within the limit, and signed by the token.
fn verify_header_payload(
    token: VerifiedToken,
    value: &[u8],
    limit: usize,
) -> Result<(Bytes, PayloadSource, VerifiedClaims), SignatureRejection> {
    if value.len() > limit {
        return Err(too_large("Meshagent-Webhook header is over the limit"));
    }
    let payload = Bytes::copy_from_slice(value);
    let claims = token.check_payload(&payload)?;
    Ok((payload, PayloadSource::Header, claims))
}

fn too_large(detail: &'static str) -> SignatureRejection {
    PayloadTooLarge::with_detail(detail).into()
}

/// The request's `Content-Length`, when it has exactly one and it is a number.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_once(headers, &CONTENT_LENGTH).ok()??.to_str().ok()?.parse().ok()
}

/// The verified payload becomes the request: its bytes the body, the framing headers made to
/// say so, a [`VerifiedWebhook`] in the extensions and, when anyone listens, the
/// [`Delivery`](crate::telemetry::Delivery) record the extractor notes the event in.
fn into_verified_request(
    mut request: Parts,
    declared: Option<u64>,
    payload: Bytes,
    source: PayloadSource,
    claims: VerifiedClaims,
    observer: &mut Observer,
) -> Request<Full<Bytes>> {
    observer.verified(payload.len(), &claims);
    let headers = &mut request.headers;
    headers.remove(TRANSFER_ENCODING);
    if declared != Some(payload.len() as u64) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(payload.len()));
    }
    if source == PayloadSource::Header {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    request.extensions.insert(VerifiedWebhook::new(payload.clone(), source, claims));
    #[cfg(feature = "axum")]
    if let Some(delivery) = &observer.delivery {
        request.extensions.insert(delivery.clone());
    }
    Request::from_parts(request, Full::new(payload))
}

/// The answer, shaped by the configuration and observed.
struct Answer {
    config: Arc<Config>,
    observer: Observer,
    /// `Connection: close` goes with the answer: the HTTP/1 body was not read to its end.
    close: bool,
}

impl Answer {
    /// The layer's own rejection.
    fn refuse<R>(mut self, rejection: SignatureRejection) -> Response<ResponseBody<R>> {
        trace_rejection(rejection.status(), &rejection);
        let rejection = Rejection::Signature(rejection);
        self.observer.finish(Some(&rejection), &self.config.warnings);
        let response = self.config.respond(rejection).map(Either::Right);
        self.close_if_unread(response)
    }

    /// The inner service's answer; an extractor rejection in it is shaped by the configured
    /// response too.
    fn pass<R>(mut self, response: Response<R>) -> Response<ResponseBody<R>> {
        let rejection =
            response.extensions().get::<EventRejection>().cloned().map(Rejection::Event);
        self.observer.finish(rejection.as_ref(), &self.config.warnings);
        let response = match rejection {
            Some(rejection) if self.config.respond.is_some() => {
                self.config.respond(rejection).map(Either::Right)
            }
            _ => response.map(Either::Left),
        };
        self.close_if_unread(response)
    }

    /// `Connection: close` on HTTP/1 when the body was not read to its end: the client will
    /// not write its next request on a connection the server is about to close.
    fn close_if_unread<T>(&self, mut response: Response<T>) -> Response<T> {
        if self.close {
            response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

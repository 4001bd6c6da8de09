//! The response future of [`MeshagentSignature`](super::MeshagentSignature).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::ResponseBody;
use super::headers::Framing;
use super::layer::Config;
use super::read::BodyReader;
use super::service::accept;
use super::verify::VerifiedToken;
use crate::PayloadSource;
use crate::rejection::SignatureRejection;

pin_project! {
    /// The response future of [`MeshagentSignature`](super::MeshagentSignature): reads and
    /// verifies the request, then runs the inner service, or answers with the rejection.
    ///
    /// A state machine, not a boxed future: it allocates nothing itself, and it is `Send`
    /// whenever the inner service, its future and the request body are.
    ///
    /// # Example
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::Request;
    /// use http_body_util::Full;
    /// use meshagent_webhooks::signature::ResponseFuture;
    ///
    /// fn future_type<S: tower::Service<Request<Full<Bytes>>>>(_: ResponseFuture<S, Full<Bytes>>) {}
    /// ```
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        // The body is being read and hashed; the inner service is called once it is in.
        Reading {
            #[pin]
            body: B,
            pending: Option<Pending<S>>,
        },
        // The inner service is answering.
        Calling {
            #[pin]
            future: S::Future,
        },
        // Refused: the response is made when polled.
        Refused {
            refusal: Option<(SignatureRejection, Arc<Config>)>,
        },
    }
}

/// What the request needs once its body is in.
pub(super) struct Pending<S> {
    pub(super) parts: Parts,
    pub(super) token: VerifiedToken,
    pub(super) framing: Framing,
    pub(super) reader: BodyReader,
    pub(super) inner: S,
    pub(super) config: Arc<Config>,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
{
    pub(super) fn reading(body: B, pending: Pending<S>) -> Self {
        Self::from_state(State::Reading {
            body,
            pending: Some(pending),
        })
    }

    pub(super) fn calling(future: S::Future) -> Self {
        Self::from_state(State::Calling { future })
    }

    pub(super) fn refused(rejection: SignatureRejection, config: Arc<Config>) -> Self {
        Self::from_state(State::Refused {
            refusal: Some((rejection, config)),
        })
    }

    fn from_state(state: State<S, B>) -> Self {
        Self { state }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut state = self.as_mut().project().state;
            let next = match state.as_mut().project() {
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Refused { refusal } => {
                    let (rejection, config) = refusal.take().expect(POLLED_AFTER_COMPLETION);
                    rejection.trace();
                    let response = (config.rejection_response)(&rejection);
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
                StateProj::Reading { body, pending } => {
                    let read = pending.as_mut().expect(POLLED_AFTER_COMPLETION);
                    let result = ready!(read.reader.poll_read(body, cx));
                    let Pending {
                        parts,
                        token,
                        framing,
                        reader,
                        mut inner,
                        config,
                    } = pending.take().expect(POLLED_AFTER_COMPLETION);
                    let request = result.and_then(|()| {
                        let (payload, digest) = reader.finish();
                        accept(parts, token, payload, &digest, PayloadSource::Body, framing)
                    });
                    match request {
                        Ok(request) => State::Calling {
                            future: inner.call(request),
                        },
                        Err(rejection) => State::Refused {
                            refusal: Some((rejection, config)),
                        },
                    }
                }
            };
            state.set(next);
        }
    }
}

/// Futures must not be polled once they have completed; this one says so if it is.
const POLLED_AFTER_COMPLETION: &str = "MeshagentSignature's ResponseFuture polled after completion";

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

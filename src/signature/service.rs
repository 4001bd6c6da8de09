//! [`MeshagentSignature`]: the service that verifies each request.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::request::Parts;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::Full;
use sha2::{Digest, Sha256};
use tower_service::Service;

use super::future::Pending;
use super::headers::{Framing, WebhookHeaders};
use super::layer::Config;
use super::read::BodyReader;
use super::verify::VerifiedToken;
use super::{
    MeshagentSignatureLayer, PayloadSource, ResponseBody, ResponseFuture, VerifiedWebhook,
};
use crate::WebhookSecret;
use crate::rejection::{DuplicatePayloadHeader, MissingSignature, SignatureRejection};

/// Verifies MeshAgent webhook signatures, then calls the inner service with the verified bytes
/// as the body. Made by [`MeshagentSignatureLayer`]; see the [module docs](crate::signature).
///
/// The inner service receives `Request<Full<Bytes>>`, with a [`VerifiedWebhook`] in its
/// extensions.
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
#[derive(Clone)]
pub struct MeshagentSignature<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> MeshagentSignature<S> {
    /// Wraps `inner`, verifying with `secret`.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignature;
    ///
    /// let service = MeshagentSignature::new(tower::service_fn(|_: http::Request<http_body_util::Full<bytes::Bytes>>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    /// }), "whsec_example");
    /// # let _ = service;
    /// ```
    pub fn new(inner: S, secret: impl Into<WebhookSecret>) -> Self {
        Self::from_parts(inner, MeshagentSignatureLayer::new(secret).config)
    }

    pub(crate) fn from_parts(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// A [`MeshagentSignatureLayer`] for `secret`.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignature;
    ///
    /// let layer = MeshagentSignature::<()>::layer("whsec_example");
    /// # let _ = layer;
    /// ```
    pub fn layer(secret: impl Into<WebhookSecret>) -> MeshagentSignatureLayer {
        MeshagentSignatureLayer::new(secret)
    }

    /// The inner service.
    ///
    /// # Example
    ///
    /// ```
    /// let service = meshagent_webhooks::MeshagentSignature::new(7, "k");
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// # Example
    ///
    /// ```
    /// let mut service = meshagent_webhooks::MeshagentSignature::new(7, "k");
    /// *service.get_mut() += 1;
    /// assert_eq!(service.into_inner(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// # Example
    ///
    /// ```
    /// let service = meshagent_webhooks::MeshagentSignature::new(7, "k");
    /// assert_eq!(service.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for MeshagentSignature<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshagentSignature")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MeshagentSignature<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone may not be ready: keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = request.into_parts();
        let begun = begin(&self.config, &parts, body.size_hint().lower());
        match begun {
            Ok(Begun::ReadBody {
                token,
                framing,
                reader,
            }) => ResponseFuture::reading(
                body,
                Pending {
                    parts,
                    token,
                    framing,
                    reader,
                    inner,
                    config: self.config.clone(),
                },
            ),
            Ok(Begun::HeaderPayload {
                token,
                payload,
                framing,
            }) => {
                // The body was not signed: it is dropped unread.
                drop(body);
                let digest: [u8; 32] = Sha256::digest(&payload).into();
                match accept(
                    parts,
                    token,
                    payload,
                    &digest,
                    PayloadSource::Header,
                    framing,
                ) {
                    Ok(request) => ResponseFuture::calling(inner.call(request)),
                    Err(rejection) => ResponseFuture::refused(rejection, self.config.clone()),
                }
            }
            Err(rejection) => ResponseFuture::refused(rejection, self.config.clone()),
        }
    }
}

/// How a request whose token passed goes on.
enum Begun {
    /// The signed payload is the body: read and hash it.
    ReadBody {
        token: VerifiedToken,
        framing: Framing,
        reader: BodyReader,
    },
    /// The signed payload came in the `Meshagent-Webhook` header.
    HeaderPayload {
        token: VerifiedToken,
        payload: Bytes,
        framing: Framing,
    },
}

/// Steps 1–5 of the policy, before any of the body is read: configuration, the signature
/// header, the JWT and its claims, the payload header, the declared body length.
fn begin(
    config: &Config,
    parts: &Parts,
    lower_size_hint: u64,
) -> Result<Begun, SignatureRejection> {
    let headers = WebhookHeaders::find(&parts.headers);
    let signature = headers
        .signature
        .single()
        .map_err(|()| MissingSignature::with_detail("more than one Meshagent-Signature header"))?;
    let token = config
        .verifier
        .verify_token(signature.map(HeaderValue::as_bytes))?;
    let header_payload = headers
        .payload
        .single()
        .map_err(|()| DuplicatePayloadHeader::new())?;
    let framing = headers.framing();
    if let Some(value) = header_payload {
        let payload = Bytes::copy_from_slice(value.as_bytes());
        return Ok(Begun::HeaderPayload {
            token,
            payload,
            framing,
        });
    }
    let reader = BodyReader::new(
        framing.declared_length,
        lower_size_hint,
        config.max_body_size,
    )?;
    Ok(Begun::ReadBody {
        token,
        framing,
        reader,
    })
}

/// Step 6, once the payload is in: its digest against the token's claim; then the request
/// rebuilt around the verified bytes.
pub(super) fn accept(
    mut parts: Parts,
    token: VerifiedToken,
    payload: Bytes,
    digest: &[u8; 32],
    source: PayloadSource,
    framing: Framing,
) -> Result<Request<Full<Bytes>>, SignatureRejection> {
    let claims = token.check_digest(digest)?;

    // The body is now `payload`, whole: its framing headers must say so. They usually do
    // already (one `Content-Length` with the right value), and are then left as they are.
    if framing.transfer_encoding {
        parts.headers.remove(TRANSFER_ENCODING);
    }
    let length_is_right = source == PayloadSource::Body
        && framing
            .declared_length
            .is_some_and(|length| u64::try_from(payload.len()) == Ok(length));
    if !length_is_right {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(payload.len()));
    }
    if source == PayloadSource::Header {
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    parts
        .extensions
        .insert(VerifiedWebhook::new(payload.clone(), source, claims));
    Ok(Request::from_parts(parts, Full::new(payload)))
}

//! [`MeshagentSignature`]: the service that verifies each request.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use tower_service::Service;

use super::headers::WebhookHeaders;
use super::layer::Config;
use super::{
    MeshagentSignatureLayer, PayloadSource, ResponseBody, ResponseFuture, VerifiedWebhook,
};
use crate::WebhookSecret;
use crate::rejection::{
    BodyReadFailed, DuplicatePayloadHeader, MissingSignature, PayloadTooLarge, SignatureRejection,
};

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
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
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
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        ResponseFuture::new(async move {
            match verify(&config, request).await {
                Ok(request) => inner
                    .call(request)
                    .await
                    .map(|response| response.map(ResponseBody::inner)),
                Err(rejection) => {
                    rejection.trace();
                    let response = (config.rejection_response)(&rejection);
                    Ok(response.map(ResponseBody::rejection))
                }
            }
        })
    }
}

/// Steps 1–6 of the policy: configuration, header, JWT, body limit, digest; then the request
/// rebuilt around the verified bytes.
async fn verify<B>(
    config: &Config,
    request: Request<B>,
) -> Result<Request<Full<Bytes>>, SignatureRejection>
where
    B: Body,
{
    let headers = WebhookHeaders::find(request.headers());
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
        .map_err(|()| DuplicatePayloadHeader::new())?
        .map(|value| Bytes::copy_from_slice(value.as_bytes()));
    let declared_length = headers.declared_length();

    let (mut parts, body) = request.into_parts();
    let (payload, digest, source) = match header_payload {
        Some(payload) => {
            // The body was not signed: it is dropped unread.
            drop(body);
            let digest: [u8; 32] = Sha256::digest(&payload).into();
            (payload, digest, PayloadSource::Header)
        }
        None => {
            let (payload, digest) =
                read_hashed(body, declared_length, config.max_body_size).await?;
            (payload, digest, PayloadSource::Body)
        }
    };
    let claims = token.check_digest(&digest)?;

    // The body is now `payload`, whole: its framing headers must say so. They usually do
    // already (one `Content-Length` with the right value), and are then left as they are.
    parts.headers.remove(TRANSFER_ENCODING);
    let length_is_right = source == PayloadSource::Body
        && declared_length.is_some_and(|length| u64::try_from(payload.len()) == Ok(length));
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

/// How much of a chunk is hashed, then copied, at a time: small enough that the copy reads it
/// from the L1 cache.
const HASH_PIECE: usize = 16 * 1024;

/// Reads the body up to `limit` bytes, hashing it as it streams in. Refuses a larger
/// `declared` length (the request's single `Content-Length`) before reading. The bytes are
/// copied at most once (none when the body arrives as a single chunk).
async fn read_hashed<B: Body>(
    body: B,
    declared: Option<u64>,
    limit: usize,
) -> Result<(Bytes, [u8; 32]), SignatureRejection> {
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if declared.is_some_and(|length| length > limit_u64) || body.size_hint().lower() > limit_u64 {
        return Err(PayloadTooLarge::with_detail("declared length is over the limit").into());
    }

    let mut body = std::pin::pin!(body);
    let mut hasher = Sha256::new();
    let expected = declared.and_then(|length| usize::try_from(length).ok());
    // A body that arrives as one chunk is kept as is (no copy). Otherwise each chunk is hashed
    // and copied piece by piece into one buffer (sized from `Content-Length` when declared) and
    // released at once, so the body is read from memory once and the HTTP server can reuse its
    // read buffer.
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyReadFailed::new())?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let len = data.remaining();
        total = total.saturating_add(len);
        if total > limit {
            return Err(PayloadTooLarge::with_detail("body is over the limit").into());
        }
        let chunk = data.copy_to_bytes(len);
        if first.is_none() && joined.is_none() && expected.is_none_or(|expected| expected <= len) {
            hasher.update(&chunk);
            first = Some(chunk);
            continue;
        }
        let buffer = joined.get_or_insert_with(|| {
            let mut buffer = BytesMut::with_capacity(expected.unwrap_or(0).max(total));
            if let Some(earlier) = first.take() {
                buffer.extend_from_slice(&earlier);
            }
            buffer
        });
        for piece in chunk.chunks(HASH_PIECE) {
            hasher.update(piece);
            buffer.extend_from_slice(piece);
        }
    }
    let payload = joined.map_or_else(|| first.unwrap_or_default(), BytesMut::freeze);
    Ok((payload, hasher.finalize().into()))
}

//! [`MeshagentSignatureLayer`]: configuration and the tower `Layer`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Either};

use super::body::BodyPace;
use super::verify::SignatureVerifier;
use crate::rejection::Rejection;
use crate::secret::{ConfigError, SECRET_ENV_VAR, WebhookSecret};
use crate::telemetry::RejectionWarnings;

/// Default body limit: 1 MiB, like MeshAgent's Python receiver.
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

/// Default time the body has to arrive: 30 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Default minimum body rate, in bytes a second: 500, Apache `mod_reqtimeout`'s `MinRate`.
/// A MeshAgent delivery (100 B to 1 MiB, most in one packet) from the slowest mobile link
/// arrives hundreds of times faster.
pub const DEFAULT_MIN_BODY_RATE: u64 = 500;

/// Default time before the minimum body rate applies: 5 s, enough for a few lost packets to
/// be sent again.
pub const DEFAULT_MIN_BODY_RATE_GRACE: Duration = Duration::from_secs(5);

/// The error type of response bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a rejection response.
pub(crate) type RejectionBody = UnsyncBoxBody<Bytes, BoxError>;

/// The response body of [`MeshagentSignature`](super::MeshagentSignature): the inner
/// service's body, or the body of a rejection.
pub type ResponseBody<B> = Either<B, RejectionBody>;

type Respond = Arc<dyn Fn(&Rejection) -> Response<RejectionBody> + Send + Sync>;

/// Verifies MeshAgent webhook signatures before the inner service sees a request.
///
/// See the [module docs](crate::signature) for the rules, the connection behaviour and more
/// examples.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::post};
/// use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
///
/// async fn handle(event: MeshagentEvent) -> &'static str {
///     println!("{}", event.name());
///     "ok"
/// }
///
/// let app: Router = Router::new().route(
///     "/webhook",
///     post(handle).layer(MeshagentSignatureLayer::new("whsec_example")),
/// );
/// ```
#[derive(Clone)]
#[must_use]
pub struct MeshagentSignatureLayer {
    pub(crate) config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) verifier: SignatureVerifier,
    pub(crate) max_body_size: usize,
    pub(crate) body_pace: BodyPace,
    pub(crate) respond: Option<Respond>,
    pub(crate) warnings: Arc<RejectionWarnings>,
}

impl MeshagentSignatureLayer {
    /// A layer that verifies with `secret`.
    ///
    /// An empty secret does not panic: the layer logs one error now and answers every request
    /// with 500 `webhook secret is not configured` (fail closed).
    pub fn new(secret: impl Into<WebhookSecret>) -> Self {
        Self::from_verifier(SignatureVerifier::new(secret))
    }

    /// A layer that accepts tokens signed by any of `secrets` (rotation). The
    /// [`VerifiedClaims::secret_index`](crate::VerifiedClaims::secret_index) in the request
    /// extensions says which one matched. No secret, or any empty one, fails closed.
    pub fn from_secrets<I>(secrets: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<WebhookSecret>,
    {
        Self::from_verifier(SignatureVerifier::from_secrets(secrets))
    }

    /// A layer with the secret from `MESHAGENT_WEBHOOK_SECRET`, and, during a rotation, the
    /// previous one from `MESHAGENT_WEBHOOK_PREVIOUS_SECRET` (secret index 1); both read once,
    /// now.
    ///
    /// When `MESHAGENT_WEBHOOK_SECRET` is unset or empty the layer still builds, logs one
    /// error, and fails closed: every request gets 500 `webhook secret is not configured`. Use
    /// [`try_from_env`](Self::try_from_env) to fail at start-up instead.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let app: Router = Router::new().route(
    ///     "/webhook",
    ///     post(|| async { "ok" }).layer(MeshagentSignatureLayer::from_env()),
    /// );
    /// ```
    pub fn from_env() -> Self {
        Self::from_secrets(WebhookSecret::all_from_env())
    }

    /// Like [`from_env`](Self::from_env), but a missing or empty `MESHAGENT_WEBHOOK_SECRET` is
    /// an error now instead of a 500 on every request.
    ///
    /// # Errors
    ///
    /// [`ConfigError::MissingSecret`] when the variable is unset, empty or not Unicode.
    pub fn try_from_env() -> Result<Self, ConfigError> {
        let secrets = WebhookSecret::all_from_env();
        if secrets.is_empty() {
            return Err(ConfigError::MissingSecret);
        }
        Ok(Self::from_secrets(secrets))
    }

    /// ⚠️ **Insecure**: a layer that checks no signature at all, for MeshAgent webhooks
    /// registered without a secret (sent with no `Meshagent-Signature`). Anyone who can reach
    /// the route can send any event; a `Meshagent-Signature` header, even a valid one, is
    /// ignored. Handlers can tell: [`VerifiedWebhook::is_verified`](crate::VerifiedWebhook::is_verified)
    /// is `false`, the span and the `outcome` metric label say `unverified`. Logs one warning
    /// now. Everything else (limits, the event rules) is unchanged.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnsignedWithSecret`] when `MESHAGENT_WEBHOOK_SECRET` (or the previous
    /// secret) is set: accepting signed-or-unsigned would let anyone drop the header.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Extension, Router, routing::post};
    /// use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer, VerifiedWebhook};
    ///
    /// async fn handle(Extension(webhook): Extension<VerifiedWebhook>, event: MeshagentEvent) {
    ///     assert!(!webhook.is_verified(), "{} came unsigned", event.name());
    /// }
    ///
    /// fn app() -> Result<Router, meshagent_webhooks::ConfigError> {
    ///     let layer = MeshagentSignatureLayer::dangerously_accept_unsigned()?;
    ///     Ok(Router::new().route("/webhook", post(handle).layer(layer)))
    /// }
    /// # let _ = app;
    /// ```
    pub fn dangerously_accept_unsigned() -> Result<Self, ConfigError> {
        if !WebhookSecret::all_from_env().is_empty() {
            return Err(ConfigError::UnsignedWithSecret);
        }
        Ok(Self::from_verifier(SignatureVerifier::unsigned()))
    }

    /// A layer around a ready [`SignatureVerifier`] (secrets and leeway).
    pub fn from_verifier(verifier: SignatureVerifier) -> Self {
        if verifier.is_unsigned() {
            tracing::warn!(
                target: "meshagent_webhooks::config",
                "accepting unsigned webhook deliveries: no signature is checked, anyone who can \
                 reach this route can send events"
            );
        } else if !verifier.is_configured() {
            tracing::error!(
                target: "meshagent_webhooks::config",
                "webhook secret is not configured (set {SECRET_ENV_VAR}): every request will be \
                 answered 500"
            );
        }
        Self {
            config: Arc::new(Config {
                verifier,
                max_body_size: DEFAULT_MAX_BODY_SIZE,
                body_pace: BodyPace {
                    timeout: DEFAULT_BODY_TIMEOUT,
                    min_rate: DEFAULT_MIN_BODY_RATE,
                    grace: DEFAULT_MIN_BODY_RATE_GRACE,
                },
                respond: None,
                warnings: Arc::default(),
            }),
        }
    }

    /// Largest payload accepted, in bytes (default 1 MiB), in the body or in the
    /// `Meshagent-Webhook` header. A larger `Content-Length` is answered 413 before anything
    /// is read; a streamed body is cut off at the limit with 413.
    pub fn with_max_body_size(mut self, limit: usize) -> Self {
        Arc::make_mut(&mut self.config).max_body_size = limit;
        self
    }

    /// How long the body may take to arrive, from the first time the layer waits for it
    /// (default 30 s). A body still incomplete then is answered 408 and, on HTTP/1, the
    /// connection is closed: a client sending one byte a second cannot hold it.
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.config).body_pace.timeout = timeout;
        self
    }

    /// The slowest a body may arrive, in the spirit of Apache `mod_reqtimeout`'s `MinRate`:
    /// once it has made the layer wait for `grace`, it must have come at `bytes_per_second`
    /// on average (defaults: 500 bytes a second after 5 s; 0 turns the minimum off). A body
    /// that falls behind is answered 408 and, on HTTP/1, its connection is closed: one byte a
    /// second holds a connection for `grace`, not for the whole
    /// [body timeout](Self::with_body_timeout), which still bounds every body. MeshAgent's
    /// tokens never expire, so this is what keeps a replayed delivery head from holding
    /// connections.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// // Bodies must keep coming at 2 KB a second once they have taken 2 s.
    /// let layer = MeshagentSignatureLayer::new("whsec_example")
    ///     .with_min_body_rate(2_000, Duration::from_secs(2));
    /// assert_eq!(layer.min_body_rate(), (2_000, Duration::from_secs(2)));
    /// ```
    pub fn with_min_body_rate(mut self, bytes_per_second: u64, grace: Duration) -> Self {
        let pace = &mut Arc::make_mut(&mut self.config).body_pace;
        (pace.min_rate, pace.grace) = (bytes_per_second, grace);
        self
    }

    /// Tolerance for `exp`, `nbf` and `iat` (whole seconds; default 0, like PyJWT). MeshAgent's
    /// tokens carry none of them, so this only matters for other senders.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.verifier = config.verifier.clone().with_leeway(leeway);
        self
    }

    /// Shapes every rejection of a delivery: the layer's own (401, 408, 413, 500, …) and the
    /// [`MeshagentEvent`](crate::MeshagentEvent) extractor's (415, 400, 422) on routes behind
    /// this layer. `respond` returns any `http::Response` with a body axum can send, so
    /// `(status, Json(..)).into_response()` works. The default is the rejection's status with
    /// its plain-text reason ([`Rejection::to_response`]). Either way the rejection
    /// ([`SignatureRejection`](crate::SignatureRejection) or
    /// [`EventRejection`](crate::EventRejection)) is in the response extensions, and on
    /// HTTP/1 a `Connection: close` is added when the body could not be read to its end.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::Json;
    /// use axum::response::IntoResponse;
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let layer = MeshagentSignatureLayer::new("whsec_example").with_rejection_response(|rejection| {
    ///     let body = serde_json::json!({ "error": rejection.kind(), "message": rejection.body_text() });
    ///     (rejection.status(), Json(body)).into_response()
    /// });
    /// # let _ = layer;
    /// ```
    pub fn with_rejection_response<F, B>(mut self, respond: F) -> Self
    where
        F: Fn(&Rejection) -> Response<B> + Send + Sync + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Arc::make_mut(&mut self.config).respond = Some(Arc::new(move |rejection| {
            respond(rejection).map(|body| body.map_err(Into::into).boxed_unsync())
        }));
        self
    }

    /// ⚠️ Also accepts a payload whose `sha256` claim is the digest of Python's
    /// `json.dumps(json.loads(payload))`, as MeshAgent's Python receiver does: for deliveries
    /// re-formatted on the way (pretty-printed, compacted, re-escaped, a trailing newline, a
    /// repeated key). The raw bytes are still checked first; the Python text is only made for
    /// a valid token whose digest does not match, within the body limit. What it gives up: the
    /// handler may get bytes that differ from the ones signed (same JSON value for Python).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let layer = MeshagentSignatureLayer::new("whsec_example").with_python_digest();
    /// # let _ = layer;
    /// ```
    pub fn with_python_digest(mut self) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.verifier = config.verifier.clone().with_python_digest();
        self
    }

    /// Whether a usable secret is configured (or unsigned deliveries were asked for). When
    /// false, every request is answered 500 `webhook secret is not configured`.
    pub fn is_configured(&self) -> bool {
        self.config.verifier.is_configured()
    }

    /// Whether the layer accepts unsigned deliveries
    /// ([`dangerously_accept_unsigned`](Self::dangerously_accept_unsigned)).
    pub fn is_unsigned(&self) -> bool {
        self.config.verifier.is_unsigned()
    }

    /// The configured payload limit, in bytes.
    pub fn max_body_size(&self) -> usize {
        self.config.max_body_size
    }

    /// The configured body timeout.
    pub fn body_timeout(&self) -> Duration {
        self.config.body_pace.timeout
    }

    /// The configured minimum body rate (bytes a second, 0 for none) and its grace period.
    pub fn min_body_rate(&self) -> (u64, Duration) {
        (self.config.body_pace.min_rate, self.config.body_pace.grace)
    }
}

impl Config {
    /// The response for `rejection`: the custom one, or the default, with the rejection in its
    /// extensions either way (as [`Rejection`] and as its own type).
    pub(crate) fn respond(&self, rejection: Rejection) -> Response<RejectionBody> {
        let mut response = match &self.respond {
            Some(respond) => respond(&rejection),
            None => rejection
                .to_response()
                .map(|body| body.map_err(|never| match never {}).boxed_unsync()),
        };
        let extensions = response.extensions_mut();
        match &rejection {
            Rejection::Signature(inner) => extensions.insert(inner.clone()).map(drop),
            Rejection::Event(inner) => extensions.insert(inner.clone()).map(drop),
        };
        extensions.insert(rejection);
        response
    }
}

impl fmt::Debug for MeshagentSignatureLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeshagentSignatureLayer")
            .field("verifier", &self.verifier)
            .field("max_body_size", &self.max_body_size)
            .field("body_pace", &self.body_pace)
            .field("custom_rejection_response", &self.respond.is_some())
            .finish_non_exhaustive()
    }
}

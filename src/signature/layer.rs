//! [`MeshagentSignatureLayer`]: configuration and the tower `Layer`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use tower_layer::Layer;

use super::{MeshagentSignature, SignatureVerifier};
use crate::rejection::SignatureRejection;
use crate::secret::{ConfigError, SECRET_ENV_VAR, WebhookSecret};

/// Default body limit: 1 MiB, like MeshAgent's Python receiver.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::MeshagentSignatureLayer;
/// use meshagent_webhooks::signature::DEFAULT_MAX_BODY_SIZE;
///
/// assert_eq!(MeshagentSignatureLayer::new("k").max_body_size(), DEFAULT_MAX_BODY_SIZE);
/// ```
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

type RejectionResponse = Arc<dyn Fn(&SignatureRejection) -> Response<Full<Bytes>> + Send + Sync>;

/// Verifies MeshAgent webhook signatures before the inner service sees a request.
///
/// See the [module docs](crate::signature) for the rules, and examples.
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
/// let app: Router = Router::new()
///     .route("/webhook", post(handle))
///     .layer(MeshagentSignatureLayer::new("whsec_example"));
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
    pub(crate) rejection_response: RejectionResponse,
}

impl MeshagentSignatureLayer {
    /// A layer that verifies with `secret`.
    ///
    /// An empty secret does not panic: the layer logs one error now and answers every request
    /// with 500 `webhook secret is not configured` (fail closed).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let layer = MeshagentSignatureLayer::new("whsec_example");
    /// # let _ = layer;
    /// ```
    pub fn new(secret: impl Into<WebhookSecret>) -> Self {
        Self::from_verifier(SignatureVerifier::new(secret))
    }

    /// A layer that accepts tokens signed by any of `secrets` (rotation). The
    /// [`VerifiedClaims::secret_index`](crate::VerifiedClaims::secret_index) in the request
    /// extensions says which one matched. No secret, or any empty one, fails closed.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let layer = MeshagentSignatureLayer::from_secrets(["whsec_new", "whsec_old"]);
    /// # let _ = layer;
    /// ```
    pub fn from_secrets<I>(secrets: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<WebhookSecret>,
    {
        Self::from_verifier(SignatureVerifier::from_secrets(secrets))
    }

    /// A layer with the secret from `MESHAGENT_WEBHOOK_SECRET`, read once, now.
    ///
    /// When the variable is unset or empty the layer still builds, logs one error, and fails
    /// closed: every request gets 500 `webhook secret is not configured`. Use
    /// [`try_from_env`](Self::try_from_env) to fail at start-up instead.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let app: Router = Router::new()
    ///     .route("/webhook", post(|| async { "ok" }))
    ///     .layer(MeshagentSignatureLayer::from_env());
    /// ```
    pub fn from_env() -> Self {
        match WebhookSecret::from_env() {
            Some(secret) => Self::new(secret),
            None => Self::from_verifier(SignatureVerifier::unconfigured()),
        }
    }

    /// Like [`from_env`](Self::from_env), but a missing or empty `MESHAGENT_WEBHOOK_SECRET` is
    /// an error now instead of a 500 on every request.
    ///
    /// # Errors
    ///
    /// [`ConfigError::MissingSecret`] when the variable is unset, empty or not Unicode.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// match MeshagentSignatureLayer::try_from_env() {
    ///     Ok(layer) => { let _ = layer; }
    ///     Err(error) => eprintln!("{error}"),
    /// }
    /// ```
    pub fn try_from_env() -> Result<Self, ConfigError> {
        WebhookSecret::from_env()
            .map(Self::new)
            .ok_or(ConfigError::MissingSecret)
    }

    /// A layer around a ready [`SignatureVerifier`] (secrets and leeway).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{MeshagentSignatureLayer, SignatureVerifier};
    ///
    /// let layer = MeshagentSignatureLayer::from_verifier(SignatureVerifier::new("whsec_example"));
    /// # let _ = layer;
    /// ```
    pub fn from_verifier(verifier: SignatureVerifier) -> Self {
        if !verifier.is_configured() {
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
                rejection_response: Arc::new(SignatureRejection::to_response),
            }),
        }
    }

    /// Largest body read, in bytes (default 1 MiB). A larger `Content-Length` is answered 413
    /// before anything is read; a streamed body is cut off at the limit with 413.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let layer = MeshagentSignatureLayer::new("whsec_example").with_max_body_size(64 * 1024);
    /// # let _ = layer;
    /// ```
    pub fn with_max_body_size(mut self, limit: usize) -> Self {
        Arc::make_mut(&mut self.config).max_body_size = limit;
        self
    }

    /// Tolerance for `exp`, `nbf` and `iat` (whole seconds; default 0, like PyJWT). MeshAgent's
    /// tokens carry none of them, so this only matters for other senders.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let layer = MeshagentSignatureLayer::new("whsec_example").with_leeway(Duration::from_secs(30));
    /// # let _ = layer;
    /// ```
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.verifier = config.verifier.clone().with_leeway(leeway);
        self
    }

    /// Replaces the response sent for a rejection. The default is the rejection's status with
    /// its plain-text reason ([`SignatureRejection::to_response`]).
    ///
    /// # Example
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{Response, header};
    /// use http_body_util::Full;
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// let layer = MeshagentSignatureLayer::new("whsec_example").with_rejection_response(|rejection| {
    ///     let body = serde_json::json!({ "error": rejection.body_text() }).to_string();
    ///     Response::builder()
    ///         .status(rejection.status())
    ///         .header(header::CONTENT_TYPE, "application/json")
    ///         .body(Full::new(Bytes::from(body)))
    ///         .unwrap()
    /// });
    /// # let _ = layer;
    /// ```
    pub fn with_rejection_response<F>(mut self, respond: F) -> Self
    where
        F: Fn(&SignatureRejection) -> Response<Full<Bytes>> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).rejection_response = Arc::new(respond);
        self
    }

    /// Whether a usable secret is configured. When false, every request is answered 500
    /// `webhook secret is not configured`.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// assert!(MeshagentSignatureLayer::new("whsec_example").is_configured());
    /// assert!(!MeshagentSignatureLayer::new("").is_configured());
    /// ```
    pub fn is_configured(&self) -> bool {
        self.config.verifier.is_configured()
    }

    /// The configured body limit, in bytes.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentSignatureLayer;
    ///
    /// assert_eq!(MeshagentSignatureLayer::new("k").max_body_size(), 1024 * 1024);
    /// ```
    pub fn max_body_size(&self) -> usize {
        self.config.max_body_size
    }
}

impl<S> Layer<S> for MeshagentSignatureLayer {
    type Service = MeshagentSignature<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MeshagentSignature::from_parts(inner, self.config.clone())
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
            .finish_non_exhaustive()
    }
}

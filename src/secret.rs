//! The shared webhook secret, and where it comes from.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The environment variable MeshAgent's SDK reads the webhook secret from.
pub const SECRET_ENV_VAR: &str = "MESHAGENT_WEBHOOK_SECRET";

/// The environment variable read for the previous secret during a rotation (optional).
pub const PREVIOUS_SECRET_ENV_VAR: &str = "MESHAGENT_WEBHOOK_PREVIOUS_SECRET";

/// A MeshAgent webhook secret: the HMAC key of the `Meshagent-Signature` JWT.
///
/// The key is prepared once, so verifying a request never re-derives it, and cloning is cheap.
/// `Debug` prints `WebhookSecret(<redacted>)`; there is no `Display` and no way to read the
/// secret back out.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::WebhookSecret;
///
/// let secret = WebhookSecret::new("whsec_example");
/// assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
/// assert!(!secret.is_empty());
/// ```
#[derive(Clone)]
pub struct WebhookSecret {
    key: Arc<Hmac<Sha256>>,
    empty: bool,
}

impl WebhookSecret {
    /// Wraps the bytes of a secret (MeshAgent uses the UTF-8 bytes of the secret text).
    ///
    /// An empty secret is accepted here so that the error surfaces where it can be reported:
    /// a [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer) holding one fails closed.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        let secret = secret.as_ref();
        // HMAC takes keys of any length (long ones are hashed first): this cannot fail.
        let key = Hmac::<Sha256>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 takes keys of any length"));
        Self { key: Arc::new(key), empty: secret.is_empty() }
    }

    /// Reads the secret from `MESHAGENT_WEBHOOK_SECRET`; `None` when it is unset, empty or not
    /// valid Unicode.
    pub fn from_env() -> Option<Self> {
        Self::from_env_var(SECRET_ENV_VAR)
    }

    /// The configured secrets from the environment: `MESHAGENT_WEBHOOK_SECRET`, then
    /// `MESHAGENT_WEBHOOK_PREVIOUS_SECRET` when that is set too. Empty without the first.
    pub(crate) fn all_from_env() -> Vec<Self> {
        let Some(current) = Self::from_env() else {
            return Vec::new();
        };
        std::iter::once(current).chain(Self::from_env_var(PREVIOUS_SECRET_ENV_VAR)).collect()
    }

    fn from_env_var(name: &str) -> Option<Self> {
        std::env::var(name).ok().filter(|secret| !secret.is_empty()).map(Self::new)
    }

    /// Whether the secret is empty (and so can verify nothing).
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// The keyed HMAC state, cloned per use.
    pub(crate) fn hmac(&self) -> Hmac<Sha256> {
        (*self.key).clone()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// `&str`, `String`, `&[u8]`, `Vec<u8>` and the like convert into a secret.
impl<T: AsRef<[u8]>> From<T> for WebhookSecret {
    fn from(secret: T) -> Self {
        Self::new(secret)
    }
}

/// A configuration error, reported at start-up by the `try_*` constructors.
///
/// `Debug` prints the same sentence as `Display`, so `main` returning it reads well.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::ConfigError;
///
/// let error = ConfigError::MissingSecret;
/// assert!(format!("{error:?}").contains("MESHAGENT_WEBHOOK_SECRET"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `MESHAGENT_WEBHOOK_SECRET` is unset, empty or not valid Unicode (or no secret was given,
    /// or an empty one).
    MissingSecret,
    /// Unsigned deliveries were asked for while a secret is configured too (in code or in
    /// `MESHAGENT_WEBHOOK_SECRET`): accepting signed-or-unsigned would let anyone drop the
    /// header, so one of them must go.
    UnsignedWithSecret,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingSecret => write!(
                f,
                "webhook secret is not configured: set {SECRET_ENV_VAR} to the secret of the \
                 MeshAgent webhook"
            ),
            Self::UnsignedWithSecret => write!(
                f,
                "unsigned deliveries were asked for but a webhook secret is configured \
                 ({SECRET_ENV_VAR} or in code): unset the secret or stop accepting unsigned"
            ),
        }
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = WebhookSecret::new("whsec_do_not_print");
        assert!(!format!("{secret:?}").contains("do_not_print"));
        assert!(!format!("{secret:#?}").contains("do_not_print"));
    }

    #[test]
    fn empty_secret_is_reported_as_empty() {
        assert!(WebhookSecret::new("").is_empty());
        assert!(!WebhookSecret::new("x").is_empty());
    }
}

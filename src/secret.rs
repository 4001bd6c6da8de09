//! The shared webhook secret.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit};
use sha2::Sha256;

/// The environment variable MeshAgent's SDK reads the webhook secret from.
pub const SECRET_ENV_VAR: &str = "MESHAGENT_WEBHOOK_SECRET";

/// A MeshAgent webhook secret: the HMAC key of the `Meshagent-Signature` JWT.
///
/// The key is prepared once (HMAC-SHA256 state keyed with the secret), so verifying a
/// request never re-derives it. Cloning is cheap: the key is shared.
///
/// `Debug` prints `WebhookSecret(<redacted>)`; there is no `Display` and no way to read
/// the secret back out.
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
    /// An empty secret is accepted here so that configuration errors surface where they can be
    /// reported: a [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer) holding one fails
    /// closed.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::WebhookSecret;
    ///
    /// let from_text = WebhookSecret::new("whsec_example");
    /// let from_bytes = WebhookSecret::new(b"whsec_example".to_vec());
    /// # let _ = (from_text, from_bytes);
    /// ```
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        let secret = secret.as_ref();
        // HMAC accepts keys of any length (long keys are hashed first), so this cannot fail.
        let key = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 takes keys of any length"));
        Self {
            key: Arc::new(key),
            empty: secret.is_empty(),
        }
    }

    /// Reads the secret from `MESHAGENT_WEBHOOK_SECRET`.
    ///
    /// Returns `None` when the variable is unset, empty or not valid Unicode.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::WebhookSecret;
    ///
    /// match WebhookSecret::from_env() {
    ///     Some(_secret) => println!("secret configured"),
    ///     None => println!("MESHAGENT_WEBHOOK_SECRET is not set"),
    /// }
    /// ```
    pub fn from_env() -> Option<Self> {
        std::env::var(SECRET_ENV_VAR)
            .ok()
            .filter(|secret| !secret.is_empty())
            .map(Self::new)
    }

    /// Whether the secret is empty (and so can verify nothing).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::WebhookSecret;
    ///
    /// assert!(WebhookSecret::new("").is_empty());
    /// ```
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

impl From<&str> for WebhookSecret {
    fn from(secret: &str) -> Self {
        Self::new(secret)
    }
}

impl From<String> for WebhookSecret {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

impl From<&[u8]> for WebhookSecret {
    fn from(secret: &[u8]) -> Self {
        Self::new(secret)
    }
}

impl From<Vec<u8>> for WebhookSecret {
    fn from(secret: Vec<u8>) -> Self {
        Self::new(secret)
    }
}

/// A configuration error, reported at start-up by the `try_*` constructors.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::ConfigError;
///
/// assert!(ConfigError::MissingSecret.to_string().contains("MESHAGENT_WEBHOOK_SECRET"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `MESHAGENT_WEBHOOK_SECRET` is unset, empty or not valid Unicode (or no secret was given).
    MissingSecret,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingSecret => write!(
                f,
                "webhook secret is not configured: set {SECRET_ENV_VAR} to the secret of the \
                 MeshAgent webhook"
            ),
        }
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

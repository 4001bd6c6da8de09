//! [`ServerError`]: why the server did not start, or stopped.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use super::PORT_ENV_VAR;
use crate::ConfigError;

/// Why [`WebhookServer`](crate::WebhookServer) could not start, or stopped with an error.
///
/// Configuration problems are found before the socket is bound, so a misconfigured server
/// fails at start-up, never on the first request.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{ServerError, WebhookServer};
///
/// struct Nothing;
/// impl meshagent_webhooks::WebhookHandler for Nothing {}
///
/// let error = WebhookServer::new(Nothing).with_secret("").into_router().unwrap_err();
/// assert!(matches!(error, ServerError::Config(_)));
/// assert!(error.to_string().contains("MESHAGENT_WEBHOOK_SECRET"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// No usable secret: `MESHAGENT_WEBHOOK_SECRET` unset or empty, and none given in code
    /// (or an empty one given). The message names the variable.
    Config(ConfigError),
    /// `MESHAGENT_PORT` is set but is not a port number (0–65535).
    InvalidPort {
        /// The variable's value.
        value: String,
    },
    /// The webhook path does not start with `/`, or contains `{` or `}`.
    InvalidPath {
        /// The path given.
        path: String,
    },
    /// Unsigned mode
    /// ([`dangerously_accept_unsigned_requests_for_local_testing`](crate::WebhookServer::dangerously_accept_unsigned_requests_for_local_testing))
    /// was asked for where it is refused: on a listener that is not bound to a loopback
    /// address (`address` is then that address), or through
    /// [`into_router`](crate::WebhookServer::into_router) (`address` is `None`).
    UnsignedNotLocal {
        /// The listener's address, when serving.
        address: Option<SocketAddr>,
    },
    /// The address could not be bound (in use, not permitted, host not found, …).
    Bind {
        /// `host:port` as configured.
        address: String,
        /// The cause.
        source: io::Error,
    },
    /// Serving failed (for example the listener's address could not be read).
    Io(io::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(error) => fmt::Display::fmt(error, f),
            Self::InvalidPort { value } => {
                write!(f, "{PORT_ENV_VAR} is not a port number: {value:?}")
            }
            Self::InvalidPath { path } => write!(
                f,
                "invalid webhook path {path:?}: it must start with `/` and contain no `{{` or `}}`"
            ),
            Self::UnsignedNotLocal {
                address: Some(address),
            } => write!(
                f,
                "refusing to accept unsigned webhook requests on {address}: unsigned mode is for \
                 local testing and needs a loopback address such as 127.0.0.1"
            ),
            Self::UnsignedNotLocal { address: None } => f.write_str(
                "refusing to build a router that accepts unsigned webhook requests: unsigned \
                 mode is for local testing with run()/serve() on a loopback address",
            ),
            Self::Bind { address, .. } => write!(f, "could not listen on {address}"),
            Self::Io(_) => f.write_str("the webhook server failed"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(error) => Some(error),
            Self::Bind { source, .. } | Self::Io(source) => Some(source),
            Self::InvalidPort { .. } | Self::InvalidPath { .. } | Self::UnsignedNotLocal { .. } => {
                None
            }
        }
    }
}

impl From<ConfigError> for ServerError {
    fn from(error: ConfigError) -> Self {
        Self::Config(error)
    }
}

impl From<io::Error> for ServerError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn missing_secret_names_the_variable() {
        let error = ServerError::from(ConfigError::MissingSecret);
        assert!(error.to_string().contains("MESHAGENT_WEBHOOK_SECRET"));
        assert!(error.source().is_some());
    }

    #[test]
    fn bind_error_names_the_address_and_keeps_the_cause() {
        let error = ServerError::Bind {
            address: "0.0.0.0:8080".to_owned(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        assert_eq!(error.to_string(), "could not listen on 0.0.0.0:8080");
        let source = error.source().unwrap().downcast_ref::<io::Error>().unwrap();
        assert_eq!(source.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn invalid_port_names_the_variable_and_value() {
        let error = ServerError::InvalidPort {
            value: "eighty".to_owned(),
        };
        assert_eq!(
            error.to_string(),
            r#"MESHAGENT_PORT is not a port number: "eighty""#
        );
    }
}

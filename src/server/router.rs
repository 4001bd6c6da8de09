//! From configuration to routes: the checks done before serving, and
//! [`WebhookServer::into_router`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use super::routes::{Shared, health, webhook_router};
use super::tasks::InFlight;
use super::{ServerError, WebhookHandler, WebhookServer};
use crate::signature::DEFAULT_MAX_BODY_SIZE;
use crate::{ConfigError, MeshagentSignatureLayer};

/// What serving needs, once the configuration has been checked.
pub(super) struct Prepared {
    pub(super) router: Router,
    pub(super) in_flight: Arc<InFlight>,
}

impl<H: WebhookHandler> WebhookServer<H> {
    /// The webhook route alone, as an axum [`Router`] to merge into an existing app (what the
    /// `app=` parameter of MeshAgent's Python server does). The signature layer is applied to
    /// this route only; the health check `GET /` is not included (the app has its own routes).
    /// A graceful shutdown is then up to the app (`axum::serve(...).with_graceful_shutdown`).
    ///
    /// # Errors
    ///
    /// [`ServerError::Config`] without a usable secret, [`ServerError::InvalidPath`], and
    /// [`ServerError::UnsignedNotLocal`] in unsigned mode.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use meshagent_webhooks::{WebhookHandler, WebhookServer};
    ///
    /// struct Nothing;
    /// impl WebhookHandler for Nothing {}
    ///
    /// let webhooks = WebhookServer::new(Nothing)
    ///     .with_secret("whsec_example")
    ///     .with_path("/hooks/meshagent")
    ///     .into_router()?;
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "my app" }))
    ///     .merge(webhooks);
    /// # Ok::<(), meshagent_webhooks::ServerError>(())
    /// ```
    pub fn into_router(self) -> Result<Router, ServerError> {
        if self.unsigned {
            return Err(ServerError::UnsignedNotLocal { address: None });
        }
        Ok(self.prepare()?.router)
    }

    /// Checks the configuration and builds the webhook route. In unsigned mode the caller
    /// must have checked the address.
    pub(super) fn prepare(self) -> Result<Prepared, ServerError> {
        self.check()?;
        let (layer, unsigned_limit) = if self.unsigned {
            (None, Some(DEFAULT_MAX_BODY_SIZE))
        } else {
            (Some(self.signature_layer()?), None)
        };
        let in_flight = Arc::new(InFlight::new());
        let shared = Shared {
            handler: self.handler,
            in_flight: in_flight.clone(),
            unsigned_limit,
        };
        let router = webhook_router(&self.path, shared, layer);
        Ok(Prepared { router, in_flight })
    }

    /// The layer to verify with; an error when no usable secret is configured.
    fn signature_layer(&self) -> Result<MeshagentSignatureLayer, ConfigError> {
        if let Some(layer) = &self.layer {
            return if layer.is_configured() {
                Ok(layer.clone())
            } else {
                Err(ConfigError::MissingSecret)
            };
        }
        match &self.secret {
            Some(secret) if !secret.is_empty() => Ok(MeshagentSignatureLayer::new(secret.clone())),
            _ => Err(ConfigError::MissingSecret),
        }
    }

    /// Fails fast on what can be checked before binding.
    pub(super) fn check(&self) -> Result<(), ServerError> {
        if !self.path.starts_with('/') || self.path.contains(['{', '}']) {
            return Err(ServerError::InvalidPath {
                path: self.path.clone(),
            });
        }
        if !self.unsigned {
            let _layer = self.signature_layer()?;
        }
        Ok(())
    }
}

impl Prepared {
    /// The webhook route plus the health check `GET /` (unless the webhook path is `/`).
    pub(super) fn with_health(self, path_is_root: bool) -> Self {
        let router = if path_is_root {
            self.router
        } else {
            self.router.route("/", get(health))
        };
        Self { router, ..self }
    }
}

/// Whether unsigned mode may run on `address`.
pub(super) fn is_local(address: &SocketAddr) -> bool {
    address.ip().is_loopback()
}

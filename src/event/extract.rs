//! [`MeshagentEvent`] as an axum extractor: it reads only what the layer verified.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::MeshagentEvent;
use crate::rejection::{EventRejection, MissingSignatureLayer};
use crate::signature::VerifiedWebhook;
use crate::telemetry::Delivery;

impl<S> FromRequestParts<S> for MeshagentEvent
where
    S: Send + Sync,
{
    type Rejection = EventRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let webhook =
            parts.extensions.get::<VerifiedWebhook>().ok_or_else(MissingSignatureLayer::new)?;
        let event = Self::from_delivery(webhook.payload(), webhook.source(), &parts.headers)?;
        if let Some(delivery) = parts.extensions.get::<Arc<Delivery>>() {
            delivery.record_event(event.name(), event.label());
        }
        Ok(event)
    }
}

//! [`MeshagentEvent`] as an axum extractor: it reads only what the layer verified.

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::{MeshagentEvent, check_content_type};
use crate::rejection::{EventRejection, MissingSignatureLayer};
use crate::signature::verified::VerifiedWebhook;

impl<S> FromRequestParts<S> for MeshagentEvent
where
    S: Send + Sync,
{
    type Rejection = EventRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let webhook =
            parts.extensions.get::<VerifiedWebhook>().ok_or_else(MissingSignatureLayer::new)?;
        check_content_type(webhook.source(), &parts.headers)?;
        let event = Self::from_json(webhook.payload())?;
        if let Some(delivery) = &webhook.delivery {
            delivery.record_event(event.name(), event.label());
        }
        Ok(event)
    }
}

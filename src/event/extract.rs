//! [`MeshagentEvent`] as an axum extractor.

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use http::request::Parts;

use super::MeshagentEvent;
use crate::rejection::{EventRejection, MissingSignatureLayer, UnsupportedContentType};
use crate::{PayloadSource, VerifiedWebhook};

impl<S> FromRequestParts<S> for MeshagentEvent
where
    S: Send + Sync,
{
    type Rejection = EventRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let webhook = parts
            .extensions
            .get::<VerifiedWebhook>()
            .ok_or_else(MissingSignatureLayer::new)?;
        if webhook.source() == PayloadSource::Body && !has_json_content_type(&parts.headers) {
            return Err(UnsupportedContentType::new().into());
        }
        Self::from_json(webhook.payload())
    }
}

/// `application/json` or `application/<anything>+json`, case-insensitive, parameters allowed.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    // What MeshAgent sends, answered without splitting the value.
    if value.as_bytes().eq_ignore_ascii_case(b"application/json") {
        return true;
    }
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let json_suffix = subtype
        .len()
        .checked_sub("+json".len())
        .and_then(|start| subtype.get(start..))
        .is_some_and(|suffix| suffix.eq_ignore_ascii_case("+json"));
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || json_suffix)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn json(content_type: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        has_json_content_type(&headers)
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(json("application/json"));
        assert!(json("APPLICATION/Json"));
        assert!(json("Application/JSON; charset=utf-8"));
        assert!(json("application/cloudevents+json"));
        assert!(json("application/CloudEvents+JSON"));
        assert!(!json("application/+jsonx"));
        assert!(!json("text/plain"));
        assert!(!json("application/jsonx"));
        assert!(!json("text/json"));
        assert!(!json("json"));
        assert!(!has_json_content_type(&HeaderMap::new()));
    }
}

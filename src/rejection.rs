//! Rejections: why a request was refused, each with a fixed status, kind and message.
//!
//! [`SignatureRejection`] comes from [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer),
//! [`EventRejection`] from the [`MeshagentEvent`](crate::MeshagentEvent) extractor, and
//! [`Rejection`] is either, for code that handles both (the layer's
//! [`with_rejection_response`](crate::MeshagentSignatureLayer::with_rejection_response) hook,
//! [`SignatureVerifier::verify_event`](crate::SignatureVerifier::verify_event)). Every variant
//! wraps a struct named for the failure. The body text never contains the secret, the token,
//! the payload or the expected digest.
//!
//! # Example
//!
//! ```
//! use http::StatusCode;
//! use meshagent_webhooks::{SignatureRejection, SignatureVerifier};
//!
//! let rejection = SignatureVerifier::new("whsec_example").verify(None, b"{}").unwrap_err();
//! assert!(matches!(rejection, SignatureRejection::MissingSignature(_)));
//! assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(rejection.kind(), "missing_signature");
//! assert_eq!(rejection.body_text(), "missing signature");
//! ```

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The tracing target of rejections (a DEBUG event for each, and the layer's WARN).
pub(crate) const REJECTION_TARGET: &str = "meshagent_webhooks::rejection";

/// Logs a rejection at DEBUG: its status and reason (message and detail), nothing else.
pub(crate) fn trace_rejection(status: StatusCode, reason: &dyn fmt::Display) {
    tracing::debug!(
        target: REJECTION_TARGET,
        status = status.as_u16(),
        reason = %reason,
        "rejected webhook request"
    );
}

/// One rejection struct: a fixed status, kind and message, and an optional detail that is
/// always in `Display` and logs, and in the body only when `detail_in_body` is true.
macro_rules! define_rejections {
    ($($(#[$meta:meta])* $name:ident: $status:ident, $kind:literal, $message:literal, detail_in_body = $in_body:literal;)+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            detail: Option<Cow<'static, str>>,
        }

        impl $name {
            #[allow(dead_code)]
            pub(crate) fn new() -> Self {
                Self { detail: None }
            }

            #[allow(dead_code)]
            pub(crate) fn with_detail(detail: impl Into<Cow<'static, str>>) -> Self {
                Self { detail: Some(detail.into()) }
            }

            /// The HTTP status this rejection answers with.
            pub fn status(&self) -> StatusCode {
                StatusCode::$status
            }

            /// A stable `snake_case` name for the failure, for metrics and logs.
            pub fn kind(&self) -> &'static str {
                $kind
            }

            /// The fixed reason, without detail.
            pub fn message(&self) -> &'static str {
                $message
            }

            /// What exactly failed, when known (never secret material or payload content).
            pub fn detail(&self) -> Option<&str> {
                self.detail.as_deref()
            }

            /// The plain-text response body.
            pub fn body_text(&self) -> String {
                if $in_body { self.to_string() } else { $message.to_owned() }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match &self.detail {
                    Some(detail) => write!(f, "{}: {}", $message, detail),
                    None => f.write_str($message),
                }
            }
        }

        impl std::error::Error for $name {}
    )+};
}

define_rejections! {
    /// No usable secret: `MESHAGENT_WEBHOOK_SECRET` unset or empty, or an empty secret given.
    /// The layer fails closed: 500 on every request.
    SecretNotConfigured: INTERNAL_SERVER_ERROR, "secret_not_configured",
        "webhook secret is not configured", detail_in_body = false;

    /// No `Meshagent-Signature` header, more than one, or a value that does not start with
    /// exactly `Bearer ` (capital B, one space); the body says which.
    MissingSignature: UNAUTHORIZED, "missing_signature", "missing signature",
        detail_in_body = true;

    /// The token is malformed, not HS256, signed with another secret, fails a registered-claim
    /// check (`exp`, `nbf`, `iat`, `aud`, `sub`, `jti`) or has no string `sha256` claim.
    /// The detail (in `Display` and logs, not in the body) names the check that failed.
    InvalidJwt: UNAUTHORIZED, "invalid_jwt", "invalid jwt", detail_in_body = false;

    /// The token is valid but its `sha256` claim is not the lowercase hex SHA-256 of the payload
    /// bytes received: the payload was changed after signing, or the token belongs to another.
    DigestMismatch: UNAUTHORIZED, "digest_mismatch", "signature does not match payload",
        detail_in_body = false;

    /// The payload (body or `Meshagent-Webhook` header) is larger than the layer's limit, or an
    /// outer body limit cut the body off.
    PayloadTooLarge: PAYLOAD_TOO_LARGE, "payload_too_large", "payload too large",
        detail_in_body = false;

    /// The body did not arrive within the layer's body timeout.
    BodyTimeout: REQUEST_TIMEOUT, "body_timeout", "request body timed out",
        detail_in_body = false;

    /// The body could not be read (the client went away or sent a broken stream).
    BodyReadFailed: BAD_REQUEST, "body_read_failed", "failed to read request body",
        detail_in_body = false;

    /// More than one `Meshagent-Webhook` header: which one was signed is ambiguous.
    DuplicatePayloadHeader: BAD_REQUEST, "duplicate_payload_header",
        "multiple Meshagent-Webhook headers", detail_in_body = false;

    /// The extractor ran on a request that did not pass through
    /// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer).
    MissingSignatureLayer: INTERNAL_SERVER_ERROR, "missing_signature_layer",
        "MeshagentEvent needs MeshagentSignatureLayer: no verified payload in the request (is the layer applied to this route?)",
        detail_in_body = false;

    /// A body payload without a JSON `Content-Type` (`application/json` or `application/*+json`).
    UnsupportedContentType: UNSUPPORTED_MEDIA_TYPE, "unsupported_content_type",
        "expected request with `Content-Type: application/json`", detail_in_body = false;

    /// The verified payload is not JSON, not a JSON object, or holds a value JSON cannot carry
    /// without loss (`NaN`, `Infinity`, an integer beyond 64 bits); the body says which.
    InvalidRequestBody: BAD_REQUEST, "invalid_request_body", "invalid request body",
        detail_in_body = true;

    /// The payload is an object but not a valid event: `event` missing or not a string, or the
    /// `data` of a known event lacks a required string field. The detail names the event and
    /// field, never their values.
    InvalidEvent: UNPROCESSABLE_ENTITY, "invalid_event", "invalid event", detail_in_body = true;
}

/// A rejection enum: one variant per failure, each wrapping a type with the accessors above.
macro_rules! composite_rejection {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident($inner:ty)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$variant_meta])* $variant($inner),)+
        }

        impl $name {
            /// The HTTP status of this rejection.
            pub fn status(&self) -> StatusCode {
                match self { $(Self::$variant(inner) => inner.status(),)+ }
            }

            /// A stable `snake_case` name for the failure, for metrics and logs.
            pub fn kind(&self) -> &'static str {
                match self { $(Self::$variant(inner) => inner.kind(),)+ }
            }

            /// The fixed reason, without detail.
            pub fn message(&self) -> &'static str {
                match self { $(Self::$variant(inner) => inner.message(),)+ }
            }

            /// What exactly failed, when known.
            pub fn detail(&self) -> Option<&str> {
                match self { $(Self::$variant(inner) => inner.detail(),)+ }
            }

            /// The plain-text response body.
            pub fn body_text(&self) -> String {
                match self { $(Self::$variant(inner) => inner.body_text(),)+ }
            }

            /// The default response: the status and the plain-text body, with this rejection in
            /// the response extensions.
            pub fn to_response(&self) -> Response<Full<Bytes>> {
                let mut response = Response::new(Full::new(Bytes::from(self.body_text())));
                *response.status_mut() = self.status();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response.extensions_mut().insert(self.clone());
                response
            }
        }

        $(
            impl From<$inner> for $name {
                fn from(inner: $inner) -> Self {
                    Self::$variant(inner)
                }
            }
        )+

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self { $(Self::$variant(inner) => fmt::Display::fmt(inner, f),)+ }
            }
        }

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self { $(Self::$variant(inner) => Some(inner),)+ }
            }
        }

        #[cfg(feature = "axum")]
        impl axum::response::IntoResponse for $name {
            fn into_response(self) -> axum::response::Response {
                trace_rejection(self.status(), &self);
                self.to_response().map(axum::body::Body::new)
            }
        }
    };
}

composite_rejection! {
    /// Why [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer) refused a request.
    ///
    /// The default response is the status with the plain-text [`body_text`](Self::body_text);
    /// replace it with
    /// [`with_rejection_response`](crate::MeshagentSignatureLayer::with_rejection_response).
    /// The rejection is also put in the response extensions.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureRejection, SignatureVerifier};
    ///
    /// let rejection = SignatureVerifier::new("k").verify(Some(b"Bearer a.b"), b"{}").unwrap_err();
    /// assert!(matches!(rejection, SignatureRejection::InvalidJwt(_)));
    /// assert_eq!(rejection.to_string(), "invalid jwt: token does not have three segments");
    /// assert_eq!(rejection.body_text(), "invalid jwt");
    /// ```
    SignatureRejection {
        /// See [`SecretNotConfigured`].
        SecretNotConfigured(SecretNotConfigured),
        /// See [`MissingSignature`].
        MissingSignature(MissingSignature),
        /// See [`InvalidJwt`].
        InvalidJwt(InvalidJwt),
        /// See [`DigestMismatch`].
        DigestMismatch(DigestMismatch),
        /// See [`PayloadTooLarge`].
        PayloadTooLarge(PayloadTooLarge),
        /// See [`BodyTimeout`].
        BodyTimeout(BodyTimeout),
        /// See [`BodyReadFailed`].
        BodyReadFailed(BodyReadFailed),
        /// See [`DuplicatePayloadHeader`].
        DuplicatePayloadHeader(DuplicatePayloadHeader),
    }
}

composite_rejection! {
    /// Why the [`MeshagentEvent`](crate::MeshagentEvent) extractor refused a request.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{EventRejection, MeshagentEvent};
    ///
    /// let rejection = MeshagentEvent::from_json(br#"{"data": {}}"#).unwrap_err();
    /// assert!(matches!(rejection, EventRejection::InvalidEvent(_)));
    /// assert_eq!((rejection.status().as_u16(), rejection.kind()), (422, "invalid_event"));
    /// ```
    EventRejection {
        /// See [`MissingSignatureLayer`].
        MissingSignatureLayer(MissingSignatureLayer),
        /// See [`UnsupportedContentType`].
        UnsupportedContentType(UnsupportedContentType),
        /// See [`InvalidRequestBody`].
        InvalidRequestBody(InvalidRequestBody),
        /// See [`InvalidEvent`].
        InvalidEvent(InvalidEvent),
    }
}

composite_rejection! {
    /// Any rejection of a webhook delivery: by the signature layer or by the event extractor.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{MeshagentEvent, Rejection};
    ///
    /// let rejection = Rejection::from(MeshagentEvent::from_json(b"[]").unwrap_err());
    /// assert_eq!(rejection.status(), 400);
    /// assert_eq!(rejection.kind(), "invalid_request_body");
    /// ```
    Rejection {
        /// Refused by the signature layer.
        Signature(SignatureRejection),
        /// Refused by the event extractor.
        Event(EventRejection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_jwt_keeps_its_detail_out_of_the_body() {
        let rejection = SignatureRejection::from(InvalidJwt::with_detail("token has expired"));
        assert_eq!(rejection.body_text(), "invalid jwt");
        assert_eq!(rejection.to_string(), "invalid jwt: token has expired");
        assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(rejection.kind(), "invalid_jwt");
    }

    #[test]
    fn invalid_event_shows_its_detail_in_the_body() {
        let rejection = EventRejection::from(InvalidEvent::with_detail("event missing"));
        assert_eq!(rejection.body_text(), "invalid event: event missing");
        assert_eq!(rejection.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn default_response_is_plain_text_with_the_rejection_attached() {
        let rejection = SignatureRejection::from(DigestMismatch::new());
        let response = rejection.to_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(response.extensions().get(), Some(&rejection));
    }

    #[test]
    fn a_rejection_of_either_kind_keeps_its_source() {
        use std::error::Error;
        let rejection = Rejection::from(SignatureRejection::from(MissingSignature::new()));
        assert_eq!(rejection.source().unwrap().to_string(), "missing signature");
        assert_eq!(rejection.kind(), "missing_signature");
    }
}

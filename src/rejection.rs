//! Rejections: why a request was refused, each with a fixed status and message.
//!
//! [`SignatureRejection`] comes from [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer),
//! [`EventRejection`] from the [`MeshagentEvent`](crate::MeshagentEvent) extractor. Every variant
//! wraps a struct named for the failure; each has [`status`](InvalidJwt::status) and
//! [`body_text`](InvalidJwt::body_text). The body text never contains the secret, the token, the
//! payload or the expected digest.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// Defines one rejection struct: fixed status and message, an optional static-or-built detail
/// that is shown in `Display` always and in the body only when `detail_in_body` is true.
macro_rules! define_rejection {
    (
        #[status = $status:ident]
        #[message = $message:literal]
        #[detail_in_body = $detail_in_body:literal]
        $(#[$meta:meta])*
        pub struct $name:ident;
    ) => {
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
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::{SignatureRejection, SignatureVerifier};
            ///
            /// let rejection = SignatureVerifier::new("k").verify(None, b"{}").unwrap_err();
            /// let SignatureRejection::MissingSignature(missing) = rejection else { unreachable!() };
            /// assert_eq!(missing.status(), http::StatusCode::UNAUTHORIZED);
            /// ```
            pub fn status(&self) -> StatusCode {
                StatusCode::$status
            }

            /// The fixed reason, without detail.
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::{SignatureRejection, SignatureVerifier};
            ///
            /// let rejection = SignatureVerifier::new("k").verify(None, b"{}").unwrap_err();
            /// let SignatureRejection::MissingSignature(missing) = rejection else { unreachable!() };
            /// assert_eq!(missing.message(), "missing signature");
            /// ```
            pub fn message(&self) -> &'static str {
                $message
            }

            /// What exactly failed, when known (never secret material or payload content).
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::{SignatureRejection, SignatureVerifier};
            ///
            /// let rejection = SignatureVerifier::new("k").verify(Some(b"Bearer a.b"), b"{}").unwrap_err();
            /// let SignatureRejection::InvalidJwt(invalid) = rejection else { unreachable!() };
            /// assert_eq!(invalid.detail(), Some("token does not have three segments"));
            /// ```
            pub fn detail(&self) -> Option<&str> {
                self.detail.as_deref()
            }

            /// The plain-text response body.
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::{SignatureRejection, SignatureVerifier};
            ///
            /// let rejection = SignatureVerifier::new("k").verify(None, b"{}").unwrap_err();
            /// let SignatureRejection::MissingSignature(missing) = rejection else { unreachable!() };
            /// assert_eq!(missing.body_text(), "missing signature");
            /// ```
            pub fn body_text(&self) -> String {
                match (&self.detail, $detail_in_body) {
                    (Some(detail), true) => format!("{}: {}", $message, detail),
                    _ => $message.to_owned(),
                }
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
    };
}

define_rejection! {
    #[status = INTERNAL_SERVER_ERROR]
    #[message = "webhook secret is not configured"]
    #[detail_in_body = false]
    /// No usable secret: `MESHAGENT_WEBHOOK_SECRET` unset or empty, or an empty secret given.
    /// The layer fails closed: 500 on every request.
    pub struct SecretNotConfigured;
}

define_rejection! {
    #[status = UNAUTHORIZED]
    #[message = "missing signature"]
    #[detail_in_body = false]
    /// No `Meshagent-Signature` header, more than one, or a value that does not start with
    /// exactly `Bearer ` (capital B, one space).
    pub struct MissingSignature;
}

define_rejection! {
    #[status = UNAUTHORIZED]
    #[message = "invalid jwt"]
    #[detail_in_body = false]
    /// The token is malformed, not HS256, signed with another secret, fails a registered-claim
    /// check (`exp`, `nbf`, `iat`, `aud`, `sub`, `jti`) or has no string `sha256` claim.
    /// The detail (in `Display` and logs, not in the body) names the check that failed.
    pub struct InvalidJwt;
}

define_rejection! {
    #[status = UNAUTHORIZED]
    #[message = "signature does not match payload"]
    #[detail_in_body = false]
    /// The token is valid but its `sha256` claim is not the lowercase hex SHA-256 of the payload
    /// bytes received: the payload was changed after signing, or the token belongs to another.
    pub struct DigestMismatch;
}

define_rejection! {
    #[status = PAYLOAD_TOO_LARGE]
    #[message = "payload too large"]
    #[detail_in_body = false]
    /// The body is larger than the layer's limit (`Content-Length` or counted while reading).
    pub struct PayloadTooLarge;
}

define_rejection! {
    #[status = BAD_REQUEST]
    #[message = "failed to read request body"]
    #[detail_in_body = false]
    /// The body could not be read (the client went away or sent a broken stream).
    pub struct BodyReadFailed;
}

define_rejection! {
    #[status = BAD_REQUEST]
    #[message = "multiple Meshagent-Webhook headers"]
    #[detail_in_body = false]
    /// More than one `Meshagent-Webhook` header: which one was signed is ambiguous.
    pub struct DuplicatePayloadHeader;
}

define_rejection! {
    #[status = INTERNAL_SERVER_ERROR]
    #[message = "MeshagentEvent needs MeshagentSignatureLayer: no verified payload in the request (is the layer applied to this route?)"]
    #[detail_in_body = false]
    /// The extractor ran on a request that did not pass through
    /// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer).
    pub struct MissingSignatureLayer;
}

define_rejection! {
    #[status = UNSUPPORTED_MEDIA_TYPE]
    #[message = "expected request with `Content-Type: application/json`"]
    #[detail_in_body = false]
    /// A body payload without a JSON `Content-Type` (`application/json` or `application/*+json`).
    pub struct UnsupportedContentType;
}

define_rejection! {
    #[status = BAD_REQUEST]
    #[message = "invalid request body"]
    #[detail_in_body = false]
    /// The verified payload is not JSON, or not a JSON object.
    pub struct InvalidRequestBody;
}

define_rejection! {
    #[status = UNPROCESSABLE_ENTITY]
    #[message = "invalid event"]
    #[detail_in_body = true]
    /// The payload is an object but not a valid event: `event` missing or not a string, or the
    /// `data` of a known event lacks a required string field. The detail names the event and
    /// field, never their values.
    pub struct InvalidEvent;
}

/// Why [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer) refused a request.
///
/// The default response is `status` with the plain-text [`body_text`](Self::body_text); replace it
/// with [`with_rejection_response`](crate::MeshagentSignatureLayer::with_rejection_response). The
/// rejection is also put in the response extensions.
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use meshagent_webhooks::{SignatureRejection, SignatureVerifier};
///
/// let verifier = SignatureVerifier::new("whsec_example");
/// let rejection = verifier.verify(None, b"{}").unwrap_err();
/// assert!(matches!(rejection, SignatureRejection::MissingSignature(_)));
/// assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(rejection.body_text(), "missing signature");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureRejection {
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
    /// See [`BodyReadFailed`].
    BodyReadFailed(BodyReadFailed),
    /// See [`DuplicatePayloadHeader`].
    DuplicatePayloadHeader(DuplicatePayloadHeader),
}

/// Why the [`MeshagentEvent`](crate::MeshagentEvent) extractor refused a request.
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use meshagent_webhooks::{EventRejection, MeshagentEvent};
///
/// let rejection = MeshagentEvent::from_json(br#"{"data": {}}"#).unwrap_err();
/// assert!(matches!(rejection, EventRejection::InvalidEvent(_)));
/// assert_eq!(rejection.status(), StatusCode::UNPROCESSABLE_ENTITY);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventRejection {
    /// See [`MissingSignatureLayer`].
    MissingSignatureLayer(MissingSignatureLayer),
    /// See [`UnsupportedContentType`].
    UnsupportedContentType(UnsupportedContentType),
    /// See [`InvalidRequestBody`].
    InvalidRequestBody(InvalidRequestBody),
    /// See [`InvalidEvent`].
    InvalidEvent(InvalidEvent),
}

/// Forwards the shared accessors of a rejection enum to its variants, and adds `From`,
/// `Display`, `Error::source` and the plain-text response.
macro_rules! composite_rejection {
    ($name:ident { $($variant:ident),+ $(,)? }) => {
        impl $name {
            /// The HTTP status of this rejection.
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::MeshagentEvent;
            ///
            /// let rejection = MeshagentEvent::from_json(b"[]").unwrap_err();
            /// assert_eq!(rejection.status(), http::StatusCode::BAD_REQUEST);
            /// ```
            pub fn status(&self) -> StatusCode {
                match self { $(Self::$variant(inner) => inner.status(),)+ }
            }

            /// The fixed reason, without detail.
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::MeshagentEvent;
            ///
            /// let rejection = MeshagentEvent::from_json(b"[]").unwrap_err();
            /// assert_eq!(rejection.message(), "invalid request body");
            /// ```
            pub fn message(&self) -> &'static str {
                match self { $(Self::$variant(inner) => inner.message(),)+ }
            }

            /// What exactly failed, when known.
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::MeshagentEvent;
            ///
            /// let rejection = MeshagentEvent::from_json(b"[]").unwrap_err();
            /// assert_eq!(rejection.detail(), Some("payload is not a JSON object"));
            /// ```
            pub fn detail(&self) -> Option<&str> {
                match self { $(Self::$variant(inner) => inner.detail(),)+ }
            }

            /// The plain-text response body.
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::MeshagentEvent;
            ///
            /// let rejection = MeshagentEvent::from_json(b"[]").unwrap_err();
            /// assert_eq!(rejection.body_text(), "invalid request body");
            /// ```
            pub fn body_text(&self) -> String {
                match self { $(Self::$variant(inner) => inner.body_text(),)+ }
            }

            /// The default response: the status and the plain-text body, with this rejection
            /// in the response extensions.
            ///
            /// # Example
            ///
            /// ```
            /// use meshagent_webhooks::MeshagentEvent;
            ///
            /// let rejection = MeshagentEvent::from_json(b"[]").unwrap_err();
            /// let response = rejection.to_response();
            /// assert_eq!(response.status(), 400);
            /// assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
            /// ```
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

            /// Logs the rejection (reason and detail only) under target
            /// `meshagent_webhooks::rejection`: WARN for a server-side cause (5xx), DEBUG for
            /// a refused request.
            #[cfg_attr(not(feature = "axum"), allow(dead_code))]
            pub(crate) fn trace(&self) {
                if self.status().is_server_error() {
                    tracing::warn!(
                        target: "meshagent_webhooks::rejection",
                        status = self.status().as_u16(),
                        reason = %self,
                        "rejected webhook request"
                    );
                } else {
                    tracing::debug!(
                        target: "meshagent_webhooks::rejection",
                        status = self.status().as_u16(),
                        reason = %self,
                        "rejected webhook request"
                    );
                }
            }
        }

        $(
            impl From<$variant> for $name {
                fn from(inner: $variant) -> Self {
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
    };
}

composite_rejection!(SignatureRejection {
    SecretNotConfigured,
    MissingSignature,
    InvalidJwt,
    DigestMismatch,
    PayloadTooLarge,
    BodyReadFailed,
    DuplicatePayloadHeader,
});

composite_rejection!(EventRejection {
    MissingSignatureLayer,
    UnsupportedContentType,
    InvalidRequestBody,
    InvalidEvent,
});

#[cfg(feature = "axum")]
mod into_response {
    use axum::response::{IntoResponse, Response};

    use super::{EventRejection, SignatureRejection};

    impl IntoResponse for SignatureRejection {
        fn into_response(self) -> Response {
            self.trace();
            self.to_response().map(axum::body::Body::new)
        }
    }

    impl IntoResponse for EventRejection {
        fn into_response(self) -> Response {
            self.trace();
            self.to_response().map(axum::body::Body::new)
        }
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
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.extensions().get(), Some(&rejection));
    }

    #[test]
    fn source_is_the_variant_struct() {
        use std::error::Error;
        let rejection = SignatureRejection::from(MissingSignature::new());
        assert_eq!(rejection.source().unwrap().to_string(), "missing signature");
    }
}

//! The request headers the layer reads, found in one pass over the header map.
//!
//! A webhook request has a handful of headers: comparing each name is cheaper than hashing
//! three names for three lookups, and even a request at hyper's limit of 100 headers costs
//! one short pass.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue};

use crate::{MESHAGENT_SIGNATURE, MESHAGENT_WEBHOOK};

/// How often a header occurs in a request.
#[derive(Debug, Clone, Copy, Default)]
pub(super) enum Occurrence<'a> {
    #[default]
    Absent,
    Once(&'a HeaderValue),
    Repeated,
}

impl<'a> Occurrence<'a> {
    fn see(&mut self, value: &'a HeaderValue) {
        *self = match self {
            Self::Absent => Self::Once(value),
            Self::Once(_) | Self::Repeated => Self::Repeated,
        };
    }

    /// The one value: `Ok(None)` when absent, `Err(())` when repeated.
    pub(super) fn single(self) -> Result<Option<&'a HeaderValue>, ()> {
        match self {
            Self::Absent => Ok(None),
            Self::Once(value) => Ok(Some(value)),
            Self::Repeated => Err(()),
        }
    }
}

/// `Meshagent-Signature`, `Meshagent-Webhook`, `Content-Length` and `Transfer-Encoding` of one
/// request.
#[derive(Debug, Default)]
pub(super) struct WebhookHeaders<'a> {
    pub(super) signature: Occurrence<'a>,
    pub(super) payload: Occurrence<'a>,
    content_length: Occurrence<'a>,
    transfer_encoding: bool,
}

/// What a request's framing headers say of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Framing {
    /// The single `Content-Length` as a number; `None` when absent, repeated or malformed.
    pub(super) declared_length: Option<u64>,
    /// Whether it has a `Transfer-Encoding`.
    pub(super) transfer_encoding: bool,
}

impl<'a> WebhookHeaders<'a> {
    pub(super) fn find(headers: &'a HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            if *name == MESHAGENT_SIGNATURE {
                found.signature.see(value);
            } else if *name == MESHAGENT_WEBHOOK {
                found.payload.see(value);
            } else if *name == CONTENT_LENGTH {
                found.content_length.see(value);
            } else if *name == TRANSFER_ENCODING {
                found.transfer_encoding = true;
            }
        }
        found
    }

    pub(super) fn framing(&self) -> Framing {
        Framing {
            declared_length: self
                .content_length
                .single()
                .ok()
                .flatten()
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok()),
            transfer_encoding: self.transfer_encoding,
        }
    }
}

#[cfg(test)]
mod tests {
    use http::header::CONTENT_TYPE;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn each_header_is_found_once_or_seen_repeated() {
        let map = headers(&[
            ("Meshagent-Signature", "Bearer a"),
            ("content-type", "application/json"),
            ("MESHAGENT-WEBHOOK", "{}"),
            ("meshagent-webhook", "{}"),
            ("Content-Length", "12"),
        ]);
        let found = WebhookHeaders::find(&map);
        assert_eq!(
            found.signature.single(),
            Ok(Some(&HeaderValue::from_static("Bearer a")))
        );
        assert_eq!(found.payload.single(), Err(()));
        assert_eq!(
            found.framing(),
            Framing {
                declared_length: Some(12),
                transfer_encoding: false
            }
        );
        assert!(map.contains_key(CONTENT_TYPE));
    }

    #[test]
    fn transfer_encoding_is_noticed() {
        let chunked = headers(&[("Transfer-Encoding", "chunked")]);
        assert!(WebhookHeaders::find(&chunked).framing().transfer_encoding);
    }

    #[test]
    fn absent_repeated_or_malformed_lengths_are_not_declared() {
        assert_eq!(
            WebhookHeaders::find(&HeaderMap::new()).signature.single(),
            Ok(None)
        );
        for pairs in [
            &[][..],
            &[("content-length", "12"), ("content-length", "12")][..],
            &[("content-length", "12x")][..],
            &[("content-length", "-1")][..],
        ] {
            assert_eq!(
                WebhookHeaders::find(&headers(pairs))
                    .framing()
                    .declared_length,
                None
            );
        }
    }
}

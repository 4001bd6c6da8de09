//! Reading a request body up to a limit, hashing it as it streams in.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::Body;
use sha2::{Digest, Sha256};

use crate::rejection::{BodyReadFailed, PayloadTooLarge, SignatureRejection};

/// How much of a chunk is hashed, then copied, at a time: small enough that the copy reads it
/// from the L1 cache.
const HASH_PIECE: usize = 16 * 1024;

/// The state of one body being read: its hash so far and its bytes.
///
/// A body that arrives as one chunk is kept as is (no copy). Otherwise each chunk is hashed and
/// copied piece by piece into one buffer (sized from `Content-Length` when declared) and
/// released at once, so the body is read from memory once and the HTTP server can reuse its
/// read buffer.
pub(super) struct BodyReader {
    hasher: Sha256,
    limit: usize,
    expected: Option<usize>,
    total: usize,
    first: Option<Bytes>,
    joined: Option<BytesMut>,
}

impl BodyReader {
    /// A reader for a body of at most `limit` bytes. Refuses at once a `declared` length (the
    /// request's single `Content-Length`) or a `size_hint` lower bound over the limit, before
    /// anything is read.
    pub(super) fn new(
        declared: Option<u64>,
        lower_size_hint: u64,
        limit: usize,
    ) -> Result<Self, SignatureRejection> {
        let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
        if declared.is_some_and(|length| length > limit_u64) || lower_size_hint > limit_u64 {
            return Err(PayloadTooLarge::with_detail("declared length is over the limit").into());
        }
        Ok(Self {
            hasher: Sha256::new(),
            limit,
            expected: declared.and_then(|length| usize::try_from(length).ok()),
            total: 0,
            first: None,
            joined: None,
        })
    }

    /// Reads `body` until its end, or until it fails or passes the limit.
    pub(super) fn poll_read<B: Body>(
        &mut self,
        mut body: Pin<&mut B>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SignatureRejection>> {
        loop {
            let Some(frame) = ready!(body.as_mut().poll_frame(cx)) else {
                return Poll::Ready(Ok(()));
            };
            let Ok(frame) = frame else {
                return Poll::Ready(Err(BodyReadFailed::new().into()));
            };
            if let Ok(data) = frame.into_data() {
                self.push(data)?;
            }
        }
    }

    fn push(&mut self, mut data: impl Buf) -> Result<(), SignatureRejection> {
        let len = data.remaining();
        self.total = self.total.saturating_add(len);
        if self.total > self.limit {
            return Err(PayloadTooLarge::with_detail("body is over the limit").into());
        }
        let chunk = data.copy_to_bytes(len);
        let whole_body = self.expected.is_none_or(|expected| expected <= len);
        if self.first.is_none() && self.joined.is_none() && whole_body {
            self.hasher.update(&chunk);
            self.first = Some(chunk);
            return Ok(());
        }
        let (first, total, expected) = (&mut self.first, self.total, self.expected);
        let buffer = self.joined.get_or_insert_with(|| {
            let mut buffer = BytesMut::with_capacity(expected.unwrap_or(0).max(total));
            if let Some(earlier) = first.take() {
                buffer.extend_from_slice(&earlier);
            }
            buffer
        });
        for piece in chunk.chunks(HASH_PIECE) {
            self.hasher.update(piece);
            buffer.extend_from_slice(piece);
        }
        Ok(())
    }

    /// The body's bytes and their SHA-256.
    pub(super) fn finish(self) -> (Bytes, [u8; 32]) {
        let payload = self
            .joined
            .map_or_else(|| self.first.unwrap_or_default(), BytesMut::freeze);
        (payload, self.hasher.finalize().into())
    }
}

//! The request body, read up to a limit and hashed as it streams in.

use std::pin::Pin;

use bytes::{Buf, Bytes};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError};
use sha2::{Digest, Sha256};

use super::layer::BoxError;
use crate::rejection::{BodyReadFailed, PayloadTooLarge, SignatureRejection};

/// How much of a chunk is hashed, then copied, at a time.
const HASH_PIECE: usize = 16 * 1024;

/// The first reservation for a body that comes in several chunks: memory follows the bytes
/// that arrive, never a declared length alone.
const FIRST_RESERVATION: usize = 64 * 1024;

/// How many times its capacity the buffer grows to at most once more than
/// [`FIRST_RESERVATION`] has arrived: memory stays within 16 times the bytes received, and a
/// body of up to 1 MiB moves once, 64 KiB (measured at 1 MiB: 0.90–0.93× one SHA-256 pass of
/// added CPU; growing 4 times at a time moved it twice and measured 1.58×).
const GROWTH: usize = 16;

/// One body being read: its hash so far and its bytes.
///
/// A body that arrives as one chunk is kept as it is (no copy). Otherwise each chunk is hashed
/// and copied into one buffer of [`FIRST_RESERVATION`], which then grows [`GROWTH`] times at a
/// time, never past the declared length or the limit: a declared length alone reserves
/// nothing.
#[derive(Debug)]
pub(super) struct BodyReader {
    hasher: Sha256,
    limit: usize,
    declared: Option<usize>,
    first: Option<Bytes>,
    joined: Vec<u8>,
    read: usize,
}

impl BodyReader {
    pub(super) fn new(declared: Option<u64>, limit: usize) -> Self {
        Self {
            hasher: Sha256::new(),
            limit,
            declared: declared.and_then(|length| usize::try_from(length).ok()),
            first: None,
            joined: Vec::new(),
            read: 0,
        }
    }

    /// How many bytes have been read.
    pub(super) fn bytes_read(&self) -> usize {
        self.read
    }

    /// Reads `body` to its end; fails when it passes the limit or breaks.
    pub(super) async fn read<B>(&mut self, mut body: Pin<&mut B>) -> Result<(), SignatureRejection>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| read_failed(error.into()))?;
            if let Ok(data) = frame.into_data() {
                self.push(data)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, mut data: impl Buf) -> Result<(), SignatureRejection> {
        let len = data.remaining();
        self.read = self.read.saturating_add(len);
        if self.read > self.limit {
            return Err(PayloadTooLarge::with_detail("body is over the limit").into());
        }
        let chunk = data.copy_to_bytes(len);
        let whole = self.declared.is_none_or(|declared| declared <= len);
        if self.read == len && whole {
            self.hasher.update(&chunk);
            self.first = Some(chunk);
            return Ok(());
        }
        if let Some(first) = self.first.take() {
            self.grow(first.len());
            self.joined.extend_from_slice(&first);
        }
        self.grow(chunk.len());
        // Hashed, then copied, a piece at a time: the copy reads what the hash just read, from
        // the L1 cache (measured: see BENCHMARKS.md, 1 MiB body).
        for piece in chunk.chunks(HASH_PIECE) {
            self.hasher.update(piece);
            self.joined.extend_from_slice(piece);
        }
        Ok(())
    }

    /// Makes room for `more` bytes: [`FIRST_RESERVATION`] at first, then [`GROWTH`] times the
    /// capacity; never past the declared length or the limit, never less than needed.
    fn grow(&mut self, more: usize) {
        let held = self.joined.len();
        let needed = held + more;
        if needed <= self.joined.capacity() {
            return;
        }
        let ceiling = self.declared.unwrap_or(self.limit).min(self.limit);
        let target = if needed <= FIRST_RESERVATION {
            FIRST_RESERVATION
        } else {
            GROWTH.saturating_mul(self.joined.capacity().max(FIRST_RESERVATION))
        };
        self.joined.reserve_exact(target.min(ceiling).max(needed) - held);
    }

    /// The body's bytes and their SHA-256.
    pub(super) fn finish(self) -> (Bytes, [u8; 32]) {
        let payload = match self.first {
            Some(first) => first,
            None => Bytes::from(self.joined),
        };
        (payload, self.hasher.finalize().into())
    }
}

/// The rejection for a body that failed: 413 when an outer body limit cut it off (as for a
/// declared length over the limit), else 400.
fn read_failed(error: BoxError) -> SignatureRejection {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(error) = cause {
        if error.is::<LengthLimitError>() {
            return PayloadTooLarge::with_detail("an outer body limit cut the body off").into();
        }
        cause = error.source();
    }
    BodyReadFailed::new().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(declared: Option<u64>, chunks: &[&[u8]]) -> (BodyReader, Result<(), String>) {
        let mut reader = BodyReader::new(declared, 100);
        let mut result = Ok(());
        for chunk in chunks {
            result = reader.push(*chunk).map_err(|rejection| rejection.body_text());
        }
        (reader, result)
    }

    #[test]
    fn a_body_in_one_chunk_is_kept_and_several_are_joined() {
        let (one, _) = read(Some(5), &[b"hello"]);
        assert!(one.first.is_some() && one.joined.capacity() == 0);
        let (joined, _) = read(Some(11), &[b"hello", b" ", b"world"]);
        let (payload, digest) = joined.finish();
        assert_eq!(payload, "hello world");
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"hello world")));
    }

    #[test]
    fn memory_follows_the_bytes_received_not_the_declared_length() {
        let mut declared = BodyReader::new(Some(10_000_000), usize::MAX);
        declared.push(&b"ab"[..]).unwrap();
        declared.push(&b"cd"[..]).unwrap();
        assert_eq!(declared.joined.capacity(), FIRST_RESERVATION);
        declared.push(&vec![0u8; FIRST_RESERVATION][..]).unwrap();
        assert_eq!(
            declared.joined.capacity(),
            GROWTH * FIRST_RESERVATION,
            "not the 10 MB declared"
        );
        for declared in [Some(10_000_000), Some(300_000), None] {
            let mut reader = BodyReader::new(declared, usize::MAX);
            for size in [2, 2, 100, FIRST_RESERVATION, 1, 3 * FIRST_RESERVATION, 7, 500_000] {
                reader.push(&vec![0u8; size][..]).unwrap();
                let first = reader.first.as_ref().map_or(0, Bytes::len);
                let held = reader.joined.capacity().max(first);
                assert!(held >= reader.read, "{held} < {}", reader.read);
                assert!(held <= FIRST_RESERVATION.max(GROWTH * reader.read), "{held}");
            }
        }
        // A lie about the length, however large, reserves at most 16 times what came.
        let mut liar = BodyReader::new(Some(1 << 45), usize::MAX);
        liar.push(&vec![0u8; 1024][..]).unwrap();
        liar.push(&vec![0u8; FIRST_RESERVATION][..]).unwrap();
        assert!(liar.joined.capacity() <= GROWTH * (FIRST_RESERVATION + 1024));
        let mut small = BodyReader::new(Some(6), usize::MAX);
        small.push(&b"abc"[..]).unwrap();
        small.push(&b"def"[..]).unwrap();
        assert_eq!(small.joined.capacity(), 6);
    }

    #[test]
    fn the_limit_counts_every_chunk() {
        let (_, result) = read(None, &[&[0; 60], &[0; 40]]);
        assert_eq!(result, Ok(()));
        let (_, result) = read(None, &[&[0; 60], &[0; 41]]);
        assert_eq!(result, Err("payload too large".to_owned()));
    }

    #[tokio::test]
    async fn an_outer_limit_is_a_payload_too_large() {
        use http_body_util::{BodyExt, Full, Limited};
        let limited = Limited::new(Full::new(Bytes::from_static(b"too long")), 3);
        let cut = limited.collect().await.unwrap_err();
        assert_eq!(read_failed(cut).body_text(), "payload too large");
        let broken: BoxError = "connection reset".into();
        assert_eq!(read_failed(broken).body_text(), "failed to read request body");
    }
}

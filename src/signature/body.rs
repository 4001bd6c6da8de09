//! The request body: read up to a limit and hashed as it streams in, within the body deadline
//! and the minimum rate, in a bounded number of pieces; and what is left of a refused body,
//! drained while that stays cheap, so that the connection can serve the next request.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::{Body, Frame};
use http_body_util::LengthLimitError;
use sha2::{Digest, Sha256};
use tokio::time::{Instant, Sleep, sleep_until};

use super::layer::BoxError;
use crate::rejection::{BodyReadFailed, BodyTimeout, PayloadTooLarge, SignatureRejection};

/// How much of a chunk is hashed, then copied, at a time.
const HASH_PIECE: usize = 16 * 1024;

/// The first reservation for a body that comes in several chunks: memory follows the bytes
/// that arrive, never a declared length alone.
const FIRST_RESERVATION: usize = 64 * 1024;

/// How many times its capacity the buffer grows to at most once more than
/// [`FIRST_RESERVATION`] has arrived: memory stays within 16 times the bytes received, and a
/// body of up to 1 MiB moves once, 64 KiB (growing 4 times at a time moved it twice; see
/// BENCHMARKS.md for what each costs).
const GROWTH: usize = 16;

/// A body may come in this many frames whatever their size, and one more for every
/// [`BYTES_PER_FRAME`] bytes. Each frame costs about as much as a kilobyte of hashing, so a
/// body in one-byte chunks is refused after a few milliseconds of work, while a body in
/// 536-byte TCP segments (the smallest any network sends) always passes.
const FREE_FRAMES: u64 = 1024;

/// See [`FREE_FRAMES`].
const BYTES_PER_FRAME: u64 = 256;

/// The most of a refused body that is read and thrown away so that the client can finish
/// writing it and read the answer on a connection it may reuse: 4 MiB in at most
/// [`FREE_FRAMES`] frames, within the body deadline, and only with a `Content-Length` (whose
/// bytes on the wire are its data: a chunked body can pad its framing without end). Past any
/// of these the connection is closed instead (HTTP/2: the stream is reset).
pub(super) const DRAIN_LIMIT: u64 = 4 * 1024 * 1024;

/// How fast a body must arrive: all of it within `timeout`, and, after `grace`, on average at
/// least `min_rate` bytes a second (0: no minimum), both from the first time the body makes
/// the layer wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyPace {
    pub(crate) timeout: Duration,
    pub(crate) min_rate: u64,
    pub(crate) grace: Duration,
}

/// Why a body stopped before its end.
#[derive(Debug)]
enum Stopped {
    /// Past the body deadline or below the minimum rate.
    Late { below_min_rate: bool },
    /// More frames than its bytes allow.
    Fragmented,
    /// The body stream failed.
    Broken(BoxError),
}

/// The request body as it arrives: each frame within the deadline, and counted.
pub(super) struct IncomingBody<'b, B> {
    body: Pin<&'b mut B>,
    pace: BodyPace,
    /// Since when the body has made the layer wait; a body already in memory needs no clock.
    started: Option<Instant>,
    /// The timer, made the first time the body makes the layer wait, then moved.
    timer: Option<Pin<Box<Sleep>>>,
    frames: u64,
    bytes: u64,
}

impl<'b, B> IncomingBody<'b, B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(super) fn new(body: Pin<&'b mut B>, pace: BodyPace) -> Self {
        Self { body, pace, started: None, timer: None, frames: 0, bytes: 0 }
    }

    /// Whether the body has been read to its end.
    pub(super) fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    /// The next data frame, `None` at the end of the body.
    async fn next(&mut self) -> Result<Option<B::Data>, Stopped> {
        loop {
            let frame = poll_fn(|cx| self.poll_frame(cx)).await?;
            self.frames += 1;
            let Some(frame) = frame else { return Ok(None) };
            if let Ok(data) = frame.into_data() {
                self.bytes += data.remaining() as u64;
                if self.frames > FREE_FRAMES + self.bytes / BYTES_PER_FRAME {
                    return Err(Stopped::Fragmented);
                }
                return Ok(Some(data));
            }
        }
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Frame<B::Data>>, Stopped>> {
        if let Poll::Ready(frame) = self.body.as_mut().poll_frame(cx) {
            return Poll::Ready(frame.transpose().map_err(|error| Stopped::Broken(error.into())));
        }
        let (deadline, below_min_rate) = self.deadline();
        // The timer alone is not enough: it waits its turn in tokio's cooperative budget,
        // which a body that keeps the socket full of bytes that make no frame (padding in a
        // chunk-size line) can use up, poll after poll.
        if Instant::now() >= deadline {
            return Poll::Ready(Err(Stopped::Late { below_min_rate }));
        }
        let timer = self.timer.get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).map(|()| Err(Stopped::Late { below_min_rate }))
    }

    /// When the body must have arrived, as far as it has come, and whether that is the
    /// minimum rate's deadline (else the timeout's).
    fn deadline(&mut self) -> (Instant, bool) {
        let started = *self.started.get_or_insert_with(Instant::now);
        let after = |wait: Duration| started.checked_add(wait).unwrap_or_else(far_future);
        let timeout = after(self.pace.timeout);
        if self.pace.min_rate == 0 {
            return (timeout, false);
        }
        let earned = Duration::try_from_secs_f64(self.bytes as f64 / self.pace.min_rate as f64)
            .unwrap_or(Duration::MAX);
        let by_rate = after(self.pace.grace.saturating_add(earned));
        if by_rate < timeout { (by_rate, true) } else { (timeout, false) }
    }

    /// Reads and throws away what is left of a refused body, while that stays cheap (see
    /// [`DRAIN_LIMIT`]); whether the body was read to its end.
    pub(super) async fn drain(&mut self) -> bool {
        while self.bytes <= DRAIN_LIMIT && self.frames <= FREE_FRAMES {
            match self.next().await {
                Ok(Some(_)) => {}
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
        false
    }
}

/// A moment no deadline reaches (about 30 years on).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

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

    /// Reads `body` to its end; fails when it passes the limit, breaks, comes too late or
    /// too slowly, or in too many pieces.
    pub(super) async fn read<B>(
        &mut self,
        body: &mut IncomingBody<'_, B>,
    ) -> Result<(), SignatureRejection>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        while let Some(data) = body.next().await? {
            self.push(data)?;
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
        // the L1 cache (see BENCHMARKS.md, 1 MiB body).
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
        let payload = self.first.unwrap_or_else(|| Bytes::from(self.joined));
        (payload, self.hasher.finalize().into())
    }
}

impl From<Stopped> for SignatureRejection {
    fn from(stopped: Stopped) -> Self {
        match stopped {
            Stopped::Late { below_min_rate: true } => {
                BodyTimeout::with_detail("body arrived below the minimum rate").into()
            }
            Stopped::Late { below_min_rate: false } => BodyTimeout::new().into(),
            Stopped::Fragmented => {
                BodyReadFailed::with_detail("body arrived in too many pieces").into()
            }
            Stopped::Broken(error) => read_failed(error),
        }
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
    use http_body_util::channel::Channel;

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

    const PACE: BodyPace =
        BodyPace { timeout: Duration::from_secs(30), min_rate: 500, grace: Duration::from_secs(5) };

    /// A body whose `chunks` are sent one every `every`, in the background.
    fn sent(chunks: Vec<Vec<u8>>, every: Duration) -> Channel<Bytes, BoxError> {
        let (mut sender, body) = Channel::new(1);
        tokio::spawn(async move {
            for chunk in chunks {
                if sender.send_data(chunk.into()).await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        });
        body
    }

    /// Reads `body` with `pace` and a 1 MiB limit: the result, the seconds it took on the
    /// paused clock, and the frames read.
    async fn read_paced(
        body: Channel<Bytes, BoxError>,
        pace: BodyPace,
    ) -> (Result<(), String>, u64, u64) {
        let started = Instant::now();
        let mut body = std::pin::pin!(body);
        let mut incoming = IncomingBody::new(body.as_mut(), pace);
        let result = BodyReader::new(None, 1 << 20).read(&mut incoming).await;
        let result = result.map_err(|rejection| rejection.to_string());
        (result, started.elapsed().as_secs(), incoming.frames)
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_trickling_below_the_minimum_rate_is_cut_off_after_the_grace() {
        let trickle = sent(vec![b"x".to_vec(); 100], Duration::from_secs(1));
        let (result, seconds, _) = read_paced(trickle, PACE).await;
        assert_eq!(
            result,
            Err("request body timed out: body arrived below the minimum rate".into())
        );
        assert_eq!(seconds, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_the_minimum_rate_is_cut_off_by_the_body_timeout() {
        let steady = sent(vec![vec![b'x'; 600]; 100], Duration::from_secs(1));
        let (result, seconds, _) = read_paced(steady, PACE).await;
        assert_eq!(result, Err("request body timed out".into()));
        assert_eq!(seconds, 30);
        let unpaced = BodyPace { min_rate: 0, ..PACE };
        let trickle = sent(vec![b"x".to_vec(); 100], Duration::from_secs(1));
        assert_eq!(read_paced(trickle, unpaced).await.1, 30, "no minimum rate: the timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_pauses_within_what_it_has_earned_arrives() {
        // 64 KiB earns 131 s at 500 B/s: pauses of 8 s after it are no reason to cut it off.
        let mut chunks = vec![vec![b'x'; 64 * 1024]];
        chunks.extend(vec![vec![b'y'; 10]; 2]);
        let (result, seconds, _) = read_paced(sent(chunks, Duration::from_secs(8)), PACE).await;
        assert_eq!((result, seconds), (Ok(()), 24));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_in_one_byte_chunks_is_refused_after_about_a_thousand_of_them() {
        let crumbs = sent(vec![b"x".to_vec(); 5_000], Duration::ZERO);
        let (result, _, frames) = read_paced(crumbs, PACE).await;
        assert_eq!(
            result,
            Err("failed to read request body: body arrived in too many pieces".into())
        );
        assert!((FREE_FRAMES..FREE_FRAMES + 10).contains(&frames), "{frames}");
        // A megabyte in the smallest TCP segments any network sends is no reason to refuse.
        let segments = sent(vec![vec![b'x'; 536]; (1 << 20) / 536], Duration::ZERO);
        assert_eq!(read_paced(segments, PACE).await.0, Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_body_is_drained_only_while_it_is_cheap() {
        let drained = |chunks: Vec<Vec<u8>>| async move {
            let mut body = std::pin::pin!(sent(chunks, Duration::ZERO));
            IncomingBody::new(body.as_mut(), PACE).drain().await
        };
        assert!(drained(vec![vec![b'x'; 64 * 1024]; 64]).await, "4 MiB in 64 frames");
        assert!(!drained(vec![vec![b'x'; 64 * 1024]; 65]).await, "over 4 MiB");
        assert!(drained(vec![vec![b'x'; 1024]; 1000]).await, "1,000 frames");
        assert!(!drained(vec![vec![b'x'; 1024]; 1100]).await, "1,100 frames");
        let mut stalled = std::pin::pin!(sent(vec![b"x".to_vec(); 100], Duration::from_secs(1)));
        assert!(!IncomingBody::new(stalled.as_mut(), PACE).drain().await, "below the minimum rate");
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

//! Helpers for the limits and floods tests: waiting for the server to close a connection, a
//! raw HTTP/2 client that writes frames byte by byte (and answers PING and SETTINGS, so that
//! only the server's own timers can close it), hyper's HTTP/2 client with prior knowledge, and
//! the process's memory and open-file limit.

use std::convert::Infallible;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The generous bound within which the server must have closed a connection once its limit
/// has passed (the limits themselves are a few hundred milliseconds in these tests).
pub(crate) const CLOSE_BOUND: Duration = Duration::from_secs(5);

pub(crate) const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Connects to `address`, within [`CLOSE_BOUND`].
pub(crate) async fn connect(address: SocketAddr) -> TcpStream {
    timeout(CLOSE_BOUND, TcpStream::connect(address))
        .await
        .expect("connected within the bound")
        .expect("connect")
}

/// Whether an error means the peer has closed or reset the connection.
pub(crate) fn is_closed_error(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}

/// Reads until the server closes the connection (end of stream or reset), for at most
/// `within`: what was received before, or `Err` when the connection was still open.
pub(crate) async fn until_closed<R: AsyncRead + Unpin>(
    stream: &mut R,
    within: Duration,
) -> Result<Vec<u8>, String> {
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) => return Ok(()),
                Ok(read) => received.extend_from_slice(&buffer[..read]),
                Err(error) if is_closed_error(error.kind()) => return Ok(()),
                Err(error) => return Err(format!("read failed: {error}")),
            }
        }
    };
    match timeout(within, reading).await {
        Ok(Ok(())) => Ok(received),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(format!("still open after {within:?} ({} bytes received)", received.len())),
    }
}

/// Panics unless the server closes `stream` within [`CLOSE_BOUND`]; what it sent before.
pub(crate) async fn assert_closed<R: AsyncRead + Unpin>(stream: &mut R, what: &str) -> Vec<u8> {
    match until_closed(stream, CLOSE_BOUND).await {
        Ok(received) => received,
        Err(error) => panic!("{what}: {error}"),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 by hand (RFC 9113): frames written byte by byte.

pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;

/// One frame: 24-bit length, type, flags, stream id, payload.
pub(crate) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap();
    let mut frame = Vec::with_capacity(9 + payload.len());
    frame.extend_from_slice(&length.to_be_bytes()[1..]);
    frame.push(kind);
    frame.push(flags);
    frame.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// `GET /` (the health check) as an HPACK header block, static table only: `:method GET`,
/// `:scheme http`, `:path /`, and `:authority a` as a literal without indexing.
pub(crate) const GET_ROOT_BLOCK: &[u8] = &[0x82, 0x86, 0x84, 0x01, 0x01, b'a'];

/// A raw HTTP/2 client connection.
pub(crate) struct RawH2 {
    pub(crate) stream: TcpStream,
    /// The type of every frame received, in order.
    pub(crate) received: Vec<u8>,
}

impl RawH2 {
    /// Connects, sends the preface and an empty SETTINGS frame, and acknowledges the server's
    /// SETTINGS, within [`CLOSE_BOUND`].
    pub(crate) async fn connect(address: SocketAddr) -> Self {
        let mut stream = connect(address).await;
        let mut opening = PREFACE.to_vec();
        opening.extend(frame(SETTINGS, 0, 0, &[]));
        stream.write_all(&opening).await.unwrap();
        let mut client = Self { stream, received: Vec::new() };
        let settled = async {
            while let Some((kind, flags, _, _)) = client.next_frame(true).await {
                if kind == SETTINGS && flags & ACK == 0 {
                    return;
                }
            }
            panic!("the connection closed before the server's SETTINGS");
        };
        timeout(CLOSE_BOUND, settled).await.expect("the server's SETTINGS within the bound");
        client
    }

    pub(crate) async fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        self.stream.write_all(&frame(kind, flags, stream, payload)).await.unwrap();
    }

    /// The next frame as (type, flags, stream, payload), `None` once the server has closed the
    /// connection. With `answer`, PING and SETTINGS are acknowledged as a well-behaved client
    /// does (never in the middle of a header block: only CONTINUATION may follow one).
    async fn next_frame(&mut self, answer: bool) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut header = [0u8; 9];
        if let Err(error) = self.stream.read_exact(&mut header).await {
            assert!(is_closed_error(error.kind()), "reading a frame: {error}");
            return None;
        }
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let (kind, flags) = (header[3], header[4]);
        let id = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; length];
        if let Err(error) = self.stream.read_exact(&mut payload).await {
            assert!(is_closed_error(error.kind()), "reading a frame: {error}");
            return None;
        }
        self.received.push(kind);
        let acknowledgement = match kind {
            PING if answer && flags & ACK == 0 => Some(frame(PING, ACK, 0, &payload)),
            SETTINGS if answer && flags & ACK == 0 => Some(frame(SETTINGS, ACK, 0, &[])),
            _ => None,
        };
        if let Some(acknowledgement) = acknowledgement {
            self.stream.write_all(&acknowledgement).await.unwrap();
        }
        Some((kind, flags, id, payload))
    }

    /// Reads (and answers) frames until `stream` ends, within [`CLOSE_BOUND`]; the `:status` of
    /// its response as the first byte of the header block (HPACK index 0x88 is 200).
    pub(crate) async fn wait_for_response(&mut self, stream: u32) -> u8 {
        let reading = async {
            let mut status = None;
            while let Some((kind, flags, id, payload)) = self.next_frame(true).await {
                if id != stream || !matches!(kind, DATA | HEADERS) {
                    continue;
                }
                if kind == HEADERS {
                    status = payload.first().copied();
                }
                if flags & END_STREAM != 0 {
                    return status.expect("a response head before its end");
                }
            }
            panic!("the connection closed before the response to stream {stream} ended");
        };
        timeout(CLOSE_BOUND, reading).await.expect("the response within the bound")
    }

    /// Reads frames, answering none, until the server closes the connection, within `within`.
    pub(crate) async fn read_until_closed(&mut self, within: Duration) -> Result<(), String> {
        let reading = async { while self.next_frame(false).await.is_some() {} };
        timeout(within, reading).await.map_err(|_| {
            format!("still open after {within:?}; frames received {:?}", self.received)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// hyper's HTTP/2 client, with prior knowledge.

pub(crate) type ClientBody = UnsyncBoxBody<Bytes, Infallible>;

/// An HTTP/2 connection to `address` and the task driving it; the task ends when the
/// connection does.
pub(crate) async fn h2_client(
    address: SocketAddr,
) -> (SendRequest<ClientBody>, tokio::task::JoinHandle<Result<(), hyper::Error>>) {
    let stream = connect(address).await;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    (sender, tokio::spawn(connection))
}

// ---------------------------------------------------------------------------------------------
// Memory and open files.

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// This process's resident set size, in KiB (`VmRSS`): the memory it has touched.
pub(crate) fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// This process's private writable memory, in KiB (`VmData`): what it has reserved, touched
/// or not (an allocation's untouched pages are not resident, but they are reserved).
pub(crate) fn data_kib() -> u64 {
    status_kib("VmData:")
}

/// Samples `VmRSS` and `VmData` every 2 ms on a thread of its own, keeping the highest of each.
pub(crate) struct PeakMemory {
    peaks: Arc<[AtomicU64; 2]>,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PeakMemory {
    pub(crate) fn start() -> Self {
        let peaks = Arc::new([AtomicU64::new(rss_kib()), AtomicU64::new(data_kib())]);
        let running = Arc::new(AtomicBool::new(true));
        let thread = std::thread::spawn({
            let (peaks, running) = (peaks.clone(), running.clone());
            move || {
                while running.load(Ordering::SeqCst) {
                    peaks[0].fetch_max(rss_kib(), Ordering::SeqCst);
                    peaks[1].fetch_max(data_kib(), Ordering::SeqCst);
                    std::thread::sleep(ms(2));
                }
            }
        });
        Self { peaks, running, thread: Some(thread) }
    }

    /// Stops sampling; the highest `VmRSS` and `VmData` seen, in KiB.
    pub(crate) fn stop(mut self) -> (u64, u64) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let rss = self.peaks[0].load(Ordering::SeqCst).max(rss_kib());
        let data = self.peaks[1].load(Ordering::SeqCst).max(data_kib());
        (rss, data)
    }
}

/// The soft and hard limits on open files (`Max open files` in `/proc/self/limits`).
pub(crate) fn open_file_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let parse = |field: Option<&str>| match field {
        Some("unlimited") => u64::MAX,
        Some(number) => number.parse().unwrap_or(0),
        None => 0,
    };
    limits.lines().find_map(|line| line.strip_prefix("Max open files")).map_or((0, 0), |rest| {
        let mut fields = rest.split_whitespace();
        (parse(fields.next()), parse(fields.next()))
    })
}

/// How long since `started`, in milliseconds with one decimal, for the printed figures.
pub(crate) fn millis_since(started: Instant) -> String {
    format!("{:.1} ms", started.elapsed().as_secs_f64() * 1000.0)
}

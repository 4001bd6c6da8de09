//! A raw HTTP/1.1 keep-alive client: one TCP connection, requests written exactly as given one
//! after another, each response read by its `Content-Length` so that the next one can follow
//! on the same connection. Every failure is an `Err` naming what happened, never a hang: each
//! exchange is bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::raw_http::{RawResponse, parse_response};

/// How long one exchange (writing the request while reading its answer) may take.
pub(crate) const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(20);

/// One keep-alive connection; bytes read past a response are kept for the next one.
#[derive(Debug)]
pub(crate) struct KeepAlive {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl KeepAlive {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(EXCHANGE_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connected within 20 s")
            .expect("connect");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Self { stream, buffer: Vec::new() }
    }

    /// Writes `request` while reading one response, both within [`EXCHANGE_TIMEOUT`].
    pub(crate) async fn round_trip(&mut self, request: &[u8]) -> Result<RawResponse, String> {
        let (mut reader, mut writer) = self.stream.split();
        let buffer = &mut self.buffer;
        let write = async {
            writer.write_all(request).await.map_err(|error| format!("writing the request: {error}"))
        };
        let read = read_one_response(&mut reader, buffer);
        let exchange = async { tokio::join!(write, read) };
        match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
            Err(_) => Err(format!(
                "no complete exchange within {EXCHANGE_TIMEOUT:?} (request of {} bytes)",
                request.len()
            )),
            Ok((Err(error), _)) | Ok((_, Err(error))) => Err(error),
            Ok((Ok(()), Ok(response))) => Ok(response),
        }
    }

    /// Writes `bytes` only.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        match tokio::time::timeout(EXCHANGE_TIMEOUT, self.stream.write_all(bytes)).await {
            Err(_) => {
                Err(format!("could not write {} bytes within {EXCHANGE_TIMEOUT:?}", bytes.len()))
            }
            Ok(result) => result.map_err(|error| format!("writing: {error}")),
        }
    }

    /// Reads one response (a `1xx` included) without writing anything.
    pub(crate) async fn read_response(&mut self) -> Result<RawResponse, String> {
        let (mut reader, _) = self.stream.split();
        let read = read_one_response(&mut reader, &mut self.buffer);
        tokio::time::timeout(EXCHANGE_TIMEOUT, read)
            .await
            .unwrap_or_else(|_| Err(format!("no response within {EXCHANGE_TIMEOUT:?}")))
    }

    /// Reads until the server closes the connection; the bytes that came before the end.
    pub(crate) async fn read_to_close(&mut self) -> Result<Vec<u8>, String> {
        let mut rest = std::mem::take(&mut self.buffer);
        match tokio::time::timeout(EXCHANGE_TIMEOUT, self.stream.read_to_end(&mut rest)).await {
            Err(_) => Err(format!("the server kept the connection open for {EXCHANGE_TIMEOUT:?}")),
            // A reset after the answer also ends the connection.
            Ok(Ok(_)) | Ok(Err(_)) => Ok(rest),
        }
    }

    /// The stream, for writing and reading in separate tasks.
    pub(crate) fn into_stream(self) -> TcpStream {
        self.stream
    }
}

/// Reads one response head, then `Content-Length` bytes of body (none for `1xx`), from
/// `reader` with `buffer` holding what was read before; what follows stays in `buffer`.
pub(crate) async fn read_one_response<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
) -> Result<RawResponse, String> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        fill(reader, buffer, "a response head").await?;
    };
    let mut response = parse_response(&buffer[..head_end]);
    let length = match response.header("content-length") {
        Some(length) => {
            length.parse::<usize>().map_err(|_| format!("bad Content-Length {length}"))?
        }
        None if (100..200).contains(&response.status) => 0,
        None => {
            return Err(format!(
                "a {} response without Content-Length: {:?}",
                response.status, response.headers
            ));
        }
    };
    while buffer.len() < head_end + length {
        fill(reader, buffer, "a response body").await?;
    }
    response.body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Ok(response)
}

/// Reads more bytes into `buffer`; the end of the stream or an error is a connection error.
async fn fill<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    waiting_for: &str,
) -> Result<(), String> {
    match reader.read_buf(buffer).await {
        Ok(0) => Err(format!(
            "the server closed the connection while the client waited for {waiting_for} \
             (after {} unread bytes)",
            buffer.len()
        )),
        Ok(_) => Ok(()),
        Err(error) => Err(format!("connection error while waiting for {waiting_for}: {error}")),
    }
}

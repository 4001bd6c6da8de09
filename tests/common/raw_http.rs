//! A raw HTTP/1.1 client: requests go out exactly as given, responses are parsed by hand.
//! One head parser serves both readers: to the end of the stream (the body dechunked), or
//! the head alone, byte by byte, so what follows a `101` (websocket frames) stays unread.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body, which must be UTF-8.
    pub(crate) fn utf8(&self) -> &str {
        std::str::from_utf8(&self.body).expect("the body is UTF-8")
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `METHOD PATH HTTP/1.1` with exactly `headers` (plus Host, Content-Length and
/// `Connection: close`) and `body`, and reads the whole response.
pub(crate) async fn send_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    exchange(addr, &request).await
}

/// Writes `request` as is and reads the response until the server closes the connection.
pub(crate) async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    read_response(&mut stream).await
}

pub(crate) async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("response within 20 s")
        .expect("read response");
    parse_response(&raw)
}

/// Reads the response head byte by byte up to the blank line, so nothing after it (a body,
/// websocket frames) is consumed; the body is left empty.
pub(crate) async fn read_head(stream: &mut TcpStream) -> RawResponse {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.expect("a complete response head");
        head.push(byte);
    }
    parse_head(&head[..head.len() - 4])
}

/// After [`read_head`]: reads `Content-Length` bytes (none when it is absent) as the body.
pub(crate) async fn read_body(stream: &mut TcpStream, response: &mut RawResponse) {
    let length: usize =
        response.header("content-length").map_or(0, |length| length.parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    response.body = body;
}

pub(crate) fn parse_response(raw: &[u8]) -> RawResponse {
    let split =
        raw.windows(4).position(|window| window == b"\r\n\r\n").expect("response has a head");
    let mut response = parse_head(&raw[..split]);
    let rest = &raw[split + 4..];
    let chunked = response.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked")
    });
    response.body = if chunked { dechunk(rest) } else { rest.to_vec() };
    response
}

/// The status line and header lines (without the blank line); the body is left empty.
fn parse_head(head: &[u8]) -> RawResponse {
    let head = std::str::from_utf8(head).expect("the response head is UTF-8");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status code");
    let headers = lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line.split_once(':').expect("a header line has a colon");
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();
    RawResponse { status, headers, body: Vec::new() }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|window| window == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        body.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    body
}

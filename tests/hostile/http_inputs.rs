//! Header and body attacks over real TCP against a server built from `MeshagentSignatureLayer`
//! and `MeshagentEvent`: duplicate and non-UTF-8 signature headers, huge headers, the
//! `Meshagent-Webhook` header against the body, declared lengths that are too big or lie,
//! endless and chunked bodies, and signed bodies hostile to the JSON parser. Each gets a
//! precise status, a rejected request never reaches the handler, and the server answers a
//! valid signed request with 200 after each.

use std::time::{Duration, Instant};

use crate::common::{TestServer, read_response, recording_app};
use crate::hardening::cases::{MISMATCH, MISSING, body_cases, header_cases};
use crate::hardening::{
    CountingServer, SECRET, assert_still_serves, event_body, raw_request, run_case, split_responses,
};
use http::StatusCode;
use meshagent_webhooks::{MeshagentSignatureLayer, Signer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_http::timeout::TimeoutLayer;

const MIB: usize = 1024 * 1024;

fn signature(body: &[u8]) -> String {
    Signer::new(SECRET).signature_header(body)
}

#[tokio::test]
async fn every_header_attack_gets_its_answer_and_the_server_keeps_serving() {
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = TestServer::start(app).await;
    for case in &header_cases() {
        run_case(server.addr, &seen, case).await;
    }
}

#[tokio::test]
async fn every_hostile_signed_body_gets_a_precise_status_and_no_panic() {
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = TestServer::start(app).await;
    for case in &body_cases() {
        run_case(server.addr, &seen, case).await;
    }
}

/// Writes `head`, then `total` bytes of body in 64 KiB pieces (in the background, bounded by
/// 10 s), reads the answer, and returns it with how many body bytes the client managed to
/// write before the server closed.
async fn upload(
    addr: std::net::SocketAddr,
    head: Vec<u8>,
    total: usize,
    piece: fn(usize) -> Vec<u8>,
) -> (crate::common::RawResponse, usize) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(&head).await.unwrap();
    let writing = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut written = 0;
        while written < total && Instant::now() < deadline {
            let chunk = piece(64 * 1024);
            match tokio::time::timeout(Duration::from_secs(2), writer.write_all(&chunk)).await {
                Ok(Ok(())) => written += 64 * 1024,
                _ => break,
            }
        }
        written
    });
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut raw)).await;
    let written = writing.await.unwrap();
    (crate::common::parse_response(&raw), written)
}

#[tokio::test]
async fn content_length_far_over_the_limit_is_answered_413_without_reading_the_body() {
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = CountingServer::start(app).await;
    let head = |length: &str| {
        raw_request(
            "POST",
            "/webhook",
            &[
                ("Content-Type", b"application/json"),
                ("Meshagent-Signature", signature(b"{}").as_bytes()),
                ("Content-Length", length.as_bytes()),
            ],
            b"",
            true,
        )
    };

    // Only the head is sent: the answer still comes, so the body was never waited for.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&head("1073741824")).await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
        .await
        .expect("answered while the body was still unsent");
    assert_eq!((response.status, response.text().as_str()), (413, "payload too large"));
    drop(stream);

    // The client streams 256 MiB right behind the head: the server reads a bounded amount,
    // answers 413 and closes, and the client's writes fail long before the end.
    let before = server.bytes_read();
    let (response, written) =
        upload(server.addr, head("268435456"), 256 * MIB, |n| vec![b' '; n]).await;
    let read = server.bytes_read() - before;
    println!(
        "declared 256 MiB: client wrote {written} bytes before the server closed; server read {read} bytes"
    );
    assert_eq!(response.status, 413);
    assert!(read < 2 * MIB as u64, "the server read {read} bytes");
    assert!(written < 256 * MIB, "the client could write the whole body");
    assert!(seen.lock().unwrap().is_empty());
    assert_still_serves(server.addr, &seen, "an oversized Content-Length").await;
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_cut_off_near_the_limit() {
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = CountingServer::start(app).await;
    let head = raw_request(
        "POST",
        "/webhook",
        &[
            ("Content-Type", b"application/json"),
            ("Meshagent-Signature", signature(b"{}").as_bytes()),
            ("Transfer-Encoding", b"chunked"),
        ],
        b"",
        true,
    );
    let (response, written) = upload(server.addr, head, 256 * MIB, |n| {
        let mut chunk = format!("{:x}\r\n", n - 8).into_bytes();
        chunk.resize(n - 2, b' ');
        chunk.extend_from_slice(b"\r\n");
        chunk
    })
    .await;
    let read = server.bytes_read();
    println!(
        "chunked 256 MiB: client wrote {written} bytes, server read {read} bytes (limit 1 MiB)"
    );
    assert_eq!((response.status, response.text().as_str()), (413, "payload too large"));
    // The limit, then at most the drain limit (4 MiB in all) before the answer, which closes
    // the connection since the body did not end.
    assert_eq!(response.header("connection"), Some("close"));
    assert!(read < 6 * MIB as u64, "the server read {read} bytes");
    assert!(written < 256 * MIB);
    assert!(seen.lock().unwrap().is_empty());
    assert_still_serves(server.addr, &seen, "an endless chunked body").await;
}

/// Framing that hyper refuses before any service runs, or resolves one way (chunked wins
/// over `Content-Length`): the handler only ever sees a body that was signed.
#[tokio::test]
async fn malformed_framing_gets_a_precise_status() {
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = TestServer::start(app).await;
    let body = event_body("framing");
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let huge_chunk = format!("ffffffffffffffffff\r\n{body}\r\n0\r\n\r\n");
    #[rustfmt::skip]
    let cases: [(&str, &str, &str, u16); 9] = [
        ("content_length_overflow", "Content-Length: 18446744073709551616", &body, 400),
        ("content_length_negative", "Content-Length: -1", &body, 400),
        ("content_length_hex", "Content-Length: 0x10", &body, 400),
        ("content_length_plus", "Content-Length: +10", &body, 400),
        ("two_different_content_lengths", "Content-Length: 10\r\nContent-Length: 11", &body, 400),
        ("chunk_size_overflow", "Transfer-Encoding: chunked", &huge_chunk, 400),
        ("unknown_transfer_encoding", "Transfer-Encoding: gzip", &body, 400),
        ("chunked_and_short_content_length", "Content-Length: 4\r\nTransfer-Encoding: chunked", &chunked, 200),
        ("chunked_twice", "Transfer-Encoding: chunked, chunked", &chunked, 200),
    ];
    for (name, framing, payload, status) in cases {
        let request = format!(
            "POST /webhook HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
             Content-Type: application/json\r\nMeshagent-Signature: {}\r\n{framing}\r\n\r\n{payload}",
            signature(body.as_bytes()),
        );
        let response = crate::common::exchange(server.addr, request.as_bytes()).await;
        println!("{name}: {} {:?}", response.status, response.text());
        assert_eq!(response.status, status, "{name}: {}", response.text());
        let reached = seen.lock().unwrap().len();
        assert_eq!(reached, usize::from(status == 200), "{name}");
        assert_still_serves(server.addr, &seen, name).await;
        seen.lock().unwrap().clear();
    }
}

/// A request whose `Content-Length` is shorter than what follows: the rest is parsed as the
/// next request on the connection, which must pass verification on its own.
#[tokio::test]
async fn content_length_shorter_than_the_body_leaves_the_rest_as_a_next_request() {
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = TestServer::start(app).await;
    let exchange_all = |bytes: Vec<u8>| async move {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
            .await
            .expect("the server closes the connection")
            .unwrap();
        split_responses(&raw)
    };

    // Signed over the whole body, but only 50 bytes are declared: the digest does not match,
    // and the rest is not a request.
    let body = event_body("short-length");
    let request = raw_request(
        "POST",
        "/webhook",
        &[
            ("Content-Type", b"application/json"),
            ("Meshagent-Signature", signature(body.as_bytes()).as_bytes()),
            ("Content-Length", b"50"),
        ],
        body.as_bytes(),
        true,
    );
    let responses = exchange_all(request).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 400]);
    assert_eq!(responses[0].text(), MISMATCH);
    assert!(seen.lock().unwrap().is_empty());

    // A signed request whose tail smuggles a second, unsigned one: the first is handled, the
    // smuggled one is refused like any other unsigned request.
    let first = event_body("smuggle-carrier");
    let smuggled = raw_request(
        "POST",
        "/webhook",
        &[("Content-Type", b"application/json")],
        event_body("smuggled").as_bytes(),
        false,
    );
    let mut request = raw_request(
        "POST",
        "/webhook",
        &[
            ("Content-Type", b"application/json"),
            ("Meshagent-Signature", signature(first.as_bytes()).as_bytes()),
        ],
        first.as_bytes(),
        true,
    );
    request.extend_from_slice(&smuggled);
    let responses = exchange_all(request).await;
    let answers: Vec<(u16, String)> = responses.iter().map(|r| (r.status, r.text())).collect();
    assert_eq!(answers, [(200, "ok".to_owned()), (401, MISSING.to_owned())]);
    let seen_ids: Vec<String> =
        seen.lock().unwrap().iter().map(|(_, data)| data["id"].to_string()).collect();
    assert_eq!(seen_ids, [r#""smuggle-carrier""#]);
    assert_still_serves(server.addr, &seen, "a smuggled request").await;
}

/// `tower_http::timeout::TimeoutLayer` outside the signature layer ends a body that never
/// finishes with 408; without it the stuck connection only holds itself.
#[tokio::test]
async fn a_body_that_never_finishes_gets_408_from_a_timeout_layer_outside_the_signature_layer() {
    let timeout = Duration::from_millis(300);
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let app = app.layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout));
    let server = TestServer::start(app).await;
    let body = event_body("never-finishes");
    let head = |declared: &str| {
        let mut request = raw_request(
            "POST",
            "/webhook",
            &[
                ("Content-Type", b"application/json"),
                ("Meshagent-Signature", signature(body.as_bytes()).as_bytes()),
                ("Content-Length", declared.as_bytes()),
            ],
            b"",
            true,
        );
        request.extend_from_slice(&body.as_bytes()[..40]);
        request
    };
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    stream.write_all(&head("1000")).await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
        .await
        .expect("the timeout answers");
    let elapsed = started.elapsed();
    println!("endless body answered {} after {elapsed:?} (timeout {timeout:?})", response.status);
    assert_eq!(response.status, 408);
    assert!(elapsed >= timeout && elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(seen.lock().unwrap().is_empty());
    assert_still_serves(server.addr, &seen, "a body that never finished").await;

    // Without a timeout the request waits, but only on its own connection.
    let (app, seen) = recording_app(MeshagentSignatureLayer::new(SECRET));
    let server = TestServer::start(app).await;
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    stuck.write_all(&head("1000")).await.unwrap();
    let mut byte = [0u8; 1];
    let pending = tokio::time::timeout(Duration::from_millis(300), stuck.read(&mut byte)).await;
    assert!(pending.is_err(), "no answer while the body is incomplete");
    assert_still_serves(server.addr, &seen, "a stuck upload on another connection").await;
    assert_eq!(seen.lock().unwrap().len(), 1);
}

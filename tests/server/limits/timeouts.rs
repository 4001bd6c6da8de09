//! Timeouts: the header read timeout, the idle timeout and the layer's body timeout, on
//! HTTP/1.1 and HTTP/2.

use super::*;

#[tokio::test]
async fn clients_that_send_nothing_a_byte_or_part_of_the_http2_preface_are_disconnected() {
    let recorder = Recorder::default();
    let server = TestServer::start(
        signed(recorder.clone()).with_header_read_timeout(ms(300)).with_idle_timeout(NEVER),
    )
    .await;
    let openings: [(&str, &[u8]); 4] = [
        ("nothing", b""),
        ("one byte of an HTTP/1 request", b"G"),
        ("one byte that could open HTTP/1 or HTTP/2", b"P"),
        ("the first 23 bytes of the HTTP/2 preface", &PREFACE[..23]),
    ];
    let mut stalled = Vec::new();
    for (what, opening) in openings {
        let mut stream = connect(server.address).await;
        stream.write_all(opening).await.unwrap();
        stalled.push((what, stream));
    }

    // Meanwhile a good delivery on another connection is answered.
    let response = deliver(&server, "meanwhile").await;
    assert_eq!(response.status, 200, "{}", response.utf8());

    for (what, mut stream) in stalled {
        let received = assert_closed(&mut stream, what).await;
        assert!(received.is_empty(), "{what}: the server answered {received:?}");
    }
    assert_eq!(recorder.calls(), [("on_room_ended", "meanwhile".to_owned())]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_http1_request_head_that_never_ends_is_cut_off_by_the_header_read_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(ms(300)).with_idle_timeout(NEVER),
    )
    .await;
    let mut stream = connect(server.address).await;
    assert_eq!(keep_alive_get(&mut stream).await.status, 200);

    stream.write_all(b"POST /webhook HTTP/1.1\r\nHost: limits\r\nMeshagent-Sig").await.unwrap();
    assert_closed(&mut stream, "a half-sent second head").await;
    assert_eq!(deliver(&server, "after").await.status, 200);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The idle timeout.

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(NEVER).with_idle_timeout(ms(500)),
    )
    .await;
    let mut stream = connect(server.address).await;
    let response = keep_alive_get(&mut stream).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), None, "kept alive");

    let received = assert_closed(&mut stream, "an idle keep-alive connection").await;
    assert!(received.is_empty(), "the server answered {received:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_http2_connection_that_sends_no_request_is_closed_after_the_header_read_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(ms(300)).with_idle_timeout(NEVER),
    )
    .await;
    // hyper's client answers the server's pings: only the server's own timers can close it.
    let (_sender, connection) = h2_client(server.address).await;
    let ended = timeout(CLOSE_BOUND, connection).await;
    assert!(ended.is_ok(), "an HTTP/2 connection without a request is still open");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_connection_without_a_request_is_closed_after_the_idle_timeout_when_that_is_shorter() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(NEVER).with_idle_timeout(ms(500)),
    )
    .await;
    let (_sender, connection) = h2_client(server.address).await;
    let http2 = timeout(CLOSE_BOUND, connection).await;
    assert!(http2.is_ok(), "an HTTP/2 connection without a request is still open");
    let mut silent = connect(server.address).await;
    let received = assert_closed(&mut silent, "an HTTP/1 connection without a request").await;
    assert!(received.is_empty(), "the server answered {received:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(NEVER).with_idle_timeout(ms(500)),
    )
    .await;
    let (mut sender, connection) = h2_client(server.address).await;
    let request = room_ended("over-h2").map(|body| body.boxed_unsync());
    let request = with_authority(request, server.address);
    let response = timeout(CLOSE_BOUND, sender.send_request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    drop(response);

    let ended = timeout(CLOSE_BOUND, connection).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection is still open");
    server.stop().await.unwrap();
}

/// HTTP/2 requests need `:scheme` and `:authority`: an absolute URI.
fn with_authority<B>(request: Request<B>, address: std::net::SocketAddr) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    parts.uri = format!("http://{address}{}", parts.uri).parse().unwrap();
    Request::from_parts(parts, body)
}

// An unfinished header block: a HEADERS frame without END_HEADERS and no CONTINUATION. The
// client cannot acknowledge the server's PING (only CONTINUATION may follow a header block), so
// the server's graceful close cannot complete either: the connection is dropped after the close
// grace of `serve.rs` (5 s) or by the HTTP/2 keep-alive, whichever comes first; the bound is
// twice `CLOSE_BOUND`.

#[tokio::test]
async fn an_http2_header_block_that_never_ends_is_closed_as_the_first_request() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(ms(300)).with_idle_timeout(NEVER),
    )
    .await;
    let mut client = RawH2::connect(server.address).await;
    client.send(HEADERS, END_STREAM, 1, &GET_ROOT_BLOCK[..3]).await;

    let closed = client.read_until_closed(2 * CLOSE_BOUND).await;
    assert!(closed.is_ok(), "an unfinished first header block: {}", closed.unwrap_err());
    assert!(client.received.contains(&GOAWAY), "frames received {:?}", client.received);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_http2_header_block_that_never_ends_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(NEVER).with_idle_timeout(ms(500)),
    )
    .await;
    let mut client = RawH2::connect(server.address).await;
    client.send(HEADERS, END_STREAM | END_HEADERS, 1, GET_ROOT_BLOCK).await;
    assert_eq!(client.wait_for_response(1).await, 0x88, "HPACK index 8 is :status 200");
    client.send(HEADERS, END_STREAM, 3, &GET_ROOT_BLOCK[..3]).await;

    let closed = client.read_until_closed(2 * CLOSE_BOUND).await;
    assert!(closed.is_ok(), "an unfinished second header block: {}", closed.unwrap_err());
    assert!(client.received.contains(&GOAWAY), "frames received {:?}", client.received);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The body timeout (the layer's).

fn slow_body_server(recorder: Recorder) -> WebhookServer<Recorder> {
    let layer = MeshagentSignatureLayer::new(SECRET).with_body_timeout(ms(500));
    WebhookServer::new(recorder)
        .with_signature_layer(layer)
        .with_header_read_timeout(ms(300))
        .with_idle_timeout(ms(500))
}

/// A signed `room.ended` body and its signature header.
fn signed_body(room: &str) -> (Bytes, String) {
    let body = Signer::event_payload("room.ended", &json!({ "room_name": room }));
    let signature = Signer::new(SECRET).signature_header(body.as_bytes());
    (Bytes::from(body), signature)
}

#[tokio::test]
async fn a_slow_http1_body_gets_408_and_its_connection_is_closed() {
    let recorder = Recorder::default();
    let server = TestServer::start(slow_body_server(recorder.clone())).await;
    let (body, signature) = signed_body("slow");
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: limits\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (mut reader, mut writer) = connect(server.address).await.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    // One byte every 100 ms: the whole body would take seconds.
    let trickle = tokio::spawn(async move {
        for byte in body.iter() {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            sleep(ms(100)).await;
        }
    });

    let received = assert_closed(&mut reader, "a slow body").await;
    let response = parse_response(&received);
    assert_eq!(response.status, 408, "{}", response.text());
    assert_eq!(response.text(), "request body timed out");
    assert_eq!(response.header("connection"), Some("close"));
    trickle.abort();
    assert!(recorder.calls().is_empty());
    assert_eq!(deliver(&server, "after").await.status, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_http2_body_gets_408_on_its_stream_and_the_connection_serves_on() {
    let recorder = Recorder::default();
    let server = TestServer::start(slow_body_server(recorder.clone())).await;
    let (body, signature) = signed_body("slow");
    let length = body.len();
    let chunks = futures_util::stream::unfold(0, move |sent| {
        let body = body.clone();
        async move {
            if sent == body.len() {
                return None;
            }
            if sent > 0 {
                sleep(ms(100)).await;
            }
            let chunk = Frame::data(body.slice(sent..=sent));
            Some((Ok::<_, Infallible>(chunk), sent + 1))
        }
    });
    let request = Request::post(format!("http://{}/webhook", server.address))
        .header(CONTENT_TYPE, "application/json")
        .header("meshagent-signature", signature)
        .header(CONTENT_LENGTH, length)
        .body(ClientBody::new(StreamBody::new(chunks)))
        .unwrap();
    let (mut sender, connection) = h2_client(server.address).await;

    let response = timeout(CLOSE_BOUND, sender.send_request(request))
        .await
        .expect("an answer within the bound")
        .expect("a response, not a reset");
    assert_eq!(response.status(), 408);
    let text = timeout(CLOSE_BOUND, response.into_body().collect()).await.unwrap().unwrap();
    assert_eq!(text.to_bytes(), "request body timed out");
    assert!(recorder.calls().is_empty());

    // The connection itself is fine: the next stream is answered.
    timeout(CLOSE_BOUND, sender.ready()).await.unwrap().unwrap();
    let next = with_authority(room_ended("next").map(|body| body.boxed_unsync()), server.address);
    let response = timeout(CLOSE_BOUND, sender.send_request(next)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(recorder.calls(), [("on_room_ended", "next".to_owned())]);
    drop(sender);
    let _ = timeout(CLOSE_BOUND, connection).await;
    server.stop().await.unwrap();
}

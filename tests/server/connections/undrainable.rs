//! Rejections that cannot be drained: `Connection: close`, and no waiting for the body.

use super::*;

/// The head of a `POST /webhook` signed over `signature_over` and declaring `length` bytes.
fn signed_head(signature_over: &[u8], length: usize) -> Vec<u8> {
    let signature = Signer::new(SECRET).signature_header(signature_over);
    format!(
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nContent-Length: {length}\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_declared_length_over_the_drain_limit_gets_413_and_connection_close_before_the_body_is_sent()
 {
    for target in Target::both(|| MeshagentSignatureLayer::new(SECRET)).await {
        let declared = DRAIN_LIMIT + MIB;
        let mut connection = KeepAlive::connect(target.addr).await;
        // The head and 16 KiB of the 5 MiB, then nothing: the answer must come anyway.
        let mut start = signed_head(b"whatever", declared);
        start.extend_from_slice(&[b' '; 16 * 1024]);
        connection.write(&start).await.unwrap();
        let response = connection.read_response().await.unwrap_or_else(|error| {
            panic!("{}: no answer while the body was unsent: {error}", target.name)
        });
        let got = (response.status, response.text(), response.header("connection"));
        assert_eq!(got, (413, "payload too large".to_owned(), Some("close")), "{}", target.name);
        let rest = connection.read_to_close().await.unwrap();
        assert!(rest.is_empty(), "{}: after the answer: {rest:?}", target.name);
        assert!(target.delivered().is_empty(), "{}", target.name);
    }
}

#[tokio::test]
async fn an_unsigned_request_expecting_100_continue_gets_401_and_connection_close_without_being_asked_for_its_body()
 {
    for target in Target::both(|| MeshagentSignatureLayer::new(SECRET)).await {
        let mut connection = KeepAlive::connect(target.addr).await;
        let head = "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                    Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n";
        connection.write(head.as_bytes()).await.unwrap();
        let response = connection.read_response().await.unwrap();
        assert_ne!(response.status, 100, "{}: the server asked for the body", target.name);
        let got = (response.status, response.text(), response.header("connection"));
        assert_eq!(got, (401, "missing signature".to_owned(), Some("close")), "{}", target.name);
        let rest = connection.read_to_close().await.unwrap();
        assert!(
            rest.is_empty(),
            "{}: after the answer: {:?}",
            target.name,
            String::from_utf8_lossy(&rest)
        );
    }
}

#[tokio::test]
async fn a_body_trickling_one_byte_every_100_ms_gets_408_and_connection_close_long_before_it_ends()
{
    let layer =
        || MeshagentSignatureLayer::new(SECRET).with_body_timeout(Duration::from_millis(500));
    for target in Target::both(layer).await {
        let room = "t".repeat(250);
        let body = Signer::event_payload("room.ended", &json!({ "room_name": room }));
        // 300 bytes at 10 a second would take 30 s; the timeout is 500 ms.
        assert!(body.len() >= 280);
        let mut stream = TcpStream::connect(target.addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(&signed_head(body.as_bytes(), body.len())).await.unwrap();
        let mut sent = 0;
        let mut buffer = Vec::new();
        let answer = {
            let (mut reader, mut writer) = stream.split();
            let trickle = async {
                for byte in body.as_bytes() {
                    if writer.write_all(&[*byte]).await.is_err() {
                        // The server closed after answering: the answer is read below.
                        std::future::pending::<()>().await;
                    }
                    sent += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            let answer = read_one_response(&mut reader, &mut buffer);
            let race = async {
                tokio::select! {
                    biased;
                    answer = answer => answer,
                    () = trickle => Err("the whole body was sent before any answer".to_owned()),
                }
            };
            tokio::time::timeout(Duration::from_secs(20), race)
                .await
                .unwrap_or_else(|_| Err("no answer within 20 s".to_owned()))
        };
        let response = answer.unwrap_or_else(|error| panic!("{}: {error}", target.name));
        println!("{}: answered after {sent} of {} body bytes", target.name, body.len());
        let got = (response.status, response.text(), response.header("connection"));
        assert_eq!(
            got,
            (408, "request body timed out".to_owned(), Some("close")),
            "{}",
            target.name
        );
        assert!(sent < body.len(), "{}: answered only after the whole body", target.name);
        assert!(target.delivered().is_empty(), "{}", target.name);
    }
}

#[tokio::test]
async fn a_refused_chunked_body_is_not_drained_whatever_its_framing_pads() {
    for target in Target::both(|| MeshagentSignatureLayer::new(SECRET)).await {
        let mut connection = KeepAlive::connect(target.addr).await;
        // A chunk-size line padded without end: bytes that make no frame and no data byte.
        let head = "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                    Transfer-Encoding: chunked\r\n\r\n1";
        connection.write(head.as_bytes()).await.unwrap();
        connection.write(&[b' '; 64 * 1024]).await.unwrap();
        let response = connection.read_response().await.unwrap();
        let got = (response.status, response.text(), response.header("connection"));
        assert_eq!(got, (401, "missing signature".to_owned(), Some("close")), "{}", target.name);
        connection.read_to_close().await.unwrap();
    }
}

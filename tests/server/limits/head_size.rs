//! The request head size: 431 over the limit, the default admits 40 KiB and refuses 80 KiB.

use super::*;

/// A MeshAgent delivery in the `Meshagent-Webhook` header, its payload about 8 KB (the most
/// MeshAgent's own receiver takes).
fn header_delivery(room: &str) -> Vec<(String, String)> {
    let data = json!({ "room_name": room, "note": "n".repeat(8_050) });
    let payload = Signer::event_payload("room.ended", &data);
    assert!((8_000..=8_192).contains(&payload.len()), "{}", payload.len());
    let signature = Signer::new(SECRET).signature_header(payload.as_bytes());
    pairs(&[("Meshagent-Webhook", &payload), ("Meshagent-Signature", &signature)])
}

#[tokio::test]
async fn a_request_head_over_the_max_header_size_gets_431() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone()).with_max_header_size(16 * 1024)).await;
    let padding = "p".repeat(20 * 1024);

    // HTTP/1: hyper answers 431 once its buffer is full.
    let headers = pairs(&[("X-Padding", &padding)]);
    let (response, _stream) =
        timeout(CLOSE_BOUND, crate::support::send_raw(server.address, "GET", "/", &headers, b""))
            .await
            .expect("an answer within the bound");
    assert_eq!(response.status, 431);

    // HTTP/2: the header list is over the limit; the stream gets 431 or is refused.
    let (mut sender, _connection) = h2_client(server.address).await;
    let request = Request::get(format!("http://{}/", server.address))
        .header("x-padding", &padding)
        .body(ClientBody::new(Empty::new()))
        .unwrap();
    match timeout(CLOSE_BOUND, sender.send_request(request)).await.expect("within the bound") {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(error) => assert!(error.to_string().contains("stream"), "{error}"),
    }

    // Under the limit, an 8 KB header payload is still a delivery.
    let response = timeout(
        CLOSE_BOUND,
        exchange(server.address, "GET", "/webhook", &header_delivery("under-16k"), b""),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.utf8());
    assert_eq!(recorder.calls(), [("on_room_ended", "under-16k".to_owned())]);
    server.stop().await.unwrap();
}

/// The setting decides, not hyper's own defaults (about 400 KiB for HTTP/1, 16 KiB for HTTP/2):
/// with the default 64 KiB a 40 KiB head is served and an 80 KiB one refused, on both.
#[tokio::test]
async fn the_default_max_header_size_admits_40_kib_and_refuses_80_kib_on_both_protocols() {
    let server = TestServer::start(signed(Recorder::default())).await;
    for (kib, expected) in [(40, 200), (80, 431)] {
        let padding = "p".repeat(kib * 1024);
        let headers = pairs(&[("X-Padding", &padding)]);
        let (response, _stream) = timeout(
            CLOSE_BOUND,
            crate::support::send_raw(server.address, "GET", "/", &headers, b""),
        )
        .await
        .expect("an answer within the bound");
        assert_eq!(response.status, expected, "HTTP/1, {kib} KiB");

        let (mut sender, _connection) = h2_client(server.address).await;
        let request = Request::get(format!("http://{}/", server.address))
            .header("x-padding", &padding)
            .body(ClientBody::new(Empty::new()))
            .unwrap();
        let answer = timeout(CLOSE_BOUND, sender.send_request(request)).await.expect("bounded");
        match (answer, expected) {
            (Ok(response), _) => assert_eq!(response.status(), expected, "HTTP/2, {kib} KiB"),
            (Err(error), 431) => assert!(error.to_string().contains("stream"), "{error}"),
            (Err(error), _) => panic!("HTTP/2, {kib} KiB: {error}"),
        }
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_delivery_with_an_8_kb_header_payload_is_accepted_with_the_default_limit() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone())).await;
    let headers = header_delivery("8k-header");
    let response = timeout(CLOSE_BOUND, exchange(server.address, "GET", "/webhook", &headers, b""))
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.utf8());

    // The same over HTTP/2.
    let (mut sender, _connection) = h2_client(server.address).await;
    let mut request = Request::get(format!("http://{}/webhook", server.address));
    for (name, value) in header_delivery("8k-header-h2") {
        request = request.header(name, value);
    }
    let request = request.body(ClientBody::new(Empty::new())).unwrap();
    let response = timeout(CLOSE_BOUND, sender.send_request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        recorder.calls(),
        [("on_room_ended", "8k-header".to_owned()), ("on_room_ended", "8k-header-h2".to_owned())]
    );
    server.stop().await.unwrap();
}

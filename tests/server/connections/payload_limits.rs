//! The limit on the `Meshagent-Webhook` header payload, and an outer body limit.

use super::*;

#[tokio::test]
async fn a_meshagent_webhook_header_over_the_limit_gets_413_and_never_reaches_the_handler() {
    let layer = || MeshagentSignatureLayer::new(SECRET).with_max_body_size(1024);
    for target in Target::both(layer).await {
        let header_delivery = |room: &str, status: u16, answer: &str| {
            let payload = Signer::event_payload("room.ended", &json!({ "room_name": room }));
            let signature = Signer::new(SECRET).signature_header(payload.as_bytes());
            Delivery {
                label: format!("header payload of {} bytes", payload.len()),
                method: "GET",
                headers: vec![
                    ("Meshagent-Webhook".to_owned(), payload),
                    ("Meshagent-Signature".to_owned(), signature),
                ],
                body: Bytes::new(),
                id: (status == 200).then(|| room.to_owned()),
                status,
                answer: answer.to_owned(),
            }
        };
        let sequence = [
            header_delivery(&"h".repeat(2000), 413, "payload too large"),
            header_delivery("small-header-payload", 200, target.ok_body),
        ];
        assert!(sequence[0].headers[0].1.len() > 1024);
        if let Err(error) = run_keep_alive(target.addr, &sequence).await {
            panic!("{}: {error}", target.name);
        }
        assert_eq!(target.delivered(), ["small-header-payload"], "{}", target.name);
    }
}

#[tokio::test]
async fn a_chunked_body_cut_by_an_outer_request_body_limit_gets_413_payload_too_large() {
    type Delivered = Arc<Mutex<Vec<String>>>;
    async fn record(State(delivered): State<Delivered>, event: MeshagentEvent) -> &'static str {
        let room = event.data()["room_name"].as_str().unwrap_or_default().to_owned();
        delivered.lock().unwrap().push(room);
        "ok"
    }
    let delivered = Delivered::default();
    // The outer limit is added first, so it wraps the signature layer.
    let layers = tower::ServiceBuilder::new()
        .layer(RequestBodyLimitLayer::new(1024))
        .layer(MeshagentSignatureLayer::new(SECRET));
    let route = post(record).layer(layers);
    let app = Router::new().route("/webhook", route).with_state(delivered.clone());
    let server = crate::common::TestServer::start(app).await;

    // 4 KiB, correctly signed, in eight chunks: the outer limit cuts it in the third.
    let body = Signer::event_payload("room.ended", &json!({ "room_name": "c".repeat(4000) }));
    let signature = Signer::new(SECRET).signature_header(body.as_bytes());
    let mut request = format!(
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Meshagent-Signature: {signature}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.as_bytes().chunks(body.len().div_ceil(8)) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut connection = KeepAlive::connect(server.addr).await;
    let response = connection.round_trip(&request).await.unwrap();
    let got = (response.status, response.text(), response.header("connection"));
    // The rest of the body cannot be read past the outer limit: the connection goes.
    assert_eq!(got, (413, "payload too large".to_owned(), Some("close")));
    connection.read_to_close().await.unwrap();
    assert!(delivered.lock().unwrap().is_empty());

    // A delivery under the outer limit passes both layers.
    let good = Delivery::good("under-the-outer-limit", "ok");
    run_keep_alive(server.addr, &[good]).await.unwrap();
    assert_eq!(*delivered.lock().unwrap(), ["under-the-outer-limit"]);
}

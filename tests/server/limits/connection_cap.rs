//! The connection cap: who gives way to a new connection, and who never does.

use super::*;

pub(super) type Events = Arc<Mutex<Vec<&'static str>>>;

/// A signed server with a cap of `max_connections` and no timeout that could close a
/// connection first.
async fn capped<H: WebhookHandler>(handler: H, max_connections: usize) -> TestServer {
    let server = signed(handler).with_max_connections(max_connections);
    TestServer::start(server.with_header_read_timeout(NEVER).with_idle_timeout(NEVER)).await
}

/// `GET /` on a connection of its own, in the background; "answered" is logged when its
/// answer comes.
pub(super) fn waiting_request(
    server: &TestServer,
    events: &Events,
) -> tokio::task::JoinHandle<RawResponse> {
    let (address, events) = (server.address, events.clone());
    tokio::spawn(async move {
        let response = exchange(address, "GET", "/", &[], b"").await;
        events.lock().unwrap().push("answered");
        response
    })
}

/// Gives a wrongly admitted request time to be answered, then logs `event`.
pub(super) async fn then_log(events: &Events, event: &'static str) {
    sleep(ms(300)).await;
    events.lock().unwrap().push(event);
}

#[tokio::test]
async fn at_the_cap_the_connection_idle_longest_gives_way_to_a_new_one() {
    let server = capped(Recorder::default(), 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(server.address).await;
        assert_eq!(keep_alive_get(&mut stream).await.status, 200);
        held.push(stream);
        sleep(ms(20)).await;
    }
    // The first is used again: the second is now the one idle longest.
    assert_eq!(keep_alive_get(&mut held[0]).await.status, 200);

    assert_eq!(deliver(&server, "fifth").await.status, 200);
    let received = assert_closed(&mut held[1], "the connection idle longest").await;
    assert!(received.is_empty(), "it was closed between requests: {received:?}");
    for index in [0, 2, 3] {
        assert_eq!(keep_alive_get(&mut held[index]).await.status, 200, "connection {index}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn at_the_cap_a_connection_with_a_request_in_flight_is_never_closed_and_a_new_one_waits() {
    let slow = Slow::default();
    let server = capped(slow.clone(), 1).await;
    let started =
        Signer::new(SECRET).request("/webhook", "room.started", &json!({ "room_name": "slow" }));
    let in_flight = tokio::spawn(send(server.address, started));
    timeout(CLOSE_BOUND, slow.entered.notified()).await.expect("the handler is entered");

    let events = Events::default();
    let waiting = waiting_request(&server, &events);
    then_log(&events, "the handler was released").await;
    slow.release.notify_one();

    let response = timeout(CLOSE_BOUND, in_flight).await.expect("answered").unwrap();
    assert_eq!(response.status, 200, "the request in flight was answered, not cut");
    let response = timeout(CLOSE_BOUND, waiting).await.expect("answered").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(*events.lock().unwrap(), ["the handler was released", "answered"]);
    server.stop().await.unwrap();
}

/// A fresh `GET /`, answered within `within`.
async fn probe(server: &TestServer, within: Duration) -> RawResponse {
    timeout(within, exchange(server.address, "GET", "/", &[], b"")).await.expect("answered")
}

#[tokio::test]
async fn at_the_cap_http2_clients_that_read_no_answer_give_way_once_it_has_waited_5_s() {
    let server = capped(Recorder::default(), 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let stream = connect(server.address).await;
        // A zero window: the `{"ok": true}` of `GET /` can never be sent.
        let (mut sender, connection) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .initial_stream_window_size(0)
                .handshake::<_, Empty<Bytes>>(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        let connection = tokio::spawn(connection);
        let request = Request::get(format!("http://{}/", server.address));
        let response = sender.send_request(request.body(Empty::new()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 200);
        held.push((sender, connection, response));
    }
    let events = Events::default();
    let waiting = waiting_request(&server, &events);
    then_log(&events, "an unsent answer is not yet 5 s old").await;
    let response = timeout(Duration::from_secs(5) + CLOSE_BOUND, waiting).await.unwrap().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(*events.lock().unwrap(), ["an unsent answer is not yet 5 s old", "answered"]);
    drop(held);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn at_the_cap_forged_requests_whose_bodies_trickle_hold_no_place() {
    let server = capped(Recorder::default(), 4).await;
    let head = "POST /webhook HTTP/1.1\r\nHost: cap\r\nContent-Length: 3000\r\n\r\n";
    let mut attackers = JoinSet::new();
    for _ in 0..4 {
        let mut stream = connect(server.address).await;
        attackers.spawn(async move {
            // 100 bytes every 100 ms, the next forged head right after each body: always a
            // refused request on the connection, whose body is being drained.
            let _ = stream.write_all(head.as_bytes()).await;
            for _ in 0..100 {
                for _ in 0..29 {
                    if stream.write_all(&[b'x'; 100]).await.is_err() {
                        return;
                    }
                    sleep(ms(100)).await;
                }
                let last = [&[b'x'; 100][..], head.as_bytes()].concat();
                if stream.write_all(&last).await.is_err() {
                    return;
                }
            }
        });
    }
    sleep(ms(500)).await;
    for _ in 0..3 {
        assert_eq!(probe(&server, CLOSE_BOUND).await.status, 200);
        sleep(ms(300)).await;
    }
    attackers.abort_all();
    server.stop().await.unwrap();
}

//! Websocket messages and frames over the limits, and sessions under the connection cap.

use super::connection_cap::{Events, then_log, waiting_request};
use super::*;

/// Echoes every text or binary message of a `room.call` session, and reports each outcome:
/// `echoed <bytes>`, `ended`, or `failed: <error>`.
#[derive(Clone)]
struct Echo {
    outcomes: mpsc::UnboundedSender<String>,
}

impl Echo {
    fn new() -> (Self, mpsc::UnboundedReceiver<String>) {
        let (outcomes, receiver) = mpsc::unbounded_channel();
        (Self { outcomes }, receiver)
    }

    fn report(&self, outcome: String) {
        let _ = self.outcomes.send(outcome);
    }
}

impl WebhookHandler for Echo {
    async fn on_call_websocket(
        &self,
        _call: RoomCall,
        mut socket: WebSocket,
    ) -> Result<(), HandlerError> {
        while let Some(message) = socket.recv().await {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    self.report(format!("failed: {error}"));
                    return Err(error.into());
                }
            };
            let size = match &message {
                Message::Text(text) => text.len(),
                Message::Binary(data) => data.len(),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            socket.send(message).await?;
            self.report(format!("echoed {size}"));
        }
        self.report("ended".to_owned());
        Ok(())
    }
}

type ClientSocket = WebSocketStream<TcpStream>;

/// A verified `room.call` websocket session on the webhook route.
async fn open_call_session(server: &TestServer) -> ClientSocket {
    let signer = Signer::new(SECRET);
    let call = Signer::event_payload(
        "room.call",
        &json!({"room_name": "r", "room_url": "wss://x/r", "token": "t"}),
    );
    let headers = websocket_headers(&signer, &call);
    let (response, stream) = timeout(
        CLOSE_BOUND,
        crate::support::send_raw(server.address, "GET", "/webhook", &headers, b""),
    )
    .await
    .expect("the handshake is answered within the bound");
    assert_eq!(response.status, 101);
    WebSocketStream::from_raw_socket(stream, Role::Client, None).await
}

async fn next_outcome(outcomes: &mut mpsc::UnboundedReceiver<String>) -> String {
    timeout(CLOSE_BOUND, outcomes.recv())
        .await
        .expect("the handler reports within the bound")
        .expect("the handler is alive")
}

/// Sends `size` bytes as one binary message and reads them back.
async fn assert_echoes(
    socket: &mut ClientSocket,
    outcomes: &mut mpsc::UnboundedReceiver<String>,
    size: usize,
) {
    socket.send(ClientMessage::binary(vec![7u8; size])).await.unwrap();
    let echo = timeout(CLOSE_BOUND, socket.next()).await.expect("the echo").unwrap().unwrap();
    assert_eq!(echo.into_data().len(), size);
    assert_eq!(next_outcome(outcomes).await, format!("echoed {size}"));
}

/// After something over a limit, the socket gives nothing back but its end: a close frame, an
/// error (reset) or the end of the stream.
async fn assert_socket_ends(socket: &mut ClientSocket) {
    let next = timeout(CLOSE_BOUND, socket.next()).await.expect("the socket ends within the bound");
    if let Some(Ok(message)) = next
        && !message.is_close()
    {
        panic!("received {message:?} after a message over the limit");
    }
}

#[tokio::test]
async fn a_websocket_message_over_the_limit_fails_the_read_and_closes_the_socket() {
    let (echo, mut outcomes) = Echo::new();
    let server = TestServer::start(signed(echo).with_max_websocket_message_size(1024)).await;
    let mut socket = open_call_session(&server).await;

    assert_echoes(&mut socket, &mut outcomes, 512).await;
    socket.send(ClientMessage::binary(vec![7u8; 2048])).await.unwrap();
    let outcome = next_outcome(&mut outcomes).await;
    assert!(outcome.starts_with("failed: ") && outcome.contains("1024"), "{outcome}");
    assert_socket_ends(&mut socket).await;

    // The place is given back: a new session works.
    let mut again = open_call_session(&server).await;
    assert_echoes(&mut again, &mut outcomes, 1024).await;
    drop(again);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_websocket_frame_over_the_limit_fails_the_read_even_when_the_message_fits() {
    let (echo, mut outcomes) = Echo::new();
    let server = TestServer::start(
        signed(echo).with_max_websocket_frame_size(1024).with_max_websocket_message_size(64 * 1024),
    )
    .await;
    let mut socket = open_call_session(&server).await;

    // 2 KiB in two frames of 1 KiB: every frame fits, so does the message.
    let first = WsFrame::message(vec![1u8; 1024], OpCode::Data(Data::Binary), false);
    let last = WsFrame::message(vec![2u8; 1024], OpCode::Data(Data::Continue), true);
    socket.send(ClientMessage::Frame(first)).await.unwrap();
    socket.send(ClientMessage::Frame(last)).await.unwrap();
    let echo = timeout(CLOSE_BOUND, socket.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo.into_data().len(), 2048);
    assert_eq!(next_outcome(&mut outcomes).await, "echoed 2048");

    // The same 2 KiB in one frame.
    socket.send(ClientMessage::binary(vec![3u8; 2048])).await.unwrap();
    let outcome = next_outcome(&mut outcomes).await;
    assert!(outcome.starts_with("failed: ") && outcome.contains("1024"), "{outcome}");
    assert_socket_ends(&mut socket).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn websocket_sessions_hold_their_place_under_the_connection_cap() {
    let (echo, mut outcomes) = Echo::new();
    let server = TestServer::start(
        signed(echo)
            .with_max_connections(2)
            .with_header_read_timeout(NEVER)
            .with_idle_timeout(NEVER),
    )
    .await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let mut socket = open_call_session(&server).await;
        assert_echoes(&mut socket, &mut outcomes, 16).await;
        sessions.push(socket);
    }

    let events = Events::default();
    let third = waiting_request(&server, &events);
    then_log(&events, "one session closed").await;
    let mut closing = sessions.pop().unwrap();
    closing.close(None).await.unwrap();
    assert_eq!(next_outcome(&mut outcomes).await, "ended");

    let response = timeout(CLOSE_BOUND, third).await.expect("answered within the bound").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(*events.lock().unwrap(), ["one session closed", "answered"]);
    drop(sessions);
    server.stop().await.unwrap();
}

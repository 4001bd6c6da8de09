//! The built-in `WebhookServer` over real TCP: each test starts a server on 127.0.0.1:0 and
//! stops it at the end.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use meshagent_webhooks::{
    ConfigError, HandlerError, MeshagentEvent, MeshagentSignatureLayer, ServerError, Signer,
    WebhookHandler, WebhookServer,
};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::common::{read_body, vectors_json};
use crate::support::handlers::{Faulty, Recorder, Slow, signed};
use crate::support::{
    OK_BODY, SECRET, TestServer, exchange, method_for, pairs, send, send_raw, vector_headers,
    websocket_headers,
};

// ---------------------------------------------------------------------------------------------
// Routes.

#[tokio::test]
async fn health_check_answers_ok_json() {
    let server = TestServer::start(signed(Recorder::default())).await;

    let response = exchange(server.address, "GET", "/", &[], b"").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.utf8(), OK_BODY);

    server.stop().await.unwrap();
}

#[tokio::test]
async fn other_methods_and_paths_are_refused_before_verification() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone())).await;

    let put = exchange(server.address, "PUT", "/webhook", &[], b"{}").await;
    assert_eq!(put.status, 405);
    let trailing_slash = exchange(server.address, "POST", "/webhook/", &[], b"{}").await;
    assert_eq!(trailing_slash.status, 404);
    let unsigned = exchange(server.address, "POST", "/webhook", &[], b"{}").await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(unsigned.utf8(), "missing signature");
    assert!(recorder.calls().is_empty());

    server.stop().await.unwrap();
}

#[tokio::test]
async fn every_event_type_reaches_its_handler_method() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone())).await;
    let signer = Signer::new(SECRET);
    let deliveries = [
        ("room.started", json!({"room_name": "r1", "room_url": "wss://x/r1"})),
        ("room.ended", json!({"room_name": "r2"})),
        (
            "room.call",
            json!({"room_name": "r3", "room_url": "wss://x/r3", "token": "tok", "arguments": {"a": 1}}),
        ),
        ("storage.file.updated", json!({"path": "a.txt", "participant_id": "p1"})),
        ("storage.file.deleted", json!({"path": "b.txt", "participant_id": "p2"})),
        (
            "storage.file.moved",
            json!({"source_path": "c", "destination_path": "d", "participant_id": "p3"}),
        ),
    ];

    for (event, data) in &deliveries {
        let response = send(server.address, signer.request("/webhook", event, data)).await;
        assert_eq!(response.status, 200, "{event}: {}", response.utf8());
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.utf8(), OK_BODY);
    }

    assert_eq!(
        recorder.calls(),
        [
            ("on_room_started", "r1 wss://x/r1".to_owned()),
            ("on_room_ended", "r2".to_owned()),
            ("on_call", r#"r3 wss://x/r3 tok {"a":1}"#.to_owned()),
            ("on_storage_file_updated", "a.txt p1".to_owned()),
            ("on_storage_file_deleted", "b.txt p2".to_owned()),
            ("on_storage_file_moved", "c d p3".to_owned()),
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_events_reach_the_catch_all() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone())).await;
    let signer = Signer::new(SECRET);

    let data = json!({"agent": "notes", "n": 2});
    let response = send(server.address, signer.request("/webhook", "agent.spawned", &data)).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.utf8(), OK_BODY);
    assert_eq!(
        recorder.calls(),
        [("on_unknown", r#"agent.spawned {"agent":"notes","n":2}"#.to_owned())]
    );

    server.stop().await.unwrap();
}

#[tokio::test]
async fn header_payload_without_upgrade_is_a_normal_delivery_on_a_custom_path() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone()).with_path("/hooks/meshagent")).await;
    let signer = Signer::new(SECRET);
    let payload = Signer::event_payload("room.ended", &json!({"room_name": "via-header"}));
    let headers = pairs(&[
        ("Meshagent-Webhook", &payload),
        ("Meshagent-Signature", &signer.signature_header(payload.as_bytes())),
    ]);

    let response = exchange(server.address, "GET", "/hooks/meshagent?x=1", &headers, b"").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.utf8(), OK_BODY);
    let old_path = exchange(server.address, "GET", "/webhook", &headers, b"").await;
    assert_eq!(old_path.status, 404);
    assert_eq!(recorder.calls(), [("on_room_ended", "via-header".to_owned())]);

    server.stop().await.unwrap();
}

#[tokio::test]
async fn every_http_vector_gets_its_crate_answer() {
    let mut checked = 0;
    for vector in vectors_json() {
        let name = vector["name"].as_str().unwrap();
        if name.starts_with("websocket_") {
            continue;
        }
        let Some(secret) = vector["secret"].as_str().filter(|secret| !secret.is_empty()) else {
            // The layer answers these 500; the server refuses to start instead.
            let error = WebhookServer::new(Recorder::default())
                .with_secret(vector["secret"].as_str().unwrap_or_default())
                .into_router::<()>()
                .unwrap_err();
            assert!(matches!(error, ServerError::Config(ConfigError::MissingSecret)), "{name}");
            checked += 1;
            continue;
        };
        let recorder = Recorder::default();
        let server =
            TestServer::start(WebhookServer::new(recorder.clone()).with_secret(secret)).await;

        let method = vector["method"].as_str().unwrap();
        let path = vector["path"].as_str().unwrap();
        let body = vector["body"].as_str().unwrap().as_bytes();
        let response = exchange(server.address, method, path, &vector_headers(&vector), body).await;

        let expected = &vector["crate"];
        assert_eq!(u64::from(response.status), expected["status"], "{name}: {}", response.utf8());
        if let Some(reason) = expected["reason"].as_str() {
            // The reason, alone or followed by what exactly is wrong.
            let body = response.utf8();
            assert!(body == reason || body.starts_with(&format!("{reason}: ")), "{name}: {body:?}");
        }
        let calls = recorder.calls();
        if response.status == 200 {
            assert_eq!(response.utf8(), OK_BODY, "{name}");
            let event = vector["event"].as_str().unwrap();
            assert_eq!(calls.len(), 1, "{name}");
            assert_eq!(calls[0].0, method_for(event), "{name}");
        } else {
            assert!(calls.is_empty(), "{name}: the handler ran for a rejected request");
        }
        server.stop().await.unwrap();
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} vectors found");
}

#[tokio::test]
async fn every_websocket_vector_gets_its_crate_status() {
    let mut checked = 0;
    for vector in vectors_json() {
        let name = vector["name"].as_str().unwrap();
        if !name.starts_with("websocket_") {
            continue;
        }
        let secret = vector["secret"].as_str().unwrap();
        let recorder = Recorder::default();
        let server =
            TestServer::start(WebhookServer::new(recorder.clone()).with_secret(secret)).await;

        let method = vector["method"].as_str().unwrap();
        let path = vector["path"].as_str().unwrap();
        let headers = vector_headers(&vector);
        let expected = &vector["crate"];
        let (mut response, mut stream) =
            send_raw(server.address, method, path, &headers, b"").await;
        assert_eq!(u64::from(response.status), expected["status"], "{name}");

        if response.status == 101 {
            assert_eq!(response.header("upgrade"), Some("websocket"), "{name}");
            let mut socket = WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
            let greeting = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("the handler writes to the socket")
                .unwrap()
                .unwrap();
            assert_eq!(greeting.into_text().unwrap().as_str(), vector["data"]["room_name"]);
            socket.send("ping".into()).await.unwrap();
            let echo = socket.next().await.unwrap().unwrap();
            assert_eq!(echo.into_text().unwrap().as_str(), "ping");
            let room = vector["data"]["room_name"].as_str().unwrap().to_owned();
            assert_eq!(recorder.calls(), [("on_call_websocket", room)], "{name}");
        } else {
            assert!(response.header("content-length").is_some(), "{name}");
            read_body(&mut stream, &mut response).await;
            if let Some(reason) = expected["reason"].as_str() {
                assert_eq!(response.utf8(), reason, "{name}");
            }
            assert!(recorder.calls().is_empty(), "{name}: the handler ran");
        }
        server.stop().await.unwrap();
        checked += 1;
    }
    assert_eq!(checked, 5, "websocket vectors found");
}

#[tokio::test]
async fn websocket_deliveries_follow_the_policy() {
    let recorder = Recorder::default();
    let server = TestServer::start(signed(recorder.clone())).await;
    let signer = Signer::new(SECRET);
    let call = Signer::event_payload(
        "room.call",
        &json!({"room_name": "r", "room_url": "wss://x/r", "token": "t"}),
    );

    // Verified, but not over GET.
    let post =
        exchange(server.address, "POST", "/webhook", &websocket_headers(&signer, &call), b"").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET"));

    // Verified, but not a websocket handshake.
    let mut no_key = websocket_headers(&signer, &call);
    no_key.retain(|(name, _)| name != "Sec-WebSocket-Key");
    assert_eq!(exchange(server.address, "GET", "/webhook", &no_key, b"").await.status, 400);
    let mut h2c = websocket_headers(&signer, &call);
    h2c.iter_mut().find(|(name, _)| name == "Upgrade").unwrap().1 = "h2c".to_owned();
    assert_eq!(exchange(server.address, "GET", "/webhook", &h2c, b"").await.status, 400);

    // A room.call the extractor refuses keeps the extractor's answer.
    let no_token = Signer::event_payload("room.call", &json!({"room_name": "r", "room_url": "u"}));
    let response =
        exchange(server.address, "GET", "/webhook", &websocket_headers(&signer, &no_token), b"")
            .await;
    assert_eq!(response.status, 422);
    assert_eq!(response.utf8(), "invalid event: room.call: `token` is missing or not a string");

    // Another event.
    let ended = Signer::event_payload("room.ended", &json!({"room_name": "r"}));
    let response =
        exchange(server.address, "GET", "/webhook", &websocket_headers(&signer, &ended), b"").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.utf8(), "only room.call can be delivered over a websocket");

    assert!(recorder.calls().is_empty());
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Failures in handlers.

/// `Faulty` fails (or panics) on `room.ended` for room `fault`: the answer is 500 with the
/// fixed body, and the next event (`after`) still gets 200 and is the only one handled.
async fn assert_handler_fault_gives_500(fault: &str, after: &str) -> TestServer {
    let faulty = Faulty::default();
    let server = TestServer::start(signed(faulty.clone())).await;
    let signer = Signer::new(SECRET);
    let ended = |room: &str| signer.request("/webhook", "room.ended", &json!({"room_name": room}));

    let failed = send(server.address, ended(fault)).await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.utf8(), "webhook handler failed");
    let next = send(server.address, ended(after)).await;
    assert_eq!(next.status, 200);
    assert_eq!(*faulty.handled.lock().unwrap(), [after]);
    server
}

#[tokio::test]
async fn a_handler_error_gives_500_and_the_server_keeps_serving() {
    let server = assert_handler_fault_gives_500("fail", "after-error").await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_handler_panic_gives_500_and_the_server_keeps_serving() {
    let server = assert_handler_fault_gives_500("panic", "after-panic").await;
    assert_health_then_stop(server).await;
}

/// The server still answers its health route; then it stops cleanly.
async fn assert_health_then_stop(server: TestServer) {
    assert_eq!(exchange(server.address, "GET", "/", &[], b"").await.status, 200);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Shutdown.

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let slow = Slow::default();
    let mut server = TestServer::start(signed(slow.clone())).await;
    let address = server.address;
    let request =
        Signer::new(SECRET).request("/webhook", "room.started", &json!({"room_name": "r"}));
    let in_flight = tokio::spawn(send(address, request));
    tokio::time::timeout(Duration::from_secs(5), slow.entered.notified())
        .await
        .expect("the handler starts");

    server.signal();
    // New connections are refused once the signal is seen…
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(address).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections after the signal");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // …while the request in flight is still being handled.
    assert!(!*slow.finished.lock().unwrap());
    assert!(!server.task.is_finished());

    slow.release.notify_one();
    let response = in_flight.await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.utf8(), OK_BODY);
    assert!(*slow.finished.lock().unwrap());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start(
        signed(Recorder::default()).with_header_read_timeout(Duration::from_millis(200)),
    )
    .await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    stream.write_all(b"POST /webhook HTTP/1.1\r\nHost: t\r\nContent-Ty").await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the half-sent head kept its connection open");
    assert_health_then_stop(server).await;
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let slow = Slow::default();
    let grace = Duration::from_millis(300);
    let mut server =
        TestServer::start(signed(slow.clone()).with_shutdown_grace_period(grace)).await;
    let request =
        Signer::new(SECRET).request("/webhook", "room.started", &json!({"room_name": "r"}));
    let stuck = tokio::spawn(send(server.address, request));
    tokio::time::timeout(Duration::from_secs(5), slow.entered.notified())
        .await
        .expect("the handler starts");

    let started = Instant::now();
    server.signal();
    server.stop().await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= grace, "returned after {waited:?}, before the grace period");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert!(!*slow.finished.lock().unwrap());
    stuck.abort();
}

// ---------------------------------------------------------------------------------------------
// Configuration.

#[tokio::test]
async fn an_empty_secret_or_an_unusable_layer_is_refused_at_start_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = WebhookServer::new(Recorder::default())
        .with_secret("")
        .serve_with_shutdown(listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(error, ServerError::Config(ConfigError::MissingSecret)));
    assert!(error.to_string().contains("MESHAGENT_WEBHOOK_SECRET"), "{error}");

    let layer = MeshagentSignatureLayer::from_secrets(["whsec_ok", ""]);
    let error = WebhookServer::new(Recorder::default())
        .with_signature_layer(layer)
        .into_router::<()>()
        .unwrap_err();
    assert!(error.to_string().contains("MESHAGENT_WEBHOOK_SECRET"), "{error}");
}

#[tokio::test]
async fn a_signature_layer_with_two_secrets_accepts_both() {
    let recorder = Recorder::default();
    let layer = MeshagentSignatureLayer::from_secrets(["whsec_new", "whsec_old"]);
    let server =
        TestServer::start(WebhookServer::new(recorder.clone()).with_signature_layer(layer)).await;
    let data = json!({"room_name": "r"});

    for secret in ["whsec_new", "whsec_old"] {
        let response =
            send(server.address, Signer::new(secret).request("/webhook", "room.ended", &data))
                .await;
        assert_eq!(response.status, 200, "{secret}");
    }
    let other =
        send(server.address, Signer::new("whsec_other").request("/webhook", "room.ended", &data))
            .await;
    assert_eq!(other.status, 401);
    assert_eq!(other.utf8(), "invalid jwt");
    assert_eq!(recorder.calls().len(), 2);

    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_paths_and_busy_ports_are_reported() {
    let error = signed(Recorder::default()).with_path("webhook").into_router::<()>().unwrap_err();
    assert!(matches!(error, ServerError::InvalidPath { .. }), "{error}");
    let error = signed(Recorder::default()).with_path("/{id}").into_router::<()>().unwrap_err();
    assert!(matches!(error, ServerError::InvalidPath { .. }), "{error}");

    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let run = signed(Recorder::default()).with_host("127.0.0.1").with_port(port).run();
    let error = tokio::time::timeout(Duration::from_secs(5), run).await.unwrap().unwrap_err();
    assert!(matches!(error, ServerError::Bind { .. }), "{error}");
    assert_eq!(error.to_string(), format!("could not listen on 127.0.0.1:{port}"));
}

/// Environment defaults need a process whose environment we control: this test re-runs itself
/// in a child process with `MESHAGENT_*` variables set or removed.
#[test]
fn environment_defaults_and_start_up_without_a_secret() {
    const SCENARIO: &str = "MESHAGENT_WEBHOOKS_SERVER_TEST_SCENARIO";
    if let Ok(scenario) = std::env::var(SCENARIO) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(environment_scenario(&scenario));
        println!("scenario {scenario} passed");
        return;
    }
    let scenarios: [(&str, Option<&str>, Option<&str>); 3] = [
        ("no-secret", None, None),
        ("port-from-env", Some("whsec_from_env"), Some("9123")),
        ("bad-port", Some("whsec_from_env"), Some("eighty")),
    ];
    for (scenario, secret, port) in scenarios {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .arg("--exact")
            .arg(crate::common::test_path(
                module_path!(),
                "environment_defaults_and_start_up_without_a_secret",
            ))
            .arg("--nocapture")
            .env(SCENARIO, scenario)
            .env_remove("MESHAGENT_WEBHOOK_SECRET")
            .env_remove("MESHAGENT_PORT");
        if let Some(secret) = secret {
            child.env("MESHAGENT_WEBHOOK_SECRET", secret);
        }
        if let Some(port) = port {
            child.env("MESHAGENT_PORT", port);
        }
        let output = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains(&format!("scenario {scenario} passed")),
            "scenario {scenario} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

async fn environment_scenario(scenario: &str) {
    let server = WebhookServer::new(Recorder::default());
    match scenario {
        "no-secret" => {
            assert_eq!(server.host(), "0.0.0.0");
            assert_eq!(server.port(), Some(8080));
            assert_eq!(server.path(), "/webhook");
            // Refused before binding: port 0 on loopback would otherwise serve forever.
            let run = server.with_host("127.0.0.1").with_port(0).run();
            let error = tokio::time::timeout(Duration::from_secs(5), run)
                .await
                .expect("run() returns at once")
                .unwrap_err();
            assert!(matches!(error, ServerError::Config(ConfigError::MissingSecret)));
            assert!(error.to_string().contains("MESHAGENT_WEBHOOK_SECRET"), "{error}");
        }
        "port-from-env" => {
            assert_eq!(server.port(), Some(9123));
            let server = TestServer::start(server).await;
            let data = json!({"room_name": "r"});
            let request = Signer::new("whsec_from_env").request("/webhook", "room.ended", &data);
            assert_eq!(send(server.address, request).await.status, 200);
            server.stop().await.unwrap();
        }
        "bad-port" => {
            assert_eq!(server.port(), None);
            let error = server.run().await.unwrap_err();
            assert!(matches!(&error, ServerError::InvalidPort { value } if value == "eighty"));
            assert!(error.to_string().contains("MESHAGENT_PORT"), "{error}");
        }
        other => panic!("unknown scenario {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Unsigned deliveries.

/// Records each event's name and whether it came verified.
#[derive(Clone, Default)]
struct Ways(std::sync::Arc<std::sync::Mutex<Vec<(bool, String)>>>);

impl WebhookHandler for Ways {
    async fn on_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push((true, event.name().to_owned()));
        Ok(())
    }

    async fn on_unverified_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push((false, event.name().to_owned()));
        Ok(())
    }
}

#[tokio::test]
async fn an_unsigned_server_hands_deliveries_from_a_sender_without_a_secret_to_on_unverified_event()
{
    let ways = Ways::default();
    let server =
        TestServer::start(WebhookServer::new(ways.clone()).dangerously_accept_unsigned()).await;
    // As MeshAgent sends a webhook that has no secret: no Meshagent-Signature at all.
    let body = Signer::event_payload("room.ended", &json!({"room_name": "r"}));
    let json = ("Content-Type".to_owned(), "application/json".to_owned());
    let junk = ("Meshagent-Signature".to_owned(), "Bearer junk".to_owned());
    for headers in [vec![json.clone()], vec![json, junk]] {
        let response =
            exchange(server.address, "POST", "/webhook", &headers, body.as_bytes()).await;
        assert_eq!((response.status, response.utf8()), (200, OK_BODY));
    }
    assert_eq!(
        *ways.0.lock().unwrap(),
        [(false, "room.ended".to_owned()), (false, "room.ended".to_owned())]
    );
    server.stop().await.unwrap();

    let server = TestServer::start(signed(ways.clone())).await;
    let response = send(
        server.address,
        Signer::new(SECRET).request("/webhook", "room.ended", &json!({"room_name": "s"})),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(ways.0.lock().unwrap().last(), Some(&(true, "room.ended".to_owned())));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unsigned_together_with_a_secret_is_refused_at_start_up() {
    let secret = WebhookServer::new(Ways::default()).with_secret(SECRET);
    let layer = WebhookServer::new(Ways::default())
        .with_signature_layer(MeshagentSignatureLayer::new(SECRET).with_python_digest());
    for server in [secret, layer] {
        let error = server.dangerously_accept_unsigned().into_router::<()>().unwrap_err();
        assert!(matches!(error, ServerError::Config(ConfigError::UnsignedWithSecret)), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("unsigned") && message.contains("MESHAGENT_WEBHOOK_SECRET"));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server =
        WebhookServer::new(Ways::default()).with_secret(SECRET).dangerously_accept_unsigned();
    let error = server.serve_with_shutdown(listener, std::future::pending()).await.unwrap_err();
    assert!(matches!(error, ServerError::Config(ConfigError::UnsignedWithSecret)), "{error:?}");
}

//! One `with_rejection_response` hook shapes every rejection of a delivery, the layer's and
//! the extractor's, and leaves the rejection in the response extensions; `into_router` merges
//! the built-in server's route into an app with state; `from_env` takes the previous secret
//! during a rotation (in a child process: the test process's environment is never changed);
//! `SignatureVerifier::verify_event` answers as the layer does for every SDK vector with a body
//! payload; and the start-up errors read as sentences naming `MESHAGENT_WEBHOOK_SECRET`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Extension;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use meshagent_webhooks::{
    ConfigError, EventRejection, MESHAGENT_SIGNATURE, MeshagentEvent, MeshagentSignatureLayer,
    Rejection, SignatureRejection, SignatureVerifier, Signer, VerifiedWebhook,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "whsec_rejection_hook_tests_6f1d";

/// The one hook: every rejection as `{"error": kind, "message": body text}`.
fn json_rejection(rejection: &Rejection) -> Response {
    let body = json!({"error": rejection.kind(), "message": rejection.body_text()});
    (rejection.status(), Json(body)).into_response()
}

fn hooked_layer() -> MeshagentSignatureLayer {
    MeshagentSignatureLayer::new(SECRET)
        .with_max_body_size(256)
        .with_rejection_response(json_rejection)
}

fn app(layer: MeshagentSignatureLayer) -> Router {
    async fn handle(event: MeshagentEvent) -> String {
        format!("handled {}", event.name())
    }
    Router::new().route("/webhook", post(handle).layer(layer))
}

fn request(signature: Option<&str>, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::post("/webhook");
    if let Some(signature) = signature {
        builder = builder.header(MESHAGENT_SIGNATURE, signature);
    }
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

fn signed(content_type: Option<&str>, body: &str) -> Request<Body> {
    let signature = Signer::new(SECRET).signature_header(body.as_bytes());
    request(Some(&signature), content_type, body)
}

/// A response taken apart: status, content type, body, and the rejections in its extensions.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: String,
    rejection: Option<Rejection>,
    signature_rejection: Option<SignatureRejection>,
    event_rejection: Option<EventRejection>,
}

async fn answer(app: Router, request: Request<Body>) -> Answer {
    let response = tokio::time::timeout(Duration::from_secs(10), app.oneshot(request))
        .await
        .expect("answered in time")
        .unwrap();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned());
    let extensions = response.extensions();
    let (rejection, signature_rejection, event_rejection) = (
        extensions.get::<Rejection>().cloned(),
        extensions.get::<SignatureRejection>().cloned(),
        extensions.get::<EventRejection>().cloned(),
    );
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    Answer { status, content_type, body, rejection, signature_rejection, event_rejection }
}

#[tokio::test]
async fn one_hook_shapes_the_rejections_of_the_layer_and_of_the_extractor() {
    let started = Signer::event_payload("room.started", &json!({"room_name": "standup"}));
    let forged = Signer::new("whsec_forger").signature_header(started.as_bytes());
    let large = format!("{started}{}", " ".repeat(256));
    let call = Signer::event_payload("room.call", &json!({}));
    let json = Some("application/json");
    let cases = [
        (request(None, json, &started), 401, "missing_signature", "missing signature"),
        (request(Some(&forged), json, &started), 401, "invalid_jwt", "invalid jwt"),
        (signed(json, &large), 413, "payload_too_large", "payload too large"),
        (
            signed(Some("text/plain"), &started),
            415,
            "unsupported_content_type",
            "expected request with `Content-Type: application/json`",
        ),
        (
            signed(json, "[1, 2]"),
            400,
            "invalid_request_body",
            "invalid request body: payload is not a JSON object",
        ),
        (
            signed(json, &call),
            422,
            "invalid_event",
            "invalid event: room.call: `room_name` is missing or not a string",
        ),
    ];
    for (request, status, kind, message) in cases {
        let answer = answer(app(hooked_layer()), request).await;
        assert_eq!(answer.status, status, "{kind}: {answer:?}");
        assert_eq!(answer.content_type.as_deref(), Some("application/json"), "{kind}");
        let body: Value = serde_json::from_str(&answer.body).expect("a JSON body");
        assert_eq!(body, json!({"error": kind, "message": message}));

        let rejection = answer.rejection.as_ref().expect("the Rejection is in the extensions");
        assert_eq!((rejection.status().as_u16(), rejection.kind()), (status, kind));
        match rejection {
            Rejection::Signature(inner) => {
                assert_eq!(answer.signature_rejection.as_ref(), Some(inner), "{kind}");
                assert_eq!(answer.event_rejection, None, "{kind}");
            }
            Rejection::Event(inner) => {
                assert_eq!(answer.event_rejection.as_ref(), Some(inner), "{kind}");
                assert_eq!(answer.signature_rejection, None, "{kind}");
            }
            other => panic!("unexpected rejection {other:?}"),
        }
        let by_layer = status == 401 || status == 413;
        assert_eq!(matches!(rejection, Rejection::Signature(_)), by_layer, "{kind}");
    }

    let accepted = answer(app(hooked_layer()), signed(json, &started)).await;
    assert_eq!((accepted.status, accepted.body.as_str()), (StatusCode::OK, "handled room.started"));
    assert!(accepted.rejection.is_none() && accepted.event_rejection.is_none(), "{accepted:?}");
}

#[tokio::test]
async fn a_lowercase_bearer_is_refused_with_the_rule_it_broke() {
    let body = Signer::event_payload("room.started", &json!({"room_name": "standup"}));
    let token = Signer::new(SECRET).token(body.as_bytes());
    let expected =
        "missing signature: the value must start with exactly `Bearer ` (capital B, one space)";

    let lowercase = request(Some(&format!("bearer {token}")), Some("application/json"), &body);
    let plain = answer(app(MeshagentSignatureLayer::new(SECRET)), lowercase).await;
    assert_eq!((plain.status, plain.body.as_str()), (StatusCode::UNAUTHORIZED, expected));
    assert_eq!(plain.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    let kind = plain.signature_rejection.as_ref().map(SignatureRejection::kind);
    assert_eq!(kind, Some("missing_signature"));

    let lowercase = request(Some(&format!("bearer {token}")), Some("application/json"), &body);
    let hooked = answer(app(hooked_layer()), lowercase).await;
    assert_eq!(hooked.status, StatusCode::UNAUTHORIZED);
    let body: Value = serde_json::from_str(&hooked.body).unwrap();
    assert_eq!(body, json!({"error": "missing_signature", "message": expected}));
}

// ---------------------------------------------------------------------------------------------
// `SignatureVerifier::verify_event` against the layer, for every SDK vector with a body payload.

/// The vector's request as `http` types: its headers (names lowercased by `http`) and body.
fn vector_request(vector: &crate::common::Vector) -> (HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    for (name, value) in vector.headers() {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    (headers, vector.body_bytes())
}

/// An app behind `layer` that keeps the event its handler got.
fn keeping_app(layer: MeshagentSignatureLayer) -> (Router, Arc<Mutex<Option<MeshagentEvent>>>) {
    let kept = Arc::new(Mutex::new(None));
    let keep = kept.clone();
    let handler = move |event: MeshagentEvent| async move {
        *keep.lock().unwrap() = Some(event);
        "ok"
    };
    (Router::new().route("/webhook", post(handler).layer(layer)), kept)
}

#[tokio::test]
async fn verify_event_answers_as_the_layer_does_for_every_body_payload_vector() {
    let vectors: Vec<_> = crate::common::vectors()
        .into_iter()
        .filter(|vector| {
            !vector.headers.keys().any(|name| name.eq_ignore_ascii_case("meshagent-webhook"))
        })
        .collect();
    assert_eq!(vectors.len(), 60, "the SDK vectors with a body payload");
    let (mut accepted, mut rejected) = (0, 0);
    for vector in &vectors {
        let name = &vector.name;
        assert_eq!(vector.method, "POST", "{name}");
        let (headers, body) = vector_request(vector);
        let verifier = match &vector.secret {
            Some(secret) => SignatureVerifier::new(secret.as_str()),
            None => SignatureVerifier::from_secrets(Vec::<String>::new()),
        };
        let verified = verifier.verify_event(&headers, &body);

        let (app, kept) = keeping_app(vector.layer());
        let mut request = Request::post(vector.path.as_str()).body(Body::from(body)).unwrap();
        *request.headers_mut() = headers;
        let answer = answer(app, request).await;
        assert_eq!(answer.status.as_u16(), vector.expected.status, "{name}: the layer's status");

        match verified {
            Ok(event) => {
                accepted += 1;
                assert_eq!(answer.status, StatusCode::OK, "{name}");
                assert_eq!(kept.lock().unwrap().as_ref(), Some(&event), "{name}: the same event");
            }
            Err(rejection) => {
                rejected += 1;
                assert_eq!(answer.status, rejection.status(), "{name}: the same status");
                assert_eq!(answer.body, rejection.body_text(), "{name}: the same reason");
                let layer_kind = match (&answer.signature_rejection, &answer.event_rejection) {
                    (Some(signature), None) => signature.kind(),
                    (None, Some(event)) => event.kind(),
                    other => panic!("{name}: one rejection in the extensions, got {other:?}"),
                };
                assert_eq!(layer_kind, rejection.kind(), "{name}: the same kind");
                assert!(kept.lock().unwrap().is_none(), "{name}: the handler was not called");
            }
        }
    }
    assert_eq!((accepted, rejected), (24, 36));
}

// ---------------------------------------------------------------------------------------------
// Start-up errors.

#[test]
fn config_error_debug_is_the_sentence_naming_the_variable() {
    let sentence = "webhook secret is not configured: set MESHAGENT_WEBHOOK_SECRET to the secret of \
                    the MeshAgent webhook";
    assert_eq!(format!("{:?}", ConfigError::MissingSecret), sentence);
    assert_eq!(ConfigError::MissingSecret.to_string(), sentence);
}

#[cfg(feature = "server")]
mod server {
    use axum::extract::State;
    use axum::routing::get;
    use meshagent_webhooks::{
        HandlerError, RoomStarted, ServerError, WebhookHandler, WebhookServer,
    };

    use super::*;

    #[derive(Clone, Default)]
    struct Rooms(Arc<Mutex<Vec<String>>>);

    impl WebhookHandler for Rooms {
        async fn on_room_started(&self, room: RoomStarted) -> Result<(), HandlerError> {
            self.0.lock().unwrap().push(room.room_name);
            Ok(())
        }
    }

    #[derive(Clone)]
    struct AppState {
        name: &'static str,
    }

    #[test]
    fn server_error_debug_is_the_sentence_naming_the_variable() {
        let error = WebhookServer::new(Rooms::default()).with_secret("").into_router::<()>();
        let error = error.unwrap_err();
        assert!(matches!(error, ServerError::Config(ConfigError::MissingSecret)));
        assert_eq!(
            format!("{error:?}"),
            "webhook secret is not configured: set MESHAGENT_WEBHOOK_SECRET to the secret of the \
             MeshAgent webhook"
        );
        assert_eq!(format!("{error:?}"), error.to_string());
    }

    #[tokio::test]
    async fn into_router_merges_into_an_app_with_state_and_keeps_the_hook() {
        let rooms = Rooms::default();
        let webhooks: Router<AppState> = WebhookServer::new(rooms.clone())
            .with_signature_layer(hooked_layer())
            .into_router()
            .unwrap();
        let app: Router = Router::new()
            .route("/name", get(|State(state): State<AppState>| async move { state.name }))
            .merge(webhooks)
            .with_state(AppState { name: "my app" });

        let name = answer(app.clone(), Request::get("/name").body(Body::empty()).unwrap()).await;
        assert_eq!((name.status, name.body.as_str()), (StatusCode::OK, "my app"));

        let started = Signer::event_payload("room.started", &json!({"room_name": "standup"}));
        let ok = answer(app.clone(), signed(Some("application/json"), &started)).await;
        assert_eq!((ok.status, ok.body.as_str()), (StatusCode::OK, r#"{"ok": true}"#));
        assert_eq!(*rooms.0.lock().unwrap(), ["standup"]);

        let forged = Signer::new("whsec_forger").signature_header(started.as_bytes());
        let refused =
            answer(app.clone(), request(Some(&forged), Some("application/json"), &started)).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let body: Value = serde_json::from_str(&refused.body).unwrap();
        assert_eq!(body, json!({"error": "invalid_jwt", "message": "invalid jwt"}));

        let call = Signer::event_payload("room.call", &json!({}));
        let invalid = answer(app.clone(), signed(Some("application/json"), &call)).await;
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = serde_json::from_str(&invalid.body).unwrap();
        let message = "invalid event: room.call: `room_name` is missing or not a string";
        assert_eq!(body, json!({"error": "invalid_event", "message": message}));
        assert!(invalid.event_rejection.is_some() && invalid.rejection.is_some(), "{invalid:?}");

        // The health check belongs to the server, not to the merged route.
        let root = answer(app, Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(root.status, StatusCode::NOT_FOUND);
        assert_eq!(*rooms.0.lock().unwrap(), ["standup"]);
    }
}

// ---------------------------------------------------------------------------------------------
// `from_env` in a child process whose environment this test sets.

const SCENARIO: &str = "MESHAGENT_WEBHOOKS_REJECTION_HOOK_TEST_SCENARIO";
const NEW: &str = "whsec_rotation_new_31a9";
const OLD: &str = "whsec_rotation_old_c47e";

/// Which secret verified each accepted delivery.
fn index_app(layer: MeshagentSignatureLayer) -> Router {
    async fn secret_index(Extension(webhook): Extension<VerifiedWebhook>) -> String {
        webhook.claims().secret_index().to_string()
    }
    Router::new().route("/webhook", post(secret_index).layer(layer))
}

async fn signed_by(layer: &MeshagentSignatureLayer, secret: &str) -> (StatusCode, String) {
    let body = Signer::event_payload("room.ended", &json!({"room_name": "standup"}));
    let signature = Signer::new(secret).signature_header(body.as_bytes());
    let answer = answer(
        index_app(layer.clone()),
        request(Some(&signature), Some("application/json"), &body),
    )
    .await;
    (answer.status, answer.body)
}

async fn environment_scenario(scenario: &str) {
    let layer = MeshagentSignatureLayer::from_env();
    let ok = |index: &str| (StatusCode::OK, index.to_owned());
    let invalid_jwt = (StatusCode::UNAUTHORIZED, "invalid jwt".to_owned());
    let not_configured =
        (StatusCode::INTERNAL_SERVER_ERROR, "webhook secret is not configured".to_owned());
    match scenario {
        "rotation" => {
            assert!(layer.is_configured());
            assert_eq!(signed_by(&layer, NEW).await, ok("0"));
            assert_eq!(signed_by(&layer, OLD).await, ok("1"));
            assert_eq!(signed_by(&layer, "whsec_other").await, invalid_jwt);
            let layer = MeshagentSignatureLayer::try_from_env().unwrap();
            assert_eq!(signed_by(&layer, OLD).await, ok("1"));
        }
        "no-previous" | "empty-previous" => {
            assert!(layer.is_configured());
            assert_eq!(signed_by(&layer, NEW).await, ok("0"));
            assert_eq!(signed_by(&layer, OLD).await, invalid_jwt);
        }
        "previous-only" => {
            // The previous secret alone is no configuration: fail closed.
            assert!(!layer.is_configured());
            assert_eq!(signed_by(&layer, OLD).await, not_configured);
            let error = MeshagentSignatureLayer::try_from_env().unwrap_err();
            assert_eq!(error, ConfigError::MissingSecret);
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// Re-runs this test in a child process per scenario, with `MESHAGENT_WEBHOOK_SECRET` and
/// `MESHAGENT_WEBHOOK_PREVIOUS_SECRET` set or removed there.
#[test]
fn from_env_takes_the_previous_secret_as_secret_index_1() {
    const NAME: &str = "from_env_takes_the_previous_secret_as_secret_index_1";
    if let Ok(scenario) = std::env::var(SCENARIO) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(environment_scenario(&scenario));
        println!("scenario {scenario} passed");
        return;
    }
    let scenarios = [
        ("rotation", Some(NEW), Some(OLD)),
        ("no-previous", Some(NEW), None),
        ("empty-previous", Some(NEW), Some("")),
        ("previous-only", None, Some(OLD)),
    ];
    for (scenario, secret, previous) in scenarios {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", &crate::common::test_path(module_path!(), NAME)])
            .args(["--nocapture", "--test-threads=1"])
            .env(SCENARIO, scenario)
            .env_remove("MESHAGENT_WEBHOOK_SECRET")
            .env_remove("MESHAGENT_WEBHOOK_PREVIOUS_SECRET")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(secret) = secret {
            command.env("MESHAGENT_WEBHOOK_SECRET", secret);
        }
        if let Some(previous) = previous {
            command.env("MESHAGENT_WEBHOOK_PREVIOUS_SECRET", previous);
        }
        let output = run_bounded(command);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains(&format!("scenario {scenario} passed")),
            "scenario {scenario} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Runs `command` (stdout and stderr piped) to its end within 60 s; the child is killed
/// otherwise, and on panic.
fn run_bounded(mut command: std::process::Command) -> std::process::Output {
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    fn read_all(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    }
    let mut child = KillOnDrop(command.spawn().unwrap());
    let stdout = read_all(child.0.stdout.take().unwrap());
    let stderr = read_all(child.0.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the child process did not finish in time");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

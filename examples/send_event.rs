//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example send_event -- <url> <event> '<json data>'`
//!
//! Signs one event exactly as MeshAgent does and POSTs it: what you use to try a local
//! endpoint. For example, against `cargo run --example webhook_server`:
//!
//! ```text
//! cargo run --example send_event -- http://127.0.0.1:8080/webhook room.started '{"room_name": "standup"}'
//! ```
//!
//! Prints the status and the body, and exits 1 on a non-2xx answer (2 on bad arguments).
//! Plain `http://` only.

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use meshagent_webhooks::{MESHAGENT_SIGNATURE, SECRET_ENV_VAR, Signer};
use serde_json::Value;

const USAGE: &str = "usage: send_event <url> <event> '<json data>'\n\
                     with the secret in MESHAGENT_WEBHOOK_SECRET";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, event, data] = args.as_slice() else {
        fail(2, USAGE);
    };
    let data: Value = serde_json::from_str(data)
        .unwrap_or_else(|error| fail(2, &format!("the data is not JSON: {error}")));
    let secret = std::env::var(SECRET_ENV_VAR)
        .ok()
        .filter(|secret| !secret.is_empty())
        .unwrap_or_else(|| fail(2, &format!("set {SECRET_ENV_VAR} to the webhook secret")));

    // The body MeshAgent's sender would send, and its signature.
    let body = Signer::event_payload(event, &data);
    let signature = Signer::new(secret).signature_header(body.as_bytes());
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(MESHAGENT_SIGNATURE, signature)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|error| fail(2, &format!("bad url {url:?}: {error}")));

    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(request)
        .await
        .unwrap_or_else(|error| fail(1, &format!("request to {url} failed: {error}")));
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_else(|error| fail(1, &format!("reading the answer failed: {error}")));

    println!("{status}");
    println!("{}", String::from_utf8_lossy(&body));
    if !status.is_success() {
        std::process::exit(1);
    }
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(code);
}

//! `send`: one event, signed as MeshAgent signs it (or forged), POSTed to a URL.

use std::error::Error;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use meshagent_webhooks::{Forgery, Signer};
use serde_json::{Value, json};

/// The kinds of forged delivery `send --forge` makes, each refused with 401.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Forge {
    /// Signed with another secret: `invalid jwt`.
    WrongSecret,
    /// Signed, then one byte of the body changed: `signature does not match payload`.
    TamperedBody,
    /// No Meshagent-Signature header: `missing signature`.
    MissingSignature,
}

impl From<Forge> for Forgery {
    fn from(forge: Forge) -> Self {
        match forge {
            Forge::WrongSecret => Forgery::WrongSecret,
            Forge::TamperedBody => Forgery::TamperedBody,
            Forge::MissingSignature => Forgery::MissingSignature,
        }
    }
}

pub(crate) fn run(
    url: &str,
    event: &str,
    data: Option<&str>,
    forge: Option<Forge>,
    timeout: Duration,
) -> Result<ExitCode, String> {
    let signer = Signer::new(super::secret()?);
    if !url.contains("://") {
        return Err(format!("bad URL {url:?}: add the scheme, as in http://{url}"));
    }
    let uri: Uri = url.parse().map_err(|error| format!("bad URL {url:?}: {error}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("cannot send to {url:?}: only http:// URLs (this tool has no TLS)"));
    }
    let payload = payload(event, data)?;
    let request = match forge {
        Some(forge) => signer.forged_payload_request(forge.into(), url, payload),
        None => signer.payload_request(url, payload),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let answer = runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let exchange = async {
            let response = client.request(request).await.map_err(|error| why(&error, &uri))?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|error| why(&error, &uri))?;
            Ok::<_, String>((status, body.to_bytes()))
        };
        tokio::time::timeout(timeout, exchange).await.unwrap_or_else(|_| {
            Err(format!("no answer within {} s (--timeout)", timeout.as_secs()))
        })
    });
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(error) => {
            super::note(format_args!("error: sending to {url} failed: {error}"));
            return Ok(ExitCode::FAILURE);
        }
    };
    super::print(status);
    super::print(String::from_utf8_lossy(&body));
    if status == http::StatusCode::NOT_FOUND {
        super::note(format_args!(
            "hint: nothing is served at {}: the listener's path is /webhook unless it was given \
             another (listen --path)",
            uri.path()
        ));
    }
    let expected = if forge.is_some() { status.is_client_error() } else { status.is_success() };
    Ok(if expected { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// MeshAgent's payload for `event`: with `data` as written (validated as JSON, its text kept,
/// so integers beyond 64 bits stay as they are), else the sample data.
fn payload(event: &str, data: Option<&str>) -> Result<String, String> {
    let Some(data) = data else {
        let sample =
            sample(event).ok_or_else(|| format!("no sample data for {event}: give DATA_JSON"))?;
        return Ok(Signer::event_payload(event, &sample));
    };
    serde_json::from_str::<serde::de::IgnoredAny>(data)
        .map_err(|error| format!("DATA_JSON is not JSON: {error}"))?;
    let event = serde_json::to_string(event).map_err(|error| error.to_string())?;
    Ok(format!("{{\"event\": {event}, \"data\": {}}}", data.trim()))
}

/// Why a request failed, in words: a refused connection and a name that does not resolve
/// are named, anything else is given with its causes.
fn why(error: &(dyn Error + 'static), uri: &Uri) -> String {
    let causes = || std::iter::successors(Some(error), |&error| error.source());
    let refused = causes()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|cause| cause.kind() == io::ErrorKind::ConnectionRefused);
    let authority = uri.authority().map_or("", |authority| authority.as_str());
    if refused {
        return format!("connection refused: is the server running on {authority}?");
    }
    if causes().any(|cause| cause.to_string() == "dns error") {
        let cause = causes().last().map(ToString::to_string).unwrap_or_default();
        return format!("cannot resolve {}: {cause}", uri.host().unwrap_or(authority));
    }
    super::chain(error)
}

/// A realistic `data` for each known event, as MeshAgent would send it.
fn sample(event: &str) -> Option<Value> {
    let room_url = "wss://api.meshagent.com/rooms/standup";
    Some(match event {
        "room.started" => json!({"room_name": "standup", "room_url": room_url}),
        "room.ended" => json!({"room_name": "standup"}),
        "room.call" => json!({
            "room_name": "standup",
            "room_url": room_url,
            "token": "sample-participant-token",
            "arguments": {"agent": "notetaker"},
        }),
        "storage.file.updated" => json!({"path": "notes/standup.md", "participant_id": "p-7f3a"}),
        "storage.file.deleted" => json!({"path": "notes/old.md", "participant_id": "p-7f3a"}),
        "storage.file.moved" => json!({
            "source_path": "notes/draft.md",
            "destination_path": "notes/final.md",
            "participant_id": "p-7f3a",
        }),
        _ => return None,
    })
}

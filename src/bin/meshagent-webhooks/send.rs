//! `send`: one event, signed as MeshAgent signs it, POSTed to a URL.

use std::process::ExitCode;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use meshagent_webhooks::Signer;
use serde_json::{Value, json};

pub(crate) fn run(url: &str, event: &str, data: Option<&str>) -> Result<ExitCode, String> {
    let signer = Signer::new(super::secret()?);
    let uri: Uri = url.parse().map_err(|error| format!("bad URL {url:?}: {error}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("cannot send to {url:?}: only http:// URLs (this tool has no TLS)"));
    }
    let data =
        match data {
            Some(json) => serde_json::from_str(json)
                .map_err(|error| format!("DATA_JSON is not JSON: {error}"))?,
            None => sample(event)
                .ok_or_else(|| format!("no sample data for {event}: give DATA_JSON"))?,
        };
    let request = signer.request(url, event, &data);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let answer = runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let response = client.request(request).await.map_err(|error| error.to_string())?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|error| error.to_string())?;
        Ok::<_, String>((status, body.to_bytes()))
    });
    match answer {
        Ok((status, body)) => {
            println!("{status}");
            println!("{}", String::from_utf8_lossy(&body));
            Ok(if status.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Err(error) => {
            eprintln!("error: sending to {url} failed: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
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

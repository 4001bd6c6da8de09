//! Run with: `MESHAGENT_WEBHOOK_SECRET=whsec_... cargo run --example webhook_server`
//!
//! The built-in server. Every verified event is printed on stdout as one JSON line,
//! `{"event": ..., "data": ...}`, and nothing else goes to stdout: logs go to stderr
//! (`RUST_LOG=debug` for more). Pipe it into `jq`, a file, or another program.
//!
//! Listens on http://127.0.0.1:$MESHAGENT_PORT/webhook (port 8080 by default) and answers
//! `GET /` for health checks. MeshAgent's Python server binds every interface (`0.0.0.0`);
//! this example binds 127.0.0.1 unless `WEBHOOK_HOST` says otherwise, for example
//! `WEBHOOK_HOST=0.0.0.0` in a container. Stops on Ctrl-C or SIGTERM.
//!
//! Try it from another terminal with the same secret:
//! `cargo run --example send_event -- http://127.0.0.1:8080/webhook room.started '{"room_name": "standup"}'`

use std::io::{IsTerminal, Write};

use axum::extract::ws::WebSocket;
use meshagent_webhooks::{HandlerError, MeshagentEvent, RoomCall, WebhookHandler, WebhookServer};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// Prints each event as one JSON line.
struct PrintEvents;

impl WebhookHandler for PrintEvents {
    async fn on_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
        print_line(event.name(), event.data())
    }

    async fn on_call_websocket(
        &self,
        call: RoomCall,
        socket: WebSocket,
    ) -> Result<(), HandlerError> {
        let event = MeshagentEvent::RoomCall(call);
        print_line(event.name(), event.data())?;
        // A real agent would speak the room protocol over `socket`; this one just hangs up.
        drop(socket);
        Ok(())
    }
}

fn print_line(event: &str, data: &Value) -> Result<(), HandlerError> {
    let line = json!({ "event": event, "data": data });
    // One locked write per event: lines from concurrent requests never interleave.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let host = std::env::var("WEBHOOK_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    if let Err(error) = WebhookServer::new(PrintEvents).with_host(host).run().await {
        tracing::error!("{error}");
        std::process::exit(1);
    }
}

//! `listen`: the built-in server, printing each verified event and each rejection.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use axum::extract::ws::WebSocket;
use meshagent_webhooks::{
    HandlerError, MeshagentEvent, MeshagentSignatureLayer, ParticipantToken, RoomCall,
    WebhookHandler, WebhookServer,
};
use tracing_subscriber::EnvFilter;

/// Prints every verified event as one JSON line on stdout.
struct PrintEvents;

impl WebhookHandler for PrintEvents {
    async fn on_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
        print_event(event)
    }

    async fn on_call_websocket(
        &self,
        call: RoomCall,
        socket: WebSocket,
    ) -> Result<(), HandlerError> {
        // The room protocol is not spoken here: the socket is closed.
        drop(socket);
        print_event(MeshagentEvent::RoomCall(call))
    }
}

/// `{"event": ..., "data": ...}` on one line, the participant token redacted; one locked
/// write, so lines from concurrent deliveries never interleave.
fn print_event(mut event: MeshagentEvent) -> Result<(), HandlerError> {
    if let MeshagentEvent::RoomCall(call) = &mut event {
        call.token = ParticipantToken::new("<redacted>");
    }
    let line = serde_json::to_string(&event)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

pub(crate) fn run(
    host: String,
    port: Option<u16>,
    path: String,
    unsigned: bool,
    python_digest: bool,
) -> Result<ExitCode, String> {
    if !unsigned {
        super::secret()?;
    }
    // Each rejection gets its own line below, so the layer's rate-limited warning is off.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,meshagent_webhooks::rejection=off"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
    let layer = if unsigned {
        MeshagentSignatureLayer::dangerously_accept_unsigned()
            .map_err(|error| format!("--unsigned refused: {error}"))?
    } else {
        MeshagentSignatureLayer::try_from_env().map_err(|error| error.to_string())?
    };
    let layer = if python_digest { layer.with_python_digest() } else { layer };
    let layer = layer.with_rejection_response(|rejection| {
        eprintln!("rejected {} {}: {rejection}", rejection.status().as_u16(), rejection.kind());
        rejection.to_response()
    });
    let mut server =
        WebhookServer::new(PrintEvents).with_host(host).with_path(path).with_signature_layer(layer);
    if let Some(port) = port {
        server = server.with_port(port);
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|error| error.to_string())?;
    runtime.block_on(server.run()).map_err(|error| error.to_string())?;
    Ok(ExitCode::SUCCESS)
}

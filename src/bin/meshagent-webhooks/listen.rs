//! `listen`: the built-in server, printing each verified event; rejections are logged.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use axum::extract::ws::WebSocket;
use meshagent_webhooks::{
    HandlerError, MeshagentEvent, MeshagentSignatureLayer, ParticipantToken, RoomCall,
    WebhookHandler, WebhookServer,
};
use serde::Serialize;
use tracing_subscriber::EnvFilter;

/// Prints every verified event as one JSON line on stdout.
struct PrintEvents {
    /// Stdout is /dev/null: closed when the program started (Rust then opens /dev/null in its
    /// place), so an event written there would be lost while the sender is told it arrived.
    stdout_is_null: bool,
    /// `--unsigned`: no signature is checked, so every line says `"verified": false`.
    unsigned: bool,
}

/// One printed line: the event, and `"verified": false` when no signature was checked.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    event: &'a MeshagentEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
}

impl WebhookHandler for PrintEvents {
    async fn on_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
        self.print_event(event)
    }

    async fn on_call_websocket(
        &self,
        call: RoomCall,
        socket: WebSocket,
    ) -> Result<(), HandlerError> {
        // The room protocol is not spoken here: the socket is closed.
        drop(socket);
        self.print_event(MeshagentEvent::RoomCall(call))
    }
}

impl PrintEvents {
    /// `{"event": ..., "data": ...}` on one line (with `"verified": false` when `--unsigned`),
    /// the participant token redacted; one locked write, so lines from concurrent deliveries
    /// never interleave. An error (answered 500) when the line cannot be written.
    fn print_event(&self, mut event: MeshagentEvent) -> Result<(), HandlerError> {
        if self.stdout_is_null {
            return Err("stdout is closed (or /dev/null): the event cannot be printed".into());
        }
        if let MeshagentEvent::RoomCall(call) = &mut event {
            call.token = ParticipantToken::new("<redacted>");
        }
        let mut line = Vec::new();
        let line_value = Line { event: &event, verified: self.unsigned.then_some(false) };
        line_value
            .serialize(&mut serde_json::Serializer::with_formatter(&mut line, TerminalSafe))?;
        line.push(b'\n');
        let mut stdout = io::stdout().lock();
        stdout.write_all(&line)?;
        stdout.flush()?;
        Ok(())
    }
}

/// Compact JSON with every character that could move the cursor, end a line or reorder a
/// terminal's text written as `\uXXXX`: control characters (C0, DEL, C1), U+2028 and U+2029,
/// and the bidirectional marks and overrides.
struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + Write,
    {
        let mut start = 0;
        for (index, character) in fragment.char_indices() {
            // All of them are in the Basic Multilingual Plane: one `\uXXXX` each.
            let unsafe_here = character.is_control()
                || matches!(
                    character,
                    '\u{061c}'
                        | '\u{200e}'
                        | '\u{200f}'
                        | '\u{2028}'..='\u{202e}'
                        | '\u{2066}'..='\u{2069}'
                );
            if unsafe_here {
                writer.write_all(&fragment.as_bytes()[start..index])?;
                write!(writer, "\\u{:04x}", u32::from(character))?;
                start = index + character.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Whether stdout is the null device (see [`PrintEvents::stdout_is_null`]).
fn stdout_is_null() -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let stdout = io::stdout().as_fd().try_clone_to_owned().map(std::fs::File::from);
        match (stdout.and_then(|file| file.metadata()), std::fs::metadata("/dev/null")) {
            (Ok(stdout), Ok(null)) => {
                stdout.file_type().is_char_device() && stdout.rdev() == null.rdev()
            }
            (Err(_), _) => true,
            (Ok(_), Err(_)) => false,
        }
    }
    #[cfg(not(unix))]
    false
}

pub(crate) fn run(
    host: String,
    port: Option<u16>,
    path: String,
    unsigned: bool,
    python_digest: bool,
) -> Result<ExitCode, String> {
    let secrets = if unsigned { Vec::new() } else { super::secrets()? };
    // Rejections come from the layer's warning: the first, then one line per 10 s with a
    // count, so a flood of forged requests cannot flood the log.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
    let stdout_is_null = stdout_is_null();
    if stdout_is_null {
        tracing::warn!(
            "stdout is closed (or /dev/null): every verified event will be answered 500"
        );
    }
    let layer = if unsigned {
        MeshagentSignatureLayer::dangerously_accept_unsigned()
            .map_err(|error| format!("--unsigned refused: {error}"))?
    } else {
        MeshagentSignatureLayer::from_secrets(secrets)
    };
    let layer = if python_digest { layer.with_python_digest() } else { layer };
    let mut server = WebhookServer::new(PrintEvents { stdout_is_null, unsigned })
        .with_host(host)
        .with_path(path)
        .with_signature_layer(layer);
    if let Some(port) = port {
        server = server.with_port(port);
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|error| error.to_string())?;
    runtime.block_on(server.run()).map_err(|error| super::chain(&error))?;
    Ok(ExitCode::SUCCESS)
}

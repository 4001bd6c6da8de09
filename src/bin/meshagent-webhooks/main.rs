//! `meshagent-webhooks`: receive, send, sign and check MeshAgent webhooks from the command line.
//!
//! Install with `cargo install meshagent-webhooks --features cli`; the secret comes from
//! `MESHAGENT_WEBHOOK_SECRET`. Run `meshagent-webhooks --help` for the commands.

mod listen;
mod send;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use meshagent_webhooks::{MeshagentEvent, SECRET_ENV_VAR, SignatureVerifier, Signer};

const EXAMPLES: &str = "Examples:
  export MESHAGENT_WEBHOOK_SECRET=whsec_...
  meshagent-webhooks listen --port 8080
  meshagent-webhooks send http://127.0.0.1:8080/webhook room.started
  meshagent-webhooks sign body.json
  meshagent-webhooks verify --signature 'Bearer eyJ...' body.json";

/// Receive, send, sign and check MeshAgent webhooks, with the secret from
/// MESHAGENT_WEBHOOK_SECRET.
#[derive(Debug, Parser)]
#[command(name = "meshagent-webhooks", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a webhook server: each verified event is printed on stdout as one JSON line
    /// ({"event": ..., "data": ...}, participant tokens redacted), each rejection as one line
    /// on stderr.
    #[command(
        after_help = "Example:\n  meshagent-webhooks listen --port 8080 --path /webhook | jq .event"
    )]
    Listen {
        /// The address to listen on (0.0.0.0 for every interface).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port (default: MESHAGENT_PORT, else 8080; 0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
        /// The webhook path.
        #[arg(long, default_value = "/webhook")]
        path: String,
        /// INSECURE: check no signature, for webhooks registered without a secret (refused when
        /// MESHAGENT_WEBHOOK_SECRET is set).
        #[arg(long)]
        unsigned: bool,
        /// Also accept a body whose digest is that of Python's json.dumps(json.loads(body)), as
        /// MeshAgent's Python receiver does.
        #[arg(long)]
        python_digest: bool,
    },
    /// Sign an event exactly as MeshAgent does and POST it (http:// only); prints the status and
    /// the body, and exits non-zero unless the answer is 2xx.
    #[command(after_help = "Examples:
  meshagent-webhooks send http://127.0.0.1:8080/webhook room.started
  meshagent-webhooks send http://127.0.0.1:8080/webhook room.ended '{\"room_name\": \"standup\"}'")]
    Send {
        /// Where to send it.
        url: String,
        /// The event name, for example room.started, room.call, storage.file.updated.
        event: String,
        /// The event's data as JSON (default: a realistic sample for the known events).
        data: Option<String>,
    },
    /// Print the Meshagent-Signature header value for a body, for use with curl.
    #[command(after_help = "Example:
  curl -H \"Meshagent-Signature: $(meshagent-webhooks sign body.json)\" \\
       -H 'Content-Type: application/json' --data-binary @body.json http://127.0.0.1:8080/webhook")]
    Sign {
        /// The body: a file, or - for standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Check a captured delivery as the layer would, and say which check fails; exits 0 only
    /// when it verifies.
    #[command(after_help = "Example:
  meshagent-webhooks verify --signature \"$(cat signature.txt)\" body.json")]
    Verify {
        /// The Meshagent-Signature header value, `Bearer <jwt>`.
        #[arg(long)]
        signature: String,
        /// The body: a file, or - for standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Listen { host, port, path, unsigned, python_digest } => {
            listen::run(host, port, path, unsigned, python_digest)
        }
        Command::Send { url, event, data } => send::run(&url, &event, data.as_deref()),
        Command::Sign { file } => sign(&file),
        Command::Verify { signature, file } => verify(&signature, &file),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The secret from `MESHAGENT_WEBHOOK_SECRET`, or an error that names it.
fn secret() -> Result<String, String> {
    std::env::var(SECRET_ENV_VAR).ok().filter(|secret| !secret.is_empty()).ok_or_else(|| {
        format!("{SECRET_ENV_VAR} is not set: export it with the secret of the MeshAgent webhook")
    })
}

/// The bytes of `file`, or of standard input for `-`.
fn read_body(file: &PathBuf) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut body).map(drop)
    } else {
        std::fs::read(file).map(|bytes| body = bytes)
    };
    read.map_err(|error| format!("cannot read {}: {error}", file.display()))?;
    Ok(body)
}

fn sign(file: &PathBuf) -> Result<ExitCode, String> {
    let signer = Signer::new(secret()?);
    println!("{}", signer.signature_header(&read_body(file)?));
    Ok(ExitCode::SUCCESS)
}

fn verify(signature: &str, file: &PathBuf) -> Result<ExitCode, String> {
    let verifier = SignatureVerifier::new(secret()?);
    let body = read_body(file)?;
    let claims = match verifier.verify(Some(signature.as_bytes()), &body) {
        Ok(claims) => claims,
        Err(rejection) => {
            println!("refused ({}): {rejection}", rejection.status());
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("signature verified: sha256 {}", claims.sha256());
    match MeshagentEvent::from_json(&body) {
        Ok(event) => {
            println!("event {}", event.name());
            Ok(ExitCode::SUCCESS)
        }
        Err(rejection) => {
            println!("refused ({}): {rejection}", rejection.status());
            Ok(ExitCode::FAILURE)
        }
    }
}

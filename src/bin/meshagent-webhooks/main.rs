//! `meshagent-webhooks`: receive, send, sign and check MeshAgent webhooks from the command line.
//!
//! Install with `cargo install meshagent-webhooks --features cli` (from a clone: `cargo install
//! --path . --features cli --locked`); the secret comes from `MESHAGENT_WEBHOOK_SECRET`. Run
//! `meshagent-webhooks --help` for the commands.

mod listen;
mod send;

use std::error::Error;
use std::fmt::Display;
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use meshagent_webhooks::{
    MeshagentEvent, PREVIOUS_SECRET_ENV_VAR, SECRET_ENV_VAR, SignatureVerifier, Signer,
};

const EXAMPLES: &str = "Examples:
  export MESHAGENT_WEBHOOK_SECRET=whsec_...
  meshagent-webhooks listen --port 8080
  meshagent-webhooks send http://127.0.0.1:8080/webhook room.started
  meshagent-webhooks sign body.json
  meshagent-webhooks verify --signature 'Bearer eyJ...' body.json";

/// Receive, send, sign and check MeshAgent webhooks, with the secret from
/// MESHAGENT_WEBHOOK_SECRET (and MESHAGENT_WEBHOOK_PREVIOUS_SECRET during a rotation).
#[derive(Debug, Parser)]
#[command(name = "meshagent-webhooks", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a webhook server: each verified event is printed on stdout as one JSON line
    /// ({"event": ..., "data": ...}, participant tokens redacted, control and bidi characters
    /// escaped); rejections are logged on stderr (the first, then one line per 10 s with a
    /// count). An event that cannot be printed (stdout closed, or /dev/null) is answered 500.
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
        /// MESHAGENT_WEBHOOK_SECRET is set). Each line then ends with "verified": false.
        #[arg(long)]
        unsigned: bool,
        /// Also accept a body whose digest is that of Python's json.dumps(json.loads(body)), as
        /// MeshAgent's Python receiver does.
        #[arg(long)]
        python_digest: bool,
    },
    /// Sign an event exactly as MeshAgent does and POST it (http:// only); prints the status and
    /// the body, and exits non-zero unless the answer is 2xx (with --forge: unless it is 4xx).
    #[command(after_help = "Examples:
  meshagent-webhooks send http://127.0.0.1:8080/webhook room.started
  meshagent-webhooks send http://127.0.0.1:8080/webhook room.ended '{\"room_name\": \"standup\"}'
  meshagent-webhooks send --forge wrong-secret http://127.0.0.1:8080/webhook room.started")]
    Send {
        /// Where to send it, for example http://127.0.0.1:8080/webhook.
        url: String,
        /// The event name, for example room.started, room.call, storage.file.updated.
        event: String,
        /// The event's data as JSON, sent as written (default: a realistic sample for the
        /// known events).
        #[arg(value_name = "DATA_JSON")]
        data: Option<String>,
        /// Send a forged delivery instead, which the endpoint must refuse with 401.
        #[arg(long, value_name = "KIND")]
        forge: Option<send::Forge>,
        /// How long to wait for the answer, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
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
    /// Check a captured delivery as the layer would (with the previous secret too during a
    /// rotation), and say which check fails; exits 0 only when it verifies.
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
        Command::Send { url, event, data, forge, timeout } => {
            let timeout = Duration::from_secs(timeout);
            send::run(&url, &event, data.as_deref(), forge, timeout)
        }
        Command::Sign { file } => sign(&file),
        Command::Verify { signature, file } => verify(&signature, &file),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            note(format_args!("error: {message}"));
            ExitCode::from(2)
        }
    }
}

/// Writes one line on stdout. When stdout is closed (`| head -1` has read what it wanted),
/// the program ends quietly with 141, as a Unix tool killed by SIGPIPE does.
fn print(line: impl Display) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if error.kind() != ErrorKind::BrokenPipe {
            let _ = writeln!(std::io::stderr(), "error: cannot write to stdout: {error}");
        }
        std::process::exit(141);
    }
}

/// Writes one line on stderr (nothing more can be said when stderr is closed).
fn note(line: impl Display) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// An error and its causes, `outer: inner: innermost`, for messages that say why (a cause
/// that its error already quotes is not repeated).
fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = String::new();
    for cause in std::iter::successors(Some(error), |&error| error.source()) {
        let cause = cause.to_string();
        if !text.ends_with(&cause) {
            text += if text.is_empty() { "" } else { ": " };
            text += &cause;
        }
    }
    text
}

/// A secret from the environment: `None` when unset or empty, an error when not UTF-8.
fn env_secret(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(secret) => Ok(Some(secret).filter(|secret| !secret.is_empty())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(format!("{name} is not valid UTF-8: MeshAgent secrets are text; export it again"))
        }
    }
}

/// The secret from `MESHAGENT_WEBHOOK_SECRET`, or an error that names it.
fn secret() -> Result<String, String> {
    env_secret(SECRET_ENV_VAR)?.ok_or_else(|| {
        format!("{SECRET_ENV_VAR} is not set: export it with the secret of the MeshAgent webhook")
    })
}

/// The secrets the layer verifies with: the current one, then the previous one when
/// `MESHAGENT_WEBHOOK_PREVIOUS_SECRET` is set (during a rotation).
fn secrets() -> Result<Vec<String>, String> {
    let current = secret()?;
    Ok(std::iter::once(current).chain(env_secret(PREVIOUS_SECRET_ENV_VAR)?).collect())
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
    let body = read_body(file)?;
    if body.is_empty() {
        let source = if file.as_os_str() == "-" {
            "standard input is empty or closed".to_owned()
        } else {
            format!("{} is empty", file.display())
        };
        return Err(format!("nothing to sign: {source} (MeshAgent never sends an empty body)"));
    }
    print(signer.signature_header(&body));
    Ok(ExitCode::SUCCESS)
}

fn verify(signature: &str, file: &PathBuf) -> Result<ExitCode, String> {
    let verifier = SignatureVerifier::from_secrets(secrets()?);
    let body = read_body(file)?;
    let claims = match verifier.verify(Some(signature.as_bytes()), &body) {
        Ok(claims) => claims,
        Err(rejection) => {
            print(format_args!("refused ({}): {rejection}", rejection.status()));
            return Ok(ExitCode::FAILURE);
        }
    };
    let previous = if claims.secret_index() == 1 { " (with the previous secret)" } else { "" };
    print(format_args!("signature verified{previous}: sha256 {}", claims.sha256()));
    match MeshagentEvent::from_json(&body) {
        Ok(event) => {
            print(format_args!("event {}", event.name()));
            Ok(ExitCode::SUCCESS)
        }
        Err(rejection) => {
            print(format_args!("refused ({}): {rejection}", rejection.status()));
            Ok(ExitCode::FAILURE)
        }
    }
}

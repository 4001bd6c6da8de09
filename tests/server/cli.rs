//! The `meshagent-webhooks` binary, run as real processes: `listen` on a free port with `send`
//! deliveries to it, `sign` and `verify` against the library's `Signer`, the missing-secret
//! error of every subcommand, the examples in `--help`, and the refusal of `https://`.
//!
//! Every child gets its environment from `Command::env`/`env_remove`; the test process's own
//! environment is never changed. Every child is killed when its guard drops (also when an
//! assertion fails) and every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use meshagent_webhooks::Signer;
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_meshagent-webhooks");
const SECRET: &str = "whsec_cli_tests_0c5e7d";
const MISSING_SECRET: &str = "error: MESHAGENT_WEBHOOK_SECRET is not set: export it with the secret of the MeshAgent webhook\n";
/// How long any child may take.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a line the listener should print may take to arrive.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to watch for a line that must not come.
const QUIET_PERIOD: Duration = Duration::from_millis(500);

/// A child process that is killed and reaped when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary with a controlled environment: `secret` as `MESHAGENT_WEBHOOK_SECRET` (removed
/// when `None`), and nothing else of ours inherited.
fn command(secret: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("MESHAGENT_WEBHOOK_SECRET")
        .env_remove("MESHAGENT_WEBHOOK_PREVIOUS_SECRET")
        .env_remove("MESHAGENT_PORT")
        .env_remove("RUST_LOG");
    if let Some(secret) = secret {
        command.env("MESHAGENT_WEBHOOK_SECRET", secret);
    }
    command
}

/// What a finished child wrote.
#[derive(Debug)]
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    fn code(&self) -> i32 {
        self.status.code().expect("the process exited (it was not killed by a signal)")
    }
}

/// Reads a pipe to its end on a thread.
fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).expect("the output is UTF-8");
        text
    })
}

/// Runs the binary to its end (at most [`PROCESS_TIMEOUT`]), with `stdin` as its input.
fn run(secret: Option<&str>, args: &[&str], stdin: &[u8]) -> Output {
    run_command(command(secret, args), stdin)
}

/// Runs `command` to its end (at most [`PROCESS_TIMEOUT`]), with `stdin` as its input.
fn run_command(mut command: Command, stdin: &[u8]) -> Output {
    let args: Vec<_> = command.get_args().map(|arg| arg.to_owned()).collect();
    let mut child = KillOnDrop(
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts"),
    );
    let stdout = read_all(child.0.stdout.take().unwrap());
    let stderr = read_all(child.0.stderr.take().unwrap());
    let mut input = child.0.stdin.take().unwrap();
    // The child may exit without reading its input: a broken pipe is fine.
    let _ = input.write_all(stdin);
    drop(input);
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for the child") {
            break status;
        }
        assert!(Instant::now() < deadline, "meshagent-webhooks {args:?} did not exit in time");
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// The lines of a pipe, as they come, on a channel.
fn lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// `meshagent-webhooks listen --port 0`, its address, and its output line by line.
struct Listener {
    _child: KillOnDrop,
    url: String,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Listener {
    fn start() -> Self {
        Self::start_args(Some(SECRET), &[])
    }

    /// `listen --port 0` with more arguments, `secret` in the environment.
    fn start_args(secret: Option<&str>, args: &[&str]) -> Self {
        let args = [&["listen", "--port", "0"], args].concat();
        Self::start_with(command(secret, &args))
    }

    /// `listen --port 0` with its stdout closed, as `listen >&-` in a shell.
    fn start_with_stdout_closed() -> Self {
        let mut shell = Command::new("sh");
        shell.args(["-c", r#"exec "$0" "$@" >&-"#, BIN, "listen", "--port", "0"]);
        for (name, value) in command(Some(SECRET), &[]).get_envs() {
            match value {
                Some(value) => shell.env(name, value),
                None => shell.env_remove(name),
            };
        }
        Self::start_with(shell)
    }

    fn start_with(mut command: Command) -> Self {
        let mut child = KillOnDrop(
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary starts"),
        );
        let stdout: ChildStdout = child.0.stdout.take().unwrap();
        let stdout = lines(stdout);
        let stderr = lines(child.0.stderr.take().unwrap());
        let deadline = Instant::now() + LINE_TIMEOUT;
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = stderr.recv_timeout(left).expect("the listener says where it listens");
            if let Some((_, rest)) = line.split_once("listening on http://127.0.0.1:") {
                let port: u16 = rest
                    .strip_suffix("/webhook")
                    .and_then(|port| port.parse().ok())
                    .unwrap_or_else(|| panic!("a port then /webhook: {line}"));
                assert_ne!(port, 0);
                break format!("http://127.0.0.1:{port}/webhook");
            }
        };
        Self { _child: child, url, stdout, stderr }
    }

    /// The next line on stdout.
    fn next_event(&self) -> String {
        self.stdout.recv_timeout(LINE_TIMEOUT).expect("the listener prints the event")
    }

    /// Asserts that nothing more comes on stdout for a while.
    fn no_more_events(&self) {
        match self.stdout.recv_timeout(QUIET_PERIOD) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("no further event line was expected, got {other:?}"),
        }
    }

    /// The layer's `rejected webhook request` warnings written on stderr within the quiet
    /// period (the first awaited).
    fn rejection_lines(&self) -> Vec<String> {
        let mut rejected = Vec::new();
        let mut wait = LINE_TIMEOUT;
        while let Ok(line) = self.stderr.recv_timeout(wait) {
            if line.contains(" WARN ") && line.contains("rejected webhook request") {
                rejected.push(line);
                wait = QUIET_PERIOD;
            }
        }
        rejected
    }
}

/// A file under the target's scratch directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &[u8]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name =
            format!("cli-{}-{}.json", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, contents).expect("write the scratch file");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn listen_prints_each_event_sent_as_one_json_line_with_the_call_token_redacted() {
    let listener = Listener::start();

    let sent = run(Some(SECRET), &["send", &listener.url, "room.started"], b"");
    assert_eq!((sent.code(), sent.stdout.as_str()), (0, "200 OK\n{\"ok\": true}\n"), "{sent:?}");
    assert_eq!(
        listener.next_event(),
        r#"{"event":"room.started","data":{"room_name":"standup","room_url":"wss://api.meshagent.com/rooms/standup"}}"#
    );

    let sent = run(Some(SECRET), &["send", &listener.url, "room.call"], b"");
    assert_eq!((sent.code(), sent.stdout.as_str()), (0, "200 OK\n{\"ok\": true}\n"), "{sent:?}");
    assert_eq!(
        listener.next_event(),
        r#"{"event":"room.call","data":{"room_name":"standup","room_url":"wss://api.meshagent.com/rooms/standup","token":"<redacted>","arguments":{"agent":"notetaker"}}}"#
    );
    listener.no_more_events();
}

#[test]
fn send_with_another_secret_exits_1_with_401_and_the_listener_logs_one_rate_limited_warning() {
    let listener = Listener::start();

    for _ in 0..3 {
        let sent =
            run(Some("whsec_not_the_listeners"), &["send", &listener.url, "room.started"], b"");
        assert_eq!(sent.code(), 1, "{sent:?}");
        assert_eq!(sent.stdout, "401 Unauthorized\ninvalid jwt\n");
    }

    // One line for three rejections: the next would come 10 s later, with the count.
    let lines = listener.rejection_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let expected = "rejected webhook request status=401 kind=\"invalid_jwt\" reason=invalid jwt: \
                    signature was not made with a configured secret \
                    suppressed_since_last_warning=0";
    assert!(lines[0].ends_with(expected), "{lines:?}");
    listener.no_more_events();
}

#[test]
fn send_forge_sends_each_forgery_and_exits_0_when_the_endpoint_refuses_it() {
    let listener = Listener::start();
    let forgeries = [
        ("wrong-secret", "invalid jwt"),
        ("tampered-body", "signature does not match payload"),
        ("missing-signature", "missing signature"),
    ];
    for (forgery, answer) in forgeries {
        let args = ["send", "--forge", forgery, &listener.url, "room.started"];
        let sent = run(Some(SECRET), &args, b"");
        assert_eq!(
            (sent.code(), sent.stdout.as_str()),
            (0, &*format!("401 Unauthorized\n{answer}\n"))
        );
    }
    listener.no_more_events();

    // Accepted by a receiver without the secret check: that is the failure.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", port.local_addr().unwrap());
    let answer = std::thread::spawn(move || answer_once(&port, "200 OK", "{}"));
    let sent = run(Some(SECRET), &["send", "--forge", "wrong-secret", &url, "room.started"], b"");
    answer.join().unwrap();
    assert_eq!((sent.code(), sent.stdout.as_str()), (1, "200 OK\n{}\n"), "{sent:?}");
}

/// Accepts one connection on `listener`, reads the request head and answers `status`.
fn answer_once(listener: &std::net::TcpListener, status: &str, body: &str) -> String {
    let (stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while reader.read_line(&mut head).unwrap() > 2 {}
    let length = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned)
        })
        .map_or(0, |length| length.trim().parse().unwrap());
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).unwrap();
    let mut stream = reader.into_inner();
    let response = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}", body.len());
    stream.write_all(response.as_bytes()).unwrap();
    String::from_utf8(payload).unwrap()
}

#[test]
fn send_posts_the_data_json_given_for_known_and_unknown_events() {
    let listener = Listener::start();

    let sent = run(
        Some(SECRET),
        &["send", &listener.url, "room.ended", r#"{"room_name": "retro", "attendees": 7}"#],
        b"",
    );
    assert_eq!((sent.code(), sent.stdout.as_str()), (0, "200 OK\n{\"ok\": true}\n"), "{sent:?}");
    assert_eq!(
        listener.next_event(),
        r#"{"event":"room.ended","data":{"room_name":"retro","attendees":7}}"#
    );

    let sent =
        run(Some(SECRET), &["send", &listener.url, "agent.custom", r#"{"k": [1, "two"]}"#], b"");
    assert_eq!(sent.code(), 0, "{sent:?}");
    assert_eq!(listener.next_event(), r#"{"event":"agent.custom","data":{"k":[1,"two"]}}"#);

    // A known event with data it cannot take: sent, and refused by the listener with 422.
    let sent = run(Some(SECRET), &["send", &listener.url, "room.call", "{}"], b"");
    assert_eq!(sent.code(), 1, "{sent:?}");
    assert_eq!(
        sent.stdout,
        "422 Unprocessable Entity\ninvalid event: room.call: `room_name` is missing or not a string\n"
    );
    listener.no_more_events();
}

#[test]
fn send_refuses_data_that_is_not_json_and_unknown_events_without_data() {
    let url = "http://127.0.0.1:9/webhook";
    let sent = run(Some(SECRET), &["send", url, "room.ended", "{room_name: x}"], b"");
    assert_eq!(sent.code(), 2, "{sent:?}");
    assert!(sent.stderr.starts_with("error: DATA_JSON is not JSON: "), "{sent:?}");

    let sent = run(Some(SECRET), &["send", url, "agent.custom"], b"");
    assert_eq!(sent.code(), 2, "{sent:?}");
    assert_eq!(sent.stderr, "error: no sample data for agent.custom: give DATA_JSON\n");
}

#[test]
fn send_to_an_https_url_is_refused_before_any_connection() {
    let sent =
        run(Some(SECRET), &["send", "https://hooks.example.com/webhook", "room.started"], b"");
    assert_eq!(sent.code(), 2, "{sent:?}");
    assert_eq!(sent.stdout, "");
    assert_eq!(
        sent.stderr,
        "error: cannot send to \"https://hooks.example.com/webhook\": only http:// URLs (this tool has no TLS)\n"
    );
}

#[test]
fn send_to_a_port_nobody_listens_on_says_the_connection_was_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/webhook");
    let sent = run(Some(SECRET), &["send", &url, "room.started"], b"");
    assert_eq!(sent.code(), 1, "{sent:?}");
    assert_eq!(
        sent.stderr,
        format!(
            "error: sending to {url} failed: connection refused: is the server running on \
             127.0.0.1:{port}?\n"
        )
    );
}

#[test]
fn send_to_a_host_that_does_not_resolve_names_the_dns_failure() {
    let url = "http://no-such-host.invalid/webhook";
    let sent = run(Some(SECRET), &["send", "--timeout", "25", url, "room.started"], b"");
    assert_eq!(sent.code(), 1, "{sent:?}");
    let expected = format!("error: sending to {url} failed: cannot resolve no-such-host.invalid: ");
    assert!(sent.stderr.starts_with(&expected), "{sent:?}");
}

#[test]
fn send_gives_up_after_its_timeout_on_a_server_that_never_answers() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", silent.local_addr().unwrap());
    let sent = run(Some(SECRET), &["send", "--timeout", "1", &url, "room.started"], b"");
    assert_eq!(sent.code(), 1, "{sent:?}");
    assert_eq!(
        sent.stderr,
        format!("error: sending to {url} failed: no answer within 1 s (--timeout)\n")
    );
}

#[test]
fn send_hints_at_the_scheme_and_at_the_webhook_path() {
    let sent = run(Some(SECRET), &["send", "127.0.0.1:9/webhook", "room.started"], b"");
    assert_eq!(
        (sent.code(), sent.stderr.as_str()),
        (
            2,
            "error: bad URL \"127.0.0.1:9/webhook\": add the scheme, as in http://127.0.0.1:9/webhook\n"
        )
    );

    let listener = Listener::start();
    let url = listener.url.replace("/webhook", "/hooks");
    let sent = run(Some(SECRET), &["send", &url, "room.started"], b"");
    assert_eq!((sent.code(), sent.stdout.as_str()), (1, "404 Not Found\n\n"), "{sent:?}");
    assert_eq!(
        sent.stderr,
        "hint: nothing is served at /hooks: the listener's path is /webhook unless it was given \
         another (listen --path)\n"
    );
}

#[test]
fn send_keeps_the_data_json_as_written_with_integers_beyond_64_bits() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", port.local_addr().unwrap());
    let receiver = std::thread::spawn(move || answer_once(&port, "200 OK", "{}"));
    let data = r#"{"n": 18446744073709551616, "f": 1.50}"#;
    let sent = run(Some(SECRET), &["send", &url, "agent.count", data], b"");
    assert_eq!(sent.code(), 0, "{sent:?}");
    assert_eq!(
        receiver.join().unwrap(),
        r#"{"event": "agent.count", "data": {"n": 18446744073709551616, "f": 1.50}}"#
    );
}

#[test]
fn send_sign_and_verify_end_quietly_when_their_stdout_is_closed() {
    let body = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
    let signature = Signer::new(SECRET).signature_header(body);
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", server.local_addr().unwrap());
    let runs: [&[&str]; 3] = [
        &["sign", "-"],
        &["verify", "--signature", &signature, "-"],
        &["send", &url, "room.ended"],
    ];
    for args in runs {
        let mut child = KillOnDrop(
            command(Some(SECRET), args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary starts"),
        );
        // The reader goes away before the child writes anything: it waits for its input, or
        // for the answer below.
        drop(child.0.stdout.take());
        let stderr = read_all(child.0.stderr.take().unwrap());
        let mut input = child.0.stdin.take().unwrap();
        let _ = input.write_all(body);
        drop(input);
        if args[0] == "send" {
            answer_once(&server, "200 OK", "{\"ok\": true}");
        }
        let status = child.0.wait().unwrap();
        assert_eq!((status.code(), stderr.join().unwrap().as_str()), (Some(141), ""), "{args:?}");
    }
}

#[test]
fn sign_prints_what_the_signer_gives_for_a_file_and_for_stdin() {
    let body = "{\"event\": \"room.ended\", \"data\": {\"room_name\": \"caf\u{e9}\"}}\n".as_bytes();
    let expected = format!("{}\n", Signer::new(SECRET).signature_header(body));
    let file = TempFile::new(body);

    let signed = run(Some(SECRET), &["sign", file.path()], b"");
    assert_eq!(
        (signed.code(), signed.stdout.as_str(), signed.stderr.as_str()),
        (0, &*expected, "")
    );

    let signed = run(Some(SECRET), &["sign", "-"], body);
    assert_eq!(
        (signed.code(), signed.stdout.as_str(), signed.stderr.as_str()),
        (0, &*expected, "")
    );

    // No FILE means standard input too.
    let signed = run(Some(SECRET), &["sign"], body);
    assert_eq!((signed.code(), signed.stdout.as_str()), (0, &*expected));
}

#[test]
fn verify_accepts_a_good_delivery_and_names_its_event() {
    let body = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
    let signature = Signer::new(SECRET).signature_header(body);
    let expected = format!(
        "signature verified: sha256 {}\nevent room.ended\n",
        hex::encode(Sha256::digest(body))
    );
    let file = TempFile::new(body);

    let verified = run(Some(SECRET), &["verify", "--signature", &signature, file.path()], b"");
    assert_eq!((verified.code(), verified.stdout.as_str()), (0, &*expected), "{verified:?}");

    let verified = run(Some(SECRET), &["verify", "--signature", &signature, "-"], body);
    assert_eq!((verified.code(), verified.stdout.as_str()), (0, &*expected), "{verified:?}");
}

#[test]
fn verify_exits_1_and_prints_the_check_that_failed() {
    let body = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
    let good = Signer::new(SECRET).signature_header(body);
    let token = good.strip_prefix("Bearer ").unwrap();
    let file = TempFile::new(body);
    let tampered =
        TempFile::new(br#"{"event": "room.ended", "data": {"room_name": "standup-43"}}"#);
    let cases = [
        (&good, &tampered, "refused (401 Unauthorized): signature does not match payload\n"),
        (
            &Signer::new("whsec_other").signature_header(body),
            &file,
            "refused (401 Unauthorized): invalid jwt: signature was not made with a configured secret\n",
        ),
        (
            &format!("bearer {token}"),
            &file,
            "refused (401 Unauthorized): missing signature: the value must start with exactly `Bearer ` (capital B, one space)\n",
        ),
        (
            &token.to_owned(),
            &file,
            "refused (401 Unauthorized): missing signature: the value must start with exactly `Bearer ` (capital B, one space)\n",
        ),
        (
            &"Bearer".to_owned(),
            &file,
            "refused (401 Unauthorized): missing signature: no token after `Bearer `\n",
        ),
        (
            &"Bearer not.a.jwt".to_owned(),
            &file,
            "refused (401 Unauthorized): invalid jwt: segment is not canonical unpadded base64url\n",
        ),
    ];
    for (signature, file, expected) in cases {
        let verified = run(Some(SECRET), &["verify", "--signature", signature, file.path()], b"");
        assert_eq!((verified.code(), verified.stdout.as_str()), (1, expected), "{verified:?}");
    }

    // Signed, but not an event: the signature passes, the event check says why not.
    let not_an_event = br#"{"event": "room.call", "data": {}}"#;
    let signature = Signer::new(SECRET).signature_header(not_an_event);
    let verified = run(Some(SECRET), &["verify", "--signature", &signature, "-"], not_an_event);
    assert_eq!(verified.code(), 1, "{verified:?}");
    assert_eq!(
        verified.stdout,
        format!(
            "signature verified: sha256 {}\nrefused (422 Unprocessable Entity): invalid event: room.call: `room_name` is missing or not a string\n",
            hex::encode(Sha256::digest(not_an_event))
        )
    );
}

#[test]
fn every_subcommand_without_the_secret_exits_2_naming_meshagent_webhook_secret() {
    let file = TempFile::new(b"{}");
    let subcommands: [&[&str]; 4] = [
        &["listen", "--port", "0"],
        &["send", "http://127.0.0.1:9/webhook", "room.started"],
        &["sign", file.path()],
        &["verify", "--signature", "Bearer x", file.path()],
    ];
    for args in subcommands {
        for secret in [None, Some("")] {
            let output = run(secret, args, b"{}");
            assert_eq!(
                (output.code(), output.stdout.as_str(), output.stderr.as_str()),
                (2, "", MISSING_SECRET),
                "{args:?} with secret {secret:?}"
            );
        }
    }
}

#[test]
fn the_help_of_every_subcommand_shows_an_example() {
    let examples = [
        ("listen", "  meshagent-webhooks listen --port 8080 --path /webhook | jq .event\n"),
        ("send", "  meshagent-webhooks send http://127.0.0.1:8080/webhook room.started\n"),
        ("send", "[DATA_JSON]"),
        ("sign", "  curl -H \"Meshagent-Signature: $(meshagent-webhooks sign body.json)\" \\\n"),
        ("verify", "  meshagent-webhooks verify --signature \"$(cat signature.txt)\" body.json\n"),
    ];
    for (subcommand, example) in examples {
        let help = run(None, &[subcommand, "--help"], b"");
        assert_eq!(help.code(), 0, "{help:?}");
        assert!(help.stdout.contains("\nExample"), "{subcommand}: {}", help.stdout);
        assert!(help.stdout.contains(example), "{subcommand}: {}", help.stdout);
    }
    let help = run(None, &["--help"], b"");
    assert_eq!(help.code(), 0, "{help:?}");
    for subcommand in ["listen", "send", "sign", "verify"] {
        assert!(help.stdout.contains(&format!("  meshagent-webhooks {subcommand} ")), "{help:?}");
    }
}

#[test]
fn listen_escapes_control_bidi_and_line_separator_characters() {
    let listener = Listener::start();
    let data = r#"{"k": "a\u2028b\u2029c\u0085d\u0007e\u200ff\u2066g", "\u202ekey": 1}"#;
    let sent = run(Some(SECRET), &["send", &listener.url, "agent.\u{202e}txt", data], b"");
    assert_eq!(sent.code(), 0, "{sent:?}");
    assert_eq!(
        listener.next_event(),
        r#"{"event":"agent.\u202etxt","data":{"k":"a\u2028b\u2029c\u0085d\u0007e\u200ff\u2066g","\u202ekey":1}}"#
    );
}

#[test]
fn listen_with_its_stdout_closed_answers_500_so_the_sender_knows_the_event_was_not_taken() {
    let listener = Listener::start_with_stdout_closed();
    let sent = run(Some(SECRET), &["send", &listener.url, "room.started"], b"");
    assert_eq!(
        (sent.code(), sent.stdout.as_str()),
        (1, "500 Internal Server Error\nwebhook handler failed\n"),
        "{sent:?}"
    );
}

#[test]
fn listen_refuses_a_path_axum_cannot_route_without_panicking() {
    for path in ["/:id", "/*", "/hooks/{id}", "webhook"] {
        let output = run(Some(SECRET), &["listen", "--port", "0", "--path", path], b"");
        assert_eq!(output.code(), 2, "{output:?}");
        let expected = format!(
            "error: invalid webhook path {path:?}: it must start with `/`, contain no `{{` or \
             `}}`, and have no segment starting with `:` or `*`\n"
        );
        assert_eq!(output.stderr, expected);
    }
}

#[test]
fn listen_on_a_port_in_use_gives_the_os_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(Some(SECRET), &["listen", "--port", &port], b"");
    assert_eq!(output.code(), 2, "{output:?}");
    let expected = format!("error: could not listen on 127.0.0.1:{port}: Address already in use");
    assert!(output.stderr.starts_with(&expected), "{output:?}");
}

#[test]
fn verify_accepts_a_delivery_signed_with_the_previous_secret_during_a_rotation() {
    let body = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
    let signature = Signer::new("whsec_previous").signature_header(body);
    let mut verify = command(Some(SECRET), &["verify", "--signature", &signature, "-"]);
    verify.env("MESHAGENT_WEBHOOK_PREVIOUS_SECRET", "whsec_previous");
    let verified = run_command(verify, body);
    let expected = format!(
        "signature verified (with the previous secret): sha256 {}\nevent room.ended\n",
        hex::encode(Sha256::digest(body))
    );
    assert_eq!((verified.code(), verified.stdout.as_str()), (0, &*expected), "{verified:?}");

    // Without the rotation variable, the same delivery is refused.
    let refused = run(Some(SECRET), &["verify", "--signature", &signature, "-"], body);
    assert_eq!(refused.code(), 1, "{refused:?}");
}

#[test]
fn sign_refuses_an_empty_body_from_a_closed_stdin_or_an_empty_file() {
    let signed = run(Some(SECRET), &["sign"], b"");
    assert_eq!(
        (signed.code(), signed.stdout.as_str(), signed.stderr.as_str()),
        (
            2,
            "",
            "error: nothing to sign: standard input is empty or closed (MeshAgent never sends an empty body)\n"
        )
    );
    let empty = TempFile::new(b"");
    let signed = run(Some(SECRET), &["sign", empty.path()], b"");
    assert_eq!(signed.code(), 2, "{signed:?}");
    assert!(signed.stderr.ends_with(" is empty (MeshAgent never sends an empty body)\n"));
}

#[cfg(unix)]
#[test]
fn a_secret_that_is_not_utf8_is_reported_as_such() {
    use std::os::unix::ffi::OsStrExt;
    let not_utf8 = std::ffi::OsStr::from_bytes(b"whsec_\xff");
    let file = TempFile::new(b"{}");
    for args in [&["sign", file.path()][..], &["listen", "--port", "0"]] {
        let mut command = command(None, args);
        command.env("MESHAGENT_WEBHOOK_SECRET", not_utf8);
        let output = run_command(command, b"");
        assert_eq!(
            (output.code(), output.stderr.as_str()),
            (
                2,
                "error: MESHAGENT_WEBHOOK_SECRET is not valid UTF-8: MeshAgent secrets are text; export it again\n"
            )
        );
    }
}

/// A JSON POST to the listener over a plain socket, with `headers` (each ending in CRLF); the
/// whole answer.
fn post(url: &str, body: &str, headers: &str) -> String {
    let address = url.strip_prefix("http://").and_then(|url| url.strip_suffix("/webhook")).unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(LINE_TIMEOUT)).unwrap();
    let length = body.len();
    write!(
        stream,
        "POST /webhook HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n{headers}\r\n{body}"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn listen_unsigned_prints_deliveries_sent_without_a_secret_and_refuses_to_start_with_one() {
    let listener = Listener::start_args(None, &["--unsigned"]);
    let body = r#"{"event": "room.ended", "data": {"room_name": "standup"}}"#;
    for headers in ["", "Meshagent-Signature: Bearer junk\r\n"] {
        let answer = post(&listener.url, body, headers);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert_eq!(
            listener.next_event(),
            r#"{"event":"room.ended","data":{"room_name":"standup"},"verified":false}"#
        );
    }
    listener.no_more_events();

    let output = run(Some(SECRET), &["listen", "--port", "0", "--unsigned"], b"");
    assert_ne!(output.code(), 0, "{output:?}");
    assert!(output.stderr.contains("--unsigned"), "{output:?}");
    assert!(output.stderr.contains("MESHAGENT_WEBHOOK_SECRET"), "{output:?}");
    assert_eq!(output.stdout, "");
}

#[test]
fn listen_python_digest_accepts_a_body_python_writes_back_to_the_signed_text() {
    let listener = Listener::start_args(Some(SECRET), &["--python-digest"]);
    let signed = r#"{"event": "room.ended", "data": {"room_name": "standup"}}"#;
    let header = format!(
        "Meshagent-Signature: {}\r\n",
        Signer::new(SECRET).signature_header(signed.as_bytes())
    );
    let compact = r#"{"event":"room.ended","data":{"room_name":"standup"}}"#;
    let answer = post(&listener.url, compact, &header);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(listener.next_event(), compact);
    let answer = post(&listener.url, &compact.replace("standup", "standdown"), &header);
    assert!(answer.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{answer}");
    listener.no_more_events();
}

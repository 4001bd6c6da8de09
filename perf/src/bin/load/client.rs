//! The load: rounds of keep-alive HTTP/1.1 requests from the built-in client or from `wrk`.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use meshagent_webhooks::MESHAGENT_SIGNATURE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a single request may take before the run is declared broken.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `Json<serde_json::Value>`, no layer.
    Plain,
    /// The same handler behind tower's `Identity` layer: what any layer costs in axum.
    Identity,
    /// The identity route after the two hashes every verifier computes: the least any
    /// verifying route can cost.
    Floor,
    /// `MeshagentSignatureLayer` + `MeshagentEvent` (or the calibration route).
    Layered,
}

impl Route {
    /// Every route, in the order of even rounds.
    pub(crate) const ALL: [Self; 4] = [Self::Plain, Self::Identity, Self::Floor, Self::Layered];

    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Plain => "/plain",
            Self::Identity => "/identity",
            Self::Floor => "/floor",
            Self::Layered => "/layered",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Identity => "identity",
            Self::Floor => "floor",
            Self::Layered => "layered",
        }
    }
}

/// One body size under test: its signed bytes and how many connections drive it.
pub(crate) struct Workload {
    pub(crate) label: &'static str,
    pub(crate) body: Bytes,
    pub(crate) signature: HeaderValue,
    pub(crate) conns: usize,
}

impl Workload {
    /// Where this run keeps the workload's `wrk` script (removed when the run ends).
    pub(crate) fn wrk_script_path(&self) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "meshagent-load-{}-{}.lua",
            std::process::id(),
            self.body.len()
        ))
    }

    /// A `wrk` script that sends this workload's request (method, headers and body).
    fn wrk_script(&self) -> Result<String, Box<dyn std::error::Error>> {
        let body = std::str::from_utf8(&self.body)?;
        let signature = self.signature.to_str()?;
        // Lua long brackets take the JSON as it is, as long as it never contains the closing
        // bracket.
        if body.contains("]==]") || signature.contains("]==]") {
            return Err("the body contains a Lua long-bracket terminator".into());
        }
        Ok(format!(
            "wrk.method = \"POST\"\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.headers[\"{MESHAGENT_SIGNATURE}\"] = [==[{signature}]==]\n\
             wrk.body = [==[{body}]==]\n"
        ))
    }
}

/// One round driven by `wrk` (one thread, `workload.conns` connections, whole seconds);
/// returns how many requests it completed. Fails on any non-2xx answer or socket error.
pub(crate) fn wrk_round(
    port: u16,
    route: Route,
    workload: &Workload,
    duration: Duration,
) -> Result<u64, Box<dyn std::error::Error>> {
    let script = workload.wrk_script_path();
    if !script.exists() {
        std::fs::write(&script, workload.wrk_script()?)?;
    }
    let seconds = duration.as_secs_f64().ceil().max(1.0);
    let output = Command::new("wrk")
        .args(["-t1", "-c", &workload.conns.to_string(), "-d"])
        .arg(format!("{seconds}s"))
        .args(["--timeout", "30s", "-s"])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}{}", route.path()))
        .output()
        .map_err(|error| format!("wrk could not run (apt-get install wrk): {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk on {}: {text}", route.path()).into());
    }
    let requests = text
        .lines()
        .find_map(|line| line.trim().split_once(" requests in "))
        .and_then(|(count, _)| count.parse().ok())
        .ok_or_else(|| format!("no request count in wrk's output: {text}"))?;
    Ok(requests)
}

/// Sends `workload` to `route` over `workload.conns` keep-alive connections for `duration`;
/// returns how many requests were answered 200.
pub(crate) async fn load(
    port: u16,
    route: Route,
    workload: &Workload,
    duration: Duration,
) -> Result<u64, Box<dyn std::error::Error>> {
    let deadline = tokio::time::Instant::now() + duration;
    let request = request_bytes(port, route, workload);
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(workload.conns);
    for _ in 0..workload.conns {
        let request = request.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(
            async move { connection(port, route, request, deadline, &done).await },
        ));
    }
    for task in tasks {
        task.await.map_err(|error| error.to_string())??;
    }
    Ok(done.load(Ordering::Relaxed))
}

/// The whole request, head and body, as MeshAgent sends it: built once, written as is. The
/// plain route gets the same bytes (the signature header is ignored there), so the routes
/// differ only in what the server does with them.
fn request_bytes(port: u16, route: Route, workload: &Workload) -> Bytes {
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{MESHAGENT_SIGNATURE}: ",
        route.path(),
        workload.body.len(),
    );
    let mut request = Vec::with_capacity(head.len() + 256 + workload.body.len());
    request.extend_from_slice(head.as_bytes());
    request.extend_from_slice(workload.signature.as_bytes());
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(&workload.body);
    Bytes::from(request)
}

/// One keep-alive connection sending `request` until `deadline`, one at a time. The client is
/// a few lines over a TCP stream (one write, usually one read per request) so that it costs
/// far less than the server and the server is what limits the rate.
async fn connection(
    port: u16,
    route: Route,
    request: Bytes,
    deadline: tokio::time::Instant,
    done: &AtomicU64,
) -> Result<(), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|error| format!("connect: {error}"))?;
    stream.set_nodelay(true).map_err(|error| format!("nodelay: {error}"))?;
    let mut buffer = Vec::with_capacity(1024);
    while tokio::time::Instant::now() < deadline {
        let exchange = async {
            stream.write_all(&request).await.map_err(|error| format!("write: {error}"))?;
            read_response(&mut stream, &mut buffer).await
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("{} did not answer in time", route.path()))??;
        if status != 200 || body != b"room.started" {
            return Err(format!(
                "{} answered {status}: {}",
                route.path(),
                String::from_utf8_lossy(&body)
            ));
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads one HTTP/1.1 response with a `Content-Length`; returns its status and body.
async fn read_response(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    buffer.clear();
    loop {
        if let Some(end_of_head) = find(buffer, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buffer[..end_of_head])
                .map_err(|_| "response head is not UTF-8".to_owned())?;
            let status = head
                .get(9..12)
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| format!("bad status line: {head:?}"))?;
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .ok_or("response has no Content-Length")?;
            let total = end_of_head + 4 + length;
            while buffer.len() < total {
                read_more(stream, buffer).await?;
            }
            if buffer.len() > total {
                return Err("server sent more than one response".to_owned());
            }
            return Ok((status, buffer[end_of_head + 4..].to_vec()));
        }
        read_more(stream, buffer).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    buffer.reserve(1024);
    match stream.read_buf(buffer).await {
        Ok(0) => Err("server closed the connection".to_owned()),
        Ok(_) => Ok(()),
        Err(error) => Err(format!("read: {error}")),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

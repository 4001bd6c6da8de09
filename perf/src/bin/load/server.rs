//! The server child: one axum server on 127.0.0.1 with the plain, identity, floor and layered
//! routes (or a calibration route in place of the layered one), and the driver's handle on it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use axum::routing::post;
use axum::serve::ListenerExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use meshagent_webhooks_perf::routes::{plain_after_busy_work, router, router_with};

/// What the route at `/layered` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Calibration {
    /// `MeshagentSignatureLayer` + `MeshagentEvent`: the measurement itself.
    None,
    /// The plain handler after this many nanoseconds of busy work.
    BusyNs(u64),
}

impl Calibration {
    /// The options that select this calibration on the command line.
    pub(crate) fn args(self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::BusyNs(nanos) => vec!["--calibrate-ns".to_owned(), nanos.to_string()],
        }
    }

    /// What the driver prints about the `/layered` route.
    pub(crate) fn describe(self) -> Option<String> {
        match self {
            Self::None => None,
            Self::BusyNs(nanos) => Some(format!(
                "calibration: the route labelled \"layered\" is the plain handler plus {nanos} ns of busy work, not the layer"
            )),
        }
    }
}

pub(crate) fn serve(
    threads: usize,
    calibration: Calibration,
) -> Result<(), Box<dyn std::error::Error>> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    runtime.block_on(async {
        let app = match calibration {
            Calibration::None => router(),
            Calibration::BusyNs(nanos) => {
                router_with(post(move |value| plain_after_busy_work(nanos, value)))
            }
        };
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let mut stdout = std::io::stdout();
        writeln!(stdout, "port {port}")?;
        stdout.flush()?;
        // The driver closes our stdin when it is done (or dies): stop then.
        let stop = async {
            let mut sink = Vec::new();
            let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        };
        axum::serve(listener, app).with_graceful_shutdown(stop).await?;
        Ok(())
    })
}

/// The server child; closing its stdin stops it.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Server {
    pub(crate) fn start(
        threads: usize,
        calibration: Calibration,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["--serve", "--server-threads", &threads.to_string()]);
        command.args(calibration.args());
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("server said {line:?}"))?;
        Ok(Self { child, port })
    }

    /// CPU time the server has used so far (all threads, user + system), in seconds.
    pub(crate) fn cpu_seconds(
        &self,
        ticks_per_second: f64,
    ) -> Result<f64, Box<dyn std::error::Error>> {
        cpu_seconds(&format!("/proc/{}/stat", self.child.id()), ticks_per_second, false)
    }

    pub(crate) fn stop(mut self) -> Result<(), Box<dyn std::error::Error>> {
        drop(self.child.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("server exited with {status}").into());
        }
        Ok(())
    }
}

/// utime + stime from a `/proc/.../stat` file, in seconds; with `children`, also the CPU time
/// of the children that have ended (the `wrk` runs: the server is never waited for before the
/// end).
pub(crate) fn cpu_seconds(
    path: &str,
    ticks_per_second: f64,
    children: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string(path)?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let after_comm = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: f64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: f64 = fields.get(12).ok_or("no stime")?.parse()?;
    let mut ticks = utime + stime;
    if children {
        let cutime: f64 = fields.get(13).ok_or("no cutime")?.parse()?;
        let cstime: f64 = fields.get(14).ok_or("no cstime")?.parse()?;
        ticks += cutime + cstime;
    }
    Ok(ticks / ticks_per_second)
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

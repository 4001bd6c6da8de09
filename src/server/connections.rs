//! The open connections: what each is doing (the requests it is answering), and who gives
//! way at the connection cap: the one idle longest, as nginx closes its "reusable"
//! connections when it runs out. A new connection never waits behind connections that are
//! doing nothing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http_body_util::BodyExt;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};
use tokio::time::{Instant, timeout};

use tower_service::Service;

use super::routes::{ConnectionPermit, TARGET};
use crate::signature::Refused;
use crate::telemetry::RateLimitedWarning;

/// How long the cap waits for the connection it asked to give way before it looks again.
const GIVE_WAY_WAIT: Duration = Duration::from_millis(20);

/// How often a cap full of busy connections is looked at again for one that has turned idle.
const BUSY_RECHECK: Duration = Duration::from_millis(100);

/// How long an answer that is ready may take to be sent before its connection can give way:
/// a client that reads nothing (a zero HTTP/2 window) cannot hold its place with it.
const SENDING_GRACE: Duration = Duration::from_secs(5);

/// What a connection is doing: the requests being handled on it and since when it has had
/// none (accepted, or its last answer ready), and the answers being sent and since when.
#[derive(Debug, Clone, Copy)]
pub(super) struct Activity {
    pub(super) in_flight: usize,
    pub(super) idle_since: Instant,
    sending: usize,
    sending_since: Instant,
}

/// One open connection as the table sees it.
#[derive(Debug)]
pub(super) struct OpenConnection {
    /// Updated as requests start and end; the connection's own timers watch it too.
    pub(super) activity: watch::Sender<Activity>,
    /// Asks the connection to close if it is still idle.
    pub(super) give_way: Notify,
}

impl OpenConnection {
    pub(super) fn new() -> Arc<Self> {
        let now = Instant::now();
        let activity = Activity { in_flight: 0, idle_since: now, sending: 0, sending_since: now };
        Arc::new(Self { activity: watch::Sender::new(activity), give_way: Notify::new() })
    }

    /// Whether the connection may close for a new one: no request handled on it, and no
    /// answer still being sent within [`SENDING_GRACE`].
    pub(super) fn may_give_way(&self) -> bool {
        let activity = self.activity.borrow();
        activity.in_flight == 0
            && (activity.sending == 0 || activity.sending_since.elapsed() > SENDING_GRACE)
    }
}

/// The connection cap and the connections under it.
#[derive(Debug)]
pub(super) struct ConnectionTable {
    permits: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<OpenConnection>>>,
    next_id: AtomicU64,
    gave_way: RateLimitedWarning,
    max_connections: usize,
}

/// A connection's place in the table, left when dropped.
#[derive(Debug)]
pub(super) struct Listed {
    table: Arc<ConnectionTable>,
    id: u64,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.table.lock_open().remove(&self.id);
    }
}

impl ConnectionTable {
    pub(super) fn new(max_connections: usize) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(max_connections)),
            open: Mutex::default(),
            next_id: AtomicU64::new(0),
            gave_way: RateLimitedWarning::default(),
            max_connections,
        })
    }

    fn lock_open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<OpenConnection>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place under the cap for a connection just accepted: a free one, else the one of the
    /// connection idle longest, which is asked to close. While every connection has a request
    /// in flight, it waits for one to end or turn idle.
    pub(super) async fn make_room(&self) -> OwnedSemaphorePermit {
        loop {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => return permit,
                Err(TryAcquireError::NoPermits) => {}
                Err(TryAcquireError::Closed) => unreachable!("the semaphore is never closed"),
            }
            let wait = if self.ask_idlest_to_give_way() { GIVE_WAY_WAIT } else { BUSY_RECHECK };
            if let Ok(Ok(permit)) = timeout(wait, self.permits.clone().acquire_owned()).await {
                return permit;
            }
        }
    }

    /// Lists a connection that has a place, once the server has read what it had sent (a
    /// request head that came with the connection is in flight by then, so it cannot be taken
    /// for idle): from now on it can be asked to give way.
    pub(super) fn list(self: &Arc<Self>, connection: Arc<OpenConnection>) -> Listed {
        connection.activity.send_modify(|activity| activity.idle_since = Instant::now());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock_open().insert(id, connection);
        Listed { table: self.clone(), id }
    }

    /// Asks the connection idle longest to close; whether there was one.
    fn ask_idlest_to_give_way(&self) -> bool {
        let open = self.lock_open();
        let idlest = open
            .values()
            .filter(|connection| connection.may_give_way())
            .min_by_key(|connection| connection.activity.borrow().idle_since);
        let Some(connection) = idlest else { return false };
        connection.give_way.notify_waiters();
        true
    }

    /// Counts an idle connection closed to make room: a rate-limited WARN and, with the
    /// `metrics` feature, `meshagent_webhooks_connections_closed_total{reason="idle_at_cap"}`.
    pub(super) fn gave_way(&self) {
        #[cfg(feature = "metrics")]
        metrics::counter!("meshagent_webhooks_connections_closed_total", "reason" => "idle_at_cap")
            .increment(1);
        if let Some(suppressed) = self.gave_way.check() {
            tracing::warn!(
                target: TARGET,
                max_connections = self.max_connections,
                suppressed_since_last_warning = suppressed,
                "at the connection cap: closed the connection idle longest to take a new one"
            );
        }
    }
}

/// The app as one connection serves it: each request counted while it is answered, and
/// carrying the connection's permit.
#[derive(Clone)]
pub(super) struct Tracked {
    pub(super) router: Router,
    pub(super) connection: Arc<OpenConnection>,
    pub(super) permit: ConnectionPermit,
}

impl<B> Service<Request<B>> for Tracked
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.permit.clone());
        let handling = Arc::new(Handling::new(&self.connection));
        // A refused request does not keep its connection busy while its body is drained.
        let refused = handling.clone();
        request.extensions_mut().insert(Refused(Arc::new(move || refused.done())));
        let answered = self.router.call(request.map(Body::new));
        let connection = self.connection.clone();
        Box::pin(async move {
            let response = answered.await?;
            handling.done();
            // The answer is counted until it has been sent (or dropped).
            let sending = Sending::new(connection);
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _counted = &sending;
                    frame
                }))
            }))
        })
    }
}

/// A request being handled; it stops counting when done, or dropped unanswered.
struct Handling {
    connection: Arc<OpenConnection>,
    done: AtomicBool,
}

impl Handling {
    fn new(connection: &Arc<OpenConnection>) -> Self {
        connection.activity.send_modify(|activity| activity.in_flight += 1);
        Self { connection: connection.clone(), done: AtomicBool::new(false) }
    }

    fn done(&self) {
        if self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        self.connection.activity.send_modify(|activity| {
            activity.in_flight -= 1;
            if activity.in_flight == 0 {
                activity.idle_since = Instant::now();
            }
        });
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.done();
    }
}

/// An answer being sent.
struct Sending(Arc<OpenConnection>);

impl Sending {
    fn new(connection: Arc<OpenConnection>) -> Self {
        connection.activity.send_modify(|activity| {
            if activity.sending == 0 {
                activity.sending_since = Instant::now();
            }
            activity.sending += 1;
        });
        Self(connection)
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.activity.send_modify(|activity| activity.sending -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(connection: &OpenConnection) {
        connection.activity.send_modify(|activity| activity.in_flight += 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_connection_idle_longest_is_asked_to_give_way_and_a_busy_one_never() {
        let table = ConnectionTable::new(3);
        let (mut places, mut open, mut listed) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            places.push(table.make_room().await);
            open.push(OpenConnection::new());
            listed.push(table.list(open.last().unwrap().clone()));
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        busy(&open[0]);
        // The oldest is busy: the second is the one idle longest.
        let asked = [&open[1], &open[2]].map(|connection| {
            let connection = connection.clone();
            tokio::spawn(async move { connection.give_way.notified().await })
        });
        tokio::task::yield_now().await;
        assert!(table.ask_idlest_to_give_way());
        tokio::task::yield_now().await;
        assert!(asked[0].is_finished() && !asked[1].is_finished());
        asked[1].abort();

        busy(&open[1]);
        busy(&open[2]);
        assert!(!table.ask_idlest_to_give_way(), "every connection is busy");
        let mut room = std::pin::pin!(table.make_room());
        assert!(futures_util::poll!(room.as_mut()).is_pending());
        drop(places.pop());
        drop(listed.pop());
        let _place = room.await;
        assert_eq!(table.lock_open().len(), 2, "a dropped listing leaves the table");
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn every_connection_that_gives_way_is_counted() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let table = ConnectionTable::new(1);
        metrics::with_local_recorder(&recorder, || (0..3).for_each(|_| table.gave_way()));
        let counted: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels: Vec<_> = key
                    .labels()
                    .map(|label| format!("{}={}", label.key(), label.value()))
                    .collect();
                (key.name().to_owned(), labels, value)
            })
            .collect();
        assert_eq!(
            counted,
            [(
                "meshagent_webhooks_connections_closed_total".to_owned(),
                vec!["reason=idle_at_cap".to_owned()],
                DebugValue::Counter(3)
            )]
        );
    }

    #[test]
    fn connections_that_give_way_are_warned_about_once_an_interval() {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber =
            tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let table = ConnectionTable::new(7);
        tracing::subscriber::with_default(subscriber, || (0..3).for_each(|_| table.gave_way()));
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("WARN"), "{text}");
        assert!(text.contains("closed the connection idle longest"), "{text}");
        assert!(text.contains("max_connections=7 suppressed_since_last_warning=0"), "{text}");
    }
}

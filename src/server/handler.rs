//! [`WebhookHandler`]: what the server calls for each verified event.

use axum::extract::ws::WebSocket;
use std::future::Future;

use crate::event::{
    MeshagentEvent, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted, StorageFileMoved,
    StorageFileUpdated, UnknownEvent,
};

/// The error a [`WebhookHandler`] method returns. Anything that converts into it works with `?`
/// (`std::io::Error`, `serde_json::Error`, `anyhow::Error`, a `String`, …).
///
/// The server answers 500 and logs it (with `tracing::error!`); the server keeps running.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::HandlerError;
///
/// let error: HandlerError = "the database is down".into();
/// assert_eq!(error.to_string(), "the database is down");
/// ```
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What the [`WebhookServer`](crate::WebhookServer) calls for each verified event.
///
/// Every method has a default that does nothing and returns `Ok(())`, so implement only the
/// events you care about. A normal delivery goes to [`on_event`](Self::on_event), which by
/// default calls the method for its event (the equivalent of `on_webhook` in MeshAgent's
/// Python SDK); override `on_event` to see every event in one place.
///
/// The server answers 200 `{"ok": true}` once the method returns `Ok`. When it returns `Err`,
/// or panics, the server answers 500 `webhook handler failed`, logs the cause (never the
/// payload), and keeps serving: each call runs in its own tokio task.
///
/// Methods return `impl Future + Send`; write them as `async fn` or return an `async` block.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{HandlerError, RoomCall, RoomStarted, WebhookHandler};
///
/// struct Rooms;
///
/// impl WebhookHandler for Rooms {
///     async fn on_room_started(&self, room: RoomStarted) -> Result<(), HandlerError> {
///         println!("room {} started", room.room_name);
///         Ok(())
///     }
///
///     async fn on_call(&self, call: RoomCall) -> Result<(), HandlerError> {
///         // Join `call.room_url` with `call.token.expose()`.
///         println!("called into {}", call.room_name);
///         Ok(())
///     }
/// }
/// ```
pub trait WebhookHandler: Send + Sync + 'static {
    /// Any verified event delivered over HTTP (not a websocket upgrade). The default dispatches
    /// to the method for the event: [`on_room_started`](Self::on_room_started), …,
    /// [`on_unknown`](Self::on_unknown).
    ///
    /// # Example
    ///
    /// ```
    /// # use meshagent_webhooks::{HandlerError, MeshagentEvent, WebhookHandler};
    /// # struct PrintAll;
    /// impl WebhookHandler for PrintAll {
    ///     async fn on_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
    ///         println!("{} {}", event.name(), event.data());
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn on_event(
        &self,
        event: MeshagentEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            match event {
                MeshagentEvent::RoomStarted(event) => self.on_room_started(event).await,
                MeshagentEvent::RoomEnded(event) => self.on_room_ended(event).await,
                MeshagentEvent::RoomCall(event) => self.on_call(event).await,
                MeshagentEvent::StorageFileUpdated(event) => {
                    self.on_storage_file_updated(event).await
                }
                MeshagentEvent::StorageFileDeleted(event) => {
                    self.on_storage_file_deleted(event).await
                }
                MeshagentEvent::StorageFileMoved(event) => self.on_storage_file_moved(event).await,
                MeshagentEvent::Unknown(event) => self.on_unknown(event).await,
            }
        }
    }

    /// Any event of a server that
    /// [accepts unsigned deliveries](crate::WebhookServer::dangerously_accept_unsigned),
    /// delivered over HTTP: nobody vouches for it. The default passes it on to
    /// [`on_event`](Self::on_event); override this to treat unverified events apart.
    ///
    /// # Example
    ///
    /// ```
    /// # use meshagent_webhooks::{HandlerError, MeshagentEvent, WebhookHandler};
    /// # struct Careful;
    /// impl WebhookHandler for Careful {
    ///     async fn on_unverified_event(&self, event: MeshagentEvent) -> Result<(), HandlerError> {
    ///         println!("unverified {}: logged, not acted on", event.name());
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn on_unverified_event(
        &self,
        event: MeshagentEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self.on_event(event)
    }

    /// `room.started`. Default: nothing.
    fn on_room_started(
        &self,
        event: RoomStarted,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        drop(event);
        async { Ok(()) }
    }

    /// `room.ended`. Default: nothing.
    fn on_room_ended(
        &self,
        event: RoomEnded,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        drop(event);
        async { Ok(()) }
    }

    /// `room.call` delivered as a normal request: join `room_url` with the token. Default:
    /// nothing.
    fn on_call(&self, event: RoomCall) -> impl Future<Output = Result<(), HandlerError>> + Send {
        drop(event);
        async { Ok(()) }
    }

    /// `room.call` delivered as a websocket upgrade: the room connects in over `socket`, which
    /// then carries the room protocol. The server has already answered 101; an error or panic
    /// here is logged. The socket closes when dropped. Default: drop it.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::extract::ws::{Message, WebSocket};
    /// # use meshagent_webhooks::{HandlerError, RoomCall, WebhookHandler};
    /// # struct Echo;
    /// impl WebhookHandler for Echo {
    ///     async fn on_call_websocket(&self, call: RoomCall, mut socket: WebSocket) -> Result<(), HandlerError> {
    ///         println!("room {} connected", call.room_name);
    ///         while let Some(message) = socket.recv().await {
    ///             if let Message::Text(text) = message? {
    ///                 socket.send(Message::Text(text)).await?;
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn on_call_websocket(
        &self,
        event: RoomCall,
        socket: WebSocket,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        drop((event, socket));
        async { Ok(()) }
    }

    /// `storage.file.updated`. Default: nothing.
    fn on_storage_file_updated(
        &self,
        event: StorageFileUpdated,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        drop(event);
        async { Ok(()) }
    }

    /// `storage.file.deleted`. Default: nothing.
    fn on_storage_file_deleted(
        &self,
        event: StorageFileDeleted,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        drop(event);
        async { Ok(()) }
    }

    /// `storage.file.moved`. Default: nothing.
    fn on_storage_file_moved(
        &self,
        event: StorageFileMoved,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        drop(event);
        async { Ok(()) }
    }

    /// Any other event name, with its raw `data` (MeshAgent may add events). Default: nothing.
    fn on_unknown(
        &self,
        event: UnknownEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        drop(event);
        async { Ok(()) }
    }
}

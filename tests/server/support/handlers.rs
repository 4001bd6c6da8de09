//! Test handlers: one that records every call, one that fails or panics on demand, one that
//! blocks until released.

use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket};
use meshagent_webhooks::{
    HandlerError, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted, StorageFileMoved,
    StorageFileUpdated, UnknownEvent, WebhookHandler, WebhookServer,
};
use serde_json::Value;
use tokio::sync::Notify;

use super::SECRET;

/// Records which method got what; on a websocket it sends the room name, then echoes one text
/// message. Clones share what they record.
#[derive(Default, Clone)]
pub(crate) struct Recorder {
    pub(crate) calls: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl Recorder {
    pub(crate) fn record(&self, method: &'static str, detail: impl Into<String>) {
        self.calls.lock().unwrap().push((method, detail.into()));
    }

    pub(crate) fn calls(&self) -> Vec<(&'static str, String)> {
        self.calls.lock().unwrap().clone()
    }
}

impl WebhookHandler for Recorder {
    async fn on_room_started(&self, event: RoomStarted) -> Result<(), HandlerError> {
        let url = event.room_url.unwrap_or_default();
        self.record("on_room_started", format!("{} {url}", event.room_name));
        Ok(())
    }

    async fn on_room_ended(&self, event: RoomEnded) -> Result<(), HandlerError> {
        self.record("on_room_ended", event.room_name);
        Ok(())
    }

    async fn on_call(&self, event: RoomCall) -> Result<(), HandlerError> {
        let arguments = event.arguments.map(Value::Object).unwrap_or_default();
        let detail =
            format!("{} {} {} {arguments}", event.room_name, event.room_url, event.token.expose());
        self.record("on_call", detail);
        Ok(())
    }

    async fn on_call_websocket(
        &self,
        event: RoomCall,
        mut socket: WebSocket,
    ) -> Result<(), HandlerError> {
        self.record("on_call_websocket", event.room_name.clone());
        socket.send(Message::Text(event.room_name.into())).await?;
        if let Some(message) = socket.recv().await
            && let Message::Text(text) = message?
        {
            socket.send(Message::Text(text)).await?;
        }
        Ok(())
    }

    async fn on_storage_file_updated(&self, event: StorageFileUpdated) -> Result<(), HandlerError> {
        let detail = format!("{} {}", event.path, event.participant_id);
        self.record("on_storage_file_updated", detail);
        Ok(())
    }

    async fn on_storage_file_deleted(&self, event: StorageFileDeleted) -> Result<(), HandlerError> {
        let detail = format!("{} {}", event.path, event.participant_id);
        self.record("on_storage_file_deleted", detail);
        Ok(())
    }

    async fn on_storage_file_moved(&self, event: StorageFileMoved) -> Result<(), HandlerError> {
        let detail =
            format!("{} {} {}", event.source_path, event.destination_path, event.participant_id);
        self.record("on_storage_file_moved", detail);
        Ok(())
    }

    async fn on_unknown(&self, event: UnknownEvent) -> Result<(), HandlerError> {
        self.record("on_unknown", format!("{} {}", event.name, event.data));
        Ok(())
    }
}

/// Fails or panics on demand: `room.ended` for room `fail` returns an error, for `panic`
/// panics; any other room is recorded.
#[derive(Default, Clone)]
pub(crate) struct Faulty {
    pub(crate) handled: Arc<Mutex<Vec<String>>>,
}

impl WebhookHandler for Faulty {
    async fn on_room_ended(&self, event: RoomEnded) -> Result<(), HandlerError> {
        match event.room_name.as_str() {
            "fail" => Err("the database is down".into()),
            "panic" => panic!("handler panicked on purpose"),
            _ => {
                self.handled.lock().unwrap().push(event.room_name);
                Ok(())
            }
        }
    }
}

/// Blocks in `room.started` until released.
#[derive(Default, Clone)]
pub(crate) struct Slow {
    pub(crate) entered: Arc<Notify>,
    pub(crate) release: Arc<Notify>,
    pub(crate) finished: Arc<Mutex<bool>>,
}

impl WebhookHandler for Slow {
    async fn on_room_started(&self, _event: RoomStarted) -> Result<(), HandlerError> {
        self.entered.notify_one();
        self.release.notified().await;
        *self.finished.lock().unwrap() = true;
        Ok(())
    }
}

pub(crate) fn signed<H: WebhookHandler>(handler: H) -> WebhookServer<H> {
    WebhookServer::new(handler).with_secret(SECRET)
}

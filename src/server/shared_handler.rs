//! A shared handler: `Arc<H>` is a [`WebhookHandler`] when `H` is.

use std::future::Future;
use std::sync::Arc;

use axum::extract::ws::WebSocket;

use super::{HandlerError, WebhookHandler};
use crate::{
    MeshagentEvent, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted, StorageFileMoved,
    StorageFileUpdated, UnknownEvent,
};

/// A shared handler works too, so the caller can keep a reference to it (for example to read
/// what a test handler recorded).
impl<H: WebhookHandler> WebhookHandler for Arc<H> {
    fn on_event(
        &self,
        event: MeshagentEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_event(event)
    }

    fn on_room_started(
        &self,
        event: RoomStarted,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_room_started(event)
    }

    fn on_room_ended(
        &self,
        event: RoomEnded,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_room_ended(event)
    }

    fn on_call(&self, event: RoomCall) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_call(event)
    }

    fn on_call_websocket(
        &self,
        event: RoomCall,
        socket: WebSocket,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_call_websocket(event, socket)
    }

    fn on_storage_file_updated(
        &self,
        event: StorageFileUpdated,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_storage_file_updated(event)
    }

    fn on_storage_file_deleted(
        &self,
        event: StorageFileDeleted,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_storage_file_deleted(event)
    }

    fn on_storage_file_moved(
        &self,
        event: StorageFileMoved,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_storage_file_moved(event)
    }

    fn on_unknown(
        &self,
        event: UnknownEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_unknown(event)
    }
}

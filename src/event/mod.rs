//! Typed MeshAgent events: [`MeshagentEvent`] and its payload structs.
//!
//! A delivery is `{"event": "<name>", "data": {...}}`. The known events get typed variants;
//! any other name is kept as [`MeshagentEvent::Unknown`] with its raw `data`, so a new MeshAgent
//! event never breaks a receiver. Every variant still gives the raw `data` through
//! [`MeshagentEvent::data`].
//!
//! Required fields (extra fields are ignored; every listed field is a string):
//!
//! | Event | Variant | Fields |
//! |---|---|---|
//! | `room.started` | [`RoomStarted`] | `room_name`; `room_url` optional (the docs omit it) |
//! | `room.ended` | [`RoomEnded`] | `room_name` |
//! | `room.call` | [`RoomCall`] | `room_name`, `room_url`, `token`; `arguments` an optional object or null |
//! | `storage.file.updated` | [`StorageFileUpdated`] | `path`, `participant_id` |
//! | `storage.file.deleted` | [`StorageFileDeleted`] | `path`, `participant_id` |
//! | `storage.file.moved` | [`StorageFileMoved`] | `source_path`, `destination_path`, `participant_id` |

mod envelope;
#[cfg(feature = "axum")]
mod extract;
mod parse;
mod types;

pub use types::{
    MeshagentEvent, ParticipantToken, RoomCall, RoomEnded, RoomStarted, StorageFileDeleted,
    StorageFileMoved, StorageFileUpdated, UnknownEvent,
};

//! The event enum and one struct per known event.

use std::fmt;

use serde_json::{Map, Value};

/// A verified MeshAgent webhook event.
///
/// With the `axum` feature it is an extractor: it reads the payload that
/// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer) verified and never the body, so
/// it can stand in any argument position. It answers 500 when the layer is missing, 415 for a
/// body payload without a JSON `Content-Type` (`application/json` or `application/*+json`), 400
/// when the payload is not a JSON object, and 422 when the event is malformed
/// ([`EventRejection`](crate::EventRejection)).
///
/// `Debug` shows the event and its field names, never their values or the raw `data`: payloads
/// can carry personal data and tokens, and `Debug` output ends up in logs.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::post};
/// use meshagent_webhooks::{MeshagentEvent, MeshagentSignatureLayer};
///
/// async fn handle(event: MeshagentEvent) {
///     match event {
///         MeshagentEvent::RoomStarted(room) => println!("started {}", room.room_name),
///         MeshagentEvent::RoomCall(call) => println!("call into {}", call.room_url),
///         other => println!("{} {}", other.name(), other.data()),
///     }
/// }
///
/// let app: Router = Router::new()
///     .route("/webhook", post(handle))
///     .layer(MeshagentSignatureLayer::new("whsec_example"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MeshagentEvent {
    /// `room.started`
    RoomStarted(RoomStarted),
    /// `room.ended`
    RoomEnded(RoomEnded),
    /// `room.call`: a handoff with a room URL and a participant token.
    RoomCall(RoomCall),
    /// `storage.file.updated`
    StorageFileUpdated(StorageFileUpdated),
    /// `storage.file.deleted`
    StorageFileDeleted(StorageFileDeleted),
    /// `storage.file.moved`
    StorageFileMoved(StorageFileMoved),
    /// Any other event name, kept with its raw `data`.
    Unknown(UnknownEvent),
}

impl MeshagentEvent {
    /// The event name as sent on the wire, e.g. `room.started`.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentEvent;
    ///
    /// let event = MeshagentEvent::from_json(br#"{"event": "room.ended", "data": {"room_name": "r"}}"#).unwrap();
    /// assert_eq!(event.name(), "room.ended");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            Self::RoomStarted(_) => "room.started",
            Self::RoomEnded(_) => "room.ended",
            Self::RoomCall(_) => "room.call",
            Self::StorageFileUpdated(_) => "storage.file.updated",
            Self::StorageFileDeleted(_) => "storage.file.deleted",
            Self::StorageFileMoved(_) => "storage.file.moved",
            Self::Unknown(unknown) => &unknown.name,
        }
    }

    /// The raw `data` member, as received (`null` when absent).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::MeshagentEvent;
    ///
    /// let event = MeshagentEvent::from_json(br#"{"event": "room.ended", "data": {"room_name": "r", "x": 1}}"#).unwrap();
    /// assert_eq!(event.data()["x"], 1);
    /// ```
    pub fn data(&self) -> &Value {
        match self {
            Self::RoomStarted(event) => &event.data,
            Self::RoomEnded(event) => &event.data,
            Self::RoomCall(event) => &event.data,
            Self::StorageFileUpdated(event) => &event.data,
            Self::StorageFileDeleted(event) => &event.data,
            Self::StorageFileMoved(event) => &event.data,
            Self::Unknown(event) => &event.data,
        }
    }
}

/// Writes `Debug` for an event struct: the names of its typed fields, never their values nor
/// the raw `data`, so that logging an event never logs payload content.
macro_rules! debug_fields {
    ($name:ident { $($field:ident),+ }) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Names the fields, so a renamed field is a compile error here.
                let _ = ($(&self.$field,)+);
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &format_args!("<redacted>")))+
                    .finish_non_exhaustive()
            }
        }
    };
}

/// `room.started`: a room began.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::MeshagentEvent;
///
/// let event = MeshagentEvent::from_json(br#"{"event": "room.started", "data": {"room_name": "r"}}"#).unwrap();
/// let MeshagentEvent::RoomStarted(started) = event else { unreachable!() };
/// assert_eq!(started.room_name, "r");
/// assert_eq!(started.room_url, None);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RoomStarted {
    /// The room's name.
    pub room_name: String,
    /// The room's URL (sent by the SDK's sender, absent from the docs' example).
    pub room_url: Option<String>,
    pub(crate) data: Value,
}
debug_fields!(RoomStarted {
    room_name,
    room_url
});

/// `room.ended`: a room closed.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::MeshagentEvent;
///
/// let event = MeshagentEvent::from_json(br#"{"event": "room.ended", "data": {"room_name": "r"}}"#).unwrap();
/// assert!(matches!(event, MeshagentEvent::RoomEnded(ended) if ended.room_name == "r"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RoomEnded {
    /// The room's name.
    pub room_name: String,
    pub(crate) data: Value,
}
debug_fields!(RoomEnded { room_name });

/// `room.call`: MeshAgent hands a room to the receiver, which joins it at `room_url` with
/// `token`.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::MeshagentEvent;
///
/// let payload = br#"{"event": "room.call", "data": {"room_name": "r", "room_url": "wss://x/r", "token": "t0k", "arguments": {"a": 1}}}"#;
/// let MeshagentEvent::RoomCall(call) = MeshagentEvent::from_json(payload).unwrap() else { unreachable!() };
/// assert_eq!(call.token.expose(), "t0k");
/// assert!(!format!("{call:?}").contains("t0k"));
/// assert_eq!(call.arguments.unwrap()["a"], 1);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RoomCall {
    /// The room's name.
    pub room_name: String,
    /// Where to connect.
    pub room_url: String,
    /// The participant token to connect with (redacted in `Debug`).
    pub token: ParticipantToken,
    /// Arguments given when the webhook was set up, if any.
    pub arguments: Option<Map<String, Value>>,
    pub(crate) data: Value,
}
debug_fields!(RoomCall {
    room_name,
    room_url,
    token,
    arguments
});

/// `storage.file.updated`: a file in room storage was written.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::MeshagentEvent;
///
/// let payload = br#"{"event": "storage.file.updated", "data": {"path": "a.txt", "participant_id": "p"}}"#;
/// assert_eq!(MeshagentEvent::from_json(payload).unwrap().name(), "storage.file.updated");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct StorageFileUpdated {
    /// The file's path.
    pub path: String,
    /// Who wrote it.
    pub participant_id: String,
    pub(crate) data: Value,
}
debug_fields!(StorageFileUpdated {
    path,
    participant_id
});

/// `storage.file.deleted`: a file in room storage was deleted.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::MeshagentEvent;
///
/// let payload = br#"{"event": "storage.file.deleted", "data": {"path": "a.txt", "participant_id": "p"}}"#;
/// assert_eq!(MeshagentEvent::from_json(payload).unwrap().name(), "storage.file.deleted");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct StorageFileDeleted {
    /// The file's path.
    pub path: String,
    /// Who deleted it.
    pub participant_id: String,
    pub(crate) data: Value,
}
debug_fields!(StorageFileDeleted {
    path,
    participant_id
});

/// `storage.file.moved`: a file in room storage was moved (listed on one version of
/// MeshAgent's docs).
///
/// # Example
///
/// ```
/// use meshagent_webhooks::MeshagentEvent;
///
/// let payload = br#"{"event": "storage.file.moved", "data": {"source_path": "a", "destination_path": "b", "participant_id": "p"}}"#;
/// assert_eq!(MeshagentEvent::from_json(payload).unwrap().name(), "storage.file.moved");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct StorageFileMoved {
    /// Where the file was.
    pub source_path: String,
    /// Where it is now.
    pub destination_path: String,
    /// Who moved it.
    pub participant_id: String,
    pub(crate) data: Value,
}
debug_fields!(StorageFileMoved {
    source_path,
    destination_path,
    participant_id
});

/// An event this crate has no type for, kept whole.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::MeshagentEvent;
///
/// let payload = br#"{"event": "agent.spawned", "data": {"n": 1}}"#;
/// let MeshagentEvent::Unknown(unknown) = MeshagentEvent::from_json(payload).unwrap() else { unreachable!() };
/// assert_eq!(unknown.name, "agent.spawned");
/// assert_eq!(unknown.data["n"], 1);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct UnknownEvent {
    /// The event name.
    pub name: String,
    /// The raw `data` (`null` when absent).
    pub data: Value,
}

impl fmt::Debug for UnknownEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnknownEvent")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A `room.call` participant token: `Debug` never shows it, and it has no `Display`.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::ParticipantToken;
///
/// let token = ParticipantToken::new("eyJ.secret.part");
/// assert_eq!(format!("{token:?}"), "ParticipantToken(<redacted>)");
/// assert_eq!(token.expose(), "eyJ.secret.part");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ParticipantToken(String);

impl ParticipantToken {
    /// Wraps a token.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::ParticipantToken;
    ///
    /// assert_eq!(ParticipantToken::new("t").expose(), "t");
    /// ```
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, to connect to the room. Keep it out of logs.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::ParticipantToken;
    ///
    /// let token = ParticipantToken::new("t0k");
    /// assert_eq!(token.expose(), "t0k");
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ParticipantToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParticipantToken(<redacted>)")
    }
}

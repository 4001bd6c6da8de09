//! One struct per known event: its typed fields, and every other field of its `data` kept as
//! it came, so that an event serializes back to the same JSON value (typed fields first).

use std::fmt;

use serde::de::DeserializeOwned;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::rejection::InvalidEvent;

/// The typed view of a known event's `data` object.
pub(super) trait Payload: Sized {
    /// The event name on the wire.
    const EVENT: &'static str;

    /// Reads the typed fields out of `data`; the rest is kept.
    fn from_data(data: Map<String, Value>) -> Result<Self, InvalidEvent>;

    /// The `data` object: the typed fields in their order, then the kept ones as they came.
    fn to_data(&self) -> Map<String, Value>;

    /// The event name on the wire, from a value.
    fn label(&self) -> &'static str {
        Self::EVENT
    }
}

/// What a typed field's JSON value must be, for the message when it is not.
trait Expected: DeserializeOwned + Serialize {
    const WHAT: &'static str;
}

impl Expected for String {
    const WHAT: &'static str = "a string";
}

impl Expected for ParticipantToken {
    const WHAT: &'static str = "a string";
}

impl Expected for Map<String, Value> {
    const WHAT: &'static str = "an object or null";
}

/// Whether `value` holds a float anywhere: `serde_json` reads an integer beyond 64 bits as one.
pub(super) fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(members) => members.values().any(has_float),
        _ => false,
    }
}

/// Reads a typed field from its value in `data` (`None` when absent).
fn read<T: Expected>(value: Option<Value>, field: &str, event: &str) -> Result<T, InvalidEvent> {
    let message = || format!("{event}: `{field}` is missing or not {}", T::WHAT);
    let value = value.and_then(|value| serde_json::from_value(value).ok());
    value.ok_or_else(|| InvalidEvent::with_detail(message()))
}

/// Reads an optional typed field; `Ok(None)` when absent.
fn read_optional<T: Expected>(
    value: Option<Value>,
    field: &str,
    event: &str,
) -> Result<Option<T>, InvalidEvent> {
    let message = || format!("{event}: `{field}` is not {}", T::WHAT);
    let value = value.map(serde_json::from_value).transpose();
    value.map_err(|_| InvalidEvent::with_detail(message()))
}

/// A typed field as a JSON value (strings and objects always are one).
fn write(field: &impl Serialize) -> Value {
    serde_json::to_value(field).unwrap_or_default()
}

/// Declares each payload struct: its required fields (the constructor's arguments), its
/// optional ones, the kept ones; [`Payload`]; a `Debug` that names the fields and never shows
/// their values; `Serialize`/`Deserialize` as the `data` object; `From` into its
/// [`MeshagentEvent`](super::MeshagentEvent) variant, which has the struct's name.
macro_rules! payloads {
    ($($(#[$meta:meta])* $name:ident = $event:literal {
        $($(#[$req_meta:meta])* $req:ident: $req_ty:ty,)+
    } $(optional {
        $($(#[$opt_meta:meta])* $opt:ident: $opt_ty:ty,)+
    })?;)+) => {$(
        $(#[$meta])*
        #[derive(Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            $($(#[$req_meta])* pub $req: $req_ty,)+
            $($($(#[$opt_meta])* pub $opt: Option<$opt_ty>,)+)?
            extra: Map<String, Value>,
        }

        impl $name {
            #[doc = concat!("A `", $event, "` with the required fields, the others empty.")]
            pub fn new($($req: impl Into<$req_ty>),+) -> Self {
                Self { $($req: $req.into(),)+ $($($opt: None,)+)? extra: Map::new() }
            }
        }

        impl Payload for $name {
            const EVENT: &'static str = $event;

            fn from_data(data: Map<String, Value>) -> Result<Self, InvalidEvent> {
                // One pass, no lookups: each member goes to its field or is kept.
                $(let mut $req = None;)+
                $($(let mut $opt = None;)+)?
                let mut extra = Map::new();
                for (name, value) in data {
                    match name.as_str() {
                        $(stringify!($req) => $req = Some(value),)+
                        // A `null` optional field is kept as it came, to be written back.
                        $($(stringify!($opt) if !value.is_null() => $opt = Some(value),)+)?
                        _ => {
                            extra.insert(name, value);
                        }
                    }
                }
                Ok(Self {
                    $($req: read($req, stringify!($req), $event)?,)+
                    $($($opt: read_optional($opt, stringify!($opt), $event)?,)+)?
                    extra,
                })
            }

            fn to_data(&self) -> Map<String, Value> {
                let mut data = Map::new();
                $(data.insert(stringify!($req).to_owned(), write(&self.$req));)+
                $($(data.extend(self.$opt.as_ref().map(|value| (stringify!($opt).to_owned(), write(value))));)+)?
                for (name, value) in &self.extra {
                    data.entry(name.clone()).or_insert_with(|| value.clone());
                }
                data
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($req), &format_args!("<redacted>")))+
                    $($(.field(stringify!($opt), &format_args!("<redacted>")))+)?
                    .finish_non_exhaustive()
            }
        }

        impl From<$name> for super::MeshagentEvent {
            fn from(event: $name) -> Self {
                Self::$name(event)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.to_data().serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::from_data(Map::deserialize(deserializer)?).map_err(D::Error::custom)
            }
        }
    )+
    };
}

payloads! {
    /// `room.started`: a room began.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{MeshagentEvent, RoomStarted};
    ///
    /// let event = MeshagentEvent::from_json(br#"{"event": "room.started", "data": {"room_name": "r"}}"#).unwrap();
    /// assert_eq!(event, MeshagentEvent::RoomStarted(RoomStarted::new("r")));
    /// ```
    RoomStarted = "room.started" {
        /// The room's name.
        room_name: String,
    } optional {
        /// The room's URL (sent by the SDK's sender, absent from the docs' example).
        room_url: String,
    };

    /// `room.ended`: a room closed.
    ///
    /// # Example
    ///
    /// ```
    /// let ended = meshagent_webhooks::RoomEnded::new("standup");
    /// assert_eq!(ended.room_name, "standup");
    /// ```
    RoomEnded = "room.ended" {
        /// The room's name.
        room_name: String,
    };

    /// `room.call`: MeshAgent hands a room to the receiver, which joins it at `room_url` with
    /// `token`.
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{MeshagentEvent, RoomCall};
    ///
    /// let payload = br#"{"event": "room.call", "data": {"room_name": "r", "room_url": "wss://x/r", "token": "t0k", "arguments": {"a": 1}}}"#;
    /// let MeshagentEvent::RoomCall(call) = MeshagentEvent::from_json(payload).unwrap() else { unreachable!() };
    /// assert_eq!(call.token.expose(), "t0k");
    /// assert!(!format!("{call:?}").contains("t0k"));
    /// assert_eq!(call.arguments.as_ref().unwrap()["a"], 1);
    ///
    /// let mut made = RoomCall::new("r", "wss://x/r", "t0k");
    /// made.arguments = call.arguments.clone();
    /// assert_eq!(made, call);
    /// ```
    RoomCall = "room.call" {
        /// The room's name.
        room_name: String,
        /// Where to connect.
        room_url: String,
        /// The participant token to connect with (redacted in `Debug`).
        token: ParticipantToken,
    } optional {
        /// Arguments given when the webhook was set up, if any.
        arguments: Map<String, Value>,
    };

    /// `storage.file.updated`: a file in room storage was written.
    ///
    /// # Example
    ///
    /// ```
    /// let file = meshagent_webhooks::StorageFileUpdated::new("notes.md", "p-1");
    /// assert_eq!((file.path.as_str(), file.participant_id.as_str()), ("notes.md", "p-1"));
    /// ```
    StorageFileUpdated = "storage.file.updated" {
        /// The file's path.
        path: String,
        /// Who wrote it.
        participant_id: String,
    };

    /// `storage.file.deleted`: a file in room storage was deleted.
    ///
    /// # Example
    ///
    /// ```
    /// let file = meshagent_webhooks::StorageFileDeleted::new("old.md", "p-1");
    /// assert_eq!(file.path, "old.md");
    /// ```
    StorageFileDeleted = "storage.file.deleted" {
        /// The file's path.
        path: String,
        /// Who deleted it.
        participant_id: String,
    };

    /// `storage.file.moved`: a file in room storage was moved (listed on one version of
    /// MeshAgent's docs).
    ///
    /// # Example
    ///
    /// ```
    /// let moved = meshagent_webhooks::StorageFileMoved::new("a.md", "b.md", "p-1");
    /// assert_eq!(moved.destination_path, "b.md");
    /// ```
    StorageFileMoved = "storage.file.moved" {
        /// Where the file was.
        source_path: String,
        /// Where it is now.
        destination_path: String,
        /// Who moved it.
        participant_id: String,
    };
}

/// An event this crate has no type for, kept whole. `Debug` shows the name only.
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{MeshagentEvent, UnknownEvent};
///
/// let payload = br#"{"event": "agent.spawned", "data": {"n": 1}}"#;
/// let MeshagentEvent::Unknown(unknown) = MeshagentEvent::from_json(payload).unwrap() else { unreachable!() };
/// assert_eq!(unknown, UnknownEvent::new("agent.spawned", serde_json::json!({"n": 1})));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnknownEvent {
    /// The event name.
    pub name: String,
    /// The raw `data` (`null` when absent).
    pub data: Value,
}

impl UnknownEvent {
    /// An event called `name` with `data`.
    pub fn new(name: impl Into<String>, data: Value) -> Self {
        Self { name: name.into(), data }
    }
}

impl From<UnknownEvent> for super::MeshagentEvent {
    fn from(event: UnknownEvent) -> Self {
        Self::Unknown(event)
    }
}

impl fmt::Debug for UnknownEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnknownEvent").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A `room.call` participant token: `Debug` never shows it and there is no `Display`; it
/// serializes as the token itself.
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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantToken(String);

impl<T: Into<String>> From<T> for ParticipantToken {
    fn from(token: T) -> Self {
        Self(token.into())
    }
}

impl ParticipantToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, to connect to the room. Keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ParticipantToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParticipantToken(<redacted>)")
    }
}

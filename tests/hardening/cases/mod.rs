//! The hostile requests, as raw bytes, each with the exact answer it must get from a server
//! built from `MeshagentSignatureLayer` + `MeshagentEvent` (`common::recording_app`).

mod bodies;
mod headers;
mod jwt;

pub(crate) use bodies::body_cases;
pub(crate) use headers::header_cases;
pub(crate) use jwt::jwt_cases;

pub(crate) const INVALID_JWT: &str = "invalid jwt";
pub(crate) const MISMATCH: &str = "signature does not match payload";
pub(crate) const MISSING: &str = "missing signature";
pub(crate) const WRONG_SCHEME: &str =
    "missing signature: the value must start with exactly `Bearer ` (capital B, one space)";
pub(crate) const NO_TOKEN: &str = "missing signature: no token after `Bearer `";
pub(crate) const TWO_SIGNATURES: &str =
    "missing signature: more than one Meshagent-Signature header";
pub(crate) const NOT_JSON: &str = "invalid request body: payload is not valid JSON";
pub(crate) const NOT_OBJECT: &str = "invalid request body: payload is not a JSON object";
pub(crate) const NAN_OR_INFINITY: &str =
    "invalid request body: payload has NaN or Infinity, which JSON cannot carry";
pub(crate) const BEYOND_64_BITS: &str =
    "invalid request body: payload has an integer beyond 64 bits, which would lose precision";

/// One hostile request and the answer it must get.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) name: String,
    /// The request bytes, sent as is on a fresh connection (with `Connection: close`).
    pub(crate) request: Vec<u8>,
    pub(crate) status: u16,
    /// The exact response body, when the crate answers (`None`: hyper answers on its own).
    pub(crate) body: Option<&'static str>,
    /// For accepted cases: the `data.id` the handler must have seen.
    pub(crate) seen_id: Option<String>,
}

fn case(name: &str, request: Vec<u8>, status: u16, body: Option<&'static str>) -> Case {
    Case { name: name.to_owned(), request, status, body, seen_id: None }
}

//! The verification core, pure (no I/O): secrets + `Meshagent-Signature` + payload bytes →
//! verified claims or a rejection. Token parsing follows PyJWT 2.15 (what MeshAgent's receiver
//! runs), with a bounded token length and strict base64url.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::verified::PayloadSource;
use super::verified::{DigestRule, VerifiedClaims, VerifiedToken};
use crate::event::{MeshagentEvent, check_content_type, present};
use crate::python_json;
use crate::rejection::{
    DuplicatePayloadHeader, EventRejection, InvalidJwt, MissingSignature, Rejection,
    SecretNotConfigured, SignatureRejection,
};
use crate::secret::WebhookSecret;

/// `Meshagent-Signature`: the header carrying `Bearer <jwt>`.
pub const MESHAGENT_SIGNATURE: HeaderName = HeaderName::from_static("meshagent-signature");

/// `Meshagent-Webhook`: the header that carries the payload in header-payload and websocket
/// deliveries (it then replaces the body).
pub const MESHAGENT_WEBHOOK: HeaderName = HeaderName::from_static("meshagent-webhook");

/// The JOSE header segment PyJWT writes for every MeshAgent token:
/// base64url of `{"alg":"HS256","typ":"JWT"}`.
pub(crate) const CANONICAL_HEADER_SEGMENT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Longest token accepted. MeshAgent tokens are about 170 bytes; the reference server's header
/// line limit is 8190 bytes.
const MAX_TOKEN_LEN: usize = 8192;

/// Largest `exp`/`nbf`/`iat` accepted: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// Claims segments up to this length are decoded on the stack (MeshAgent's are 96 bytes).
const CLAIMS_ON_STACK: usize = 384;

/// Checks MeshAgent signatures: the core behind
/// [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer), usable on its own with any
/// HTTP stack.
///
/// A request passes when `Meshagent-Signature` is `Bearer <jwt>`, the JWT is HS256 over one of
/// the configured secrets, its registered claims pass (`exp`, `nbf`, `iat` with the leeway; no
/// `aud`; string `sub`/`jti`/`iss`), and its `sha256` claim is the lowercase hex SHA-256 of the
/// raw payload bytes (compared in constant time). Cloning is cheap. Without a usable secret it
/// fails closed: every call returns [`SignatureRejection::SecretNotConfigured`].
///
/// # Example
///
/// ```
/// use meshagent_webhooks::{Signer, SignatureVerifier};
///
/// let payload = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
/// let header = Signer::new("whsec_example").signature_header(payload);
///
/// let verifier = SignatureVerifier::from_secrets(["whsec_next", "whsec_example"]);
/// let claims = verifier.verify(Some(header.as_bytes()), payload).unwrap();
/// assert_eq!(claims.secret_index(), 1);
///
/// let forged = verifier.verify(Some(header.as_bytes()), b"{}").unwrap_err();
/// assert_eq!(forged.body_text(), "signature does not match payload");
/// ```
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    keys: Arc<[WebhookSecret]>,
    leeway_secs: u64,
    rule: DigestRule,
}

impl SignatureVerifier {
    /// A verifier for one secret. An empty secret makes it fail closed.
    pub fn new(secret: impl Into<WebhookSecret>) -> Self {
        Self::from_secrets([secret.into()])
    }

    /// A verifier that accepts tokens signed by any of `secrets`, for rotation; the verified
    /// claims say which one matched ([`VerifiedClaims::secret_index`], the position in this
    /// list). No secret, or any empty one, makes it fail closed.
    pub fn from_secrets<I>(secrets: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<WebhookSecret>,
    {
        let keys = secrets.into_iter().map(Into::into).collect();
        Self { keys, leeway_secs: 0, rule: DigestRule::Raw }
    }

    /// A verifier that checks nothing: no secret, no token, any `Meshagent-Signature` ignored.
    pub(crate) fn unsigned() -> Self {
        Self { rule: DigestRule::Unsigned, ..Self::from_secrets(None::<WebhookSecret>) }
    }

    /// Tolerance for `exp`, `nbf` and `iat` (whole seconds; default 0, like PyJWT).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = leeway.as_secs();
        self
    }

    /// Also accepts a payload when the `sha256` claim is the digest of Python's
    /// `json.dumps(json.loads(payload))` (what MeshAgent's Python receiver hashes), computed
    /// only when the raw bytes do not match. See
    /// [`MeshagentSignatureLayer::with_python_digest`](crate::MeshagentSignatureLayer::with_python_digest).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{SignatureVerifier, Signer};
    ///
    /// let header = Signer::new("k").signature_header(br#"{"event": "x", "data": {}}"#);
    /// let compacted = br#"{"event":"x","data":{}}"#;
    /// assert!(SignatureVerifier::new("k").verify(Some(header.as_bytes()), compacted).is_err());
    /// let python = SignatureVerifier::new("k").with_python_digest();
    /// assert!(python.verify(Some(header.as_bytes()), compacted).is_ok());
    /// ```
    #[must_use]
    pub fn with_python_digest(mut self) -> Self {
        if self.rule == DigestRule::Raw {
            self.rule = DigestRule::RawOrPython;
        }
        self
    }

    /// Whether it accepts unsigned deliveries (checks nothing).
    pub(crate) fn is_unsigned(&self) -> bool {
        self.rule == DigestRule::Unsigned
    }

    /// Whether at least one secret is set and none is empty (or the layer was made to accept
    /// unsigned deliveries). When false every request fails closed.
    pub fn is_configured(&self) -> bool {
        self.rule == DigestRule::Unsigned
            || (!self.keys.is_empty() && self.keys.iter().all(|key| !key.is_empty()))
    }

    /// Verifies one payload: `signature` is the raw value of the request's single
    /// `Meshagent-Signature` header (`None` when absent), `payload` the bytes that were signed
    /// (the body, or the `Meshagent-Webhook` header value).
    ///
    /// # Errors
    ///
    /// [`SecretNotConfigured`](SignatureRejection::SecretNotConfigured) (500),
    /// [`MissingSignature`](SignatureRejection::MissingSignature),
    /// [`InvalidJwt`](SignatureRejection::InvalidJwt) or
    /// [`DigestMismatch`](SignatureRejection::DigestMismatch) (all 401).
    pub fn verify(
        &self,
        signature: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<VerifiedClaims, SignatureRejection> {
        Ok(self.verify_token(signature)?.check_payload(payload)?)
    }

    /// Verifies a whole delivery received outside tower (a queue consumer, another framework)
    /// with the rules of [`MeshagentSignatureLayer`](crate::MeshagentSignatureLayer) and the
    /// [`MeshagentEvent`] extractor: headers and body in, the verified event out. The payload is
    /// the `Meshagent-Webhook` header when present, else `body`, which then needs a JSON
    /// `Content-Type`. No size limit is applied: the body is already in memory.
    ///
    /// # Errors
    ///
    /// Any [`Rejection`]: the signature's (401, 500) or the event's (415, 400, 422).
    ///
    /// # Example
    ///
    /// ```
    /// use meshagent_webhooks::{MeshagentEvent, SignatureVerifier, Signer};
    ///
    /// let request = Signer::new("whsec_example").request(
    ///     "/webhook",
    ///     "room.ended",
    ///     &serde_json::json!({"room_name": "standup-42"}),
    /// );
    /// let body = request.body().clone();
    /// # let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(body)).unwrap().unwrap().to_bytes();
    /// let event = SignatureVerifier::new("whsec_example")
    ///     .verify_event(request.headers(), &body)
    ///     .unwrap();
    /// assert!(matches!(event, MeshagentEvent::RoomEnded(ended) if ended.room_name == "standup-42"));
    /// ```
    pub fn verify_event(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<MeshagentEvent, Rejection> {
        let (token, header_payload) = self.check_head(headers)?;
        let (payload, source) = match header_payload {
            Some(value) => (value.as_bytes(), PayloadSource::Header),
            None => (body, PayloadSource::Body),
        };
        token.check_payload(payload).map_err(SignatureRejection::from)?;
        check_content_type(source, headers).map_err(EventRejection::from)?;
        Ok(MeshagentEvent::from_json(payload)?)
    }

    /// From the headers alone: configuration, the one `Meshagent-Signature`,
    /// its token and claims, and the one `Meshagent-Webhook` (the payload, when present).
    pub(crate) fn check_head<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<(VerifiedToken, Option<&'a HeaderValue>), SignatureRejection> {
        // Unsigned, any number of them is ignored.
        let signature = single(headers, &MESHAGENT_SIGNATURE)
            .or(self.is_unsigned().then_some(None))
            .ok_or_else(|| {
                MissingSignature::with_detail("more than one Meshagent-Signature header")
            })?;
        let token = self.verify_token(signature.map(HeaderValue::as_bytes))?;
        let payload =
            single(headers, &MESHAGENT_WEBHOOK).ok_or_else(DuplicatePayloadHeader::new)?;
        Ok((token, payload))
    }

    /// The configuration, the header, the JWT and its claims (nothing when unsigned).
    fn verify_token(&self, signature: Option<&[u8]>) -> Result<VerifiedToken, SignatureRejection> {
        if self.rule == DigestRule::Unsigned {
            return Ok(VerifiedToken { digest: None, secret_index: 0, rule: self.rule });
        }
        if !self.is_configured() {
            return Err(SecretNotConfigured::new().into());
        }
        let token = bearer_token(signature.ok_or_else(MissingSignature::new)?)?;
        let segments = split(token)?;
        let secret_index = self
            .keys
            .iter()
            .position(|key| {
                let mut mac = key.hmac();
                mac.update(segments.signing_input);
                mac.verify_slice(&segments.signature).is_ok()
            })
            .ok_or_else(|| invalid("signature was not made with a configured secret"))?;
        let mut token = parse_claims(segments.claims, unix_now, self.leeway_secs)?;
        token.secret_index = secret_index;
        token.rule = self.rule;
        Ok(token)
    }
}

/// The value of `name` when the request has it at most once (`None` when it is repeated).
pub(super) fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Option<Option<&'a HeaderValue>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    values.next().is_none().then_some(first)
}

/// The token of a `Meshagent-Signature` value: surrounding whitespace is ignored (as HTTP
/// does), then the value must start with exactly `Bearer ` and have something after it.
fn bearer_token(value: &[u8]) -> Result<&[u8], MissingSignature> {
    let value = value.trim_ascii();
    match value.strip_prefix(b"Bearer ") {
        Some(token) => Ok(token),
        None if value == b"Bearer" => {
            Err(MissingSignature::with_detail("no token after `Bearer `"))
        }
        None => Err(MissingSignature::with_detail(
            "the value must start with exactly `Bearer ` (capital B, one space)",
        )),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

fn invalid(detail: &'static str) -> InvalidJwt {
    InvalidJwt::with_detail(detail)
}

/// A compact JWS taken apart.
struct Segments<'a> {
    /// `header.claims`: what the HMAC covers.
    signing_input: &'a [u8],
    claims: &'a [u8],
    signature: [u8; 32],
}

/// Splits a compact JWS into its segments, checking the JOSE header and decoding the
/// signature on the way.
fn split(token: &[u8]) -> Result<Segments<'_>, InvalidJwt> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("token is too long"));
    }
    let mut dots = memchr::memchr_iter(b'.', token);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(invalid("token does not have three segments"));
    };
    check_header(&token[..first])?;
    let mut decoded = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(&token[second + 1..], &mut decoded) {
        Ok(32) => Ok(Segments {
            signing_input: &token[..second],
            claims: &token[first + 1..second],
            signature: decoded,
        }),
        Ok(_) | Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            Err(invalid("signature is not an HS256 signature"))
        }
        Err(_) => Err(not_base64url()),
    }
}

fn not_base64url() -> InvalidJwt {
    invalid("segment is not canonical unpadded base64url")
}

/// Whether the first non-whitespace byte opens a JSON object (a derived `Deserialize` would
/// also take an array; PyJWT requires an object).
fn is_object(json: &[u8]) -> bool {
    json.trim_ascii_start().first() == Some(&b'{')
}

#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    #[allow(dead_code)]
    kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    b64: Option<serde_json::Value>,
}

fn check_header(segment: &[u8]) -> Result<(), InvalidJwt> {
    if segment == CANONICAL_HEADER_SEGMENT.as_bytes() {
        return Ok(());
    }
    let json = URL_SAFE_NO_PAD.decode(segment).map_err(|_| not_base64url())?;
    if !is_object(&json) {
        return Err(invalid("header is not a JSON object"));
    }
    // What PyJWT's `json.loads` refuses, also in the members serde skips.
    if python_json::redump(&json).is_none() {
        return Err(invalid("header is not UTF-8 JSON within Python's nesting limit"));
    }
    let header: JoseHeader<'_> = serde_json::from_slice(&json)
        .map_err(|_| invalid("header is malformed or has a field of the wrong type"))?;
    if header.alg != "HS256" {
        return Err(invalid("algorithm is not HS256"));
    }
    // `b64: false` (RFC 7797, an unencoded payload) is refused as PyJWT refuses it.
    if header.crit.is_some() || header.b64 == Some(serde_json::Value::Bool(false)) {
        return Err(invalid("header has unsupported critical extensions or b64 false"));
    }
    Ok(())
}

/// The claims of a token, parsed strictly: a field that is present must have its type. The
/// registered claims are read to be checked, not kept.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Claims<'a> {
    #[serde(borrow)]
    sha256: Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    exp: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    nbf: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    iat: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    aud: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    iss: Option<String>,
    #[serde(default, deserialize_with = "present")]
    sub: Option<String>,
    #[serde(default, deserialize_with = "present")]
    jti: Option<String>,
}

/// Decodes and checks the claims; keeps the `sha256` claim when it is 64 bytes (any other length
/// can never match).
fn parse_claims(
    segment: &[u8],
    now: impl FnOnce() -> u64,
    leeway: u64,
) -> Result<VerifiedToken, InvalidJwt> {
    let mut stack = [0u8; CLAIMS_ON_STACK];
    let heap;
    let json = match URL_SAFE_NO_PAD.decode_slice(segment, &mut stack) {
        Ok(len) => &stack[..len],
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            heap = URL_SAFE_NO_PAD.decode(segment).map_err(|_| not_base64url())?;
            &heap[..]
        }
        Err(_) => return Err(not_base64url()),
    };
    if let Some(digest) = canonical_digest(json) {
        return Ok(VerifiedToken { digest: Some(digest), secret_index: 0, rule: DigestRule::Raw });
    }
    if !is_object(json) {
        return Err(invalid("claims are not a JSON object"));
    }
    if python_json::redump(json).is_none() {
        return Err(invalid("claims are not UTF-8 JSON within Python's nesting limit"));
    }
    let claims: Claims<'_> = serde_json::from_slice(json).map_err(|_| {
        invalid("claims are malformed, lack a string sha256, or have a claim of the wrong type")
    })?;
    check_registered(&claims, now, leeway)?;
    let digest = claims.sha256.as_bytes().try_into().ok();
    Ok(VerifiedToken { digest, secret_index: 0, rule: DigestRule::Raw })
}

/// The claims as MeshAgent's SDK writes them, `{"sha256":"<64 hex digits>"}`, read without
/// serde (measured: +2.1% requests per second on the layered route, three alternating load
/// runs); anything else is parsed in full.
fn canonical_digest(json: &[u8]) -> Option<[u8; 64]> {
    let digits = json.strip_prefix(br#"{"sha256":""#)?.strip_suffix(br#""}"#)?;
    let digits: [u8; 64] = digits.try_into().ok()?;
    // Without an early exit the compiler checks many digits at once.
    digits.iter().fold(true, |hex, digit| hex & digit.is_ascii_hexdigit()).then_some(digits)
}

fn check_registered(
    claims: &Claims<'_>,
    now: impl FnOnce() -> u64,
    leeway: u64,
) -> Result<(), InvalidJwt> {
    if claims.aud.is_some() {
        return Err(invalid("token has an audience and none is accepted"));
    }
    let dates = [claims.exp, claims.nbf, claims.iat];
    if dates.iter().flatten().any(|&date| date > MAX_NUMERIC_DATE) {
        return Err(invalid("a time claim is out of range"));
    }
    if dates.iter().all(Option::is_none) {
        return Ok(());
    }
    let now = now();
    if claims.exp.is_some_and(|exp| exp.saturating_add(leeway) <= now) {
        return Err(invalid("token has expired"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(invalid("token is not valid yet"));
    }
    if claims.iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(invalid("token was issued in the future"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::Signer;

    const SECRET: &str = "whsec_shared_5b1f0c9e2d7a4e83b6c4f1a2d9e07c35";
    const BODY: &[u8] = br#"{"event": "room.ended", "data": {"room_name": "standup-42"}}"#;
    /// From the protocol document's worked example (MeshAgent's own SDK).
    const HEADER: &str = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaGEyNTYiOiI2ODFkNjc1YzQ1MTQ1NzYyZTIyNzg5MzNkYTYzYTYwMGFjNDdjY2MxNzk5MGZjMGJmNjUzNzBlMGM5NmFlNjI2In0.jHppVYYmYV3JnQGtPhpATwpweUSHe1O4n6yZpa6W-L4";
    const SHA: &str = r#""sha256":"00""#;

    fn reason(result: Result<VerifiedClaims, SignatureRejection>) -> String {
        result.map_or_else(|rejection| rejection.body_text(), |_| "ok".to_owned())
    }

    fn claims(json: &str) -> Result<(), InvalidJwt> {
        claims_at(json, 1_000, 0)
    }

    fn claims_at(json: &str, now: u64, leeway: u64) -> Result<(), InvalidJwt> {
        parse_claims(URL_SAFE_NO_PAD.encode(json).as_bytes(), || now, leeway).map(drop)
    }

    fn header(json: &str) -> Result<(), InvalidJwt> {
        check_header(URL_SAFE_NO_PAD.encode(json).as_bytes())
    }

    #[test]
    fn the_sdk_worked_example_verifies() {
        let claims = SignatureVerifier::new(SECRET).verify(Some(HEADER.as_bytes()), BODY).unwrap();
        assert_eq!(
            claims.sha256(),
            "681d675c45145762e2278933da63a600ac47ccc17990fc0bf65370e0c96ae626"
        );
        assert_eq!(
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            CANONICAL_HEADER_SEGMENT
        );
    }

    #[test]
    fn the_sdk_claims_are_read_directly_and_mean_what_the_full_parse_reads() {
        let hex = "681d675c45145762e2278933da63a600ac47ccc17990fc0bf65370e0c96ae626";
        let canonical = format!(r#"{{"sha256":"{hex}"}}"#);
        assert_eq!(canonical_digest(canonical.as_bytes()).unwrap().as_slice(), hex.as_bytes());
        let spaced = format!(r#"{{"sha256": "{hex}"}}"#);
        let escaped = format!(r#"{{"sha256":"\u0036{}"}}"#, &hex[1..]);
        let extended = format!(r#"{{"sha256":"{hex}","iss":"x"}}"#);
        for json in [spaced, escaped, extended] {
            assert_eq!(canonical_digest(json.as_bytes()), None, "{json}");
            let token = parse_claims(URL_SAFE_NO_PAD.encode(&json).as_bytes(), || 0, 0).unwrap();
            assert_eq!(token.digest.unwrap().as_slice(), hex.as_bytes(), "{json}");
        }
        assert_eq!(canonical_digest(br#"{"sha256":"zz"}"#), None);
    }

    #[test]
    fn each_failure_gets_its_reason() {
        let verifier = SignatureVerifier::new(SECRET);
        let verify =
            |header: &str, body: &[u8]| reason(verifier.verify(Some(header.as_bytes()), body));
        let wrong_scheme =
            "missing signature: the value must start with exactly `Bearer ` (capital B, one space)";
        assert_eq!(reason(verifier.verify(None, BODY)), "missing signature");
        assert_eq!(verify(&HEADER.replace("Bearer", "bearer"), BODY), wrong_scheme);
        assert_eq!(verify(&HEADER.replace("Bearer ", "Bearer\t"), BODY), wrong_scheme);
        assert_eq!(verify("Bearer ", BODY), "missing signature: no token after `Bearer `");
        assert_eq!(verify(&HEADER.replace("Bearer ", "Bearer  "), BODY), "invalid jwt");
        assert_eq!(verify(&HEADER.replace("-L4", "-L5"), BODY), "invalid jwt");
        assert_eq!(verify(HEADER, b"{}"), "signature does not match payload");
        assert_eq!(verify(&format!("  {HEADER} \t"), BODY), "ok");
        let other = SignatureVerifier::new("whsec_other");
        assert_eq!(reason(other.verify(Some(HEADER.as_bytes()), BODY)), "invalid jwt");
    }

    #[test]
    fn an_unconfigured_verifier_fails_closed() {
        let none: [&str; 0] = [];
        for verifier in [
            SignatureVerifier::new(""),
            SignatureVerifier::from_secrets(none),
            SignatureVerifier::from_secrets([SECRET, ""]),
        ] {
            assert_eq!(
                reason(verifier.verify(Some(HEADER.as_bytes()), BODY)),
                "webhook secret is not configured"
            );
            assert_eq!(reason(verifier.verify(None, BODY)), "webhook secret is not configured");
        }
    }

    #[test]
    fn digits_differing_anywhere_or_in_case_do_not_match() {
        let signer = Signer::new(SECRET);
        let digest = hex::encode(Sha256::digest(BODY));
        let verifier = SignatureVerifier::new(SECRET);
        let mut spellings = vec![digest.to_uppercase()];
        for position in [0, 31, 63] {
            let mut other = digest.clone().into_bytes();
            other[position] = if other[position] == b'0' { b'1' } else { b'0' };
            spellings.push(String::from_utf8(other).unwrap());
        }
        for claimed in spellings {
            let header =
                signer.signature_header_for_claims(&serde_json::json!({ "sha256": claimed }));
            assert_eq!(
                reason(verifier.verify(Some(header.as_bytes()), BODY)),
                "signature does not match payload"
            );
        }
    }

    #[test]
    fn headers_other_than_plain_hs256_are_rejected() {
        assert!(header(r#"{"alg":"HS256"}"#).is_ok());
        assert!(header(r#"{"typ":"JWT","alg":"HS256","kid":"k1","x":[1]}"#).is_ok());
        for bad in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS384"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS256","kid":7}"#,
            r#"{"alg":"HS256","kid":null}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"["HS256"]"#,
            r#""HS256""#,
            "",
        ] {
            assert!(header(bad).is_err(), "accepted header {bad}");
        }
    }

    #[test]
    fn segments_must_be_three_and_canonical_unpadded_base64url() {
        assert!(check_header(b"eyJhbGciOiJIUzI1NiJ9").is_ok());
        assert!(check_header(b"eyJhbGciOiJIUzI1NiJ9=").is_err());
        assert!(check_header(b"eyJhbGciOiJIUzI1NiJ+").is_err());
        // `…J9` ends in 01 11 01; `…J-` would set leftover bits.
        assert!(check_header(b"eyJhbGciOiJIUzI1NiJ-").is_err());
        let sig = "A".repeat(43);
        let h = CANONICAL_HEADER_SEGMENT;
        assert!(split(format!("{h}.e30.{sig}").as_bytes()).is_ok());
        for bad in [
            format!("{h}.e30"),
            format!("{h}.e30.{sig}.x"),
            format!("{h}.e30.{sig}="),
            format!("{h}.e30.{}B", "A".repeat(42)),
            format!("{h}.e30.{}", "A".repeat(42)),
            format!("{h}.e30."),
            String::new(),
            "a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(split(bad.as_bytes()).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn registered_claims_are_checked_like_pyjwt() {
        for ok in [
            format!("{{{SHA}}}"),
            format!(r#"{{{SHA},"exp":1001}}"#),
            format!(r#"{{{SHA},"nbf":1000,"iat":1000}}"#),
            format!(r#"{{{SHA},"iss":"meshagent","sub":"s","jti":"j"}}"#),
            format!(r#"{{{SHA},"iss":"{}"}}"#, "m".repeat(600)),
        ] {
            assert!(claims(&ok).is_ok(), "{ok}");
        }
        for bad in [
            r#""exp":1000"#,
            r#""nbf":1001"#,
            r#""iat":1001"#,
            r#""aud":"anyone""#,
            r#""aud":null"#,
            r#""exp":"2000""#,
            r#""exp":2000.5"#,
            r#""exp":2e3"#,
            r#""exp":-1"#,
            r#""exp":null"#,
            r#""exp":99999999999999999999999"#,
            r#""exp":253402300800"#,
            r#""nbf":"0""#,
            r#""iat":1.0"#,
            r#""sub":1"#,
            r#""jti":{}"#,
            r#""iss":[]"#,
        ] {
            assert!(claims(&format!("{{{SHA},{bad}}}")).is_err(), "accepted {bad}");
        }
        for bad in [
            r#"{}"#,
            r#"{"sha256":1}"#,
            r#"{"sha256":null}"#,
            r#"[]"#,
            r#"{"sha256":"a","sha256":"a"}"#,
        ] {
            assert!(claims(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn leeway_extends_every_time_check_and_the_clock_is_read_only_for_them() {
        assert!(claims_at(&format!(r#"{{{SHA},"exp":990}}"#), 1_000, 0).is_err());
        assert!(claims_at(&format!(r#"{{{SHA},"exp":990}}"#), 1_000, 11).is_ok());
        assert!(claims_at(&format!(r#"{{{SHA},"nbf":1010,"iat":1010}}"#), 1_000, 9).is_err());
        assert!(claims_at(&format!(r#"{{{SHA},"nbf":1010,"iat":1010}}"#), 1_000, 10).is_ok());
        let segment = URL_SAFE_NO_PAD.encode(format!(r#"{{{SHA},"iss":"meshagent"}}"#));
        assert!(parse_claims(segment.as_bytes(), || panic!("the clock was read"), 0).is_ok());
    }

    #[test]
    fn what_pyjwt_refuses_in_members_serde_skips_is_refused_too() {
        // PyJWT 2.15.1's verdicts, run: "Payload segment must be empty when 'b64' is false",
        // "Invalid header string: 'utf-8' codec can't decode …", "maximum recursion depth
        // exceeded", "Exceeds the limit (4300 digits)"; 990 levels and `b64: true` pass.
        let raw_header = |json: &[u8]| check_header(URL_SAFE_NO_PAD.encode(json).as_bytes());
        let raw_claims =
            |json: &[u8]| parse_claims(URL_SAFE_NO_PAD.encode(json).as_bytes(), || 0, 0);
        let nested = |depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(header(r#"{"alg":"HS256","b64":false}"#).is_err());
        assert!(header(r#"{"alg":"HS256","b64":true}"#).is_ok());
        assert!(header(r#"{"alg":"HS256","b64":0}"#).is_ok());
        for bad in [&b"\xff\xfe"[..], b"\xc0\xaf", b"caf\xe9"] {
            let header = [&br#"{"alg":"HS256","x":""#[..], bad, br#""}"#].concat();
            assert!(raw_header(&header).is_err(), "{header:?}");
            let claims = [&br#"{"sha256":"00","x":""#[..], bad, br#""}"#].concat();
            assert!(raw_claims(&claims).is_err(), "{claims:?}");
        }
        assert!(header(&format!(r#"{{"alg":"HS256","x":{}}}"#, nested(2000))).is_err());
        assert!(header(&format!(r#"{{"alg":"HS256","x":{}}}"#, nested(990))).is_ok());
        assert!(claims(&format!(r#"{{{SHA},"x":{}}}"#, nested(2000))).is_err());
        assert!(claims(&format!(r#"{{{SHA},"x":{}}}"#, nested(990))).is_ok());
        assert!(claims(&format!(r#"{{{SHA},"x":{}}}"#, "7".repeat(4301))).is_err());
        assert!(claims(&format!(r#"{{{SHA},"x":"\ud800"}}"#)).is_ok());
    }
}

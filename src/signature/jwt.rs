//! The JWT of a `Meshagent-Signature` header, parsed as PyJWT 2.15 parses it (what MeshAgent's
//! receiver runs), with a bounded token length and strict base64url: three segments, an HS256
//! JOSE header, the HMAC over the signing input (shared with [`Signer`](crate::Signer)), and
//! claims whose registered members are checked.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;

use crate::python_json;
use crate::rejection::InvalidJwt;
use crate::secret::WebhookSecret;

/// The JOSE header segment PyJWT writes for every MeshAgent token:
/// base64url of `{"alg":"HS256","typ":"JWT"}`.
pub(crate) const PYJWT_HEADER_SEGMENT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Longest token accepted. MeshAgent tokens are about 170 bytes; the reference server's header
/// line limit is 8190 bytes.
const MAX_TOKEN_LEN: usize = 8192;

/// Largest `exp`/`nbf`/`iat` accepted: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// Claims segments up to this length are decoded on the stack (MeshAgent's are 96 bytes).
const CLAIMS_ON_STACK: usize = 384;

/// HMAC-SHA256 of a token's signing input (`header.claims`) under `key`: what signs a token and
/// what checks one.
pub(crate) fn hs256(key: &WebhookSecret, signing_input: &[u8]) -> [u8; 32] {
    let mut mac = key.hmac();
    mac.update(signing_input);
    mac.finalize().into_bytes().into()
}

/// Checks a token: its segments, its header, its signature against `keys` (which one signed it)
/// and its claims at the time `now` gives (read only when a time claim is present). Returns the
/// signer's index and the `sha256` claim when it is 64 bytes long (any other length can never
/// match).
pub(super) fn decode(
    token: &[u8],
    keys: &[WebhookSecret],
    now: impl FnOnce() -> u64,
    leeway: u64,
) -> Result<(usize, Option<[u8; 64]>), InvalidJwt> {
    let segments = split(token)?;
    let secret_index = keys
        .iter()
        .position(|key| {
            let mac = hs256(key, segments.signing_input);
            constant_time_eq::<4>(&mac, &segments.signature)
        })
        .ok_or_else(|| invalid("signature was not made with a configured secret"))?;
    Ok((secret_index, parse_claims(segments.claims, now, leeway)?))
}

/// Whether `a` and `b`, `W` words of 8 bytes each, are equal, in constant time: a MAC or a
/// digest is compared a word at a time, since `subtle` takes one step an element.
pub(super) fn constant_time_eq<const W: usize>(a: &[u8], b: &[u8]) -> bool {
    debug_assert!(a.len() == W * 8 && b.len() == W * 8);
    let words = |bytes: &[u8]| -> [u64; W] {
        let (words, _) = bytes.as_chunks::<8>();
        std::array::from_fn(|at| u64::from_ne_bytes(words[at]))
    };
    bool::from(words(a).ct_eq(&words(b)))
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
    #[serde(default, deserialize_with = "not_null")]
    #[allow(dead_code)]
    kid: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    b64: Option<serde_json::Value>,
}

fn check_header(segment: &[u8]) -> Result<(), InvalidJwt> {
    if segment == PYJWT_HEADER_SEGMENT.as_bytes() {
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
    #[serde(default, deserialize_with = "not_null")]
    exp: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    nbf: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    iat: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    aud: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "not_null")]
    iss: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    sub: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    jti: Option<String>,
}

/// Decodes and checks the claims; the `sha256` claim when it is 64 bytes (any other length can
/// never match).
fn parse_claims(
    segment: &[u8],
    now: impl FnOnce() -> u64,
    leeway: u64,
) -> Result<Option<[u8; 64]>, InvalidJwt> {
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
    if let Some(digest) = sdk_claims_digest(json) {
        return Ok(Some(digest));
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
    Ok(claims.sha256.as_bytes().try_into().ok())
}

/// The claims as MeshAgent's SDK writes them, `{"sha256":"<64 hex digits>"}`, read without
/// serde (worth a few per cent of requests per second on small events: BENCHMARKS.md);
/// anything else is parsed in full.
fn sdk_claims_digest(json: &[u8]) -> Option<[u8; 64]> {
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

/// Deserializes a member that is present: `null` is an error, absence is `None` (by `default`).
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = r#""sha256":"00""#;

    fn claims(json: &str) -> Result<(), InvalidJwt> {
        claims_at(json, 1_000, 0)
    }

    fn claims_at(json: &str, now: u64, leeway: u64) -> Result<(), InvalidJwt> {
        parse_claims(URL_SAFE_NO_PAD.encode(json).as_bytes(), || now, leeway).map(drop)
    }

    #[test]
    fn constant_time_eq_compares_every_byte_of_every_word() {
        let mac = [7u8; 32];
        assert!(constant_time_eq::<4>(&mac, &mac));
        for at in 0..32 {
            let mut other = mac;
            other[at] ^= 1;
            assert!(!constant_time_eq::<4>(&mac, &other), "byte {at}");
        }
    }

    fn header(json: &str) -> Result<(), InvalidJwt> {
        check_header(URL_SAFE_NO_PAD.encode(json).as_bytes())
    }

    #[test]
    fn the_header_segment_is_pyjwts() {
        assert_eq!(URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#), PYJWT_HEADER_SEGMENT);
    }

    #[test]
    fn the_sdk_claims_are_read_directly_and_mean_what_the_full_parse_reads() {
        let hex = "681d675c45145762e2278933da63a600ac47ccc17990fc0bf65370e0c96ae626";
        let sdk = format!(r#"{{"sha256":"{hex}"}}"#);
        assert_eq!(sdk_claims_digest(sdk.as_bytes()).unwrap().as_slice(), hex.as_bytes());
        let spaced = format!(r#"{{"sha256": "{hex}"}}"#);
        let escaped = format!(r#"{{"sha256":"\u0036{}"}}"#, &hex[1..]);
        let extended = format!(r#"{{"sha256":"{hex}","iss":"x"}}"#);
        for json in [spaced, escaped, extended] {
            assert_eq!(sdk_claims_digest(json.as_bytes()), None, "{json}");
            let digest = parse_claims(URL_SAFE_NO_PAD.encode(&json).as_bytes(), || 0, 0).unwrap();
            assert_eq!(digest.unwrap().as_slice(), hex.as_bytes(), "{json}");
        }
        assert_eq!(sdk_claims_digest(br#"{"sha256":"zz"}"#), None);
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
        let h = PYJWT_HEADER_SEGMENT;
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

//! Strict parsing of the compact HS256 JWS that MeshAgent puts in `Meshagent-Signature`.
//!
//! Rules follow PyJWT 2.15 (what MeshAgent's receiver runs), tightened where the protocol
//! policy says so: canonical unpadded base64url, `alg` exactly `HS256`, no `crit`, a string
//! `kid` when present, registered claims of the right JSON type (never skipped).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, Visitor};

use super::base64url;
use crate::rejection::InvalidJwt;

/// The JOSE header segment PyJWT writes for every MeshAgent token:
/// base64url of `{"alg":"HS256","typ":"JWT"}`.
pub(crate) const CANONICAL_HEADER_SEGMENT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Longest token accepted. MeshAgent tokens are about 170 bytes; the reference server's header
/// line limit is 8190 bytes.
pub(crate) const MAX_TOKEN_LEN: usize = 8192;

/// Largest `exp`/`nbf`/`iat` accepted: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// Longest claims segment decoded on the stack, and the room its bytes need (every 4
/// base64url characters are 3 bytes).
const CLAIMS_SEGMENT_ON_STACK: usize = 512;
const CLAIMS_ON_STACK: usize = CLAIMS_SEGMENT_ON_STACK / 4 * 3;

/// What surrounds the digest in MeshAgent's claims: `{"sha256":"` and `"}`.
const CANONICAL_CLAIMS_PREFIX: &[u8] = br#"{"sha256":""#;
const CANONICAL_CLAIMS_SUFFIX: &[u8] = br#""}"#;

/// Length of an HS256 signature segment: 32 bytes in unpadded base64url.
const SIGNATURE_SEGMENT_LEN: usize = 43;

/// A token split into its three segments, with the signature decoded.
#[derive(Debug)]
pub(crate) struct SplitToken<'a> {
    /// `header.claims`: the bytes the HMAC covers.
    pub(crate) signing_input: &'a [u8],
    pub(crate) claims_segment: &'a [u8],
    pub(crate) signature: [u8; 32],
}

fn invalid(detail: &'static str) -> InvalidJwt {
    InvalidJwt::with_detail(detail)
}

/// Splits `token` into exactly three segments, checks the JOSE header and decodes the signature.
pub(crate) fn split(token: &[u8]) -> Result<SplitToken<'_>, InvalidJwt> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("token is too long"));
    }
    // The dots are found from both ends, then the claims are checked for a third (`memchr`
    // searches many bytes at a time).
    let segments = rsplit_at_dot(token).and_then(|(signing_input, signature)| {
        let (header, claims) = split_at_dot(signing_input)?;
        memchr::memchr(b'.', claims)
            .is_none()
            .then_some((signing_input, header, claims, signature))
    });
    let Some((signing_input, header, claims, signature)) = segments else {
        return Err(invalid("token does not have three segments"));
    };
    check_header(header)?;
    let signature = decode_signature(signature)?;
    Ok(SplitToken {
        signing_input,
        claims_segment: claims,
        signature,
    })
}

/// `bytes` around its first `.`.
fn split_at_dot(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let dot = memchr::memchr(b'.', bytes)?;
    Some((bytes.get(..dot)?, bytes.get(dot + 1..)?))
}

/// `bytes` around its last `.`.
fn rsplit_at_dot(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let dot = memchr::memrchr(b'.', bytes)?;
    Some((bytes.get(..dot)?, bytes.get(dot + 1..)?))
}

/// Decodes a segment into a new buffer (the header, when it is not PyJWT's, and claims too long
/// for the stack).
fn decode_segment(segment: &[u8]) -> Result<Vec<u8>, InvalidJwt> {
    let mut bytes = vec![0; base64url::decoded_len(segment.len()).ok_or_else(not_base64url)?];
    base64url::decode_into(segment, &mut bytes).ok_or_else(not_base64url)?;
    Ok(bytes)
}

fn not_base64url() -> InvalidJwt {
    invalid("segment is not canonical unpadded base64url")
}

fn decode_signature(segment: &[u8]) -> Result<[u8; 32], InvalidJwt> {
    if segment.len() != SIGNATURE_SEGMENT_LEN {
        return Err(invalid("signature is not an HS256 signature"));
    }
    let mut signature = [0u8; 32];
    match base64url::decode_into(segment, &mut signature) {
        Some(32) => Ok(signature),
        Some(_) => Err(invalid("signature is not an HS256 signature")),
        None => Err(not_base64url()),
    }
}

/// Whether the first non-whitespace byte opens a JSON object (serde would also accept an
/// array for a struct; PyJWT requires an object).
fn starts_object(json: &[u8]) -> bool {
    json.iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&byte| byte == b'{')
}

#[derive(serde::Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: Option<IgnoredAny>,
}

fn check_header(segment: &[u8]) -> Result<(), InvalidJwt> {
    if segment == CANONICAL_HEADER_SEGMENT.as_bytes() {
        return Ok(());
    }
    let json = decode_segment(segment)?;
    if !starts_object(&json) {
        return Err(invalid("header is not a JSON object"));
    }
    let header: JoseHeader<'_> = serde_json::from_slice(&json)
        .map_err(|_| invalid("header is malformed or has a field of the wrong type"))?;
    if header.alg != "HS256" {
        return Err(invalid("algorithm is not HS256"));
    }
    if header.crit.is_some() {
        return Err(invalid("header has unsupported critical extensions"));
    }
    let _ = header.kid;
    Ok(())
}

/// The claims of a verified token, parsed strictly.
#[derive(Debug, serde::Deserialize)]
struct RawClaims<'a> {
    #[serde(borrow)]
    sha256: Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    exp: Option<NumericDate>,
    #[serde(default, deserialize_with = "present")]
    nbf: Option<NumericDate>,
    #[serde(default, deserialize_with = "present")]
    iat: Option<NumericDate>,
    #[serde(default, deserialize_with = "present")]
    aud: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    iss: Option<String>,
    #[serde(default, deserialize_with = "present")]
    sub: Option<String>,
    #[serde(default, deserialize_with = "present")]
    jti: Option<String>,
}

/// What a token says, once its registered claims have passed.
#[derive(Debug, Clone)]
pub(crate) struct TokenClaims {
    /// The `sha256` claim when it is 64 bytes long; any other length can never match.
    pub(crate) digest: Option<[u8; 64]>,
    /// The registered claims, when the token has any (MeshAgent's have none): boxed, so that
    /// a verified token stays small to move.
    pub(crate) registered: Option<Box<RegisteredClaims>>,
}

/// The registered claims a token may carry besides `sha256`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RegisteredClaims {
    pub(crate) expires_at: Option<u64>,
    pub(crate) not_before: Option<u64>,
    pub(crate) issued_at: Option<u64>,
    pub(crate) issuer: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) token_id: Option<String>,
}

impl TokenClaims {
    fn digest_only(digest: [u8; 64]) -> Self {
        Self {
            digest: Some(digest),
            registered: None,
        }
    }
}

/// Decodes and parses the claims segment, then checks the registered claims against `now()`
/// (seconds since 1970) with `leeway` seconds of tolerance. The clock is read only when the
/// token has a time claim.
pub(crate) fn parse_claims(
    segment: &[u8],
    now: impl FnOnce() -> u64,
    leeway: u64,
) -> Result<TokenClaims, InvalidJwt> {
    // MeshAgent's claims segment is about 100 bytes: decode it on the stack.
    let mut stack = [0u8; CLAIMS_ON_STACK];
    let heap;
    let json: &[u8] = if segment.len() <= CLAIMS_SEGMENT_ON_STACK {
        let written = base64url::decode_into(segment, &mut stack).ok_or_else(not_base64url)?;
        stack.get(..written).unwrap_or_default()
    } else {
        heap = decode_segment(segment)?;
        &heap
    };
    if let Some(digest) = canonical_digest(json) {
        return Ok(TokenClaims::digest_only(digest));
    }
    if !starts_object(json) {
        return Err(invalid("claims are not a JSON object"));
    }
    let claims: RawClaims<'_> = serde_json::from_slice(json).map_err(|_| {
        invalid("claims are malformed, lack a string sha256, or have a claim of the wrong type")
    })?;
    check_times(&claims, now, leeway)?;
    let registered = RegisteredClaims {
        expires_at: claims.exp.map(|date| date.0),
        not_before: claims.nbf.map(|date| date.0),
        issued_at: claims.iat.map(|date| date.0),
        issuer: claims.iss,
        subject: claims.sub,
        token_id: claims.jti,
    };
    Ok(TokenClaims {
        digest: claims.sha256.as_bytes().try_into().ok(),
        registered: (registered != RegisteredClaims::default()).then(|| Box::new(registered)),
    })
}

/// The digest of claims written exactly as MeshAgent writes them (PyJWT's compact
/// `json.dumps`): `{"sha256":"<64 lowercase hex digits>"}`. They mean exactly what the full
/// parser would make of them (one string claim, no escapes, nothing else), so they skip it;
/// any other spelling goes through the full parser.
fn canonical_digest(json: &[u8]) -> Option<[u8; 64]> {
    let digest = json
        .strip_prefix(CANONICAL_CLAIMS_PREFIX)?
        .strip_suffix(CANONICAL_CLAIMS_SUFFIX)?;
    let digest: [u8; 64] = digest.try_into().ok()?;
    // Without an early exit the compiler checks many digits at once.
    digest
        .iter()
        .fold(true, |hex, byte| {
            hex & matches!(byte, b'0'..=b'9' | b'a'..=b'f')
        })
        .then_some(digest)
}

fn check_times(
    claims: &RawClaims<'_>,
    now: impl FnOnce() -> u64,
    leeway: u64,
) -> Result<(), InvalidJwt> {
    if claims.aud.is_some() {
        return Err(invalid("token has an audience and none is accepted"));
    }
    if claims.exp.is_none() && claims.nbf.is_none() && claims.iat.is_none() {
        return Ok(());
    }
    let now = now();
    if let Some(NumericDate(exp)) = claims.exp
        && exp.saturating_add(leeway) <= now
    {
        return Err(invalid("token has expired"));
    }
    if let Some(NumericDate(nbf)) = claims.nbf
        && nbf > now.saturating_add(leeway)
    {
        return Err(invalid("token is not valid yet"));
    }
    if let Some(NumericDate(iat)) = claims.iat
        && iat > now.saturating_add(leeway)
    {
        return Err(invalid("token was issued in the future"));
    }
    Ok(())
}

/// Deserializes a field that is present: `null` is an error, absence is `None` (via `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A JWT NumericDate, strictly: a JSON integer from 0 to 9999-12-31T23:59:59Z (no string, no
/// float, no negative, no overflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumericDate(u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumericDateVisitor;

        impl Visitor<'_> for NumericDateVisitor {
            type Value = NumericDate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer number of seconds since 1970")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<NumericDate, E> {
                if value <= MAX_NUMERIC_DATE {
                    Ok(NumericDate(value))
                } else {
                    Err(E::custom("date is out of range"))
                }
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<NumericDate, E> {
                u64::try_from(value)
                    .map_err(|_| E::custom("date is negative"))
                    .and_then(|value| self.visit_u64(value))
            }
        }

        deserializer.deserialize_u64(NumericDateVisitor)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn claims(json: &str) -> Result<TokenClaims, InvalidJwt> {
        parse_claims(URL_SAFE_NO_PAD.encode(json).as_bytes(), || 1_000, 0)
    }

    fn header(json: &str) -> Result<(), InvalidJwt> {
        check_header(URL_SAFE_NO_PAD.encode(json).as_bytes())
    }

    const SHA: &str = r#""sha256":"00""#;

    #[test]
    fn canonical_header_segment_is_what_pyjwt_writes() {
        assert_eq!(
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            CANONICAL_HEADER_SEGMENT
        );
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
    fn segments_must_be_canonical_unpadded_base64url() {
        assert!(check_header(b"eyJhbGciOiJIUzI1NiJ9").is_ok());
        assert!(check_header(b"eyJhbGciOiJIUzI1NiJ9=").is_err());
        assert!(check_header(b"eyJhbGciOiJIUzI1NiJ+").is_err());
        // `eyJhbGciOiJIUzI1NiJ9` ends in 9 (…01 11 01); `…J-` would set leftover bits.
        assert!(check_header(b"eyJhbGciOiJIUzI1NiJ-").is_err());
    }

    #[test]
    fn tokens_need_exactly_three_segments() {
        let sig = "A".repeat(43);
        assert!(split(format!("{CANONICAL_HEADER_SEGMENT}.e30.{sig}").as_bytes()).is_ok());
        assert!(split(format!("{CANONICAL_HEADER_SEGMENT}.e30").as_bytes()).is_err());
        assert!(split(format!("{CANONICAL_HEADER_SEGMENT}.e30.{sig}.x").as_bytes()).is_err());
        assert!(split(format!("{CANONICAL_HEADER_SEGMENT}.e30.{sig}=").as_bytes()).is_err());
        assert!(split(format!("{CANONICAL_HEADER_SEGMENT}.e30.").as_bytes()).is_err());
        assert!(split(b"").is_err());
        assert!(split("a".repeat(MAX_TOKEN_LEN + 1).as_bytes()).is_err());
    }

    #[test]
    fn signature_with_leftover_bits_is_rejected() {
        // 43 characters carry 258 bits; the last character's 2 low bits must be zero.
        let canonical = format!("{}A", "A".repeat(42));
        let leftover = format!("{}B", "A".repeat(42));
        assert!(decode_signature(canonical.as_bytes()).is_ok());
        assert!(decode_signature(leftover.as_bytes()).is_err());
    }

    #[test]
    fn canonical_claims_skip_the_parser_with_the_same_result() {
        let hex = "0123456789abcdef".repeat(4);
        let canonical = format!(r#"{{"sha256":"{hex}"}}"#);
        assert_eq!(
            canonical_digest(canonical.as_bytes()),
            Some(*b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        );
        let parsed: RawClaims<'_> = serde_json::from_str(&canonical).unwrap();
        assert_eq!(parsed.sha256.as_bytes(), hex.as_bytes());
        // Other spellings go through the full parser, which still reads the same digest.
        for other in [
            format!(r#"{{"sha256": "{hex}"}}"#),
            format!(r#"{{"sha256":"{}"}}"#, hex.to_uppercase()),
            format!(r#"{{"sha256":"{}\u0030"}}"#, &hex[1..]),
            format!(r#"{{"sha256":"{hex}","exp":2000}}"#),
            format!(r#"{{"sha256":"{}"}}"#, &hex[1..]),
        ] {
            assert_eq!(canonical_digest(other.as_bytes()), None, "{other}");
            assert!(claims(&other).is_ok(), "{other}");
        }
        let escaped = claims(&format!(r#"{{"sha256":"\u0030{}"}}"#, &hex[1..])).unwrap();
        assert_eq!(
            escaped.digest.map(|digest| digest.to_vec()),
            Some(hex.clone().into_bytes())
        );
        assert!(claims(&format!(r#"{{"sha256":"{hex}","aud":"x"}}"#)).is_err());
    }

    #[test]
    fn claims_too_long_for_the_stack_are_decoded_the_same() {
        let issuer = "m".repeat(600);
        let json = format!(r#"{{{SHA},"iss":"{issuer}"}}"#);
        let segment = URL_SAFE_NO_PAD.encode(&json);
        assert!(segment.len() > CLAIMS_SEGMENT_ON_STACK);
        let parsed = parse_claims(segment.as_bytes(), || 1_000, 0).unwrap();
        let registered = parsed.registered.unwrap();
        assert_eq!(registered.issuer.as_deref(), Some(issuer.as_str()));
        let padded = format!("{segment}=");
        assert!(parse_claims(padded.as_bytes(), || 1_000, 0).is_err());
    }

    #[test]
    fn the_clock_is_read_only_for_time_claims() {
        let read_clock = || -> u64 { panic!("the clock was read") };
        let canonical = format!(r#"{{"sha256":"{}"}}"#, "a".repeat(64));
        for json in [canonical.as_str(), r#"{"sha256":"00","iss":"meshagent"}"#] {
            let segment = URL_SAFE_NO_PAD.encode(json);
            assert!(parse_claims(segment.as_bytes(), read_clock, 0).is_ok());
        }
        let timed = URL_SAFE_NO_PAD.encode(r#"{"sha256":"00","iat":5}"#);
        let read = std::cell::Cell::new(false);
        let clock = || {
            read.set(true);
            1_000
        };
        assert!(parse_claims(timed.as_bytes(), clock, 0).is_ok());
        assert!(read.get());
    }

    #[test]
    fn registered_claims_are_checked_like_pyjwt() {
        assert!(claims(&format!("{{{SHA}}}")).is_ok());
        assert!(claims(&format!(r#"{{{SHA},"exp":1001}}"#)).is_ok());
        assert!(claims(&format!(r#"{{{SHA},"exp":1000}}"#)).is_err());
        assert!(claims(&format!(r#"{{{SHA},"nbf":1000,"iat":1000}}"#)).is_ok());
        assert!(claims(&format!(r#"{{{SHA},"nbf":1001}}"#)).is_err());
        assert!(claims(&format!(r#"{{{SHA},"iat":1001}}"#)).is_err());
        assert!(
            claims(&format!(
                r#"{{{SHA},"iss":"meshagent","sub":"s","jti":"j"}}"#
            ))
            .is_ok()
        );
        assert!(claims(&format!(r#"{{{SHA},"aud":"anyone"}}"#)).is_err());
        assert!(claims(&format!(r#"{{{SHA},"aud":null}}"#)).is_err());
    }

    #[test]
    fn registered_claims_of_the_wrong_type_are_rejected() {
        for bad in [
            r#""exp":"2000""#,
            r#""exp":2000.5"#,
            r#""exp":2e3"#,
            r#""exp":-1"#,
            r#""exp":null"#,
            r#""exp":99999999999999999999999"#,
            r#""nbf":"0""#,
            r#""iat":1.0"#,
            r#""sub":1"#,
            r#""jti":{}"#,
            r#""iss":[]"#,
        ] {
            assert!(
                claims(&format!("{{{SHA},{bad}}}")).is_err(),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn sha256_claim_must_be_a_string() {
        assert!(claims(r#"{}"#).is_err());
        assert!(claims(r#"{"sha256":1}"#).is_err());
        assert!(claims(r#"{"sha256":null}"#).is_err());
        assert!(claims(r#"[]"#).is_err());
        assert!(claims(r#"{"sha256":"a","sha256":"a"}"#).is_err());
    }

    #[test]
    fn leeway_extends_every_time_check() {
        let exp = URL_SAFE_NO_PAD.encode(format!(r#"{{{SHA},"exp":990}}"#));
        assert!(parse_claims(exp.as_bytes(), || 1_000, 0).is_err());
        assert!(parse_claims(exp.as_bytes(), || 1_000, 11).is_ok());
        let nbf = URL_SAFE_NO_PAD.encode(format!(r#"{{{SHA},"nbf":1010,"iat":1010}}"#));
        assert!(parse_claims(nbf.as_bytes(), || 1_000, 9).is_err());
        assert!(parse_claims(nbf.as_bytes(), || 1_000, 10).is_ok());
    }
}

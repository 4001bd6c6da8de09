//! JWT attacks. Each case signs its own body (`event_body("jwt-<name>")`), so the digest is
//! right and only the token decides the answer.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::json;

use super::{Case, INVALID_JWT, MISMATCH, NO_TOKEN, WRONG_SCHEME, case};
use crate::hardening::{
    ATTACKER_KEY, HS256_HEADER, SECRET, b64, claims_for, event_body, hmac, secret_jwt, sha256_hex,
    sign_segments, signed_post,
};

const OK: &str = "ok";
/// Claims template: `{sha}` becomes the case's digest, `{future}` an hour from now.
const SHA: &str = r#"{"sha256":"{sha}"}"#;
const PEM: &str =
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";

/// Who signs a token.
#[derive(Clone, Copy)]
enum Key {
    Secret,
    Attacker,
    Empty,
    /// A PEM public key used as an HMAC key (algorithm confusion).
    Pem,
}

impl Key {
    fn bytes(self) -> &'static [u8] {
        match self {
            Key::Secret => SECRET.as_bytes(),
            Key::Attacker => ATTACKER_KEY.as_bytes(),
            Key::Empty => b"",
            Key::Pem => PEM.as_bytes(),
        }
    }
}

/// The three segments of the case's canonical token, and a way to sign other segments.
struct Parts {
    header: String,
    claims: String,
    signature: String,
    digest: String,
}

impl Parts {
    fn new(name: &str) -> Self {
        let body = event_body(&format!("jwt-{name}"));
        let token = secret_jwt(&claims_for(body.as_bytes(), &[]));
        let mut segments = token.split('.').map(str::to_owned);
        Self {
            header: segments.next().unwrap(),
            claims: segments.next().unwrap(),
            signature: segments.next().unwrap(),
            digest: sha256_hex(body.as_bytes()),
        }
    }

    /// `template` with the digest and the time filled in.
    fn fill(&self, template: &str) -> String {
        let future = now() + 3600;
        template.replace("{sha}", &self.digest).replace("{future}", &future.to_string())
    }

    fn sign(&self, header: &str, claims: &str) -> String {
        sign_segments(header, claims, "HS256", SECRET.as_bytes())
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// Sets one of the bits a canonical encoder leaves zero in the last character of `segment`.
fn with_trailing_bits(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(segment.len() % 4, 0, "a segment with leftover bits");
    let (head, last) = segment.split_at(segment.len() - 1);
    let index = ALPHABET.iter().position(|&c| c == last.as_bytes()[0]);
    format!("{head}{}", ALPHABET[index.unwrap() | 1] as char)
}

/// Tokens from a JOSE header and claims (templates), HMAC'd with `alg` under `key`.
#[rustfmt::skip]
const SIGNED: &[(&str, &str, &str, &str, Key, u16, &str)] = &[
    ("canonical_control", HS256_HEADER, SHA, "HS256", Key::Secret, 200, OK),
    // The algorithm and the key come from the receiver, never from the token.
    ("alg_none_hs256_signed", r#"{"alg":"none"}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("alg_hs384", r#"{"alg":"HS384","typ":"JWT"}"#, SHA, "HS384", Key::Secret, 401, INVALID_JWT),
    ("alg_hs512", r#"{"alg":"HS512","typ":"JWT"}"#, SHA, "HS512", Key::Secret, 401, INVALID_JWT),
    ("alg_rs256_secret_as_public_key", r#"{"alg":"RS256","typ":"JWT"}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("alg_rs256_pem_as_hmac_key", r#"{"alg":"RS256"}"#, SHA, "HS256", Key::Pem, 401, INVALID_JWT),
    ("alg_hs256_pem_as_hmac_key", r#"{"alg":"HS256"}"#, SHA, "HS256", Key::Pem, 401, INVALID_JWT),
    ("alg_lowercase", r#"{"alg":"hs256"}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("alg_missing", r#"{"typ":"JWT"}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("alg_array", r#"{"alg":["HS256"]}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("alg_duplicate", r#"{"alg":"HS256","alg":"none"}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("jwk_attacker_key", r#"{"alg":"HS256","jwk":{"kty":"oct","k":"YXR0YWNrZXItY29udHJvbGxlZC1rZXktOWQ4YzdiNmE"}}"#, SHA, "HS256", Key::Attacker, 401, INVALID_JWT),
    ("jku_attacker_url", r#"{"alg":"HS256","jku":"https://attacker.example/jwks.json"}"#, SHA, "HS256", Key::Attacker, 401, INVALID_JWT),
    ("x5u_attacker_url", r#"{"alg":"HS256","x5u":"https://attacker.example/cert.pem"}"#, SHA, "HS256", Key::Attacker, 401, INVALID_JWT),
    ("kid_attacker_key", r#"{"alg":"HS256","typ":"JWT","kid":"attacker-key-1"}"#, SHA, "HS256", Key::Attacker, 401, INVALID_JWT),
    ("kid_dev_null_empty_key", r#"{"alg":"HS256","kid":"../../../../../../dev/null"}"#, SHA, "HS256", Key::Empty, 401, INVALID_JWT),
    ("kid_sql_injection", r#"{"alg":"HS256","kid":"x' UNION SELECT 'key"}"#, SHA, "HS256", Key::Attacker, 401, INVALID_JWT),
    ("kid_not_a_string", r#"{"alg":"HS256","kid":7}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("crit_exp", r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("crit_empty", r#"{"alg":"HS256","crit":[]}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("crit_b64", r#"{"alg":"HS256","crit":["b64"],"b64":false}"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("header_array", r#"["HS256"]"#, SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    ("header_not_json", "alg=HS256", SHA, "HS256", Key::Secret, 401, INVALID_JWT),
    // Extra header fields signed by the receiver's own secret are ignored, as PyJWT does.
    ("extra_header_fields_signed_by_secret", r#"{"alg":"HS256","kid":"k1","jku":"https://x","jwk":{"kty":"oct","k":"AA"}}"#, SHA, "HS256", Key::Secret, 200, OK),
    // Claims: a JSON object with a string sha256 and well-typed registered claims.
    ("claims_array", HS256_HEADER, "[]", "HS256", Key::Secret, 401, INVALID_JWT),
    ("claims_string", HS256_HEADER, r#""sha256""#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("claims_number", HS256_HEADER, "1", "HS256", Key::Secret, 401, INVALID_JWT),
    ("claims_null", HS256_HEADER, "null", "HS256", Key::Secret, 401, INVALID_JWT),
    ("claims_true", HS256_HEADER, "true", "HS256", Key::Secret, 401, INVALID_JWT),
    ("claims_truncated_object", HS256_HEADER, r#"{"sha256":"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("claims_trailing_garbage", HS256_HEADER, r#"{"sha256":"{sha}"}x"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("claims_nul_bytes", HS256_HEADER, "\0\0\0", "HS256", Key::Secret, 401, INVALID_JWT),
    ("claims_duplicate_sha256", HS256_HEADER, r#"{"sha256":"{sha}","sha256":"{sha}"}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("sha256_missing", HS256_HEADER, r#"{"iss":"x"}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("sha256_number", HS256_HEADER, r#"{"sha256":1}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("sha256_null", HS256_HEADER, r#"{"sha256":null}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("sha256_true", HS256_HEADER, r#"{"sha256":true}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("sha256_array", HS256_HEADER, r#"{"sha256":["{sha}"]}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("sha256_object", HS256_HEADER, r#"{"sha256":{"hex":"{sha}"}}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("sha256_empty", HS256_HEADER, r#"{"sha256":""}"#, "HS256", Key::Secret, 401, MISMATCH),
    ("sha256_with_nul", HS256_HEADER, r#"{"sha256":"{sha}\u0000"}"#, "HS256", Key::Secret, 401, MISMATCH),
    ("sha256_twice", HS256_HEADER, r#"{"sha256":"{sha}{sha}"}"#, "HS256", Key::Secret, 401, MISMATCH),
    ("sha256_of_empty_body", HS256_HEADER, r#"{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}"#, "HS256", Key::Secret, 401, MISMATCH),
    // exp/nbf/iat: integers from 0 to year 9999 only; aud never; sub/jti/iss strings.
    ("exp_string", HS256_HEADER, r#"{"sha256":"{sha}","exp":"99999999999"}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("nbf_string", HS256_HEADER, r#"{"sha256":"{sha}","nbf":"0"}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("iat_string", HS256_HEADER, r#"{"sha256":"{sha}","iat":"0"}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_float", HS256_HEADER, r#"{"sha256":"{sha}","exp":{future}.5}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_integral_float", HS256_HEADER, r#"{"sha256":"{sha}","exp":{future}.0}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_exponent", HS256_HEADER, r#"{"sha256":"{sha}","exp":9.9e10}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("nbf_float", HS256_HEADER, r#"{"sha256":"{sha}","nbf":1.5}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("iat_float", HS256_HEADER, r#"{"sha256":"{sha}","iat":0.0}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_huge", HS256_HEADER, r#"{"sha256":"{sha}","exp":99999999999999999999999999999999}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_u64_max", HS256_HEADER, r#"{"sha256":"{sha}","exp":18446744073709551615}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_after_year_9999", HS256_HEADER, r#"{"sha256":"{sha}","exp":253402300800}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_overflowing_f64", HS256_HEADER, r#"{"sha256":"{sha}","exp":1e999}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("nbf_huge", HS256_HEADER, r#"{"sha256":"{sha}","nbf":18446744073709551616}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("iat_i64_max", HS256_HEADER, r#"{"sha256":"{sha}","iat":9223372036854775807}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_negative", HS256_HEADER, r#"{"sha256":"{sha}","exp":-1}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("nbf_negative", HS256_HEADER, r#"{"sha256":"{sha}","nbf":-1}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("iat_i64_min", HS256_HEADER, r#"{"sha256":"{sha}","iat":-9223372036854775808}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_past", HS256_HEADER, r#"{"sha256":"{sha}","exp":1}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_zero", HS256_HEADER, r#"{"sha256":"{sha}","exp":0}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("nbf_future", HS256_HEADER, r#"{"sha256":"{sha}","nbf":{future}}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("iat_future", HS256_HEADER, r#"{"sha256":"{sha}","iat":{future}}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_null", HS256_HEADER, r#"{"sha256":"{sha}","exp":null}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("exp_bool", HS256_HEADER, r#"{"sha256":"{sha}","exp":true}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("aud_present", HS256_HEADER, r#"{"sha256":"{sha}","aud":"meshagent"}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("sub_number", HS256_HEADER, r#"{"sha256":"{sha}","sub":1}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("jti_object", HS256_HEADER, r#"{"sha256":"{sha}","jti":{}}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("iss_array", HS256_HEADER, r#"{"sha256":"{sha}","iss":[]}"#, "HS256", Key::Secret, 401, INVALID_JWT),
    ("registered_claims_valid", HS256_HEADER, r#"{"sha256":"{sha}","exp":{future},"nbf":0,"iat":1,"iss":"m","sub":"s","jti":"j"}"#, "HS256", Key::Secret, 200, OK),
];

/// Makes a token from a case's canonical segments.
type Build = fn(&Parts) -> String;

/// Tokens built from the case's canonical segments: structure and encoding attacks.
#[rustfmt::skip]
const SHAPED: &[(&str, Build, &str)] = &[
    ("alg_none", |p| format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), p.claims), INVALID_JWT),
    ("two_segments", |p| format!("{}.{}", p.header, p.claims), INVALID_JWT),
    ("four_segments", |p| format!("{}.{}.{}.{}", p.header, p.claims, p.signature, p.signature), INVALID_JWT),
    ("trailing_dot", |p| format!("{}.{}.{}.", p.header, p.claims, p.signature), INVALID_JWT),
    ("one_segment", |p| format!("{}{}{}", p.header, p.claims, p.signature), INVALID_JWT),
    ("only_dots", |_| "..".to_owned(), INVALID_JWT),
    ("empty_signature", |p| format!("{}.{}.", p.header, p.claims), INVALID_JWT),
    ("empty_claims_segment_signed", |p| p.sign(&p.header, ""), INVALID_JWT),
    ("empty_header_segment_signed", |p| p.sign("", &p.claims), INVALID_JWT),
    ("sig_plus", |p| format!("{}.{}.+{}", p.header, p.claims, &p.signature[1..]), INVALID_JWT),
    ("sig_slash", |p| format!("{}.{}./{}", p.header, p.claims, &p.signature[1..]), INVALID_JWT),
    ("sig_star", |p| format!("{}.{}.*{}", p.header, p.claims, &p.signature[1..]), INVALID_JWT),
    ("sig_space_inside", |p| format!("{}.{}. {}", p.header, p.claims, &p.signature[1..]), INVALID_JWT),
    ("sig_hs256_of_other_input", |p| format!("{}.{}.{}", p.header, p.claims, b64(hmac("HS256", SECRET.as_bytes(), b"x"))), INVALID_JWT),
    ("sig_truncated_16_bytes", |p| format!("{}.{}.{}", p.header, p.claims, &p.signature[..22]), INVALID_JWT),
    ("sig_padded", |p| format!("{}.{}.{}=", p.header, p.claims, p.signature), INVALID_JWT),
    ("sig_trailing_bits", |p| format!("{}.{}.{}", p.header, p.claims, with_trailing_bits(&p.signature)), INVALID_JWT),
    ("claims_trailing_bits", |p| p.sign(&p.header, &with_trailing_bits(&b64(p.fill(r#"{"sha256":"{sha}","p":"1"}"#)))), INVALID_JWT),
    ("header_trailing_bits", |p| p.sign(&with_trailing_bits(&b64(r#"{"alg":"HS256"}  "#)), &p.claims), INVALID_JWT),
    ("claims_padded", |p| p.sign(&p.header, &format!("{}==", b64(p.fill(r#"{"sha256":"{sha}","p":"1"}"#)))), INVALID_JWT),
    ("header_padded", |p| p.sign(&format!("{}=", b64(r#"{"alg":"HS256"} "#)), &p.claims), INVALID_JWT),
    ("claims_standard_alphabet", |p| p.sign(&p.header, &STANDARD_NO_PAD.encode(p.fill(r#"{"sha256":"{sha}","x":"\u00ff\u00fe>>>???"}"#))), INVALID_JWT),
    ("sha256_63_chars", |p| secret_jwt(&json!({"sha256": &p.digest[..63]})), MISMATCH),
    ("sha256_65_chars", |p| secret_jwt(&json!({"sha256": format!("{}0", p.digest)})), MISMATCH),
    ("sha256_uppercase", |p| secret_jwt(&json!({"sha256": p.digest.to_uppercase()})), MISMATCH),
    ("sha256_base64", |p| secret_jwt(&json!({"sha256": b64(hex::decode(&p.digest).unwrap())})), MISMATCH),
    // Longest token: 8192 bytes passes, one more is refused before any HMAC.
    ("token_8192_bytes", |p| padded_token(p, 8192, false), OK),
    ("token_8193_bytes", |p| padded_token(p, 8192, true), INVALID_JWT),
];

/// The case's token padded with a `pad` claim to the longest length <= `len` (`above`: the
/// shortest length > `len`).
fn padded_token(parts: &Parts, len: usize, above: bool) -> String {
    let with_pad =
        |pad: usize| secret_jwt(&json!({"sha256": parts.digest, "pad": "p".repeat(pad)}));
    let mut pad = (len - with_pad(0).len()) * 3 / 4 - 8;
    while with_pad(pad + 1).len() <= len {
        pad += 1;
    }
    let token = with_pad(if above { pad + 1 } else { pad });
    assert!(if above { token.len() > len } else { token.len() + 2 >= len });
    token
}

/// `Meshagent-Signature` values that are not `Bearer <token>`.
#[rustfmt::skip]
const SCHEMES: &[(&str, &str, &str)] = &[
    ("scheme_lowercase", "bearer {token}", WRONG_SCHEME),
    ("scheme_uppercase", "BEARER {token}", WRONG_SCHEME),
    ("scheme_missing", "{token}", WRONG_SCHEME),
    ("scheme_basic", "Basic {token}", WRONG_SCHEME),
    ("scheme_tab", "Bearer\t{token}", WRONG_SCHEME),
    ("scheme_only", "Bearer", NO_TOKEN),
    ("scheme_and_space_only", "Bearer ", NO_TOKEN),
];

/// Every JWT attack, with its answer.
pub(crate) fn jwt_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &str, signature: String, status: u16, reason: &'static str| {
        let body = event_body(&format!("jwt-{name}"));
        let request = signed_post(signature.as_bytes(), body.as_bytes());
        let mut case = case(name, request, status, Some(reason));
        if status == 200 {
            case.seen_id = Some(format!("jwt-{name}"));
        }
        cases.push(case);
    };
    for &(name, header, claims, alg, key, status, reason) in SIGNED {
        let parts = Parts::new(name);
        let header = b64(parts.fill(header));
        let token = sign_segments(&header, &b64(parts.fill(claims)), alg, key.bytes());
        add(name, format!("Bearer {token}"), status, reason);
    }
    for &(name, build, reason) in SHAPED {
        let status = if reason == OK { 200 } else { 401 };
        add(name, format!("Bearer {}", build(&Parts::new(name))), status, reason);
    }
    for &(name, template, reason) in SCHEMES {
        let parts = Parts::new(name);
        let token = format!("{}.{}.{}", parts.header, parts.claims, parts.signature);
        add(name, template.replace("{token}", &token), 401, reason);
    }
    cases
}

//! Property tests: any payload signed with any secret verifies; changing one byte of the
//! payload, the token or the secret is rejected; no input panics the verifier or the parser;
//! the signer's tokens are standard JWTs (jsonwebtoken agrees).

use meshagent_webhooks::{MeshagentEvent, SignatureRejection, SignatureVerifier, Signer};
use proptest::prelude::*;

fn secret() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..80)
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..600)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_signed_payload_verifies(secret in secret(), payload in payload()) {
        let header = Signer::new(&secret).signature_header(&payload);
        let claims = SignatureVerifier::new(secret).verify(Some(header.as_bytes()), &payload);
        prop_assert!(claims.is_ok());
    }

    #[test]
    fn changing_one_payload_byte_is_a_digest_mismatch(
        secret in secret(),
        payload in prop::collection::vec(any::<u8>(), 1..600),
        index in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let header = Signer::new(&secret).signature_header(&payload);
        let mut changed = payload.clone();
        changed[index.index(payload.len())] ^= flip;
        let result = SignatureVerifier::new(secret).verify(Some(header.as_bytes()), &changed);
        prop_assert!(matches!(result, Err(SignatureRejection::DigestMismatch(_))));
    }

    #[test]
    fn changing_one_token_byte_is_rejected(
        secret in secret(),
        payload in payload(),
        index in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let token = Signer::new(&secret).token(&payload);
        let mut changed = token.into_bytes();
        let at = index.index(changed.len());
        changed[at] ^= flip;
        let mut header = b"Bearer ".to_vec();
        header.extend_from_slice(&changed);
        let result = SignatureVerifier::new(secret).verify(Some(&header), &payload);
        prop_assert!(result.is_err());
    }

    #[test]
    fn changing_one_secret_byte_is_an_invalid_jwt(
        secret in secret(),
        payload in payload(),
        index in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let header = Signer::new(&secret).signature_header(&payload);
        let mut other = secret.clone();
        other[index.index(secret.len())] ^= flip;
        let result = SignatureVerifier::new(other).verify(Some(header.as_bytes()), &payload);
        prop_assert!(matches!(result, Err(SignatureRejection::InvalidJwt(_))));
    }

    #[test]
    fn arbitrary_headers_and_payloads_never_panic(
        header in prop::collection::vec(any::<u8>(), 0..300),
        payload in payload(),
    ) {
        let verifier = SignatureVerifier::new("whsec_fuzz");
        let _ = verifier.verify(Some(&header), &payload);
        let mut bearer = b"Bearer ".to_vec();
        bearer.extend_from_slice(&header);
        prop_assert!(verifier.verify(Some(&bearer), &payload).is_err());
    }

    #[test]
    fn arbitrary_tokens_made_of_jwt_characters_are_rejected(
        token in "[A-Za-z0-9_=.-]{0,200}",
        payload in payload(),
    ) {
        let header = format!("Bearer {token}");
        prop_assert!(SignatureVerifier::new("whsec_fuzz").verify(Some(header.as_bytes()), &payload).is_err());
    }

    #[test]
    fn event_parsing_never_panics(payload in payload()) {
        let _ = MeshagentEvent::from_json(&payload);
    }

    #[test]
    fn event_parsing_of_any_json_object_never_panics(
        name in prop::sample::select(vec!["room.started", "room.ended", "room.call", "storage.file.updated", "storage.file.deleted", "storage.file.moved", "other"]),
        data in any_json(),
    ) {
        let payload = Signer::event_payload(name, &data);
        let _ = MeshagentEvent::from_json(payload.as_bytes());
    }

    #[test]
    fn jsonwebtoken_accepts_the_signers_tokens(secret in secret(), payload in payload()) {
        // Both jsonwebtoken backends are on in tests; pick one explicitly for the oracle.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let token = Signer::new(&secret).token(&payload);
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims.clear();
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(&secret),
            &validation,
        );
        let claims = decoded.expect("jsonwebtoken verifies the token").claims;
        prop_assert_eq!(claims, serde_json::json!({"sha256": hex_sha256(&payload)}));
    }
}

fn hex_sha256(payload: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(payload))
}

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,10}", inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// `value` as serde_json writes it back (member order kept): the same text exactly when Python
/// would write the same text, for the values serde_json reads.
fn written(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap()
}

/// Whether `a` and `b` are the same JSON value. A float may be one unit in the last place off:
/// serde_json's default float parsing is best-effort (its `float_roundtrip` feature is off),
/// while Python's, which decides the Python text, rounds correctly; two texts of one double
/// (`2.1800712597935763e-308` and `...61e-308`) may come out of serde_json one unit apart.
fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || x.to_bits().abs_diff(y.to_bits()) <= 1
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((kx, vx), (ky, vy))| kx == ky && same_value(vx, vy))
        }
        _ => written(a) == written(b),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The Python digest takes any JSON value written in another style (compact, pretty) when
    /// the token signs Python's text of it; no proper prefix of that body passes (the
    /// transcoder reads nothing past the payload it is given); the default rule takes none.
    #[test]
    fn the_python_digest_takes_any_rewriting_of_the_signed_value_and_no_prefix_of_it(
        event in "[a-z.]{1,12}",
        data in any_json(),
        pretty in any::<bool>(),
        mantissa in 1u32..100_000,
        exponent in -12i32..20,
    ) {
        // Besides any value, a float where Python's repr and serde_json's differ (`1e-07`).
        let float = f64::from(mantissa) * 10f64.powi(exponent);
        let data = serde_json::json!({"any": data, "float": float, "text": "café 🚀 \u{7f}"});
        let signed = Signer::event_payload(&event, &data);
        let header = Signer::new("k").signature_header(signed.as_bytes());
        let value = serde_json::json!({"event": event, "data": data});
        let body = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) }.unwrap();
        let python = SignatureVerifier::new("k").with_python_digest();
        let claims = python.verify(Some(header.as_bytes()), &body);
        prop_assert_eq!(claims.map(|claims| claims.sha256().to_owned()).ok(), Some(hex_sha256(signed.as_bytes())));
        let raw = SignatureVerifier::new("k").verify(Some(header.as_bytes()), &body);
        prop_assert_eq!(raw.is_ok(), body == signed.as_bytes());
        for cut in 0..body.len() {
            prop_assert!(python.verify(Some(header.as_bytes()), &body[..cut]).is_err(), "{}", cut);
        }
    }

    /// Changing one byte of such a body is accepted only when the JSON value stays the same
    /// (whitespace, an escape's case), never when Python's text of it would differ; arbitrary
    /// bytes never panic.
    #[test]
    fn the_python_digest_never_accepts_a_body_whose_python_text_differs(
        data in any_json(),
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        noise in payload(),
    ) {
        let signed = Signer::event_payload("room.ended", &data);
        let header = Signer::new("k").signature_header(signed.as_bytes());
        let python = SignatureVerifier::new("k").with_python_digest();
        let value: serde_json::Value = serde_json::from_str(&signed).unwrap();
        let mut body = serde_json::to_vec_pretty(&value).unwrap();
        let at = index.index(body.len());
        body[at] = byte;
        if python.verify(Some(header.as_bytes()), &body).is_ok() {
            let read: serde_json::Value = serde_json::from_slice(&body).unwrap();
            prop_assert!(same_value(&read, &value), "{} != {}", written(&read), written(&value));
        }
        prop_assert!(python.verify(Some(header.as_bytes()), &noise).is_err());
    }
}

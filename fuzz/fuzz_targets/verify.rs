//! Fuzzes the verification core: `SignatureVerifier::new(secret).verify(Some(header), payload)`.
//!
//! Input layout: `[mode][secret_len][secret…][header_len_lo][header_len_hi][header…][payload…]`
//! (`fuzz/seed_corpus.py` writes seeds in this layout). The mode picks how the header is used:
//!
//! * 0: the header bytes as the raw `Meshagent-Signature` value;
//! * 1: a valid token for the payload (the signed path must always verify);
//! * 2: the header bytes as the claims JSON of a token signed with the secret (claim parsing);
//! * 3: the header bytes as the JOSE header JSON of a token signed with the secret whose
//!   claims are right for the payload (header parsing);
//! * 4: the header bytes as the text a valid token signs, checked `with_python_digest` against
//!   the payload (the Python text transcoder).
//!
//! Oracles: nothing panics; an empty secret always fails closed; nothing verifies unless its
//! `sha256` claim is the lowercase hex digest of the payload (in mode 4: of the signed text,
//! and a payload other than that text passes only when serde_json reads both as the same
//! value written alike, wherever it can read them); mode 1 always verifies.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use meshagent_webhooks::{SignatureRejection, SignatureVerifier, Signer};
use sha2::{Digest, Sha256};

const CANONICAL_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// One input, split.
struct Input<'a> {
    mode: u8,
    secret: &'a [u8],
    header: &'a [u8],
    payload: &'a [u8],
}

fn split(data: &[u8]) -> Option<Input<'_>> {
    let (&mode, rest) = data.split_first()?;
    let (&secret_len, rest) = rest.split_first()?;
    let secret = rest.get(..usize::from(secret_len))?;
    let rest = &rest[secret.len()..];
    let header_len = usize::from(u16::from_le_bytes([*rest.first()?, *rest.get(1)?]));
    let rest = &rest[2..];
    let header = rest.get(..header_len.min(rest.len()))?;
    let payload = &rest[header.len()..];
    Some(Input {
        mode: mode % 5,
        secret,
        header,
        payload,
    })
}

fn signed(secret: &[u8], header_json: &[u8], claims_json: &[u8]) -> Vec<u8> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims_json)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("Bearer {input}.{signature}").into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let Some(Input {
        mode,
        secret,
        header,
        payload,
    }) = split(data)
    else {
        return;
    };
    let digest = hex::encode(Sha256::digest(if mode == 4 { header } else { payload }));
    let value = match mode {
        0 => header.to_vec(),
        1 => Signer::new(secret).signature_header(payload).into_bytes(),
        4 => Signer::new(secret).signature_header(header).into_bytes(),
        2 => signed(secret, CANONICAL_HEADER.as_bytes(), header),
        _ => signed(
            secret,
            header,
            format!(r#"{{"sha256":"{digest}"}}"#).as_bytes(),
        ),
    };
    let verifier = match mode {
        4 => SignatureVerifier::new(secret).with_python_digest(),
        _ => SignatureVerifier::new(secret),
    };
    let result = verifier.verify(Some(&value), payload);
    assert!(verifier.verify(None, payload).is_err());
    if secret.is_empty() {
        assert!(matches!(
            result,
            Err(SignatureRejection::SecretNotConfigured(_))
        ));
        return;
    }
    match result {
        Ok(claims) => {
            assert_eq!(claims.sha256(), digest, "verified a foreign digest");
            let read = |json| serde_json::from_slice::<serde_json::Value>(json).ok();
            if let (4, Some(signed), Some(body)) = (mode, read(header), read(payload)) {
                assert!(payload == header || signed.to_string() == body.to_string());
            }
        }
        Err(rejection) => {
            assert!(
                mode != 1,
                "a correctly signed payload was rejected: {rejection}"
            );
            let _ = format!("{rejection} {rejection:?} {}", rejection.body_text());
        }
    }
});

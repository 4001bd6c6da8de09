//! This test build enables both jsonwebtoken crypto backends (`rust_crypto` and `aws_lc_rs`),
//! as an application that picks the other backend gets through Cargo's feature unification.
//! jsonwebtoken's own `decode` then panics (it cannot choose a process-wide provider); the
//! crate must keep verifying and signing.

use meshagent_webhooks::{SignatureVerifier, Signer};

const SECRET: &str = "whsec_backends";

#[test]
fn jsonwebtoken_decode_panics_in_this_build_so_both_backends_are_on() {
    let token = Signer::new(SECRET).token(b"{}");
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    let outcome = std::panic::catch_unwind(|| {
        jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
    });
    assert!(
        outcome.is_err(),
        "jsonwebtoken picked a provider: only one backend is enabled"
    );
}

#[test]
fn the_crate_signs_and_verifies_with_both_backends_enabled() {
    let header = Signer::new(SECRET).signature_header(b"{}");
    let claims = SignatureVerifier::new(SECRET)
        .verify(Some(header.as_bytes()), b"{}")
        .expect("verifies without jsonwebtoken's process-wide provider");
    assert_eq!(claims.secret_index(), 0);
}

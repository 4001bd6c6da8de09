//! The verification core next to its floor: [`SignatureVerifier::verify`] for 112 B to 1 MiB,
//! the token part alone, the bare primitives (HMAC-SHA256 of the signing input, SHA-256 of the
//! payload), and `jsonwebtoken::decode` (its RustCrypto backend) as the reference.
//!
//! Each comparison runs [`ROUNDS`] times with its sides alternating; ids end in the
//! round (`small/verify/r2`).
//!
//! Run with: `cargo bench -p meshagent-webhooks-perf --bench verify` (see BENCHMARKS.md for the
//! figures).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::rust_crypto;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use meshagent_webhooks::{SignatureVerifier, Signer};
use sha2::{Digest, Sha256};

use meshagent_webhooks_perf::{
    ROUNDS, SECRET, SIZES, config, event_of_size, round_label, small_event,
};

/// The claims MeshAgent puts in its tokens.
#[derive(serde::Deserialize)]
struct Claims {
    #[allow(dead_code)]
    sha256: String,
}

/// The small event: verification, its parts, its floor and the jsonwebtoken reference.
fn small(c: &mut Criterion) {
    let payload = small_event();
    let token = Signer::new(SECRET).token(&payload);
    let header = format!("Bearer {token}");
    let signing_input = token[..token.rfind('.').expect("three segments")].to_owned();
    let verifier = SignatureVerifier::new(SECRET);
    verifier.verify(Some(header.as_bytes()), &payload).expect("the benchmark input verifies");
    // The token part alone: the public API always hashes the payload, so verify an empty one.
    // Its token has exactly the shape of the small event's (the claim is always 64 hex
    // digits); subtract `sha256_empty` (one block) for the token alone.
    let empty_header = Signer::new(SECRET).signature_header(b"");
    verifier.verify(Some(empty_header.as_bytes()), b"").expect("the benchmark input verifies");
    // What the verifier does per secret: clone an HMAC state keyed once, then one MAC.
    let keyed = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any length");

    // The only backend this crate enables; installed explicitly so that the bench measures it
    // even if another crate in the build turned `aws_lc_rs` on as well.
    rust_crypto::DEFAULT_PROVIDER.install_default().expect("no provider installed yet");
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Claims>(&token, &key, &validation).expect("the token decodes");

    let mut group = c.benchmark_group("small");
    for round in 0..ROUNDS {
        let id = |name: &str| BenchmarkId::new(name, round_label(round));
        group.bench_function(id("verify"), |b| {
            b.iter(|| {
                verifier.verify(Some(black_box(header.as_bytes())), black_box(&payload)).is_ok()
            });
        });
        group.bench_function(id("verify_empty_payload"), |b| {
            b.iter(|| {
                verifier.verify(Some(black_box(empty_header.as_bytes())), black_box(b"")).is_ok()
            });
        });
        group.bench_function(id("hmac_sha256_prekeyed"), |b| {
            b.iter(|| {
                let mut mac = keyed.clone();
                mac.update(black_box(signing_input.as_bytes()));
                mac.finalize().into_bytes()
            });
        });
        // For comparison: keying the HMAC on every call, as a per-request key would.
        group.bench_function(id("hmac_sha256_keyed_per_call"), |b| {
            b.iter(|| {
                let mut mac = Hmac::<Sha256>::new_from_slice(black_box(SECRET.as_bytes()))
                    .expect("any length");
                mac.update(black_box(signing_input.as_bytes()));
                mac.finalize().into_bytes()
            });
        });
        group.bench_function(id("sha256"), |b| {
            b.iter(|| Sha256::digest(black_box(&payload)));
        });
        group.bench_function(id("sha256_empty"), |b| {
            b.iter(|| Sha256::digest(black_box(b"")));
        });
        group.bench_function(id("jsonwebtoken_rust_crypto"), |b| {
            b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &key, &validation).is_ok());
        });
    }
    group.finish();
}

/// Cost versus body size: SHA-256 alone and the whole verification, 112 B to 1 MiB.
fn sizes(c: &mut Criterion) {
    let verifier = SignatureVerifier::new(SECRET);
    let inputs: Vec<(&str, Vec<u8>, String)> = SIZES
        .iter()
        .map(|&(size, label)| {
            let payload = event_of_size(size);
            let header = Signer::new(SECRET).signature_header(&payload);
            verifier
                .verify(Some(header.as_bytes()), &payload)
                .expect("the benchmark input verifies");
            (label, payload, header)
        })
        .collect();
    let mut group = c.benchmark_group("size");
    for round in 0..ROUNDS {
        for (label, payload, header) in &inputs {
            group.throughput(Throughput::Bytes(payload.len() as u64));
            let id = |name: &str| BenchmarkId::new(format!("{name}/{label}"), round_label(round));
            group.bench_function(id("sha256"), |b| {
                b.iter(|| Sha256::digest(black_box(payload)));
            });
            group.bench_function(id("verify"), |b| {
                b.iter(|| {
                    verifier.verify(Some(black_box(header.as_bytes())), black_box(payload)).is_ok()
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = small, sizes
}
criterion_main!(benches);

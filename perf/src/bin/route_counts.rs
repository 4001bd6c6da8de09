//! Sends the 112-byte event through one route of the `route` bench (`cargo bench -p
//! meshagent-webhooks-perf --bench route`) many times, in process, so that cachegrind can count
//! what one request executes: instructions and instruction-cache misses are counts, the same
//! from run to run, where timings on a shared machine are not.
//!
//! ```sh
//! cargo build --release -p meshagent-webhooks-perf --bin route_counts
//! valgrind --tool=cachegrind --cache-sim=yes target/release/route_counts layered 1200
//! ```
//!
//! Routes: `plain`, `identity`, `floor`, `layered` (see `perf/src/routes.rs`). Run each
//! route with two counts (say 200 and 1200) and divide the difference of the totals by the
//! difference of the counts: start-up cancels out. BENCHMARKS.md has a script that does this
//! and the figures.

use bytes::Bytes;
use http::HeaderValue;
use meshagent_webhooks::Signer;
use meshagent_webhooks_perf::routes::{answer, router, signed_request};
use meshagent_webhooks_perf::{SECRET, small_event};

const ROUTES: [&str; 4] = ["plain", "identity", "floor", "layered"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: route_counts <plain|identity|floor|layered> <requests>";
    let route = args.next().ok_or(usage)?;
    let requests: u64 = args.next().ok_or(usage)?.parse()?;
    if !ROUTES.contains(&route.as_str()) {
        return Err(usage.into());
    }
    let router = router();
    let payload = Bytes::from(small_event());
    let signature = HeaderValue::from_str(&Signer::new(SECRET).signature_header(&payload))?;
    let path = format!("/{route}");
    for _ in 0..requests {
        let body = answer(&router, signed_request(&path, &payload, &signature));
        if body != "room.started" {
            return Err(format!("{path} answered {body:?}").into());
        }
    }
    println!("{requests} requests through {path}");
    Ok(())
}

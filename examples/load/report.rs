//! Measured rounds and what is printed from them: medians, ratios, the machine.

use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::client::{Route, Workload};

/// One measured round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    pub(crate) requests: u64,
    pub(crate) per_second: f64,
    pub(crate) server_cpu_per_request: f64,
    pub(crate) server_utilisation: f64,
    pub(crate) client_utilisation: f64,
}

/// CPU count, model and whether it has SHA extensions, from `/proc/cpuinfo`.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim());
    let sha_ni = cpuinfo
        .lines()
        .any(|line| line.starts_with("flags") && line.split_whitespace().any(|f| f == "sha_ni"));
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "{cpus} CPUs, {model}, SHA-NI {}",
        if sha_ni { "yes" } else { "no" }
    )
}

/// The comparisons printed for each body size, route against baseline: the goal first, then
/// what any layer costs, what the two hashes every verifier computes cost on top of it, and
/// what this crate's layer costs beyond each.
pub(crate) const COMPARISONS: [(Route, Route); 5] = [
    (Route::Layered, Route::Plain),
    (Route::Identity, Route::Plain),
    (Route::Floor, Route::Plain),
    (Route::Layered, Route::Identity),
    (Route::Layered, Route::Floor),
];

/// Medians of one body size, and the ratios between the routes.
pub(crate) struct Summary {
    pub(crate) label: &'static str,
    /// Body size, bytes.
    pub(crate) bytes: usize,
    /// Per route, in [`Route::ALL`] order.
    pub(crate) medians: [Medians; 4],
    /// In [`COMPARISONS`] order.
    pub(crate) comparisons: [Comparison; 5],
    /// One SHA-256 pass over the body, timed in this process between rounds (median).
    pub(crate) sha256: f64,
}

/// Medians of one route's rounds.
#[derive(Clone, Copy)]
pub(crate) struct Medians {
    pub(crate) per_second: f64,
    /// Server CPU per request, seconds.
    pub(crate) cpu: f64,
}

/// One route against another, round by round.
pub(crate) struct Comparison {
    /// Median of the per-round ratios of requests per second (round i / round i).
    pub(crate) throughput: f64,
    /// Median of the per-round differences in server CPU, seconds per request.
    pub(crate) added_cpu: f64,
}

impl Comparison {
    fn new(rounds: &[(Route, Round)], route: Route, baseline: Route) -> Self {
        let of = |which: Route| {
            rounds
                .iter()
                .filter(move |(r, _)| *r == which)
                .map(|(_, round)| round)
        };
        let pairs = || of(route).zip(of(baseline));
        Self {
            throughput: median(pairs().map(|(route, base)| route.per_second / base.per_second)),
            added_cpu: median(
                pairs().map(|(route, base)| {
                    route.server_cpu_per_request - base.server_cpu_per_request
                }),
            ),
        }
    }
}

impl Summary {
    pub(crate) fn new(
        workload: &Workload,
        rounds: &[(Route, Round)],
        hash_seconds: &[f64],
    ) -> Self {
        let medians = Route::ALL.map(|route| {
            let of = || {
                rounds
                    .iter()
                    .filter(|(which, _)| *which == route)
                    .map(|(_, round)| round)
            };
            Medians {
                per_second: median(of().map(|round| round.per_second)),
                cpu: median(of().map(|round| round.server_cpu_per_request)),
            }
        });
        Self {
            label: workload.label,
            bytes: workload.body.len(),
            medians,
            comparisons: COMPARISONS
                .map(|(route, baseline)| Comparison::new(rounds, route, baseline)),
            sha256: median(hash_seconds.iter().copied()),
        }
    }

    pub(crate) fn medians(&self, route: Route) -> Medians {
        let index = Route::ALL.iter().position(|&which| which == route);
        self.medians[index.unwrap_or_else(|| unreachable!("every route is in ALL"))]
    }

    /// `route` against `baseline`, one of [`COMPARISONS`].
    pub(crate) fn comparison(&self, route: Route, baseline: Route) -> &Comparison {
        let index = COMPARISONS
            .iter()
            .position(|&pair| pair == (route, baseline));
        &self.comparisons[index.unwrap_or_else(|| unreachable!("only listed pairs are asked"))]
    }

    pub(crate) fn print_ratios(&self) {
        for ((route, baseline), comparison) in COMPARISONS.into_iter().zip(&self.comparisons) {
            let (ours, theirs) = (self.medians(route), self.medians(baseline));
            println!(
                "{}: {}/{} requests/s = {:.3} (median of per-round ratios); server CPU per request {:.2} → {:.2} µs ({:+.2} µs, ×{:.3})",
                self.label,
                route.label(),
                baseline.label(),
                comparison.throughput,
                theirs.cpu * 1e6,
                ours.cpu * 1e6,
                comparison.added_cpu * 1e6,
                ours.cpu / theirs.cpu,
            );
        }
        // For a small body the fixed cost dominates: a ratio to its hash says nothing.
        if self.bytes < 64 * 1024 {
            return;
        }
        for route in [Route::Layered, Route::Floor] {
            println!(
                "{}: added CPU per request ({} − plain) = {:.2}× one SHA-256 pass over the body ({:.2} µs, timed in this run)",
                self.label,
                route.label(),
                self.comparison(route, Route::Plain).added_cpu / self.sha256,
                self.sha256 * 1e6,
            );
        }
    }
}

pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

/// Median time of one SHA-256 pass over `body` (seconds), over a few passes.
pub(crate) fn time_sha256(body: &[u8]) -> f64 {
    let passes = (64 * 1024 * 1024 / body.len().max(1)).clamp(5, 10_000);
    median((0..passes).map(|_| {
        let started = Instant::now();
        std::hint::black_box(Sha256::digest(std::hint::black_box(body)));
        started.elapsed().as_secs_f64()
    }))
}

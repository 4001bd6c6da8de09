//! Measured rounds and what is printed from them: medians, ratios, the machine (the statistics
//! themselves are in `stats.rs`).

use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::client::{Route, Workload};
use crate::stats::{Interval, median, median_interval};

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
    format!("{cpus} CPUs, {model}, SHA-NI {}", if sha_ni { "yes" } else { "no" })
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
    /// 95% confidence interval of that median ([`median_interval`]).
    pub(crate) throughput_interval: Option<Interval>,
    /// Median of the per-round differences in server CPU, seconds per request.
    pub(crate) added_cpu: f64,
    /// 95% confidence interval of that median.
    pub(crate) added_cpu_interval: Option<Interval>,
}

impl Comparison {
    fn new(rounds: &[(Route, Round)], route: Route, baseline: Route) -> Self {
        let of =
            |which: Route| rounds.iter().filter(move |(r, _)| *r == which).map(|(_, round)| round);
        let pairs = || of(route).zip(of(baseline));
        let ratios = || pairs().map(|(route, base)| route.per_second / base.per_second);
        let added = || {
            pairs().map(|(route, base)| route.server_cpu_per_request - base.server_cpu_per_request)
        };
        Self {
            throughput: median(ratios()),
            throughput_interval: median_interval(ratios()),
            added_cpu: median(added()),
            added_cpu_interval: median_interval(added()),
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
            let of = || rounds.iter().filter(|(which, _)| *which == route).map(|(_, round)| round);
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
        let index = COMPARISONS.iter().position(|&pair| pair == (route, baseline));
        &self.comparisons[index.unwrap_or_else(|| unreachable!("only listed pairs are asked"))]
    }

    /// Added server CPU per request of `route` over the plain route, in SHA-256 passes over the
    /// body (timed in this run), with its interval.
    pub(crate) fn added_in_sha256_passes(&self, route: Route) -> (f64, Option<Interval>) {
        let comparison = self.comparison(route, Route::Plain);
        (
            comparison.added_cpu / self.sha256,
            comparison.added_cpu_interval.map(|interval| interval.scaled(1.0 / self.sha256)),
        )
    }

    pub(crate) fn print_ratios(&self) {
        for ((route, baseline), comparison) in COMPARISONS.into_iter().zip(&self.comparisons) {
            let (ours, theirs) = (self.medians(route), self.medians(baseline));
            println!(
                "{}: {}/{} requests/s = {:.3} (median of per-round ratios; 95% interval {}); server CPU per request {:.2} → {:.2} µs ({:+.2} µs, ×{:.3})",
                self.label,
                route.label(),
                baseline.label(),
                comparison.throughput,
                Interval::text(comparison.throughput_interval, 3),
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
            let (passes, interval) = self.added_in_sha256_passes(route);
            println!(
                "{}: added CPU per request ({} − plain) = {passes:.2}× one SHA-256 pass over the body ({:.2} µs, timed in this run; 95% interval {})",
                self.label,
                route.label(),
                self.sha256 * 1e6,
                Interval::text(interval, 2),
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_cpu_is_counted_in_sha256_passes_with_its_interval() {
        let comparison = |added_cpu| Comparison {
            throughput: 1.0,
            throughput_interval: None,
            added_cpu,
            added_cpu_interval: Some(Interval { low: added_cpu / 2.0, high: added_cpu * 2.0 }),
        };
        // Layered − plain: 600 µs; floor − plain: 900 µs; one pass: 400 µs.
        let summary = Summary {
            label: "1 MiB",
            bytes: 1 << 20,
            medians: [Medians { per_second: 1.0, cpu: 1.0 }; 4],
            comparisons: COMPARISONS.map(|(route, _)| {
                comparison(match route {
                    Route::Layered => 600e-6,
                    Route::Floor => 900e-6,
                    _ => 0.0,
                })
            }),
            sha256: 400e-6,
        };
        let (passes, interval) = summary.added_in_sha256_passes(Route::Layered);
        assert!((passes - 1.5).abs() < 1e-9, "{passes}");
        let interval = interval.unwrap();
        assert!((interval.low - 0.75).abs() < 1e-9 && (interval.high - 3.0).abs() < 1e-9);
        let (floor, _) = summary.added_in_sha256_passes(Route::Floor);
        assert!((floor - 2.25).abs() < 1e-9, "{floor}");
    }
}

//! The statistics of a run: medians, their distribution-free 95% confidence intervals, and
//! what an interval says about a goal.

/// A confidence interval, lowest and highest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Interval {
    pub(crate) low: f64,
    pub(crate) high: f64,
}

impl Interval {
    /// Both ends multiplied by `factor` (positive).
    pub(crate) fn scaled(self, factor: f64) -> Self {
        Self { low: self.low * factor, high: self.high * factor }
    }

    /// `low–high` with `decimals` places, or `n/a` when there is no interval.
    pub(crate) fn text(interval: Option<Self>, decimals: usize) -> String {
        interval.map_or_else(
            || "n/a".to_owned(),
            |Self { low, high }| format!("{low:.decimals$}–{high:.decimals$}"),
        )
    }
}

/// What a run says about a goal: met or missed only when the whole interval is on one side.
/// The interval is printed to four places, so that an end just short of the goal does not
/// read as the goal itself.
pub(crate) fn verdict(interval: Option<Interval>, goal: f64, higher_is_better: bool) -> String {
    let Some(Interval { low, high }) = interval else {
        return "not decided: too few rounds for a 95% interval".to_owned();
    };
    let (worst, best) = if higher_is_better { (low, high) } else { (high, low) };
    let met = |value: f64| {
        if higher_is_better { value >= goal } else { value <= goal }
    };
    let decided = if met(worst) {
        "met"
    } else if !met(best) {
        "missed"
    } else {
        "not decided by this run"
    };
    format!("95% interval {}: {decided}", Interval::text(interval, 4))
}

/// The median of `values` (NaN when there are none).
pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

/// A distribution-free 95% confidence interval for the median of `values`: the k-th smallest
/// and the k-th largest value, k the largest rank with P(B < k) ≤ 2.5% for B ~ Binomial(n, ½)
/// (each value falls below the median with probability ½). `None` for fewer than 6 values,
/// too few for 95%. It assumes the rounds are independent; a machine that changes speed for a
/// whole run moves the interval with it, which is why runs are repeated.
pub(crate) fn median_interval(values: impl Iterator<Item = f64>) -> Option<Interval> {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mut below = 0.0; // P(B < k)
    let mut ln_p = -(n as f64) * std::f64::consts::LN_2; // ln P(B = k)
    let mut k = 0;
    while k < n {
        let p = ln_p.exp();
        if below + p > 0.025 {
            break;
        }
        below += p;
        k += 1;
        ln_p += ((n - k + 1) as f64 / k as f64).ln();
    }
    (k >= 1).then(|| Interval { low: values[k - 1], high: values[n - k] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval_of(values: &[f64]) -> Option<(f64, f64)> {
        median_interval(values.iter().copied()).map(|i| (i.low, i.high))
    }

    #[test]
    fn median_interval_uses_the_binomial_ranks() {
        // n = 31: P(B ≤ 9) = 1.5% and P(B ≤ 10) = 3.5%, so the 10th and 22nd values.
        let values: Vec<f64> = (1..=31).rev().map(f64::from).collect();
        assert_eq!(interval_of(&values), Some((10.0, 22.0)));
        // n = 6: P(B = 0) = 1.6%, P(B ≤ 1) = 10.9%: the extremes.
        assert_eq!(interval_of(&[3.0, 1.0, 6.0, 2.0, 5.0, 4.0]), Some((1.0, 6.0)));
        // n = 5: P(B = 0) = 3.1% > 2.5%: no 95% interval.
        assert_eq!(interval_of(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
        // Large n does not underflow: 2^-2000 is 0 in f64, yet the ranks are found.
        let many: Vec<f64> = (0..2000).map(f64::from).collect();
        let (low, high) = interval_of(&many).unwrap();
        assert!((950.0..=960.0).contains(&low) && high == 1999.0 - low, "{low}–{high}");
    }

    #[test]
    fn a_verdict_needs_the_whole_interval_on_one_side() {
        let interval = |low, high| Some(Interval { low, high });
        assert!(verdict(interval(0.951, 0.99), 0.95, true).ends_with(": met"));
        assert!(verdict(interval(0.90, 0.949), 0.95, true).ends_with(": missed"));
        assert!(verdict(interval(0.92, 0.98), 0.95, true).ends_with(": not decided by this run"));
        assert!(verdict(interval(0.8, 1.05), 1.1, false).ends_with(": met"));
        assert!(verdict(interval(1.11, 1.3), 1.1, false).ends_with(": missed"));
        assert!(verdict(interval(1.0, 1.2), 1.1, false).ends_with(": not decided by this run"));
        // Four places: an upper end of 0.9496 (a real run's) does not read as 0.950.
        assert_eq!(
            verdict(interval(0.919, 0.9496), 0.95, true),
            "95% interval 0.9190–0.9496: missed"
        );
        assert!(verdict(None, 0.95, true).starts_with("not decided"));
    }
}
